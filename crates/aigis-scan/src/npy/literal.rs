//! The Python literals of an `.npy` header, read as NumPy reads them
//! (`ast.literal_eval`): a dict of strings, numbers, booleans, tuples and lists. Only what
//! headers hold is accepted; anything else (comments, floats, sets, triple quotes, an
//! escape this reader does not decode) is an error, so a header is never read in a way
//! NumPy would not.

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lit {
    Str(String),
    Int(String),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

/// Nesting past this is refused (a header is at most 1 MiB; recursion stays bounded).
const MAX_DEPTH: usize = 32;

/// Parses one literal that fills `text` (blanks around it allowed).
pub(crate) fn parse(text: &str) -> Result<Lit, String> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let v = p.value(0)?;
    p.blanks();
    if p.pos < p.chars.len() {
        return Err(format!("unexpected text at character {}", p.pos));
    }
    Ok(v)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn blanks(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err("literals nested too deep".to_owned());
        }
        self.blanks();
        match self.peek() {
            Some('{') => self.dict(depth),
            Some('[') => Ok(Lit::List(self.items(']', depth)?.0)),
            Some('(') => {
                // `(x)` is x; `(x,)` and `()` are tuples
                let (mut items, comma) = self.items(')', depth)?;
                if items.len() == 1 && !comma {
                    Ok(items.remove(0))
                } else {
                    Ok(Lit::Tuple(items))
                }
            }
            Some(_) if self.at_string() => self.strings(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word.as_str() {
                    "True" => Ok(Lit::Bool(true)),
                    "False" => Ok(Lit::Bool(false)),
                    "None" => Ok(Lit::None),
                    _ => Err(format!("`{word}` is not a literal")),
                }
            }
            Some(c) => Err(format!("unexpected `{c}`")),
            None => Err("the header ends inside a literal".to_owned()),
        }
    }

    /// Comma-separated values up to `close`, and whether the last one had a comma.
    fn items(&mut self, close: char, depth: usize) -> Result<(Vec<Lit>, bool), String> {
        self.pos += 1;
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.blanks();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, comma));
            }
            if !items.is_empty() && !comma {
                return Err(format!("expected `,` or `{close}`"));
            }
            items.push(self.value(depth + 1)?);
            self.blanks();
            comma = self.peek() == Some(',');
            if comma {
                self.pos += 1;
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Lit, String> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.blanks();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Lit::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            self.blanks();
            if self.next() != Some(':') {
                return Err("expected `:` in a dict".to_owned());
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.blanks();
            match self.next() {
                Some(',') => {}
                Some('}') => return Ok(Lit::Dict(entries)),
                _ => return Err("expected `,` or `}` in a dict".to_owned()),
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// An integer, with the `L` suffix of Python 2 headers (NumPy drops it).
    fn int(&mut self) -> Result<Lit, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err("a sign without digits".to_owned());
        }
        let text: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(format!("`{text}…` is not an integer this reader accepts"));
        }
        Ok(Lit::Int(text))
    }

    /// Whether a string literal starts here (a quote, or a prefix and a quote).
    fn at_string(&self) -> bool {
        match self.peek() {
            Some('\'' | '"') => true,
            Some(c) => is_prefix(c) && self.quoted_prefix(),
            None => false,
        }
    }

    /// Whether the letters at the position are a string prefix followed by a quote.
    fn quoted_prefix(&self) -> bool {
        let mut i = self.pos;
        while self.chars.get(i).copied().is_some_and(is_prefix) && i < self.pos + 2 {
            i += 1;
        }
        matches!(self.chars.get(i), Some('\'' | '"'))
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn strings(&mut self) -> Result<Lit, String> {
        let mut out = String::new();
        let mut bytes = None;
        loop {
            let (s, is_bytes) = self.string()?;
            if bytes.is_some_and(|b| b != is_bytes) {
                return Err("bytes and text concatenated".to_owned());
            }
            bytes = Some(is_bytes);
            out.push_str(&s);
            self.blanks();
            if !self.at_string() {
                return Ok(Lit::Str(out));
            }
        }
    }

    fn string(&mut self) -> Result<(String, bool), String> {
        let (mut raw, mut bytes) = (false, false);
        while let Some(c) = self.peek().filter(|c| is_prefix(*c)) {
            match c.to_ascii_lowercase() {
                'r' => raw = true,
                'b' => bytes = true,
                _ => {}
            }
            self.pos += 1;
        }
        let Some(quote) = self.next() else {
            return Err("the header ends inside a string".to_owned());
        };
        if self.peek() == Some(quote) && self.chars.get(self.pos + 1) == Some(&quote) {
            return Err("a triple-quoted string".to_owned());
        }
        let mut out = String::new();
        loop {
            match self.next() {
                None | Some('\n') => return Err("a string that does not end".to_owned()),
                Some(c) if c == quote => return Ok((out, bytes)),
                Some('\\') if raw => {
                    // a raw string keeps the backslash, and an escaped quote
                    out.push('\\');
                    if let Some(c) = self.next() {
                        out.push(c);
                    }
                }
                Some('\\') => out.push(self.escape(bytes)?),
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, bytes: bool) -> Result<char, String> {
        let hex = |p: &mut Self, n: usize| -> Result<char, String> {
            let digits: String = (0..n).filter_map(|_| p.next()).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("a bad escape `{digits}`"))
        };
        match self.next() {
            Some('\\') => Ok('\\'),
            Some('\'') => Ok('\''),
            Some('"') => Ok('"'),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some('r') => Ok('\r'),
            Some('0') => Ok('\0'),
            Some('x') => hex(self, 2),
            // in bytes, `\u` is no escape: refused rather than read two ways
            Some('u') if !bytes => hex(self, 4),
            Some('U') if !bytes => hex(self, 8),
            Some(c) => Err(format!("an escape `\\{c}` this reader does not decode")),
            None => Err("the header ends inside an escape".to_owned()),
        }
    }
}

fn is_prefix(c: char) -> bool {
    matches!(c, 'u' | 'U' | 'b' | 'B' | 'r' | 'R')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Lit {
        Lit::Str(v.to_owned())
    }

    #[test]
    fn reads_what_numpy_writes() {
        let h = "{'descr': [('a', '<i4'), (('title', 'b'), '|O', (2,))], 'fortran_order': False, 'shape': (3L, 4), }  \n";
        let Ok(Lit::Dict(entries)) = parse(h) else {
            panic!("{:?}", parse(h))
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1], (s("fortran_order"), Lit::Bool(false)));
        assert_eq!(
            entries[2].1,
            Lit::Tuple(vec![Lit::Int("3".into()), Lit::Int("4".into())])
        );
        let Lit::List(fields) = &entries[0].1 else {
            panic!()
        };
        assert_eq!(fields[0], Lit::Tuple(vec![s("a"), s("<i4")]));
    }

    #[test]
    fn python_string_rules() {
        assert_eq!(parse("'|' 'O'"), Ok(s("|O")));
        assert_eq!(parse("u'<f4'"), Ok(s("<f4")));
        assert_eq!(parse(r#""it's""#), Ok(s("it's")));
        assert_eq!(parse(r"'a\'b\x41\u4e2d'"), Ok(s("a'bA中")));
        assert_eq!(parse(r"r'a\'b'"), Ok(s(r"a\'b")));
        assert_eq!(parse("('x')"), Ok(s("x")));
        assert_eq!(parse("('x',)"), Ok(Lit::Tuple(vec![s("x")])));
        assert_eq!(parse("()"), Ok(Lit::Tuple(vec![])));
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        for bad in [
            "'''x'''",
            "{'a': 1.5}",
            "{'a': 1} # c",
            "{1, 2}",
            r"'\q'",
            "'unterminated",
            "{'a' 1}",
            "[1 2]",
            "'a' b'b'",
            "__import__",
            &"[".repeat(100),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
