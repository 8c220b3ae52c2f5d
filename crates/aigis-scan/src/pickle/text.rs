//! Decoding the protocol-0 text arguments the way CPython's unpickler does: `STRING`
//! takes a quoted Python bytes repr, `UNICODE` a raw-unicode-escape line. A module name
//! can hide behind escapes (`'o\x73'`), so they are decoded before the policy sees them.

/// The body of a `STRING` argument (`'os'`, `"os"`), escapes decoded; `None` if it is not
/// quoted (CPython rejects it).
pub(crate) fn string_repr(line: &[u8]) -> Option<Vec<u8>> {
    let (&first, rest) = line.split_first()?;
    let (&last, body) = rest.split_last()?;
    if first != last || !(first == b'\'' || first == b'"') {
        return None;
    }
    Some(escape_decode(body))
}

/// `codecs.escape_decode`: `\\`, quotes, `\n`-style letters, `\xHH`, octal; an unknown
/// escape stays as written.
fn escape_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter().copied().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(e) = it.next() else {
            out.push(b'\\');
            break;
        };
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let hi = it.next().and_then(hex);
                let lo = it.next().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => out.extend_from_slice(b"\\x"),
                }
            }
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match it.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            it.next();
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `raw-unicode-escape`: bytes are Latin-1, except `\u` with four hex digits and `\U` with eight.
pub(crate) fn raw_unicode_escape(s: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    while let Some(&b) = s.get(i) {
        let width = match (b, s.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width == 0 {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let digits = s.get(i + 2..i + 2 + width)?;
        let text = std::str::from_utf8(digits).ok()?;
        let code = u32::from_str_radix(text, 16).ok()?;
        out.push(char::from_u32(code)?);
        i += 2 + width;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_reprs_and_escapes() {
        assert_eq!(string_repr(b"'os'").unwrap(), b"os");
        assert_eq!(string_repr(b"\"o\\x73\"").unwrap(), b"os");
        assert_eq!(string_repr(b"'\\157s'").unwrap(), b"os");
        assert_eq!(string_repr(b"'a\\'b\\n'").unwrap(), b"a'b\n");
        assert!(string_repr(b"os").is_none());
        assert!(string_repr(b"'").is_none());
        assert!(string_repr(b"'os\"").is_none());
        assert_eq!(raw_unicode_escape(b"o\\u0073").unwrap(), "os");
        assert_eq!(raw_unicode_escape(b"\\U0001F600x").unwrap(), "\u{1F600}x");
        assert!(raw_unicode_escape(b"\\u12").is_none());
        assert_eq!(raw_unicode_escape(b"caf\xe9").unwrap(), "café");
    }
}
