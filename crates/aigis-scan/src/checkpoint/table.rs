//! LevelDB-format tables ("SSTables"), as TensorFlow writes them for checkpoint indexes
//! (tensorflow/core/lib/io/table_builder.cc, block_builder.cc, format.cc).
//!
//! In file order: the data blocks, the metaindex block and the index block, each followed
//! by a 5-byte trailer (the compression type, then the masked CRC-32C of the block and that
//! type byte), and a 48-byte footer: the metaindex and index block handles (varint offset,
//! varint size), zeros up to byte 40, and the magic number `0xdb4775248b80fb57`
//! (little-endian). A block is a run of entries (varint bytes shared with the previous key,
//! varint bytes not shared, varint value length, the unshared key bytes, the value), then
//! the restart array (`u32` offsets of entries that write their key in full) and its length
//! (`u32`). The index block maps, for each data block, a key at or after the block's last
//! key and before the next block's first to the block's handle.
//!
//! The reader is stricter than TensorFlow's, so that the entries it reports are the ones
//! TensorFlow finds however it looks for them (in order, or by binary search over the
//! index and the restart points) and no byte of the file goes unexplained: the blocks
//! follow each other from the start of the file without gaps, keys strictly increase,
//! every restart point is an entry that writes its key in full, every checksum matches and
//! the footer's padding is zeros. A block is read into memory only up to
//! `max_header_bytes` (and the index keys, kept for checking the order, only up to that in
//! all), keys only up to `max_string_bytes`, and at most `max_entries` entries are walked.

use std::cmp::Ordering;
use std::io::SeekFrom;

use crate::Limits;
use crate::onnx::show;
use crate::proto::varint;
use crate::scan::ReadSeek;

/// The footer: two block handles padded to 40 bytes, and the magic number.
pub(crate) const FOOTER_LEN: u64 = 48;
const HANDLES_LEN: usize = 40;
const MAGIC: [u8; 8] = 0xdb47_7524_8b80_fb57u64.to_le_bytes();
/// After each block: the compression type and the masked checksum.
const TRAILER_LEN: u64 = 5;
const MASK_DELTA: u32 = 0xa282_ead8;
/// Compression types (`CompressionType` in format.h).
const UNCOMPRESSED: u8 = 0;
const SNAPPY: u8 = 1;

/// Whether a file of `len` bytes whose last bytes are `tail` ends like a table.
pub(crate) fn has_magic(tail: &[u8], len: u64) -> bool {
    len >= FOOTER_LEN && tail.ends_with(&MAGIC)
}

/// The checksum from its stored form, rotated and offset so that the checksum of data
/// holding checksums is not trivial (crc32c.h `Mask`, `Unmask`).
fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// Why a table was not read to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Not a well-formed table (or the file could not be read).
    Malformed,
    /// A block is compressed, which this reader does not decompress.
    Compressed,
    /// A block, a key or the number of entries passes a limit.
    Limit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableError {
    pub problem: Problem,
    /// Where in the file.
    pub at: u64,
    pub what: String,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.what, self.at)
    }
}

fn malformed(at: u64, what: impl Into<String>) -> TableError {
    TableError {
        problem: Problem::Malformed,
        at,
        what: what.into(),
    }
}

/// One entry of a data block. Valid for the call it is given to.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Where the value starts in the file.
    pub at: u64,
}

/// What a table held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub entries: u64,
    pub data_blocks: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handle {
    offset: u64,
    size: u64,
}

impl Handle {
    /// Decodes a handle from `buf[*pos..]`; `base` is `buf`'s offset in the file.
    fn decode(buf: &[u8], pos: &mut usize, base: u64, what: &str) -> Result<Self, TableError> {
        let number = |pos: &mut usize| {
            varint(buf, pos).map_err(|e| malformed(base + *pos as u64, format!("{what}: {e}")))
        };
        let offset = number(pos)?;
        let size = number(pos)?;
        Ok(Self { offset, size })
    }

    /// The offset after the block and its trailer.
    fn end(self) -> Option<u64> {
        self.offset
            .checked_add(self.size)
            .and_then(|e| e.checked_add(TRAILER_LEN))
    }
}

/// What [`Reader::entries`] calls with each entry's key, value and the value's offset.
type EachEntry<'f> = dyn FnMut(&[u8], &[u8], u64) -> Result<(), TableError> + 'f;

/// The last key seen, for checking that keys strictly increase.
#[derive(Debug, Default)]
struct Keys {
    last: Vec<u8>,
    any: bool,
}

/// Reads the table of `len` bytes from `r`, calling `each` with every entry of its data
/// blocks in key order. Fails at the first byte that is not as TensorFlow writes it.
pub(crate) fn read(
    r: &mut dyn ReadSeek,
    len: u64,
    limits: &Limits,
    mut each: impl FnMut(Entry<'_>),
) -> Result<Stats, TableError> {
    let Some(footer_at) = len.checked_sub(FOOTER_LEN) else {
        return Err(malformed(
            0,
            format!("{len} bytes, shorter than the {FOOTER_LEN}-byte table footer"),
        ));
    };
    let mut reader = Reader {
        r,
        limits,
        footer_at,
        entries: 0,
    };
    let (meta, index) = reader.footer()?;
    let index_block = reader.block(index, "the index block")?;
    let mut blocks: Vec<(Handle, Vec<u8>)> = Vec::new();
    // Prefix compression lets short entries spell long keys: the index keys kept in full
    // count against the same cap as a block.
    let mut kept = 0u64;
    let max_kept = limits.max_header_bytes;
    reader.entries(
        &index_block,
        index.offset,
        "the index block",
        &mut Keys::default(),
        &mut |key, value, at| {
            let mut pos = 0;
            let handle = Handle::decode(value, &mut pos, at, "a data block handle")?;
            if pos != value.len() {
                return Err(malformed(
                    at,
                    "an index entry holds more than a block handle",
                ));
            }
            kept += key.len() as u64;
            if kept > max_kept {
                return Err(TableError {
                    problem: Problem::Limit,
                    at,
                    what: format!("the index block's keys spell more than {max_kept} bytes"),
                });
            }
            blocks.push((handle, key.to_vec()));
            Ok(())
        },
    )?;
    // INVARIANT: the blocks tile the file from byte 0 to the footer, in this order.
    let mut expected = 0u64;
    let layout = blocks
        .iter()
        .map(|(h, _)| (*h, "a data block"))
        .chain([(meta, "the metaindex block"), (index, "the index block")]);
    for (handle, what) in layout {
        if handle.offset != expected {
            return Err(malformed(
                expected,
                format!(
                    "{what} starts at byte {}, not where the block before it ends: blocks out of order, overlapping, or with bytes between them",
                    handle.offset
                ),
            ));
        }
        expected = handle
            .end()
            .ok_or_else(|| malformed(handle.offset, format!("{what} is too large")))?;
    }
    if expected != footer_at {
        return Err(malformed(
            expected,
            format!(
                "{} bytes between the index block and the footer",
                footer_at.saturating_sub(expected)
            ),
        ));
    }
    // The metaindex names filter blocks; TensorFlow writes none and never reads it, but it
    // must still be a well-formed block.
    let meta_block = reader.block(meta, "the metaindex block")?;
    reader.entries(
        &meta_block,
        meta.offset,
        "the metaindex block",
        &mut Keys::default(),
        &mut |_, _, _| Ok(()),
    )?;
    reader.entries = 0;
    let mut keys = Keys::default();
    let mut previous: Option<&[u8]> = None;
    for (handle, separator) in &blocks {
        let data = reader.block(*handle, "a data block")?;
        let mut first = true;
        reader.entries(
            &data,
            handle.offset,
            "a data block",
            &mut keys,
            &mut |key, value, at| {
                if first
                    && let Some(previous) = previous
                    && key <= previous
                {
                    return Err(malformed(
                        at,
                        format!(
                            "the first key `{}` of the data block at byte {} is not after the index key `{}` of the block before",
                            show(key),
                            handle.offset,
                            show(previous)
                        ),
                    ));
                }
                first = false;
                each(Entry { key, value, at });
                Ok(())
            },
        )?;
        if keys.any && keys.last.as_slice() > separator.as_slice() {
            return Err(malformed(
                handle.offset,
                format!(
                    "the last key `{}` of the data block at byte {} is after its index key `{}`",
                    show(&keys.last),
                    handle.offset,
                    show(separator)
                ),
            ));
        }
        previous = Some(separator);
    }
    Ok(Stats {
        entries: reader.entries,
        data_blocks: blocks.len() as u64,
    })
}

struct Reader<'r, 'l> {
    r: &'r mut dyn ReadSeek,
    limits: &'l Limits,
    footer_at: u64,
    entries: u64,
}

impl Reader<'_, '_> {
    fn read_at(&mut self, offset: u64, n: usize) -> Result<Vec<u8>, TableError> {
        let mut buf = vec![0; n];
        self.r
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.r.read_exact(&mut buf))
            .map_err(|e| malformed(offset, format!("could not be read: {e}")))?;
        Ok(buf)
    }

    /// The metaindex and index block handles.
    fn footer(&mut self) -> Result<(Handle, Handle), TableError> {
        let at = self.footer_at;
        let footer = self.read_at(at, FOOTER_LEN as usize)?;
        if !footer.ends_with(&MAGIC) {
            return Err(malformed(
                at + FOOTER_LEN - 8,
                "no table magic number at the end",
            ));
        }
        let handles = footer.get(..HANDLES_LEN).unwrap_or_default();
        let mut pos = 0;
        let meta = Handle::decode(handles, &mut pos, at, "the metaindex handle")?;
        let index = Handle::decode(handles, &mut pos, at, "the index handle")?;
        let padding = handles.get(pos..).unwrap_or_default();
        if padding.iter().any(|&b| b != 0) {
            return Err(malformed(
                at + pos as u64,
                "the footer's padding is not zeros",
            ));
        }
        Ok((meta, index))
    }

    /// A block's contents, its checksum checked.
    fn block(&mut self, handle: Handle, what: &str) -> Result<Vec<u8>, TableError> {
        let offset = handle.offset;
        if handle.size > self.limits.max_header_bytes {
            return Err(TableError {
                problem: Problem::Limit,
                at: offset,
                what: format!(
                    "{what} has {} bytes, more than the {} bytes a block is read into memory up to",
                    handle.size, self.limits.max_header_bytes
                ),
            });
        }
        let size = usize::try_from(handle.size)
            .map_err(|_| malformed(offset, format!("{what} is too large")))?;
        if handle.end().is_none_or(|end| end > self.footer_at) {
            return Err(malformed(
                offset,
                format!(
                    "{what} ({} bytes at byte {offset}) runs past the footer",
                    handle.size
                ),
            ));
        }
        let mut buf = self.read_at(offset, size + TRAILER_LEN as usize)?;
        let trailer: Vec<u8> = buf.split_off(size);
        let (Some(&kind), Some(stored)) = (trailer.first(), trailer.get(1..5)) else {
            return Err(malformed(offset, format!("{what} has no trailer")));
        };
        let mut stored_bytes = [0u8; 4];
        stored_bytes.copy_from_slice(stored);
        let expected = unmask(u32::from_le_bytes(stored_bytes));
        let actual = crc32c::crc32c_append(crc32c::crc32c(&buf), &[kind]);
        if actual != expected {
            return Err(malformed(
                offset + handle.size + 1,
                format!(
                    "{what} at byte {offset} fails its checksum (CRC-32C {actual:#010x}, the trailer says {expected:#010x}): damaged or edited"
                ),
            ));
        }
        match kind {
            UNCOMPRESSED => Ok(buf),
            SNAPPY => Err(TableError {
                problem: Problem::Compressed,
                at: offset + handle.size,
                what: format!(
                    "{what} at byte {offset} is snappy-compressed, which this scanner does not decompress (TensorFlow writes checkpoint indexes uncompressed)"
                ),
            }),
            other => Err(malformed(
                offset + handle.size,
                format!("{what} at byte {offset} has the unknown compression type {other}"),
            )),
        }
    }

    /// Walks the entries of a block found at `base`, checking its restart points and that
    /// keys strictly increase after `keys.last`, and calls `each(key, value, at)`.
    fn entries(
        &mut self,
        data: &[u8],
        base: u64,
        what: &str,
        keys: &mut Keys,
        each: &mut EachEntry<'_>,
    ) -> Result<(), TableError> {
        let at = |pos: usize| base + pos as u64;
        let Some(count_at) = data.len().checked_sub(4) else {
            return Err(malformed(
                base,
                format!(
                    "{what} has {} bytes, too few for its restart count",
                    data.len()
                ),
            ));
        };
        let count = u32_at(data, count_at);
        let Some(restarts_at) = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(4))
            .and_then(|n| count_at.checked_sub(n))
        else {
            return Err(malformed(
                at(count_at),
                format!(
                    "{what} declares {count} restart points, more than fit in its {} bytes",
                    data.len()
                ),
            ));
        };
        let mut restarts = (restarts_at..count_at)
            .step_by(4)
            .map(|i| (i, u32_at(data, i)));
        let mut next_restart = restarts.next();
        let mut pos = 0usize;
        let mut in_block = 0u64;
        while pos < restarts_at {
            let start = pos;
            let number = |pos: &mut usize| {
                varint(data, pos).map_err(|e| malformed(at(*pos), format!("{what}: {e}")))
            };
            let shared = number(&mut pos)?;
            let unshared = number(&mut pos)?;
            let value_len = number(&mut pos)?;
            let restart = match next_restart {
                Some((_, r)) if r as usize == start => {
                    next_restart = restarts.next();
                    true
                }
                Some((i, r)) if (r as usize) < start => {
                    return Err(malformed(
                        at(i),
                        format!("{what}: restart point {r} is not the start of an entry"),
                    ));
                }
                _ => false,
            };
            if start == 0 && !restart {
                return Err(malformed(
                    at(count_at),
                    format!("{what}: the first entry is not a restart point"),
                ));
            }
            if restart && shared != 0 {
                return Err(malformed(
                    at(start),
                    format!(
                        "{what}: the entry at a restart point shares {shared} bytes of the key before"
                    ),
                ));
            }
            let shared = usize::try_from(shared)
                .ok()
                .filter(|&s| s <= keys.last.len())
                .ok_or_else(|| {
                    malformed(
                        at(start),
                        format!(
                            "{what}: an entry shares {shared} bytes of a {}-byte key",
                            keys.last.len()
                        ),
                    )
                })?;
            let rest = (restarts_at - pos) as u64;
            if unshared.checked_add(value_len).is_none_or(|n| n > rest) {
                return Err(malformed(
                    at(start),
                    format!("{what}: an entry runs past the end of the block's entries"),
                ));
            }
            // Both fit in the block, so in usize.
            let (unshared, value_len) = (unshared as usize, value_len as usize);
            let key_len = shared + unshared;
            if key_len as u64 > self.limits.max_string_bytes {
                return Err(TableError {
                    problem: Problem::Limit,
                    at: at(start),
                    what: format!(
                        "{what}: a key of {key_len} bytes, more than the limit of {}",
                        self.limits.max_string_bytes
                    ),
                });
            }
            let delta = data.get(pos..pos + unshared).unwrap_or_default();
            let value = data
                .get(pos + unshared..pos + unshared + value_len)
                .unwrap_or_default();
            // The new key is the old one's first `shared` bytes and `delta`, so it compares
            // with the old one as `delta` does with the rest of the old one.
            let old_rest = keys.last.get(shared..).unwrap_or_default();
            if keys.any && delta.cmp(old_rest) != Ordering::Greater {
                let mut key = keys.last.get(..shared).unwrap_or_default().to_vec();
                key.extend_from_slice(delta);
                return Err(malformed(
                    at(start),
                    format!(
                        "{what}: the key `{}` is not after the key before it, `{}`",
                        show(&key),
                        show(&keys.last)
                    ),
                ));
            }
            keys.last.truncate(shared);
            keys.last.extend_from_slice(delta);
            keys.any = true;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(TableError {
                    problem: Problem::Limit,
                    at: at(start),
                    what: format!("more than {} entries", self.limits.max_entries),
                });
            }
            in_block += 1;
            pos += unshared;
            each(&keys.last, value, at(pos))?;
            pos += value_len;
        }
        // An empty block keeps the one restart point every block starts with.
        if let Some((i, r)) = next_restart
            && !(in_block == 0 && r == 0)
        {
            return Err(malformed(
                at(i),
                format!("{what}: restart point {r} is past the block's entries"),
            ));
        }
        Ok(())
    }
}

/// The little-endian `u32` at `data[i..i + 4]` (callers keep `i + 4` within `data`).
fn u32_at(data: &[u8], i: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = data.get(i..i + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

/// Writing tables as TensorFlow's `TableBuilder` does, for tests.
#[cfg(test)]
pub(crate) mod build {
    use super::{MAGIC, MASK_DELTA};
    use crate::proto::build::varint;

    /// The entries of one block: (key, value), sorted.
    pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    /// A checksum as a trailer stores it.
    pub(crate) fn mask(crc: u32) -> u32 {
        crc.rotate_right(15).wrapping_add(MASK_DELTA)
    }

    /// A block of `entries` (sorted), prefix-compressed, with a restart point every
    /// `interval` entries.
    pub(crate) fn block(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = vec![0u32];
        let mut last: &[u8] = &[];
        for (i, (key, value)) in entries.iter().enumerate() {
            let shared = if i % interval == 0 {
                if i > 0 {
                    restarts.push(out.len() as u32);
                }
                0
            } else {
                key.iter().zip(last).take_while(|(a, b)| a == b).count()
            };
            varint(shared as u64, &mut out);
            varint((key.len() - shared) as u64, &mut out);
            varint(value.len() as u64, &mut out);
            out.extend_from_slice(&key[shared..]);
            out.extend_from_slice(value);
            last = key;
        }
        for r in &restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    /// Appends a block and its trailer; returns its handle.
    pub(crate) fn put_block(contents: &[u8], kind: u8, out: &mut Vec<u8>) -> (u64, u64) {
        let offset = out.len() as u64;
        out.extend_from_slice(contents);
        out.push(kind);
        let crc = crc32c::crc32c_append(crc32c::crc32c(contents), &[kind]);
        out.extend_from_slice(&mask(crc).to_le_bytes());
        (offset, contents.len() as u64)
    }

    fn handle((offset, size): (u64, u64)) -> Vec<u8> {
        let mut out = Vec::new();
        varint(offset, &mut out);
        varint(size, &mut out);
        out
    }

    /// A table of the given data blocks (each a sorted run of entries; together sorted).
    /// The index keys are the blocks' last keys, each written in full, as TensorFlow does.
    pub(crate) fn table(blocks: &[Entries], interval: usize) -> Vec<u8> {
        table_with(blocks, interval, 1)
    }

    /// [`table`] with a restart point every `index_interval` index entries.
    pub(crate) fn table_with(
        blocks: &[Entries],
        interval: usize,
        index_interval: usize,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut index = Vec::new();
        for entries in blocks {
            let h = put_block(&block(entries, interval), 0, &mut out);
            let last = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
            index.push((last, handle(h)));
        }
        let meta = put_block(&block(&[], 16), 0, &mut out);
        let index = put_block(&block(&index, index_interval), 0, &mut out);
        let mut footer = handle(meta);
        footer.extend(handle(index));
        footer.resize(40, 0);
        footer.extend_from_slice(&MAGIC);
        out.extend(footer);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::build::{Entries, block, mask, put_block, table, table_with};
    use super::*;

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    fn entries(bytes: &[u8], limits: &Limits) -> Result<Vec<(String, String, u64)>, TableError> {
        let mut out = Vec::new();
        let len = bytes.len() as u64;
        read(&mut Cursor::new(bytes), len, limits, |e| {
            out.push((
                String::from_utf8_lossy(e.key).into_owned(),
                String::from_utf8_lossy(e.value).into_owned(),
                e.at,
            ))
        })?;
        Ok(out)
    }

    /// Keys with long shared prefixes, in three blocks, a restart point every 3 entries.
    fn sample() -> (Vec<Entries>, Vec<u8>) {
        let names: Vec<String> = (0..20)
            .map(|i| format!("model/dense/.ATTRIBUTES/VARIABLE_VALUE/slot_{i:02}"))
            .collect();
        let all: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| kv(n, &format!("v{i}")))
            .collect();
        let blocks = vec![all[..7].to_vec(), all[7..8].to_vec(), all[8..].to_vec()];
        let bytes = table(&blocks, 3);
        (blocks, bytes)
    }

    #[test]
    fn crc32c_and_mask_match_leveldb() {
        // The check value of CRC-32C, and leveldb's crc32c_test masking round trip.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc = crc32c::crc32c(b"foo");
        assert_ne!(mask(crc), crc);
        assert_ne!(mask(mask(crc)), crc);
        assert_eq!(unmask(mask(crc)), crc);
        assert_eq!(unmask(unmask(mask(mask(crc)))), crc);
    }

    #[test]
    fn reads_prefix_compressed_blocks_with_restarts() {
        let (blocks, bytes) = sample();
        assert!(has_magic(&bytes[bytes.len() - 16..], bytes.len() as u64));
        let got = entries(&bytes, &Limits::default()).unwrap();
        let want: Vec<_> = blocks.concat();
        assert_eq!(got.len(), want.len());
        for ((k, v, at), (wk, wv)) in got.iter().zip(&want) {
            assert_eq!(k.as_bytes(), wk.as_slice());
            assert_eq!(v.as_bytes(), wv.as_slice());
            // `at` is where the value is in the file
            assert_eq!(&bytes[*at as usize..*at as usize + wv.len()], wv.as_slice());
        }
        // the keys really are prefix-compressed
        assert!(bytes.len() < want.iter().map(|(k, _)| k.len()).sum::<usize>());
        let mut r = Cursor::new(&bytes);
        let stats = read(&mut r, bytes.len() as u64, &Limits::default(), |_| {}).unwrap();
        assert_eq!(
            stats,
            Stats {
                entries: 20,
                data_blocks: 3
            }
        );
    }

    #[test]
    fn an_empty_table_and_an_empty_key_read() {
        let bytes = table(&[], 16);
        assert_eq!(entries(&bytes, &Limits::default()).unwrap(), vec![]);
        let bytes = table(&[vec![kv("", "header"), kv("a", "1")]], 16);
        let got = entries(&bytes, &Limits::default()).unwrap();
        assert_eq!(got[0].0, "");
        assert_eq!(got[1].0, "a");
    }

    /// A real `variables.index` written by TensorFlow 2.21 (`tf.saved_model.save` of a
    /// module with two variables), from `tests/data/graphs/tf_benign/`.
    #[test]
    fn reads_a_table_tensorflow_wrote() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/graphs/tf_benign/variables/variables.index"
        );
        let bytes = std::fs::read(path).unwrap();
        let got = entries(&bytes, &Limits::default()).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "",
                "_CHECKPOINTABLE_OBJECT_GRAPH",
                "b/.ATTRIBUTES/VARIABLE_VALUE",
                "w/.ATTRIBUTES/VARIABLE_VALUE"
            ]
        );
    }

    fn error(bytes: &[u8]) -> TableError {
        entries(bytes, &Limits::default()).unwrap_err()
    }

    #[test]
    fn a_flipped_byte_anywhere_in_a_block_fails_its_checksum() {
        let (_, bytes) = sample();
        let footer = bytes.len() - FOOTER_LEN as usize;
        for i in 0..footer {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            let e = error(&bad);
            assert_eq!(e.problem, Problem::Malformed, "{i}: {e}");
            // the checksum catches it, or the type byte, before anything else is read
            assert!(
                e.what.contains("checksum") || e.what.contains("compression"),
                "{i}: {e}"
            );
        }
    }

    #[test]
    fn truncated_footers_and_garbage_are_malformed() {
        let (_, bytes) = sample();
        for cut in [0, 1, 8, 47, 48, 100, bytes.len() - 1] {
            let e = error(&bytes[..cut]);
            assert_eq!(e.problem, Problem::Malformed, "{cut}: {e}");
        }
        assert!(error(&bytes[..20]).what.contains("shorter than"));
        // A footer with the magic but nonsense handles.
        let mut garbage = vec![0xffu8; 40];
        garbage.extend_from_slice(&MAGIC);
        assert_eq!(error(&garbage).problem, Problem::Malformed);
        // Handles pointing past the footer, and non-zero padding.
        let mut far = vec![0u8; 100];
        far.extend_from_slice(&[0x00, 0x08, 0x80, 0x80, 0x04, 0x08]);
        far.resize(140, 0);
        far.extend_from_slice(&MAGIC);
        assert!(
            error(&far).what.contains("past the footer"),
            "{}",
            error(&far)
        );
        let mut padded = bytes.clone();
        let footer = padded.len() - 48;
        padded[footer + 39] = 1;
        assert!(error(&padded).what.contains("padding"));
        // Random bytes never panic.
        let mut rng = fastrand::Rng::with_seed(7);
        for n in 0..2000 {
            let mut bytes: Vec<u8> = (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect();
            if n % 2 == 0 {
                bytes.extend_from_slice(&MAGIC);
            }
            let _ = entries(&bytes, &Limits::default());
        }
    }

    /// Re-checksums the block at `offset` (of `size` bytes) after an edit.
    fn reseal(bytes: &mut [u8], offset: usize, size: usize) {
        let crc = crc32c::crc32c(&bytes[offset..=offset + size]);
        bytes[offset + size + 1..offset + size + 5].copy_from_slice(&mask(crc).to_le_bytes());
    }

    /// A one-block table around `contents` (a data block written by hand).
    fn one_block(contents: &[u8], last_key: &str) -> Vec<u8> {
        one_block_after(&[], contents, last_key)
    }

    /// [`one_block`] after `gap` bytes that belong to no block.
    fn one_block_after(gap: &[u8], contents: &[u8], last_key: &str) -> Vec<u8> {
        let mut out = gap.to_vec();
        let data = put_block(contents, 0, &mut out);
        let meta = put_block(&block(&[], 16), 0, &mut out);
        let mut handle = Vec::new();
        crate::proto::build::varint(data.0, &mut handle);
        crate::proto::build::varint(data.1, &mut handle);
        let index = put_block(
            &block(&[(last_key.as_bytes().to_vec(), handle)], 1),
            0,
            &mut out,
        );
        let mut footer = Vec::new();
        for v in [meta.0, meta.1, index.0, index.1] {
            crate::proto::build::varint(v, &mut footer);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&MAGIC);
        out.extend(footer);
        out
    }

    #[test]
    fn checksummed_but_inconsistent_blocks_are_malformed() {
        // out of order keys
        let e = error(&one_block(&block(&[kv("b", "1"), kv("a", "2")], 16), "b"));
        assert!(e.what.contains("not after"), "{e}");
        // a duplicate key (found across a restart point, where it is written in full)
        let e = error(&one_block(&block(&[kv("a", "1"), kv("a", "2")], 1), "a"));
        assert!(e.what.contains("not after"), "{e}");
        // the last key after the index key
        let e = error(&one_block(&block(&[kv("a", "1"), kv("c", "2")], 16), "b"));
        assert!(e.what.contains("after its index key"), "{e}");
        // a restart point that is not an entry
        let mut contents = block(&[kv("abc", "1"), kv("abd", "2")], 16);
        let n = contents.len();
        contents[n - 8..n - 4].copy_from_slice(&1u32.to_le_bytes());
        let e = error(&one_block(&contents, "abd"));
        assert!(e.what.contains("restart point"), "{e}");
        // a restart point at an entry that shares key bytes
        let mut contents = block(&[kv("abc", "1"), kv("abd", "2")], 16);
        contents.truncate(contents.len() - 4);
        let second = 3 + 3 + 1; // header, key, value of the first entry
        contents.extend_from_slice(&(second as u32).to_le_bytes());
        contents.extend_from_slice(&2u32.to_le_bytes());
        let e = error(&one_block(&contents, "abd"));
        assert!(e.what.contains("shares"), "{e}");
        // a restart count that does not fit
        let mut contents = block(&[kv("a", "1")], 16);
        let n = contents.len();
        contents[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
        let e = error(&one_block(&contents, "a"));
        assert!(e.what.contains("restart points"), "{e}");
        // a value longer than the block
        let mut contents = block(&[kv("a", "1")], 16);
        contents[2] = 100;
        let e = error(&one_block(&contents, "a"));
        assert!(e.what.contains("runs past"), "{e}");
        // bytes before the first block, with every handle right
        let gap = one_block_after(b"hid", &block(&[kv("a", "1")], 16), "a");
        let e = error(&gap);
        assert!(e.what.contains("not where the block before it ends"), "{e}");
    }

    #[test]
    fn a_compressed_block_is_not_analysed() {
        let mut bytes = one_block(&block(&[kv("a", "1")], 16), "a");
        let size = block(&[kv("a", "1")], 16).len();
        bytes[size] = 1;
        reseal(&mut bytes, 0, size);
        let e = error(&bytes);
        assert_eq!(e.problem, Problem::Compressed);
        assert!(e.what.contains("snappy"), "{e}");
        bytes[size] = 7;
        reseal(&mut bytes, 0, size);
        assert!(error(&bytes).what.contains("unknown compression type 7"));
    }

    #[test]
    fn limits_stop_the_walk() {
        let (_, bytes) = sample();
        let few = Limits {
            max_entries: 5,
            ..Limits::default()
        };
        assert_eq!(entries(&bytes, &few).unwrap_err().problem, Problem::Limit);
        let small = Limits {
            max_header_bytes: 16,
            ..Limits::default()
        };
        assert_eq!(entries(&bytes, &small).unwrap_err().problem, Problem::Limit);
        let short = Limits {
            max_string_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(entries(&bytes, &short).unwrap_err().problem, Problem::Limit);
        // Index keys that share all but their last byte with the key before: a small
        // block that spells long keys.
        let keys: Entries = (0..200u32)
            .map(|i| {
                let mut key = vec![b'k'; 1000];
                key.extend_from_slice(&i.to_be_bytes());
                (key, b"v".to_vec())
            })
            .collect();
        let blocks: Vec<Entries> = keys.chunks(1).map(<[_]>::to_vec).collect();
        let bytes = table_with(&blocks, 16, 1000);
        let spelled = Limits {
            max_header_bytes: 100_000,
            ..Limits::default()
        };
        let e = entries(&bytes, &spelled).unwrap_err();
        assert!(e.what.contains("keys spell more than"), "{e}");
        assert!(entries(&bytes, &Limits::default()).is_ok());
    }
}
