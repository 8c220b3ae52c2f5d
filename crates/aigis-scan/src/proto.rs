//! The protobuf wire format, read without a schema: ONNX models and TensorFlow
//! SavedModels are protobuf messages, and the scanner and the watermark need only a few
//! of their fields.
//!
//! Written by hand because what is needed here is a bounded walk over fields that keeps
//! each field's byte range (to report offsets and to rewrite tensor bytes in place), and
//! that never allocates for a field it skips. `prost` and `protobuf` decode whole typed
//! messages generated from `.proto` files (which needs `protoc` or committed generated
//! code) and drop the byte positions.

use std::ops::Range;

/// A field's wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// A varint (wire type 0).
    Varint,
    /// 64 bits (wire type 1).
    Fixed64,
    /// Length-delimited: bytes, a string, a message, packed numbers (wire type 2).
    Len,
    /// Groups (wire types 3 and 4) are deprecated; ONNX and TensorFlow never use them.
    Group,
    /// 32 bits (wire type 5).
    Fixed32,
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field number.
    pub number: u32,
    /// How its value is written.
    pub wire: WireType,
    /// The value: a varint's value, a fixed field's bits, or a length-delimited field's
    /// length.
    pub int: u64,
    /// A length-delimited field's bytes (empty for the other wire types).
    pub bytes: &'a [u8],
    /// Where the value starts in the buffer given to [`Fields::new`] (for a
    /// length-delimited field, its first byte after the length).
    pub at: usize,
}

impl Field<'_> {
    /// The byte range of a length-delimited field's payload within the outer buffer.
    pub fn range(&self) -> Range<usize> {
        self.at..self.at + self.bytes.len()
    }

    /// The payload as UTF-8 text, if it is.
    pub fn str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes).ok()
    }
}

/// Why a buffer is not a well-formed protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf at byte {at}: {what}")]
pub struct WireError {
    /// The byte where the message stops making sense.
    pub at: usize,
    /// What is wrong there.
    pub what: &'static str,
}

/// The fields of one message, in order. Yields `Err` once, at the first malformed
/// byte, and then stops.
#[derive(Debug)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Added to every `at`, so nested messages report positions in the outer buffer.
    base: usize,
    failed: bool,
    /// The buffer is only the start of the message: a length-delimited field may run past
    /// its end (see [`Fields::prefix`]).
    prefix: bool,
}

impl<'a> Fields<'a> {
    /// The fields of the message that is the whole of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::nested(buf, 0)
    }

    /// The fields of a message found at `base` in an outer buffer (`field.bytes` with
    /// `field.at`).
    pub fn nested(buf: &'a [u8], base: usize) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            failed: false,
            prefix: false,
        }
    }

    /// The fields of a message of which `buf` holds only the first bytes (a file's head):
    /// the last length-delimited field may run past the end of `buf`. Its `int` is then
    /// the declared length, `bytes` the part at hand, and iteration stops after it.
    pub fn prefix(buf: &'a [u8]) -> Self {
        Self {
            prefix: true,
            ..Self::new(buf)
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut pos = self.pos;
        let result = varint(self.buf, &mut pos);
        self.pos = pos;
        result.map_err(|what| self.error(what))
    }

    fn error(&mut self, what: &'static str) -> WireError {
        self.failed = true;
        WireError {
            at: self.base + self.pos,
            what,
        }
    }

    fn take(&mut self, n: u64) -> Result<(&'a [u8], usize), WireError> {
        let at = self.pos;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|&end| end <= self.buf.len());
        let end = match end {
            Some(end) => end,
            None if self.prefix => self.buf.len(),
            None => return Err(self.error("field runs past the end of its message")),
        };
        self.pos = end;
        Ok((self.buf.get(at..end).unwrap_or_default(), self.base + at))
    }

    fn next_field(&mut self) -> Result<Field<'a>, WireError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| self.error("field number too large"))?;
        if number == 0 {
            return Err(self.error("field number 0"));
        }
        let (wire, int, bytes, at) = match key & 7 {
            0 => {
                let at = self.base + self.pos;
                (WireType::Varint, self.varint()?, &[][..], at)
            }
            1 => {
                let (b, at) = self.take(8)?;
                let v = b
                    .try_into()
                    .map(u64::from_le_bytes)
                    .map_err(|_| self.error("truncated fixed64"))?;
                (WireType::Fixed64, v, &[][..], at)
            }
            2 => {
                let n = self.varint()?;
                let (b, at) = self.take(n)?;
                (WireType::Len, n, b, at)
            }
            5 => {
                let (b, at) = self.take(4)?;
                let v = b
                    .try_into()
                    .map(u32::from_le_bytes)
                    .map_err(|_| self.error("truncated fixed32"))?;
                (WireType::Fixed32, u64::from(v), &[][..], at)
            }
            3 | 4 => return Err(self.error("group wire type (not used by ONNX or TensorFlow)")),
            _ => return Err(self.error("unknown wire type")),
        };
        Ok(Field {
            number,
            wire,
            int,
            bytes,
            at,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        Some(self.next_field())
    }
}

/// Reads the varint at `buf[*pos..]` and moves `pos` past it; on error `pos` is where
/// reading stopped. Also the varints of formats built around protobuf (LevelDB tables).
pub fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err("truncated varint");
        };
        *pos += 1;
        // The tenth byte may only carry the top bit of a u64.
        if i == 9 && b > 1 {
            return Err("varint longer than 64 bits");
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

/// The fields of the message in a length-delimited field.
pub fn sub<'a>(field: &Field<'a>) -> Fields<'a> {
    Fields::nested(field.bytes, field.at)
}

/// The values of a packed repeated varint field (or a single unpacked value).
pub fn packed_varints(field: &Field<'_>) -> Result<Vec<u64>, WireError> {
    if field.wire == WireType::Varint {
        return Ok(vec![field.int]);
    }
    let mut f = Fields::nested(field.bytes, field.at);
    let mut out = Vec::new();
    while f.pos < f.buf.len() {
        out.push(f.varint()?);
    }
    Ok(out)
}

/// Writing messages by hand, for the tests of the formats built on this reader (here and
/// in `aigis-model`'s watermark).
pub mod build {
    /// A message under construction: `Msg::new().int(1, 7).str(2, "x").msg(7, inner)`.
    #[derive(Debug, Clone, Default)]
    pub struct Msg(pub Vec<u8>);

    /// A varint.
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A length-delimited field.
    pub fn len_field(number: u32, payload: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(number) << 3 | 2, out);
        varint(payload.len() as u64, out);
        out.extend_from_slice(payload);
    }

    /// A varint field.
    pub fn varint_field(number: u32, v: u64, out: &mut Vec<u8>) {
        varint(u64::from(number) << 3, out);
        varint(v, out);
    }

    impl Msg {
        /// An empty message.
        pub fn new() -> Self {
            Self::default()
        }

        /// With a varint field.
        pub fn int(mut self, number: u32, v: u64) -> Self {
            varint_field(number, v, &mut self.0);
            self
        }

        /// With a length-delimited field.
        pub fn bytes(mut self, number: u32, payload: &[u8]) -> Self {
            len_field(number, payload, &mut self.0);
            self
        }

        /// With a string field.
        pub fn str(self, number: u32, s: &str) -> Self {
            self.bytes(number, s.as_bytes())
        }

        /// With a message field.
        pub fn msg(self, number: u32, m: Msg) -> Self {
            self.bytes(number, &m.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::{len_field, varint};
    use super::*;

    #[test]
    fn reads_every_wire_type_with_positions() {
        let mut inner = Vec::new();
        len_field(1, b"name", &mut inner);
        let mut msg = Vec::new();
        varint(1 << 3, &mut msg);
        varint(300, &mut msg);
        varint(2 << 3 | 1, &mut msg);
        msg.extend_from_slice(&7u64.to_le_bytes());
        varint(3 << 3 | 5, &mut msg);
        msg.extend_from_slice(&1.5f32.to_le_bytes());
        len_field(4, &inner, &mut msg);
        let fields: Vec<_> = Fields::new(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!((fields[0].number, fields[0].int), (1, 300));
        assert_eq!((fields[1].wire, fields[1].int), (WireType::Fixed64, 7));
        assert_eq!(f32::from_bits(fields[2].int as u32), 1.5);
        let nested: Vec<_> = sub(&fields[3]).collect::<Result<_, _>>().unwrap();
        assert_eq!(nested[0].str(), Some("name"));
        // Positions are in the outer buffer.
        assert_eq!(&msg[nested[0].range()], b"name");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        // Truncated varint, length past the end, group, field 0, over-long varint.
        for bad in [
            &[0x08, 0x80][..],
            &[0x0a, 0x05, b'a'],
            &[0x0b],
            &[0x00, 0x01],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            let results: Vec<_> = Fields::new(bad).collect();
            assert!(results.last().unwrap().is_err(), "{bad:?}");
            assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        }
    }

    #[test]
    fn a_prefix_may_end_inside_a_field() {
        let mut msg = Vec::new();
        varint(1 << 3, &mut msg);
        varint(7, &mut msg);
        len_field(7, &[0x0a; 300], &mut msg);
        let head = &msg[..20];
        let fields: Vec<_> = Fields::prefix(head).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!((fields[1].number, fields[1].int), (7, 300));
        // two bytes of ir_version, one of key and two of length before the payload
        assert_eq!(fields[1].bytes.len(), 20 - 5);
        // the same bytes as a whole message are malformed
        assert!(Fields::new(head).any(|f| f.is_err()));
    }

    #[test]
    fn packed_varints_decode() {
        let mut payload = Vec::new();
        for v in [1u64, 300, 7] {
            varint(v, &mut payload);
        }
        let mut msg = Vec::new();
        len_field(1, &payload, &mut msg);
        let f = Fields::new(&msg).next().unwrap().unwrap();
        assert_eq!(packed_varints(&f).unwrap(), vec![1, 300, 7]);
    }
}
