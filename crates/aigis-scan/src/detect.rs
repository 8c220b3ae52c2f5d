//! Recognising a model file by its bytes, and noticing when its name says otherwise.
//!
//! Loaders decide by content (`torch.load` tries zip, then pickle; `zipfile` looks at the
//! end of the file), so a scanner that trusted extensions would check a different file
//! than the one that runs.

use std::path::Path;

/// What the first and last bytes say a file is (the report's [`crate::Format`] can say
/// more: which kind of zip, which SavedModel file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Content {
    Zip,
    Pickle,
    Npy,
    Safetensors,
    Gguf,
    Hdf5,
    /// An ONNX `ModelProto`: by its leading fields (ONNX has no magic number), or a
    /// protobuf under a `.onnx` name.
    Onnx,
    /// A SavedModel folder's protobufs, by name: `saved_model.pb` (the graph),
    /// `saved_model.pbtxt`, `keras_metadata.pb`, `fingerprint.pb`.
    SavedModel,
    /// A TensorFlow checkpoint index (`variables.index`, `model.ckpt.index`): a LevelDB
    /// table, by the magic number at the end of its footer.
    CheckpointIndex,
    Tar,
    /// A compressed stream: the compressions of joblib (zlib, gzip, bz2, lzma, xz, lz4,
    /// its legacy z-file) and `.gz` pickles; see [`crate::compressed`].
    Compressed,
    /// UTF-8 text (configs, tokenizers, model cards) that is none of the above.
    Text,
    Unknown,
}

impl Content {
    /// Its name in messages (`a pickle that is also a zip archive`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Content::Zip => "zip",
            Content::Pickle => "pickle",
            Content::Npy => "npy",
            Content::Safetensors => "safetensors",
            Content::Gguf => "gguf",
            Content::Hdf5 => "hdf5",
            Content::Onnx => "onnx",
            Content::SavedModel => "tensorflow-savedmodel",
            Content::CheckpointIndex => "tensorflow-checkpoint-index",
            Content::Tar => "tar",
            Content::Compressed => "compressed",
            Content::Text => "text",
            Content::Unknown => "unknown",
        }
    }
}

/// How many leading bytes [`sniff`] wants.
pub const HEAD_LEN: usize = 512;
/// How many trailing bytes [`sniff`] wants.
pub const TAIL_LEN: usize = 16;

/// The last [`TAIL_LEN`] bytes of `bytes` (all of them when it is shorter).
pub fn tail(bytes: &[u8]) -> &[u8] {
    bytes
        .get(bytes.len().saturating_sub(TAIL_LEN)..)
        .unwrap_or(bytes)
}

/// The format the content shows. `head` is the first [`HEAD_LEN`] bytes (or the whole
/// file), `tail` the last [`TAIL_LEN`] (see [`tail`]), `len` its size, `path` its name
/// (used only where the content cannot decide: ONNX and SavedModel protobufs).
pub fn sniff(head: &[u8], tail: &[u8], len: u64, path: &Path) -> Content {
    // The last byte that is not whitespace: a protocol-0 pickle ends with STOP `.`, and
    // `pickle.load` stops there, before a trailing newline.
    let last = tail
        .iter()
        .rev()
        .copied()
        .find(|b| !b.is_ascii_whitespace());
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        return Content::Zip;
    }
    if starts(b"\x93NUMPY") {
        return Content::Npy;
    }
    if starts(b"GGUF") {
        return Content::Gguf;
    }
    if starts(b"\x89HDF\r\n\x1a\n") {
        return Content::Hdf5;
    }
    if is_safetensors(head, len) {
        return Content::Safetensors;
    }
    // Before pickles: lzma's `]\0` starts like a protocol-0 list, but 0 is no opcode.
    if crate::compressed::codec(head).is_some() {
        return Content::Compressed;
    }
    if is_pickle(head, last) {
        return Content::Pickle;
    }
    if head.get(257..262) == Some(b"ustar") {
        return Content::Tar;
    }
    if is_checkpoint_index(tail, len) {
        return Content::CheckpointIndex;
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if (extension(path).as_deref() == Some("onnx") && head.first() == Some(&0x08))
        || is_onnx(head, len)
    {
        return Content::Onnx;
    }
    if matches!(
        name,
        "saved_model.pb" | "saved_model.pbtxt" | "keras_metadata.pb" | "fingerprint.pb"
    ) {
        return Content::SavedModel;
    }
    let control = |b: &u8| b.is_ascii_control() && !matches!(b, b'\t' | b'\n' | b'\r');
    // A character cut by the end of `head` is still text.
    let utf8 = std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true);
    if !head.iter().any(control) && utf8 {
        return Content::Text;
    }
    Content::Unknown
}

/// An ONNX `ModelProto` by content: `ir_version` first (3 to 15, as every writer puts it),
/// then only fields a `ModelProto` has, with their wire types, up to the graph, whose
/// declared length fits the file. A SavedModel also starts with field 1 (its schema
/// version, 1), but has no field 7; other protobufs fail the field list.
fn is_onnx(head: &[u8], len: u64) -> bool {
    use crate::proto::{Fields, WireType};
    let mut fields = Fields::prefix(head);
    match fields.next() {
        Some(Ok(f)) if f.number == 1 && f.wire == WireType::Varint && (3..=15).contains(&f.int) => {
        }
        _ => return false,
    }
    for f in fields {
        let Ok(f) = f else { return false };
        let wire = match f.number {
            5 => WireType::Varint,
            2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26 => WireType::Len,
            _ => return false,
        };
        if f.wire != wire {
            return false;
        }
        if f.number == 7 {
            return f.int <= len;
        }
    }
    false
}

/// A LevelDB table's footer magic number in the last bytes: TensorFlow writes checkpoint
/// indexes as such tables. Whether the table is one is up to the checkpoint reader.
pub fn is_checkpoint_index(tail: &[u8], len: u64) -> bool {
    crate::checkpoint::has_magic(tail, len)
}

/// An 8-byte little-endian header length that fits the file, then `{`.
fn is_safetensors(head: &[u8], len: u64) -> bool {
    let Some(n) = head.get(..8) else { return false };
    let mut b = [0u8; 8];
    b.copy_from_slice(n);
    let n = u64::from_le_bytes(b);
    n >= 2 && n.saturating_add(8) <= len && head.get(8) == Some(&b'{')
}

/// Protocol 2–5 start with PROTO; protocols 0 and 1 have no magic, so take the shapes
/// they start with (a mark, an empty list or dict, or `c<module>\n<name>\n`) and require
/// the STOP opcode `.` at the end.
fn is_pickle(head: &[u8], last: Option<u8>) -> bool {
    match head {
        [0x80, 2..=5, ..] => true,
        [b'(' | b']' | b'}' | b')', ..] => last == Some(b'.'),
        [b'c', rest @ ..] => {
            let mut lines = rest.splitn(3, |&b| b == b'\n');
            let module = lines.next().unwrap_or_default();
            let name = lines.next().unwrap_or_default();
            let ident = |s: &[u8]| {
                !s.is_empty()
                    && s.iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            };
            lines.next().is_some() && ident(module) && ident(name)
        }
        _ => false,
    }
}

/// The lowercase extension.
pub fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The formats a name promises, or `None` when it promises nothing (`.bin` holds
/// anything from a PyTorch pickle to raw weights).
pub fn expected(path: &Path) -> Option<&'static [Content]> {
    use Content::*;
    Some(match extension(path)?.as_str() {
        "safetensors" => &[Safetensors],
        "gguf" => &[Gguf],
        "npy" => &[Npy],
        "npz" | "keras" | "zip" => &[Zip],
        // `joblib.dump(model, "model.pkl", compress=3)` keeps the name it is given
        "pkl" | "pickle" => &[Pickle, Compressed],
        "joblib" => &[Pickle, Compressed],
        "pt" | "pth" | "ckpt" => &[Zip, Pickle, Tar],
        "h5" | "hdf5" => &[Hdf5],
        "onnx" => &[Onnx],
        "tar" => &[Tar],
        "json" | "txt" | "md" | "yaml" | "yml" | "jinja" => &[Text],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(bytes: &[u8], name: &str) -> Content {
        sniff(bytes, tail(bytes), bytes.len() as u64, Path::new(name))
    }

    #[test]
    fn by_content_not_by_name() {
        assert_eq!(of(b"PK\x03\x04rest", "a.bin"), Content::Zip);
        assert_eq!(of(b"\x80\x04\x95rest.", "a.safetensors"), Content::Pickle);
        assert_eq!(of(b"cposix\nsystem\n(S'ls'\ntR.", "x"), Content::Pickle);
        assert_eq!(of(b"(lp0\nI1\na.", "x"), Content::Pickle);
        assert_eq!(of(b"(not a pickle", "x.txt"), Content::Text);
        assert_eq!(of(b"\x93NUMPY\x01\x00", "x"), Content::Npy);
        assert_eq!(of(b"GGUF\x03\x00\x00\x00", "x"), Content::Gguf);
        assert_eq!(of(b"\x89HDF\r\n\x1a\n", "x"), Content::Hdf5);
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        assert_eq!(of(&st, "x"), Content::Safetensors);
        // a length that does not fit the file is not safetensors
        let mut bad = 99u64.to_le_bytes().to_vec();
        bad.extend_from_slice(b"{}");
        assert_eq!(of(&bad, "x"), Content::Unknown);
        assert_eq!(of(b"\x08\x07\x12\x04", "m.onnx"), Content::Onnx);
        assert_eq!(of(b"\x08\x07\x12\x04", "m.bin"), Content::Unknown);
        // ONNX by content: ir_version, producer, graph (cut short by the head)
        let onnx = b"\x08\x08\x12\x04test\x3a\x40\x0a\x02";
        assert_eq!(
            sniff(onnx, &[0], 100, Path::new("weights.bin")),
            Content::Onnx
        );
        // the graph is longer than the file, a field ONNX does not have, a SavedModel
        assert_eq!(sniff(onnx, &[0], 20, Path::new("w.bin")), Content::Unknown);
        assert_eq!(
            of(b"\x08\x08\x12\x04test\x48\x01", "w.bin"),
            Content::Unknown
        );
        assert_eq!(
            of(b"\x08\x01\x12\x04\x0a\x02\x08\x01", "w.bin"),
            Content::Unknown
        );
        assert_eq!(
            of(b"\x08\x01\x12\x00", "saved_model.pb"),
            Content::SavedModel
        );
        assert_eq!(of(b"\x78\x9c\x01\x02", "m.joblib"), Content::Compressed);
        // a checkpoint index by the magic number at the end of its footer, whatever its name
        let mut index = vec![0u8; 40];
        index.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
        assert_eq!(of(&index, "weights.bin"), Content::CheckpointIndex);
        assert_eq!(of(&index[..47], "x.index"), Content::Unknown);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        tar[0] = b'a';
        assert_eq!(of(&tar, "x"), Content::Tar);
    }

    #[test]
    fn names_promise_formats() {
        assert_eq!(
            expected(Path::new("m.SAFETENSORS")),
            Some(&[Content::Safetensors][..])
        );
        assert_eq!(expected(Path::new("pytorch_model.bin")), None);
        assert!(expected(Path::new("m.pt")).is_some_and(|f| f.contains(&Content::Zip)));
    }
}
