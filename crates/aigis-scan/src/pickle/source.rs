//! The bytes under the pickle machine: a reader that knows its offset and skips payloads
//! with `Seek`, so a declared length is never allocated, and that reads protocol-4
//! frames the ways CPython's unpicklers can.
//!
//! A `FRAME` declares how many bytes follow as one unit. A pickler never lets an opcode
//! cross a frame's end, but a crafted pickle can, and then readers disagree
//! (CPython gh-154848):
//!
//! - a reader of the whole input (`pickle.loads`, `pickletools`, static scanners) and the
//!   C unpickler when the file's `peek` holds the frame read on, straight across the end;
//! - the C unpickler reading a frame with `read()` (a file without `peek`, such as the
//!   `io.BytesIO` that `torch.load` gives it, or a frame larger than its prefetch) drops
//!   the rest of the frame and reads the argument from the bytes *after* the frame: the
//!   same file is a different opcode stream;
//! - the pure-Python unpickler refuses it.
//!
//! The same split happens for a protocol-0 line with no newline before the frame's end,
//! and for a `FRAME` opened while bytes of the current frame are left (the C unpickler
//! ignores a nested frame that fits in what is left, and otherwise drops the rest and
//! reads the new frame after it). Each such place is a [`FrameEvent`]; which way a reader
//! goes there is a choice the [`Source`] takes from a script, so the machine can run
//! every reading and report what each one imports.

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
    /// A line longer than the machine keeps: its first bytes (as many as it keeps), its
    /// length, and whether it starts and ends with the same quote (what a protocol-0
    /// `STRING` must do).
    LongLine {
        quoted: bool,
        head: Vec<u8>,
        len: u64,
    },
}

/// What a pickle did to a frame that a pickler never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameEvent {
    /// An opcode's argument runs past the end of its frame.
    ArgumentCrossesEnd,
    /// A protocol-0 line has no newline before the end of its frame.
    LineCrossesEnd,
    /// A `FRAME` opens while bytes of the current frame are left.
    NestedFrame,
    /// A pickle ends (`STOP`) while bytes of its frame are left: the next pickle starts
    /// right after the `STOP` for a reader of the whole input, after the frame for one
    /// that read the frame with `read()` (and for the pure-Python unpickler).
    StopInsideFrame,
}

impl FrameEvent {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FrameEvent::ArgumentCrossesEnd => "an opcode argument runs past the end of its frame",
            FrameEvent::LineCrossesEnd => {
                "a text argument has no newline before the end of its frame"
            }
            FrameEvent::NestedFrame => "a FRAME opens before the current frame ends",
            FrameEvent::StopInsideFrame => "a pickle ends before the end of its frame",
        }
    }
}

/// Frame events a reading records (the first ones; the count goes on).
const MAX_EVENTS_KEPT: usize = 16;

/// A positioned reader: `pos` is the offset from where the scan started, `len` the bytes
/// left in the input (measured once), so skips past the end are caught without reading.
#[derive(Debug)]
pub(crate) struct Source<R> {
    inner: R,
    /// Where the input starts in `inner` (a reading starts again from here).
    start: u64,
    pos: u64,
    end: u64,
    /// The end of the open frame, while the reader is inside one.
    frame: Option<u64>,
    /// The reading: at the `i`-th frame event, `script[i]` says whether the reader drops
    /// the rest of the frame (a C unpickler that read the frame with `read()`); past the
    /// script it reads on (a reader of the whole input).
    script: Vec<bool>,
    /// Frame events met so far in this reading, and the first ones (offset, kind).
    events: usize,
    first_events: Vec<(u64, FrameEvent)>,
    /// The last line read ended at the end of the input, with no newline.
    cut_line: bool,
}

impl<R: Read + Seek> Source<R> {
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        let start = inner.stream_position()?;
        let end = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner,
            start,
            pos: 0,
            end: end.saturating_sub(start),
            frame: None,
            script: Vec::new(),
            events: 0,
            first_events: Vec::new(),
            cut_line: false,
        })
    }

    /// Back to the start of the input, for another reading of its frames.
    pub(crate) fn restart(&mut self, script: Vec<bool>) -> io::Result<()> {
        self.inner.seek(SeekFrom::Start(self.start))?;
        self.pos = 0;
        self.frame = None;
        self.script = script;
        self.events = 0;
        self.first_events.clear();
        self.cut_line = false;
        Ok(())
    }

    /// Frame events met in this reading.
    pub(crate) fn events(&self) -> usize {
        self.events
    }

    /// The first frame events of this reading: offset and kind.
    pub(crate) fn first_events(&self) -> &[(u64, FrameEvent)] {
        &self.first_events
    }

    /// Bytes of the open frame not read yet (0 outside a frame).
    pub(crate) fn frame_left(&self) -> u64 {
        self.frame.map_or(0, |end| end.saturating_sub(self.pos))
    }

    /// A frame event here: records it and says whether this reading drops the rest of
    /// the frame.
    fn event(&mut self, kind: FrameEvent) -> bool {
        let drop = self.script.get(self.events).copied().unwrap_or(false);
        self.events += 1;
        if self.first_events.len() < MAX_EVENTS_KEPT {
            self.first_events.push((self.pos, kind));
        }
        drop
    }

    /// Leaves the open frame at its end, skipping what is left of it.
    fn drop_rest_of_frame(&mut self) -> Result<(), ReadFail> {
        if let Some(end) = self.frame.take()
            && end > self.pos
        {
            let delta = i64::try_from(end - self.pos).map_err(|_| ReadFail::Eof)?;
            self.inner.seek(SeekFrom::Current(delta))?;
            self.pos = end;
        }
        Ok(())
    }

    /// Before reading `n` bytes: leave a frame that has ended, and at an argument that
    /// runs past the end of the open frame, take this reading's way.
    fn enter(&mut self, n: u64) -> Result<(), ReadFail> {
        let Some(end) = self.frame else {
            return Ok(());
        };
        if self.pos >= end {
            self.frame = None;
        } else if n > end - self.pos && end < self.end {
            if self.event(FrameEvent::ArgumentCrossesEnd) {
                self.drop_rest_of_frame()?;
            }
            self.frame = None;
        }
        Ok(())
    }

    /// The end of a pickle (`STOP` read) with bytes of its frame left: a new unpickler
    /// reading the file with `read()` starts after the frame; one whose `peek` held it, or
    /// the same C unpickler loading again, goes on in the frame, whose end still counts.
    pub(crate) fn end_pickle(&mut self) -> Result<(), ReadFail> {
        if self.frame_left() == 0 {
            self.frame = None;
        } else if self.event(FrameEvent::StopInsideFrame) {
            self.drop_rest_of_frame()?;
        }
        Ok(())
    }

    /// Whether the last line ended the input without a newline (and forgets it).
    pub(crate) fn take_cut_line(&mut self) -> bool {
        std::mem::take(&mut self.cut_line)
    }

    /// `FRAME` with the length it declares (its 8-byte argument already read). A frame
    /// longer than the input is refused by the C unpickler; the pure-Python unpickler
    /// reads what there is as the frame, so the machine reads on (the frame ends at the
    /// end of the input) and `Ok(Some(bytes left))` says so.
    pub(crate) fn open_frame(&mut self, len: u64) -> Result<Option<u64>, ReadFail> {
        let left = self.frame_left();
        if left > 0 && self.event(FrameEvent::NestedFrame) {
            // The C unpickler reads a frame that fits in what is left of the current one
            // from there (no change), and otherwise drops the rest and reads after it.
            if len <= left {
                return Ok(None);
            }
            self.drop_rest_of_frame()?;
        }
        if len > self.remaining() {
            self.frame = Some(self.end);
            return Ok(Some(self.remaining()));
        }
        self.frame = Some(self.pos + len);
        Ok(None)
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
        self.enter(n)?;
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
        self.enter(len)?;
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
    /// `max` is read to its end but only its first `max` bytes are kept
    /// ([`Payload::LongLine`]): protocol-0 strings can carry data, names and numbers are
    /// short.
    ///
    /// A line that starts inside a frame and has no newline before its end is a frame
    /// event: the C unpickler reading with `read()` drops what it has and reads a new
    /// line from after the frame.
    pub(crate) fn line(&mut self, max: usize) -> Result<Payload, ReadFail> {
        let mut frame_end = self.frame.filter(|&end| self.pos < end);
        let mut out = Vec::new();
        let mut len = 0u64;
        let (mut first, mut last) = (None, 0u8);
        loop {
            if frame_end == Some(self.pos) {
                frame_end = None;
                self.frame = None;
                if self.pos < self.end && self.event(FrameEvent::LineCrossesEnd) {
                    out.clear();
                    len = 0;
                    (first, last) = (None, 0);
                }
            }
            let b = match self.u8() {
                Ok(b) => b,
                // The pure-Python unpickler (joblib's) takes a last line with no newline
                // and cuts its last byte off, as it cuts the newline; the C unpickler
                // refuses it. A name read so is imported (an `INST` is even called)
                // before the load fails, so the line is returned and marked.
                Err(ReadFail::Eof) => {
                    self.cut_line = true;
                    if len <= max as u64 {
                        out.pop();
                        return Ok(Payload::Kept(out));
                    }
                    return Ok(Payload::LongLine {
                        quoted: false,
                        head: out,
                        len: len - 1,
                    });
                }
                Err(e) => return Err(e),
            };
            if b == b'\n' {
                if len <= max as u64 {
                    return Ok(Payload::Kept(out));
                }
                let quoted = len >= 2 && first == Some(last) && matches!(last, b'\'' | b'"');
                return Ok(Payload::LongLine {
                    quoted,
                    head: out,
                    len,
                });
            }
            first = first.or(Some(b));
            last = b;
            len += 1;
            if len <= max as u64 {
                out.push(b);
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
        assert!(matches!(
            s.line(2),
            Ok(Payload::LongLine { quoted: true, .. })
        ));
        assert!(matches!(
            s.line(2),
            Ok(Payload::LongLine { quoted: false, .. })
        ));
        assert!(matches!(
            s.line(0),
            Ok(Payload::LongLine { quoted: false, .. })
        ));
    }

    #[test]
    fn lines_are_capped() {
        let mut s = Source::new(Cursor::new(b"os\nsystem\nxxxxxxxx\n".to_vec())).unwrap();
        assert!(matches!(s.line(8), Ok(Payload::Kept(ref v)) if v == b"os"));
        assert!(matches!(s.line(8), Ok(Payload::Kept(ref v)) if v == b"system"));
        assert!(matches!(
            s.line(4),
            Ok(Payload::LongLine { quoted: false, .. })
        ));
        assert!(s.at_end());
        // a last line with no newline loses its last byte, as in the pure-Python
        // unpickler, and is marked
        let mut s = Source::new(Cursor::new(b"abc".to_vec())).unwrap();
        assert!(matches!(s.line(8), Ok(Payload::Kept(ref v)) if v == b"ab"));
        assert!(s.take_cut_line());
        assert!(!s.take_cut_line());
        let mut s = Source::new(Cursor::new(b"abcdefghij".to_vec())).unwrap();
        assert!(
            matches!(s.line(4), Ok(Payload::LongLine { ref head, len: 9, .. }) if head == b"abcd")
        );
        assert!(s.take_cut_line());
    }
}
