//! Compressed model files: what joblib writes with `compress=` (zlib, gzip, bz2, lzma, xz,
//! lz4, and the `ZF` z-file of joblib 0.9 and earlier), and `.gz` pickles.
//!
//! The compression is told by the first bytes, as joblib's `_detect_compressor` tells it
//! (a file whose name says nothing is loaded the same way), and the stream is decompressed
//! into memory up to `max_member_bytes`: a stream that decompresses past it is
//! inconclusive however small the file, so a bomb costs no more than the limit. lzma and xz
//! streams declare the dictionary their decoder allocates; a declaration past the same
//! limit is refused before anything is allocated.
//!
//! What comes out is scanned as its own format: a pickle (joblib's layout included), a
//! NumPy array, text (checked for a hidden pickle), or a compressed stream again (up to
//! `max_archive_depth` levels). A z-file that is not a pickle holds the raw bytes of one
//! array, which joblib's `ZNDArrayWrapper` reads as numbers. Anything else is
//! inconclusive.

use std::io::{BufReader, Cursor, Read, SeekFrom};
use std::path::Path;

use crate::Scanner;
use crate::detect::{self, Content};
use crate::scan::{ReadSeek, finding, hidden_pickle, run_pickle};
use crate::{Finding, Location, Verdict};

crate::rules::declare! {
    STREAM = "compressed.stream":
        "A compressed stream (zlib, gzip, bz2, lzma, xz, lz4, joblib's z-file), decompressed and scanned by its content.";
    CORRUPT = "compressed.corrupt":
        "A compressed stream that does not decompress: its content is not analysed.";
    TOO_LARGE = "compressed.too_large":
        "A compressed stream that decompresses past the limit (a bomb, or a dictionary too large): not analysed.";
    DEPTH = "compressed.depth":
        "Compression nested past the limit: the innermost content is not analysed.";
    ARRAY_DATA = "compressed.array_data":
        "A joblib z-file of raw array bytes, read as numbers.";
    UNKNOWN = "compressed.unknown":
        "Compressed content of no format the scanner recognises.";
}

/// A compression, by the magic number joblib checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `zlib.compress`: joblib's `compress=True` and `.z` files.
    Zlib,
    Gzip,
    Bzip2,
    /// The legacy `.lzma` ("alone") format, with the default literal and position bits.
    Lzma,
    Xz,
    /// lz4 frames (joblib with the `lz4` package installed).
    Lz4,
    /// joblib <= 0.9: `ZF`, the decompressed length in hex padded to 19 bytes, zlib.
    ZFile,
}

impl Codec {
    pub const fn as_str(self) -> &'static str {
        match self {
            Codec::Zlib => "zlib",
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bz2",
            Codec::Lzma => "lzma",
            Codec::Xz => "xz",
            Codec::Lz4 => "lz4",
            Codec::ZFile => "joblib z-file",
        }
    }
}

/// Bytes of a z-file header: `ZF` and the length field.
const ZFILE_HEADER: usize = 21;

/// The compression the first bytes show. Like joblib, only the magic number is checked
/// (whether the rest decompresses is the decoder's business); a z-file also needs a
/// length that parses, since joblib fails on one that does not.
pub fn codec(head: &[u8]) -> Option<Codec> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"ZF") {
        return zfile_length(head).map(|_| Codec::ZFile);
    }
    Some(if starts(b"\x1f\x8b") {
        Codec::Gzip
    } else if starts(b"BZh") && head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        Codec::Bzip2
    } else if starts(b"\xfd7zXZ\x00") {
        Codec::Xz
    } else if starts(b"\x5d\x00") {
        // `]` then 0, which is no pickle opcode: never a pickle
        Codec::Lzma
    } else if starts(b"\x04\x22\x4d\x18") {
        Codec::Lz4
    } else if zlib_header(head) {
        Codec::Zlib
    } else {
        return None;
    })
}

/// A zlib header as `zlib.compress` writes it: deflate with a 32 KiB window (`x`, the
/// byte joblib looks for), a valid check, no preset dictionary (which nothing that loads
/// a model supplies). Text that starts with `x` and a blank is not taken for one.
fn zlib_header(head: &[u8]) -> bool {
    match (head.first(), head.get(1)) {
        (Some(&cmf), Some(&flg)) => {
            cmf == 0x78 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0 && flg & 0x20 == 0
        }
        _ => false,
    }
}

/// The length a z-file header declares, read as joblib reads it (`int(field, 16)`: hex,
/// an optional `0x`, blanks around).
fn zfile_length(head: &[u8]) -> Option<u64> {
    let field = std::str::from_utf8(head.get(2..ZFILE_HEADER)?).ok()?.trim();
    let digits = field
        .strip_prefix("0x")
        .or_else(|| field.strip_prefix("0X"))
        .unwrap_or(field);
    u64::from_str_radix(digits, 16).ok()
}

/// Why a stream gave no content.
enum Failure {
    Corrupt(String),
    TooLarge(String),
}

/// Decompresses the whole reader (from its start) into memory, up to `cap` bytes.
fn decompress(r: &mut dyn ReadSeek, codec: Codec, cap: u64) -> Result<Vec<u8>, Failure> {
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::OutOfMemory {
            Failure::TooLarge(format!(
                "the stream declares a dictionary past the limit ({e})"
            ))
        } else {
            Failure::Corrupt(format!("does not decompress as {}: {e}", codec.as_str()))
        }
    };
    r.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut input = BufReader::new(r);
    // The dictionary lzma and xz allocate, in KiB, within the same limit.
    let dict_kib = u32::try_from(cap / 1024).unwrap_or(u32::MAX).max(1);
    let mut declared = None;
    let decoder: Box<dyn Read + '_> = match codec {
        Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Codec::Zlib => Box::new(flate2::bufread::ZlibDecoder::new(input)),
        Codec::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Codec::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(input, true, dict_kib)),
        Codec::Lzma => {
            Box::new(lzma_rust2::LzmaReader::new_mem_limit(input, dict_kib, None).map_err(io)?)
        }
        Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
        Codec::ZFile => {
            let mut header = [0u8; ZFILE_HEADER + 1];
            input.read_exact(&mut header).map_err(io)?;
            let length = zfile_length(&header)
                .ok_or_else(|| Failure::Corrupt("a z-file length that is not hex".to_owned()))?;
            if length > cap {
                return Err(Failure::TooLarge(format!(
                    "the z-file declares {length} bytes, past the limit"
                )));
            }
            declared = Some(length);
            // joblib <= 0.8.4 on Python 2 wrote one more blank; zlib data never starts
            // with one (RFC 6713).
            let after = header.get(ZFILE_HEADER).copied();
            let rest = Cursor::new(after.filter(|b| *b != b' ').into_iter().collect::<Vec<_>>());
            Box::new(flate2::bufread::ZlibDecoder::new(rest.chain(input)))
        }
    };
    let mut out = Vec::new();
    decoder
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > cap {
        return Err(Failure::TooLarge(format!(
            "decompresses past the limit of {cap} bytes"
        )));
    }
    if let Some(length) = declared.filter(|n| *n != out.len() as u64) {
        // joblib refuses such a file before unpickling anything
        return Err(Failure::Corrupt(format!(
            "the z-file declares {length} bytes but holds {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Scans a compressed file from the reader's start.
pub fn scan(r: &mut dyn ReadSeek, scanner: &Scanner) -> Vec<Finding> {
    scan_nested(r, scanner, 1)
}

/// [`scan`] of a stream `depth` compressions deep (the file itself is 1).
fn scan_nested(r: &mut dyn ReadSeek, scanner: &Scanner, depth: usize) -> Vec<Finding> {
    let limits = scanner.limits();
    let at = Location::default();
    let mut head = Vec::new();
    let read = r
        .seek(SeekFrom::Start(0))
        .and_then(|_| r.take(detect::HEAD_LEN as u64).read_to_end(&mut head));
    if let Err(e) = read {
        return vec![finding(
            Verdict::Inconclusive,
            rule::CORRUPT.id,
            format!("could not be read: {e}"),
            at,
        )];
    }
    let Some(codec) = codec(&head) else {
        return vec![finding(
            Verdict::Inconclusive,
            rule::CORRUPT.id,
            "no compression this scanner reads",
            at,
        )];
    };
    let data = match decompress(r, codec, limits.max_member_bytes) {
        Ok(data) => data,
        Err(Failure::Corrupt(why)) => {
            return vec![finding(Verdict::Inconclusive, rule::CORRUPT.id, why, at)];
        }
        Err(Failure::TooLarge(why)) => {
            return vec![finding(Verdict::Inconclusive, rule::TOO_LARGE.id, why, at)];
        }
    };
    let len = data.len() as u64;
    let inner = detect::sniff(
        data.get(..detect::HEAD_LEN).unwrap_or(&data),
        detect::tail(&data),
        len,
        Path::new(""),
    );
    let mut out = vec![finding(
        Verdict::Safe,
        rule::STREAM.id,
        format!(
            "{} stream, {len} bytes decompressed: {}",
            codec.as_str(),
            inner.as_str()
        ),
        at.clone(),
    )];
    let mut cursor = Cursor::new(data);
    match inner {
        Content::Pickle => out.extend(run_pickle(scanner, &mut cursor, &at)),
        Content::Npy => out.extend(crate::npy::scan(&mut cursor, len, &at, scanner)),
        Content::Compressed if depth >= limits.max_archive_depth => out.push(finding(
            Verdict::Inconclusive,
            rule::DEPTH.id,
            format!("compressed {depth} times over, past the limit: not analysed"),
            at,
        )),
        Content::Compressed => out.extend(scan_nested(&mut cursor, scanner, depth + 1)),
        Content::Text | Content::Unknown => {
            // A protocol-0 pickle may look like anything: what reaches imports is one.
            let hidden = hidden_pickle(&mut cursor, scanner).unwrap_or_default();
            if !hidden.is_empty() {
                out.extend(hidden);
            } else if inner == Content::Text {
                out.push(finding(
                    Verdict::Safe,
                    crate::scan::rule::FORMAT_TEXT.id,
                    "compressed text, not a model format: loading it runs nothing",
                    at,
                ));
            } else if codec == Codec::ZFile {
                out.push(finding(
                    Verdict::Safe,
                    rule::ARRAY_DATA.id,
                    "the raw bytes of an array, which joblib's `ZNDArrayWrapper` reads as numbers",
                    at,
                ));
            } else {
                out.push(finding(
                    Verdict::Inconclusive,
                    rule::UNKNOWN.id,
                    "compressed data of no format this scanner recognises: not analysed",
                    at,
                ));
            }
        }
        other => out.push(finding(
            Verdict::Inconclusive,
            rule::UNKNOWN.id,
            format!("compressed {}: not analysed", other.as_str()),
            at,
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use std::io::Write;

    const EVIL: &[u8] = b"\x80\x02cposix\nsystem\nq\x00.";
    const BENIGN: &[u8] = b"\x80\x02]q\x00(K\x01K\x02e.";

    fn run(bytes: Vec<u8>) -> Vec<Finding> {
        run_with(bytes, &Limits::default())
    }

    fn run_with(bytes: Vec<u8>, limits: &Limits) -> Vec<Finding> {
        scan(
            &mut Cursor::new(bytes),
            &Scanner::new().with_limits(limits.clone()),
        )
    }

    fn worst(e: &[Finding]) -> Verdict {
        Verdict::worst(e)
    }

    fn has(e: &[Finding], rule: &str) -> bool {
        e.iter().any(|e| e.rule == rule)
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn zfile(data: &[u8]) -> Vec<u8> {
        let mut v = format!("ZF{:<19}", format!("{:#x}", data.len())).into_bytes();
        v.extend(zlib(data));
        v
    }

    #[test]
    fn codecs_by_magic_number() {
        assert_eq!(codec(&zlib(b"x")), Some(Codec::Zlib));
        assert_eq!(codec(&gzip(b"x")), Some(Codec::Gzip));
        assert_eq!(codec(b"BZh91AY&SY"), Some(Codec::Bzip2));
        assert_eq!(codec(b"\xfd7zXZ\x00\x00\x04"), Some(Codec::Xz));
        assert_eq!(codec(b"\x5d\x00\x00\x80\x00"), Some(Codec::Lzma));
        assert_eq!(codec(b"\x04\x22\x4d\x18\x64"), Some(Codec::Lz4));
        assert_eq!(codec(&zfile(b"abc")), Some(Codec::ZFile));
        assert_eq!(codec(b"ZF not a length here!"), None);
        assert_eq!(codec(b"BZh0"), None);
        assert_eq!(codec(b"]q\x00."), None);
        assert_eq!(codec(b"x\x00"), None);
        // `x ` passes the check but asks for a preset dictionary: text, not zlib
        assert_eq!(codec(b"x = 1\n"), None);
        for flg in [0x01, 0x5e, 0x9c, 0xda] {
            assert_eq!(codec(&[0x78, flg]), Some(Codec::Zlib));
        }
    }

    #[test]
    fn zlib_gzip_and_zfile_pickles_reach_the_pickle_scanner() {
        for (bytes, name) in [
            (zlib(EVIL), "zlib"),
            (gzip(EVIL), "gzip"),
            (zfile(EVIL), "joblib z-file"),
        ] {
            let found = run(bytes);
            assert_eq!(worst(&found), Verdict::Dangerous, "{name}: {found:?}");
            let stream = found
                .iter()
                .find(|e| e.rule == "compressed.stream")
                .unwrap();
            assert!(stream.message.starts_with(name), "{stream:?}");
        }
        assert_eq!(worst(&run(zfile(BENIGN))), Verdict::Safe);
        // joblib <= 0.8.4 on Python 2 wrote one blank more before the zlib data
        let mut wide = format!("ZF{:<20}", format!("{:#x}", EVIL.len())).into_bytes();
        wide.extend(zlib(EVIL));
        assert_eq!(worst(&run(wide)), Verdict::Dangerous);
    }

    #[test]
    fn a_zfile_of_raw_array_bytes_is_data_unless_it_reaches_imports() {
        let raw: Vec<u8> = (0u64..5).flat_map(|i| i.to_le_bytes()).collect();
        let found = run(zfile(&raw));
        assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
        assert!(has(&found, "compressed.array_data"));
        // the same bytes in a plain zlib stream are of no known format
        assert_eq!(worst(&run(zlib(&raw))), Verdict::Inconclusive);
        // protocol 0 hidden behind a start that sniffs as no pickle
        let found = run(zfile(b"I1\n0cposix\nsystem\n(S'x'\ntR."));
        assert_eq!(worst(&found), Verdict::Dangerous, "{found:?}");
    }

    #[test]
    fn a_zfile_length_that_does_not_match_is_inconclusive() {
        let mut bad = format!("ZF{:<19}", "0x99").into_bytes();
        bad.extend(zlib(BENIGN));
        let found = run(bad);
        assert_eq!(worst(&found), Verdict::Inconclusive, "{found:?}");
        assert!(has(&found, "compressed.corrupt"));
    }

    #[test]
    fn corrupt_streams_are_inconclusive() {
        let mut cut = gzip(EVIL);
        cut.truncate(cut.len() / 2);
        for bytes in [
            cut,
            b"BZh91AY&SYgarbage".to_vec(),
            b"\xfd7zXZ\x00garbage".to_vec(),
            b"\x5d\x00\x00\x80\x00garbage".to_vec(),
            b"\x04\x22\x4d\x18garbage".to_vec(),
        ] {
            let found = run(bytes.clone());
            assert_eq!(worst(&found), Verdict::Inconclusive, "{bytes:?}: {found:?}");
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let limits = Limits {
            max_member_bytes: 1 << 16,
            ..Limits::default()
        };
        for bytes in [zlib(&vec![0u8; 1 << 20]), zfile(&vec![0u8; 1 << 20])] {
            let found = run_with(bytes, &limits);
            assert!(has(&found, "compressed.too_large"), "{found:?}");
            assert_eq!(worst(&found), Verdict::Inconclusive);
        }
        // an lzma header that declares a 4 GiB dictionary is refused before allocating
        let mut lzma = b"\x5d\x00\x00\x00\xff".to_vec();
        lzma.extend_from_slice(&[0xff; 8]);
        lzma.extend_from_slice(&[0; 16]);
        let found = run_with(lzma, &limits);
        assert!(has(&found, "compressed.too_large"), "{found:?}");
    }

    #[test]
    fn nested_compression_is_followed_to_the_depth_limit() {
        let twice = gzip(&gzip(EVIL));
        assert_eq!(worst(&run(twice)), Verdict::Dangerous);
        let deep = gzip(&gzip(&gzip(&gzip(EVIL))));
        let found = run(deep);
        assert!(has(&found, "compressed.depth"), "{found:?}");
        assert_eq!(worst(&found), Verdict::Inconclusive);
    }

    #[test]
    fn compressed_text_is_not_a_model() {
        let found = run(gzip(b"a,b,c\n1,2,3\n"));
        assert_eq!(worst(&found), Verdict::Safe, "{found:?}");
        assert!(has(&found, "format.text"));
    }
}
