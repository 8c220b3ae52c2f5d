//! The bytes under the pickle machine: a reader that knows its offset and skips payloads
//! with `Seek`, so a declared length is never allocated.

use std::io::{self, Read, Seek, SeekFrom};

/// Why the machine could not read what an opcode declared.
#[derive(Debug)]
pub(crate) enum ReadFail {
    /// The input ended inside an opcode or its argument.
    Eof,
    /// The reader itself failed (not the pickle's fault).
    Io(io::Error),
}

impl From<io::Error> for ReadFail {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadFail::Eof
        } else {
            ReadFail::Io(e)
        }
    }
}

/// A payload the machine kept (short enough to inspect) or skipped (only its length).
#[derive(Debug)]
pub(crate) enum Payload {
    Kept(Vec<u8>),
    Skipped,
    /// A line longer than the machine keeps; `quoted` if it starts and ends with the
    /// same quote (what a protocol-0 `STRING` must do).
    LongLine {
        quoted: bool,
    },
}

/// A positioned reader: `pos` is the offset from where the scan started, `len` the bytes
/// left in the input (measured once), so skips past the end are caught without reading.
#[derive(Debug)]
pub(crate) struct Source<R> {
    inner: R,
    pos: u64,
    end: u64,
}

impl<R: Read + Seek> Source<R> {
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        let start = inner.stream_position()?;
        let end = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner,
            pos: 0,
            end: end.saturating_sub(start),
        })
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte, without consuming it (`None` at the end).
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, ReadFail> {
        if self.at_end() {
            return Ok(None);
        }
        let b = self.u8()?;
        self.inner.seek(SeekFrom::Current(-1))?;
        self.pos -= 1;
        Ok(Some(b))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ReadFail> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadFail> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), ReadFail> {
        let n = buf.len() as u64;
        if n > self.remaining() {
            return Err(ReadFail::Eof);
        }
        self.inner.read_exact(buf)?;
        self.pos += n;
        Ok(())
    }

    /// Reads `len` bytes if `len <= keep`, else seeks over them: a hostile length costs a
    /// seek, never an allocation.
    pub(crate) fn payload(&mut self, len: u64, keep: usize) -> Result<Payload, ReadFail> {
        if len > self.remaining() {
            return Err(ReadFail::Eof);
        }
        if len <= keep as u64 {
            let mut buf = vec![0u8; len as usize];
            self.exact(&mut buf)?;
            return Ok(Payload::Kept(buf));
        }
        let delta = i64::try_from(len).map_err(|_| ReadFail::Eof)?;
        self.inner.seek(SeekFrom::Current(delta))?;
        self.pos += len;
        Ok(Payload::Skipped)
    }

    /// A protocol-0 argument: the bytes up to `\n` (not included). A line longer than
    /// `max` is read to its end but not kept ([`Payload::LongLine`]):
    /// protocol-0 strings can carry data, names and numbers are short.
    pub(crate) fn line(&mut self, max: usize) -> Result<Payload, ReadFail> {
        let mut out = Vec::new();
        let mut len = 0u64;
        let (mut first, mut last) = (None, 0u8);
        loop {
            let b = self.u8()?;
            if b == b'\n' {
                if len <= max as u64 {
                    return Ok(Payload::Kept(out));
                }
                let quoted = len >= 2 && first == Some(last) && matches!(last, b'\'' | b'"');
                return Ok(Payload::LongLine { quoted });
            }
            first = first.or(Some(b));
            last = b;
            len += 1;
            if len <= max as u64 {
                out.push(b);
            } else if !out.is_empty() {
                out = Vec::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn skips_without_reading_and_catches_lengths_past_the_end() {
        let mut s = Source::new(Cursor::new(vec![1u8; 100])).unwrap();
        assert!(matches!(s.payload(10, 4), Ok(Payload::Skipped)));
        assert!(matches!(s.payload(4, 4), Ok(Payload::Kept(ref v)) if v.len() == 4));
        assert_eq!(s.pos(), 14);
        assert!(matches!(s.payload(u64::MAX, 4), Err(ReadFail::Eof)));
        assert!(matches!(s.payload(87, 4), Err(ReadFail::Eof)));
        assert_eq!(s.remaining(), 86);
    }

    #[test]
    fn long_lines_remember_whether_they_are_quoted() {
        let mut s = Source::new(Cursor::new(b"'abcdef'\n'abcdef\n'\n".to_vec())).unwrap();
        assert!(matches!(s.line(2), Ok(Payload::LongLine { quoted: true })));
        assert!(matches!(s.line(2), Ok(Payload::LongLine { quoted: false })));
        assert!(matches!(s.line(0), Ok(Payload::LongLine { quoted: false })));
    }

    #[test]
    fn lines_are_capped() {
        let mut s = Source::new(Cursor::new(b"os\nsystem\nxxxxxxxx\n".to_vec())).unwrap();
        assert!(matches!(s.line(8), Ok(Payload::Kept(ref v)) if v == b"os"));
        assert!(matches!(s.line(8), Ok(Payload::Kept(ref v)) if v == b"system"));
        assert!(matches!(s.line(4), Ok(Payload::LongLine { quoted: false })));
        assert!(s.at_end());
        let mut s = Source::new(Cursor::new(b"abc".to_vec())).unwrap();
        assert!(matches!(s.line(8), Err(ReadFail::Eof)));
    }
}
