//! The machine's stack, marks, memo and argument readers: every pop checks the current
//! mark frame, every growth checks the [`Limits`](super::Limits), and every kept string
//! counts against the retained-bytes budget.

use std::io::{Read, Seek};

use super::machine::{Halt, Machine};
use super::source::Payload;
use super::value::Value;
use crate::Verdict;

impl<R: Read + Seek> Machine<'_, R> {
    /// Room for one more stack item or mark, within [`Limits::max_stack`].
    pub(super) fn room(&self) -> Result<(), Halt> {
        if self.stack.len() + self.marks.len() >= self.limits.max_stack {
            return Err(Halt::Limit(format!(
                "the stack grew past {} items and marks",
                self.limits.max_stack
            )));
        }
        Ok(())
    }

    /// Pushes `v`; a tuple nested past [`Limits::max_nesting`] is pushed as an opaque
    /// value (its items are no longer tracked, which is evidence once) and the scan goes
    /// on, so what comes after it is still seen.
    pub(super) fn push(&mut self, v: Value) -> Result<(), Halt> {
        self.room()?;
        let v = if v.depth() > self.limits.max_nesting {
            if !self.deep_tuples {
                self.deep_tuples = true;
                self.finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::LIMIT.id,
                    format!(
                        "tuples nested deeper than {}: the items of deeper ones are not tracked (a call's arguments inside them are not shown)",
                        self.limits.max_nesting
                    ),
                );
            }
            Value::Other
        } else {
            v
        };
        self.stack.push(v);
        Ok(())
    }

    /// The bottom of the current mark frame: pops may not go below it.
    pub(super) fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    pub(super) fn pop(&mut self) -> Result<Value, Halt> {
        if self.stack.len() <= self.floor() {
            return Err(underflow(op_name_at(self)));
        }
        self.stack.pop().ok_or_else(|| underflow(op_name_at(self)))
    }

    pub(super) fn top(&self) -> Result<&Value, Halt> {
        if self.stack.len() <= self.floor() {
            return Err(underflow(op_name_at(self)));
        }
        self.stack.last().ok_or_else(|| underflow(op_name_at(self)))
    }

    /// `POP`: CPython removes an empty mark frame rather than underflow.
    pub(super) fn pop_or_mark(&mut self) -> Result<(), Halt> {
        if self.marks.last() == Some(&self.stack.len()) {
            self.marks.pop();
            return Ok(());
        }
        self.pop().map(drop)
    }

    pub(super) fn pop_mark(&mut self) -> Result<Vec<Value>, Halt> {
        let Some(mark) = self.marks.pop() else {
            return Err(Halt::Malformed(format!(
                "{} without a MARK",
                op_name_at(self)
            )));
        };
        if mark > self.stack.len() {
            return Err(underflow("MARK"));
        }
        Ok(self.stack.split_off(mark))
    }

    pub(super) fn put(&mut self, key: u64) -> Result<(), Halt> {
        let v = self.top()?.clone();
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&key) {
            return Err(Halt::Limit(format!(
                "the memo grew past {} entries",
                self.limits.max_memo
            )));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    pub(super) fn get(&mut self, key: u64) -> Result<(), Halt> {
        let v =
            self.memo.get(&key).cloned().ok_or_else(|| {
                Halt::Malformed(format!("memo key {key} is read before it is set"))
            })?;
        self.push(v)
    }

    /// A protocol-0 line argument. One that ends the input without a newline is read as
    /// the pure-Python unpickler reads it (see [`Source::line`](super::source::Source)),
    /// and is evidence: the C unpickler refuses the file there.
    pub(super) fn text_line(&mut self) -> Result<Payload, Halt> {
        let line = self.src.line(self.limits.max_inspect)?;
        if self.src.take_cut_line() {
            self.finding(
                Verdict::Inconclusive,
                crate::pickle::rule::TRUNCATED.id,
                format!(
                    "the argument of {} ends the file with no newline: CPython's C unpickler refuses it, its pure-Python unpickler (joblib's) reads it without its last byte, and so does this scan",
                    op_name_at(self)
                ),
            );
        }
        Ok(line)
    }

    /// A protocol-0 line argument that must be short (numbers, memo keys).
    pub(super) fn line(&mut self) -> Result<Vec<u8>, Halt> {
        match self.text_line()? {
            Payload::Kept(line) => Ok(line),
            _ => Err(Halt::Limit(format!(
                "a line argument of {} is longer than {} bytes",
                op_name_at(self),
                self.limits.max_inspect
            ))),
        }
    }

    pub(super) fn line_index(&mut self, what: &str) -> Result<u64, Halt> {
        let line = self.line()?;
        parse_int(&line)
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| Halt::Malformed(format!("{what} argument is not a memo index")))
    }

    /// A module or name line of `GLOBAL`/`INST` (UTF-8, as CPython decodes it). One
    /// longer than the machine keeps is shown by its start and length (CPython still
    /// imports a module by a long name, or walks a long dotted name).
    pub(super) fn name_line(&mut self) -> Result<String, Halt> {
        let line = match self.text_line()? {
            Payload::Kept(line) => line,
            Payload::LongLine { head, len, .. } => {
                let head = String::from_utf8_lossy(&head);
                return Ok(format!("{head}…({len} bytes)"));
            }
            Payload::Skipped => Vec::new(),
        };
        String::from_utf8(line).map_err(|_| {
            Halt::Malformed(format!(
                "{} names a global in invalid UTF-8",
                op_name_at(self)
            ))
        })
    }

    /// A text opcode with a length: kept (and decoded) if short, skipped otherwise.
    pub(super) fn string(&mut self, len: u64, utf8_required: bool) -> Result<(), Halt> {
        let v = match self.src.payload(len, self.limits.max_inspect)? {
            Payload::Kept(b) => {
                if utf8_required && std::str::from_utf8(&b).is_err() {
                    return Err(Halt::Malformed(format!(
                        "{} holds invalid UTF-8",
                        op_name_at(self)
                    )));
                }
                self.keep_str(b)
            }
            _ => Value::Data,
        };
        self.push(v)
    }

    pub(super) fn bytes(&mut self, len: u64) -> Result<(), Halt> {
        let v = match self.src.payload(len, self.limits.max_inspect)? {
            Payload::Kept(b) if self.budget(b.len()) => Value::Bytes(b.into()),
            _ => Value::Data,
        };
        self.push(v)
    }

    /// Keeps a string within [`Limits::max_retained`]; non-text becomes [`Value::Data`].
    pub(super) fn keep_str(&mut self, b: Vec<u8>) -> Value {
        if !self.budget(b.len()) {
            return Value::Data;
        }
        match String::from_utf8(b) {
            Ok(s) => Value::Str(s.into()),
            Err(_) => Value::Data,
        }
    }

    /// Whether `n` more bytes may be kept; the first refusal is evidence (inconclusive:
    /// strings the machine stopped keeping could have named a module).
    pub(super) fn budget(&mut self, n: usize) -> bool {
        if self.retained.saturating_add(n) <= self.limits.max_retained {
            self.retained += n;
            return true;
        }
        if !self.retained_full {
            self.retained_full = true;
            self.finding(
                Verdict::Inconclusive,
                crate::pickle::rule::LIMIT.id,
                format!(
                    "more than {} bytes of strings: later strings were not inspected",
                    self.limits.max_retained
                ),
            );
        }
        false
    }
}

fn underflow(op: &str) -> Halt {
    Halt::Malformed(format!("{op} pops from an empty stack"))
}

fn op_name_at<R>(m: &Machine<'_, R>) -> &'static str {
    op_name(m.op)
}

/// A protocol-0 integer argument as the C unpickler reads it (`I01` and `I00` are
/// booleans; `L` longs end in `L`; memo keys of `PUT`/`GET`): CPython parses the line as
/// a C string, so it ends at the first NUL byte, and `PyLong_FromString` allows
/// whitespace around the number, a sign and single underscores between digits.
pub(super) fn parse_int(line: &[u8]) -> Option<i64> {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let s = std::str::from_utf8(line).ok()?.trim();
    let s = s.strip_suffix('L').unwrap_or(s);
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.strip_prefix('+').unwrap_or(s)),
    };
    let bytes = digits.as_bytes();
    let underscores_ok = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'_'
            || (i > 0
                && bytes.get(i - 1).is_some_and(u8::is_ascii_digit)
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
    });
    if !underscores_ok {
        return None;
    }
    format!("{sign}{}", digits.replace('_', "")).parse().ok()
}

/// Every opcode byte of protocols 0–5.
pub(super) fn is_opcode(b: u8) -> bool {
    op_name(b) != "?"
}

pub(super) fn op_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn integers_are_read_as_the_c_unpickler_reads_them() {
        for (line, want) in [
            (&b"12"[..], Some(12)),
            (b" 12 ", Some(12)),
            (b"+7", Some(7)),
            (b"-7", Some(-7)),
            (b"1_000", Some(1000)),
            (b"3\x00garbage", Some(3)),
            (b"12L", Some(12)),
            (b"01", Some(1)),
            (b"_1", None),
            (b"1__0", None),
            (b"1_", None),
            (b"x", None),
            (b"", None),
        ] {
            assert_eq!(parse_int(line), want, "{line:?}");
        }
    }
}
