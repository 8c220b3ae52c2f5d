//! HDF5 files: legacy Keras `.h5` models, and the weights inside a `.keras` zip.
//!
//! Keras 2, `tf.keras` and Keras 3 (`model.save("m.h5")`) keep the model's architecture
//! as the JSON string attribute `model_config` of the root group, and the compile
//! settings as `training_config`; everything else in the file is weights, which loading
//! only reads as numbers. So this reader does not parse HDF5 as a whole: it follows the
//! superblock to the root group's object header and reads its attribute messages, then
//! hands those two configs to [`crate::keras::check_config`].
//!
//! What is read, from the HDF5 file format specification:
//!
//! - the superblock, versions 0 and 1 (the root group's symbol-table entry holds the
//!   address of its object header; h5py writes version 0 by default) and 2 and 3
//!   (`libver="latest"`: the address itself);
//! - object headers version 1 and version 2 (`OHDR`), with their continuation blocks
//!   (message `0x0010`; `OCHK` in version 2);
//! - attribute messages (`0x000C`) versions 1–3: name, datatype, dataspace and data;
//!   datatypes fixed-length string (class 3, what `attrs[k] = b"…"` writes: Keras 2) and
//!   variable-length string (class 9, what `attrs[k] = "…"` writes: Keras 3), whose
//!   bytes sit in a global heap collection (`GCOL`).
//!
//! Anything else that could hold a root attribute makes the file inconclusive, never
//! clean: attributes in dense storage (an attribute-info message `0x0015` with a fractal
//! heap, which HDF5 uses past 8 attributes or for ones over 64 KiB with the latest
//! format), shared datatypes or dataspaces, a config attribute of another type, and any
//! structure that does not parse. Every read is bounded by the file's length and
//! [`Limits::max_header_bytes`]; header blocks and messages are counted and capped, and
//! a continuation that loops is caught.

use std::io::{Read, SeekFrom};

use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    VALID = "hdf5.valid":
        "An HDF5 file without a Keras config: weights only.";
    MALFORMED = "hdf5.malformed":
        "An HDF5 file whose root attributes (the Keras model config) cannot be read.";
    TRUNCATED = "hdf5.truncated":
        "An HDF5 file shorter than its superblock says.";
    ATTRIBUTE_TYPE = "hdf5.attribute_type":
        "An HDF5 root attribute Keras writes as a string that is not one, so it is not analysed.";
}

const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
/// Header blocks (the first plus continuations) of the root object header.
const MAX_BLOCKS: usize = 1024;
/// Messages in the root object header.
const MAX_MESSAGES: usize = 65_536;
/// Root attributes whose value is a Keras config.
const CONFIGS: &[&str] = &["model_config", "training_config"];

/// Why the file could not be read to the end, and where.
#[derive(Debug)]
struct Fail {
    offset: u64,
    why: String,
}

fn fail<T>(offset: u64, why: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        offset,
        why: why.into(),
    })
}

/// One root attribute: its name and, for strings, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    /// Offset of the attribute message.
    pub offset: u64,
    /// The string, for a scalar (or one-element) fixed- or variable-length string;
    /// `None` for other types, which are not decoded.
    pub text: Option<Vec<u8>>,
}

/// Scans an HDF5 file of `len` bytes: the Keras configs among its root attributes, or
/// `hdf5.valid` when there are none. `at` names the member when the file sits in an
/// archive.
pub fn scan(r: &mut dyn ReadSeek, len: u64, at: &Location, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    let (attributes, end) = match root_attributes(r, len, limits) {
        Ok(a) => a,
        Err(f) => {
            out.push(finding(
                Verdict::Inconclusive,
                rule::MALFORMED.id,
                format!(
                    "the HDF5 root group could not be read ({}), so its attributes (the Keras model config) are not analysed",
                    f.why
                ),
                Location {
                    member: at.member.clone(),
                    offset: Some(f.offset),
                },
            ));
            return out;
        }
    };
    if end > len {
        out.push(finding(
            Verdict::Inconclusive,
            rule::TRUNCATED.id,
            format!("the superblock says the file has {end} bytes, but it has {len}: truncated, and HDF5 refuses to open it"),
            at.clone(),
        ));
    }
    let mut configs = 0;
    for a in &attributes {
        if !CONFIGS.contains(&a.name.as_str()) {
            continue;
        }
        configs += 1;
        let here = Location {
            member: at.member.clone(),
            offset: Some(a.offset),
        };
        match &a.text {
            Some(text) if a.name == "model_config" => crate::keras::check_config(
                text,
                &format!("`{}` attribute", a.name),
                &here,
                limits,
                &mut out,
            ),
            Some(text) => crate::keras::check_training_config(
                text,
                &format!("`{}` attribute", a.name),
                &here,
                limits,
                &mut out,
            ),
            None => out.push(finding(
                Verdict::Inconclusive,
                rule::ATTRIBUTE_TYPE.id,
                format!(
                    "the `{}` attribute is not a string, as Keras writes it, so it is not analysed",
                    a.name
                ),
                here,
            )),
        }
    }
    if configs == 0 {
        out.push(finding(
            Verdict::Safe,
            rule::VALID.id,
            format!(
                "HDF5 with {} root attributes and no Keras model config: weights only, which loading reads as numbers",
                attributes.len()
            ),
            at.clone(),
        ));
    }
    out
}

/// The attributes of the root group, and the file length the superblock declares.
fn root_attributes(
    r: &mut dyn ReadSeek,
    len: u64,
    limits: &Limits,
) -> Result<(Vec<Attribute>, u64), Fail> {
    let mut file = File {
        r,
        len,
        cap: limits.max_header_bytes,
        offset_size: 8,
        length_size: 8,
        base: 0,
        end: 0,
    };
    let root = file.superblock()?;
    Ok((file.object_header(root)?, file.end))
}

struct File<'a> {
    r: &'a mut dyn ReadSeek,
    len: u64,
    cap: u64,
    offset_size: u8,
    length_size: u8,
    /// The base address all addresses are relative to.
    base: u64,
    /// The end-of-file address the superblock declares (absolute).
    end: u64,
}

/// A little-endian reader over bytes read from `start` in the file.
struct Bytes<'a> {
    b: &'a [u8],
    pos: usize,
    start: u64,
}

impl<'a> Bytes<'a> {
    fn new(b: &'a [u8], start: u64) -> Self {
        Self { b, pos: 0, start }
    }

    fn at(&self) -> u64 {
        self.start.saturating_add(self.pos as u64)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.b.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => fail(self.at(), "a structure runs past its block"),
        }
    }

    fn uint(&mut self, n: u8) -> Result<u64, Fail> {
        let bytes = self.take(usize::from(n))?;
        if n > 8 {
            return fail(self.at(), "an integer wider than 8 bytes");
        }
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn u8(&mut self) -> Result<u8, Fail> {
        Ok(self.uint(1)? as u8)
    }

    fn u16(&mut self) -> Result<u16, Fail> {
        Ok(self.uint(2)? as u16)
    }

    fn u32(&mut self) -> Result<u32, Fail> {
        Ok(self.uint(4)? as u32)
    }

    fn skip(&mut self, n: usize) -> Result<(), Fail> {
        self.take(n).map(|_| ())
    }

    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }
}

/// `n` rounded up to a multiple of 8 (version 1 structures are 8-byte aligned).
fn pad8(n: usize) -> usize {
    n.div_ceil(8).saturating_mul(8)
}

impl File<'_> {
    /// `n` bytes at absolute file offset `offset`, within the file and the cap.
    fn read(&mut self, offset: u64, n: u64) -> Result<Vec<u8>, Fail> {
        if n > self.cap {
            return fail(offset, format!("a {n}-byte structure, past the limit"));
        }
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            return fail(offset, "a structure runs past the end of the file");
        }
        let mut buf = Vec::new();
        let read = self
            .r
            .seek(SeekFrom::Start(offset))
            .and_then(|_| (&mut *self.r).take(n).read_to_end(&mut buf));
        match read {
            Ok(_) if buf.len() as u64 == n => Ok(buf),
            Ok(_) => fail(offset, "the file ended early"),
            Err(e) => fail(offset, format!("read error: {e}")),
        }
    }

    /// At most `n` bytes at `offset`: fewer when the file ends first.
    fn read_upto(&mut self, offset: u64, n: u64) -> Result<Vec<u8>, Fail> {
        let n = n.min(self.len.saturating_sub(offset));
        self.read(offset, n)
    }

    fn undefined(&self, addr: u64) -> bool {
        let bits = u32::from(self.offset_size) * 8;
        addr == u64::MAX >> (64 - bits)
    }

    /// An address in the file as an absolute offset.
    fn address(&self, addr: u64, from: u64) -> Result<u64, Fail> {
        if self.undefined(addr) {
            return fail(from, "an undefined address where one is needed");
        }
        match self.base.checked_add(addr) {
            Some(a) if a < self.len => Ok(a),
            _ => fail(
                from,
                format!("address {addr:#x} is past the end of the file"),
            ),
        }
    }

    /// Reads the superblock at offset 0; returns the root object header's offset.
    fn superblock(&mut self) -> Result<u64, Fail> {
        let head = self.read_upto(0, 128)?;
        let mut b = Bytes::new(&head, 0);
        if b.take(8)? != SIGNATURE {
            return fail(0, "no HDF5 signature at the start");
        }
        let version = b.u8()?;
        let sizes = |o: u8, l: u8, at: u64| {
            if matches!(o, 2 | 4 | 8) && matches!(l, 2 | 4 | 8) {
                Ok((o, l))
            } else {
                fail(at, format!("offset/length sizes {o}/{l}"))
            }
        };
        match version {
            0 | 1 => {
                b.skip(4)?; // free-space, root symbol table and shared header versions, reserved
                let (o, l) = sizes(b.u8()?, b.u8()?, b.at())?;
                (self.offset_size, self.length_size) = (o, l);
                b.skip(1 + 2 + 2 + 4)?; // reserved, leaf K, internal K, flags
                if version == 1 {
                    b.skip(4)?; // indexed storage K, reserved
                }
                self.base = b.uint(o)?;
                b.skip(usize::from(o))?; // free space
                self.end = self.base.saturating_add(b.uint(o)?);
                b.skip(usize::from(o))?; // driver info
                b.skip(usize::from(o))?; // root entry: link name offset
                let at = b.at();
                let root = b.uint(o)?;
                self.address(root, at)
            }
            2 | 3 => {
                let (o, l) = sizes(b.u8()?, b.u8()?, b.at())?;
                (self.offset_size, self.length_size) = (o, l);
                b.skip(1)?; // flags
                self.base = b.uint(o)?;
                b.skip(usize::from(o))?; // superblock extension
                self.end = self.base.saturating_add(b.uint(o)?);
                let at = b.at();
                let root = b.uint(o)?;
                self.address(root, at)
            }
            v => fail(8, format!("superblock version {v}")),
        }
    }

    /// The attribute messages of the object header at `offset`, continuations followed.
    fn object_header(&mut self, offset: u64) -> Result<Vec<Attribute>, Fail> {
        let first = self.read_upto(offset, 16)?;
        // version 2 headers that track attribute creation order give each message a
        // 2-byte creation index
        let mut ordered = false;
        let (version, mut blocks) = if first.starts_with(b"OHDR") {
            ordered = first.get(5).is_some_and(|f| f & 0x04 != 0);
            (2, vec![self.v2_first_block(offset)?])
        } else if first.first() == Some(&1) {
            let mut b = Bytes::new(&first, offset);
            b.skip(2)?; // version, reserved
            b.skip(2)?; // number of messages
            b.skip(4)?; // reference count
            let size = u64::from(b.u32()?);
            // the header prefix is 12 bytes, padded to 16
            (1, vec![(offset.saturating_add(16), size)])
        } else {
            return fail(offset, "not an object header (version 1 or OHDR)");
        };
        let mut attributes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut messages = 0usize;
        let mut i = 0;
        while let Some(&(start, size)) = blocks.get(i) {
            i += 1;
            if i > MAX_BLOCKS {
                return fail(start, "more header continuation blocks than the limit");
            }
            if !seen.insert(start) {
                return fail(start, "a header continuation that loops");
            }
            let data = self.read(start, size)?;
            let mut b = Bytes::new(&data, start);
            if version == 2 && i > 1 && b.take(4)? != b"OCHK" {
                return fail(start, "a continuation block without its OCHK signature");
            }
            // version 2 blocks end with a 4-byte checksum
            let end = if version == 2 {
                data.len().saturating_sub(4)
            } else {
                data.len()
            };
            let prefix_v1 = 8;
            let prefix_v2 = if ordered { 6 } else { 4 };
            while b.pos < end {
                let at = b.at();
                let (kind, len, flags) = if version == 1 {
                    if end - b.pos < prefix_v1 {
                        break;
                    }
                    let kind = b.u16()?;
                    let len = b.u16()?;
                    let flags = b.u8()?;
                    b.skip(3)?;
                    (kind, len, flags)
                } else {
                    // a gap shorter than a message prefix ends the block
                    if end - b.pos < 4 {
                        break;
                    }
                    let kind = u16::from(b.u8()?);
                    let len = b.u16()?;
                    let flags = b.u8()?;
                    if ordered {
                        b.skip(2)?;
                    }
                    (kind, len, flags)
                };
                if b.pos.saturating_add(usize::from(len)) > end {
                    return fail(at, "a header message runs past its block");
                }
                let body = b.take(usize::from(len))?;
                messages += 1;
                if messages > MAX_MESSAGES {
                    return fail(at, "more header messages than the limit");
                }
                let body_at = at.saturating_add(if version == 1 {
                    prefix_v1 as u64
                } else {
                    prefix_v2 as u64
                });
                match kind {
                    0x000C => {
                        if flags & 0x02 != 0 {
                            return fail(at, "a shared attribute message");
                        }
                        attributes.push(self.attribute(body, body_at, at)?);
                    }
                    0x0010 => {
                        let mut c = Bytes::new(body, body_at);
                        let addr = c.uint(self.offset_size)?;
                        let size = c.uint(self.length_size)?;
                        let addr = self.address(addr, body_at)?;
                        blocks.push((addr, size));
                    }
                    0x0015 => {
                        let mut c = Bytes::new(body, body_at);
                        c.skip(1)?; // version
                        let flags = c.u8()?;
                        if flags & 0x01 != 0 {
                            c.skip(2)?; // maximum creation index
                        }
                        let heap = c.uint(self.offset_size)?;
                        if !self.undefined(heap) {
                            return fail(
                                at,
                                "attributes in dense storage (a fractal heap), which this reader does not follow",
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(attributes)
    }

    /// The first block of a version 2 object header: where its messages start and end.
    fn v2_first_block(&mut self, offset: u64) -> Result<(u64, u64), Fail> {
        let head = self.read_upto(offset, 40)?;
        let mut b = Bytes::new(&head, offset);
        b.skip(4)?;
        let version = b.u8()?;
        if version != 2 {
            return fail(offset, format!("object header version {version}"));
        }
        let flags = b.u8()?;
        if flags & 0x20 != 0 {
            b.skip(16)?; // access, modification, change, birth times
        }
        if flags & 0x10 != 0 {
            b.skip(4)?; // attribute phase change values
        }
        let size = b.uint(1u8 << (flags & 0x03))?;
        // the messages, then the checksum
        Ok((b.at(), size.saturating_add(4)))
    }

    /// One attribute message (`body` starts at file offset `at`).
    fn attribute(&mut self, body: &[u8], at: u64, msg: u64) -> Result<Attribute, Fail> {
        let mut b = Bytes::new(body, at);
        let version = b.u8()?;
        let flags = b.u8()?; // reserved in version 1
        if version != 1 && flags & 0x03 != 0 {
            return fail(at, "an attribute with a shared datatype or dataspace");
        }
        let name_len = usize::from(b.u16()?);
        let type_len = usize::from(b.u16()?);
        let space_len = usize::from(b.u16()?);
        let padded = |n: usize| if version == 1 { pad8(n) } else { n };
        match version {
            1 | 2 => {}
            3 => b.skip(1)?, // name encoding
            v => return fail(at, format!("attribute message version {v}")),
        }
        let name = b.take(padded(name_len))?;
        let name = name.get(..name_len).unwrap_or_default();
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        let name = String::from_utf8_lossy(name).into_owned();
        let datatype = b.take(padded(type_len))?;
        let space = b.take(padded(space_len))?;
        let elements = dataspace_elements(space, at, self.length_size)?;
        let data_at = b.at();
        let data = b.take(b.remaining())?;
        let text = self.string(datatype, elements, data, data_at)?;
        Ok(Attribute {
            name,
            offset: msg,
            text,
        })
    }

    /// The value of a one-element string attribute; `None` for other types.
    fn string(
        &mut self,
        datatype: &[u8],
        elements: u64,
        data: &[u8],
        at: u64,
    ) -> Result<Option<Vec<u8>>, Fail> {
        let mut t = Bytes::new(datatype, at);
        let class_version = t.u8()?;
        let bits = t.take(3)?;
        let size = t.u32()?;
        let class = class_version & 0x0f;
        let first = bits.first().copied().unwrap_or(0);
        if elements != 1 {
            return Ok(None);
        }
        match class {
            // fixed-length string: the bytes, up to the padding
            3 => {
                let Some(value) = data.get(..size as usize) else {
                    return fail(at, "a string attribute shorter than its type");
                };
                let value = match first & 0x0f {
                    // null-terminated, null-padded
                    0 | 1 => value.split(|&c| c == 0).next().unwrap_or_default(),
                    _ => value.trim_ascii_end(),
                };
                Ok(Some(value.to_vec()))
            }
            // variable-length string: a length and a global heap id
            9 if first & 0x0f == 1 => {
                let mut d = Bytes::new(data, at);
                let len = u64::from(d.u32()?);
                let collection = d.uint(self.offset_size)?;
                let index = d.u32()?;
                self.global_heap(collection, index, len, at).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Object `index` of the global heap collection at `collection`, `len` bytes of it.
    fn global_heap(
        &mut self,
        collection: u64,
        index: u32,
        len: u64,
        from: u64,
    ) -> Result<Vec<u8>, Fail> {
        let start = self.address(collection, from)?;
        let l = self.length_size;
        let head = self.read(start, 8 + u64::from(l))?;
        let mut h = Bytes::new(&head, start);
        if h.take(4)? != b"GCOL" {
            return fail(start, "a variable-length string outside a global heap");
        }
        h.skip(4)?; // version, reserved
        let size = h.uint(l)?;
        let heap = self.read(start, size)?;
        let mut b = Bytes::new(&heap, start);
        b.skip(8 + usize::from(l))?;
        let object_head = 8 + usize::from(l);
        while b.remaining() >= object_head {
            let at = b.at();
            let i = b.u16()?;
            b.skip(6)?; // reference count, reserved
            let n = b.uint(l)?;
            if i == 0 {
                break; // free space: the rest of the collection
            }
            let Ok(n) = usize::try_from(n) else {
                return fail(at, "a global heap object larger than memory");
            };
            let body = b.take(n)?;
            if u32::from(i) == index {
                return match body.get(..len as usize) {
                    Some(s) if len <= n as u64 => Ok(s.to_vec()),
                    _ => fail(at, "a string longer than its heap object"),
                };
            }
            b.skip(pad8(n) - n)?;
        }
        fail(start, format!("global heap object {index} not found"))
    }
}

/// Elements in a dataspace (1 for a scalar, 0 for a null one).
fn dataspace_elements(space: &[u8], at: u64, length_size: u8) -> Result<u64, Fail> {
    let mut s = Bytes::new(space, at);
    let version = s.u8()?;
    let rank = s.u8()?;
    let _flags = s.u8()?;
    match version {
        1 => s.skip(5)?, // reserved
        2 => {
            if s.u8()? == 2 {
                return Ok(0); // null dataspace
            }
        }
        v => return fail(at, format!("dataspace version {v}")),
    }
    let mut n = 1u64;
    for _ in 0..rank {
        n = n.saturating_mul(s.uint(length_size)?);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A version-0 superblock (8-byte offsets) whose root object header is `header`.
    fn file_v0(header: &[u8]) -> Vec<u8> {
        let mut f = SIGNATURE.to_vec();
        f.extend_from_slice(&[0, 0, 0, 0, 0, 8, 8, 0]);
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes()); // base
        f.extend_from_slice(&u64::MAX.to_le_bytes()); // free space
        f.extend_from_slice(&(96 + header.len() as u64).to_le_bytes()); // end of file
        f.extend_from_slice(&u64::MAX.to_le_bytes()); // driver
        f.extend_from_slice(&0u64.to_le_bytes()); // link name offset
        f.extend_from_slice(&96u64.to_le_bytes()); // root object header
        f.extend_from_slice(&[0; 24]); // cache type, reserved, scratch
        assert_eq!(f.len(), 96);
        f.extend_from_slice(header);
        f
    }

    /// A version-1 object header holding `messages` (type, body).
    fn header_v1(messages: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, data) in messages {
            let mut data = data.clone();
            data.resize(pad8(data.len()), 0);
            body.extend_from_slice(&kind.to_le_bytes());
            body.extend_from_slice(&(data.len() as u16).to_le_bytes());
            body.extend_from_slice(&[0; 4]);
            body.extend_from_slice(&data);
        }
        let mut h = vec![1, 0];
        h.extend_from_slice(&(messages.len() as u16).to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&(body.len() as u32).to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&body);
        h
    }

    /// A version-1 attribute message: scalar fixed-length string `value`.
    fn string_attribute(name: &str, value: &[u8]) -> Vec<u8> {
        let mut name = name.as_bytes().to_vec();
        name.push(0);
        let mut datatype = vec![0x13, 0, 0, 0];
        datatype.extend_from_slice(&(value.len() as u32).to_le_bytes());
        let space = vec![1, 0, 0, 0, 0, 0, 0, 0];
        let mut m = vec![1, 0];
        m.extend_from_slice(&(name.len() as u16).to_le_bytes());
        m.extend_from_slice(&(datatype.len() as u16).to_le_bytes());
        m.extend_from_slice(&(space.len() as u16).to_le_bytes());
        for part in [&name, &datatype, &space] {
            let mut p = part.clone();
            p.resize(pad8(p.len()), 0);
            m.extend_from_slice(&p);
        }
        m.extend_from_slice(value);
        m
    }

    fn run(bytes: &[u8]) -> Vec<Finding> {
        scan(
            &mut Cursor::new(bytes),
            bytes.len() as u64,
            &Location::default(),
            &Limits::default(),
        )
    }

    fn worst(found: &[Finding]) -> Verdict {
        Verdict::worst(found)
    }

    const LAMBDA: &[u8] = br#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {"name": "l", "function": ["4wEA", null, null], "function_type": "lambda"}}]}}"#;

    #[test]
    fn a_hand_made_fixed_length_config_is_checked() {
        let f = file_v0(&header_v1(&[
            (0x0001, vec![0; 8]), // a message of another kind is skipped
            (0x000C, string_attribute("keras_version", b"2.15.0")),
            (0x000C, string_attribute("model_config", LAMBDA)),
        ]));
        let found = run(&f);
        assert_eq!(worst(&found), Verdict::Dangerous, "{found:?}");
        assert_eq!(found[0].rule, "keras.lambda");
        assert!(found[0].location.offset.is_some());

        let weights = file_v0(&header_v1(&[(
            0x000C,
            string_attribute("keras_version", b"2.15.0"),
        )]));
        let found = run(&weights);
        assert_eq!(
            (found[0].rule.as_str(), worst(&found)),
            ("hdf5.valid", Verdict::Safe)
        );
    }

    #[test]
    fn every_truncation_and_byte_flip_is_a_verdict() {
        let f = file_v0(&header_v1(&[(
            0x000C,
            string_attribute("model_config", LAMBDA),
        )]));
        for cut in 0..f.len() {
            let found = run(&f[..cut]);
            // a cut inside the config leaves a prefix: never clean
            assert_ne!(worst(&found), Verdict::Safe, "cut at {cut}: {found:?}");
        }
        for i in 0..f.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut g = f.clone();
                g[i] ^= flip;
                let _ = run(&g);
            }
        }
    }

    #[test]
    fn loops_dense_storage_and_shared_messages_are_inconclusive() {
        // a continuation pointing back at the block that holds it (the messages start
        // 16 bytes into the header at 96; the block is this one 24-byte message)
        let mut cont = 112u64.to_le_bytes().to_vec();
        cont.extend_from_slice(&24u64.to_le_bytes());
        let f = file_v0(&header_v1(&[(0x0010, cont)]));
        let found = run(&f);
        assert_eq!(found[0].rule, "hdf5.malformed", "{found:?}");
        assert!(found[0].message.contains("loops"), "{found:?}");
        // an attribute info message with a fractal heap address
        let mut info = vec![0, 0];
        info.extend_from_slice(&4096u64.to_le_bytes());
        info.extend_from_slice(&u64::MAX.to_le_bytes());
        let found = run(&file_v0(&header_v1(&[(0x0015, info)])));
        assert!(found[0].message.contains("dense storage"), "{found:?}");
        assert_eq!(worst(&found), Verdict::Inconclusive);
        // a model_config of a type Keras never writes
        let mut number = string_attribute("model_config", &[1, 0, 0, 0]);
        number[24] = 0x10; // datatype class 0: fixed-point
        let found = run(&file_v0(&header_v1(&[(0x000C, number)])));
        assert_eq!(found[0].rule, "hdf5.attribute_type", "{found:?}");
        // not an object header at all
        let found = run(&file_v0(&[7; 32]));
        assert_eq!(found[0].rule, "hdf5.malformed");
    }
}
