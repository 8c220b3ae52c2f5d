//! TensorFlow checkpoints (tensor bundles, tensorflow/core/util/tensor_bundle/): an index
//! `<prefix>.index` and data files `<prefix>.data-00000-of-00001`, … They are the
//! `variables/` folder of every SavedModel (prefix `variables`) and what
//! `tf.train.Checkpoint.write` and TF1's `Saver` write (`model.ckpt`).
//!
//! The index is a LevelDB table (`checkpoint/table.rs`). Its entry under the empty key is a
//! `BundleHeaderProto` (num_shards = 1, endianness = 2, version = 3); every other entry
//! names a tensor with a `BundleEntryProto` (dtype = 1, shape = 2, shard_id = 3,
//! offset = 4, size = 5, crc32c = 6, slices = 7): which data file holds its bytes, and
//! where (tensorflow/core/protobuf/tensor_bundle.proto). The data files are raw tensor
//! bytes (numbers; lengths and bytes for strings) that restoring copies into variables:
//! nothing in them runs. So:
//!
//! - An index read to the end whose tensors all lie inside data files beside it is safe
//!   (`checkpoint.index`), and a folder scan reports those files as its data
//!   (`checkpoint.data_file`) instead of unknown files. A data file no index claims stays
//!   unknown.
//! - An index that is not a well-formed table (a bad checksum, a truncated footer, keys out
//!   of order), has a compressed block, no header, an entry that is not a well-formed
//!   `BundleEntryProto` or a data type TensorFlow does not save, or passes a limit, is
//!   inconclusive (`checkpoint.malformed`, `checkpoint.compressed`, `checkpoint.limit`).
//! - A tensor in a data file the header does not count, whose offset and size overflow, or
//!   that ends past the end of its data file, and a data file that is missing, make the
//!   index inconclusive (`checkpoint.tensor_range`, `checkpoint.shard_missing`): TensorFlow
//!   refuses to restore such a checkpoint, so nothing is loaded from it, but it is not what
//!   TensorFlow writes (damaged, or made by hand) and cannot be called clean.
//! - A data file that is a symbolic link or a device is dangerous
//!   (`checkpoint.shard_escape`), as for ONNX external data: restoring reads the file it
//!   points to into the variables, whose values the model can then output.
//! - A variant tensor is suspicious (`checkpoint.variant`): its bytes are an object that
//!   TensorFlow decodes by the type it names, not plain numbers. A tf.data iterator's saved
//!   state is one, and TensorFlow has restored iterators by running a dataset graph kept in
//!   that state. The data files of such an index are not claimed.
//!
//! Tensor checksums (`crc32c`) are not checked: that would read every data file in full,
//! and TensorFlow checks them itself when it restores a tensor.

mod table;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::onnx::show;
use crate::proto::{Field, Fields, WireType, sub};
use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

pub(crate) use table::has_magic;

crate::rules::declare! {
    INDEX = "checkpoint.index":
        "A TensorFlow checkpoint index read to its end: its tensors and the data files it names.";
    DATA_FILE = "checkpoint.data_file":
        "A data file of a TensorFlow checkpoint scanned beside its index: tensor numbers, never run.";
    MALFORMED = "checkpoint.malformed":
        "A TensorFlow checkpoint index that is malformed: not a well-formed LevelDB table or tensor bundle, or a block that fails its checksum.";
    COMPRESSED = "checkpoint.compressed":
        "A TensorFlow checkpoint index with compressed blocks, which the scanner does not read.";
    LIMIT = "checkpoint.limit":
        "A TensorFlow checkpoint index past a scan limit: the rest is not checked.";
    VARIANT = "checkpoint.variant":
        "A TensorFlow checkpoint tensor that holds a serialized object (a variant, such as a tf.data iterator's state), not plain numbers.";
    TENSOR_RANGE = "checkpoint.tensor_range":
        "A TensorFlow checkpoint tensor whose data lies outside its data files.";
    SHARD_MISSING = "checkpoint.shard_missing":
        "A TensorFlow checkpoint data file that is missing or cannot be read, so what restoring loads is unknown.";
    SHARD_ESCAPE = "checkpoint.shard_escape":
        "A TensorFlow checkpoint data file that is a symbolic link or a device: restoring reads what it points to into the variables.";
}

/// Findings of one rule kept in full before the rest are only counted.
const MAX_FINDINGS: u64 = 64;
/// Bytes of a tensor name looked at for a message.
const SHOWN_KEY_BYTES: usize = 512;

/// `DataType` values (tensorflow/core/framework/types.proto) of plain numbers and strings.
fn plain_data(dtype: u64) -> bool {
    matches!(dtype, 1..=19 | 22..=33)
}
const DT_RESOURCE: u64 = 20;
const DT_VARIANT: u64 = 21;

/// The data file of shard `shard` of `shards` for the checkpoint `prefix`
/// (`DataFilename` in tensor_bundle.cc: `%s.data-%05d-of-%05d`).
pub fn data_file_name(prefix: &str, shard: u64, shards: u64) -> String {
    format!("{prefix}.data-{shard:05}-of-{shards:05}")
}

/// Problems found, each rule's first [`MAX_FINDINGS`] in full and the rest counted.
#[derive(Debug, Default)]
struct Findings {
    out: Vec<Finding>,
    counts: HashMap<&'static str, (u64, Verdict)>,
}

impl Findings {
    fn add(&mut self, verdict: Verdict, rule: &'static str, message: String, at: Option<u64>) {
        let (count, worst) = self.counts.entry(rule).or_insert((0, verdict));
        *count += 1;
        *worst = (*worst).max(verdict);
        if *count <= MAX_FINDINGS {
            self.out.push(finding(
                verdict,
                rule,
                message,
                Location {
                    member: None,
                    offset: at,
                },
            ));
        }
    }

    fn malformed(&mut self, message: String, at: u64) {
        self.add(Verdict::Inconclusive, rule::MALFORMED.id, message, Some(at));
    }

    fn finish(mut self) -> Vec<Finding> {
        let mut extra: Vec<_> = self
            .counts
            .iter()
            .filter(|(_, (n, _))| *n > MAX_FINDINGS)
            .map(|(rule, (n, worst))| {
                finding(
                    *worst,
                    rule,
                    format!("{} more like these", n - MAX_FINDINGS),
                    Location::default(),
                )
            })
            .collect();
        extra.sort_by(|a, b| a.rule.cmp(&b.rule));
        self.out.append(&mut extra);
        self.out
    }
}

/// The header entry.
#[derive(Debug, Default)]
struct Header {
    shards: u64,
    big_endian: bool,
}

/// What the walk over the entries found.
#[derive(Debug, Default)]
struct Bundle {
    header: Option<Header>,
    /// The first entry has been seen (the header, if the index has one).
    started: bool,
    tensors: u64,
    variants: u64,
    /// For each shard, the end of the tensor that ends last in it, and that tensor.
    ends: BTreeMap<u64, (u64, String)>,
    found: Findings,
}

/// A tensor's `BundleEntryProto`, as far as it is needed.
#[derive(Debug, Default)]
struct Tensor {
    dtype: u64,
    shard: u64,
    offset: u64,
    size: u64,
}

/// The protobuf fields of `value` (found at `at` in the file), or what is wrong.
fn fields(value: &[u8], at: u64) -> Result<Vec<Field<'_>>, (String, u64)> {
    Fields::new(value)
        .collect::<Result<_, _>>()
        .map_err(|e| (e.to_string(), at + e.at as u64))
}

/// Checks that every field of a message is well-formed protobuf, and so are the fields of
/// the messages in its fields `nested`.
fn well_formed(f: &Field<'_>, nested: &[u32], what: &str, at: u64) -> Result<(), (String, u64)> {
    let at = at + f.at as u64;
    if f.wire != WireType::Len {
        return Err((format!("{what} is not a message"), at));
    }
    for g in sub(f) {
        let g = g.map_err(|e| (format!("{what}: {e}"), at + (e.at - f.at) as u64))?;
        if nested.contains(&g.number) {
            let inner = Fields::nested(g.bytes, 0);
            for h in inner {
                h.map_err(|e| (format!("{what}: {e}"), at + (g.at - f.at + e.at) as u64))?;
            }
        }
    }
    Ok(())
}

/// An `int32` or `int64` field: a varint, and not negative.
fn count(f: &Field<'_>, max: u64, what: &str, at: u64) -> Result<u64, (String, u64)> {
    let at = at + f.at as u64;
    if f.wire != WireType::Varint {
        return Err((format!("{what} is not a number"), at));
    }
    if f.int > max {
        return Err((format!("{what} is negative or too large ({})", f.int), at));
    }
    Ok(f.int)
}

fn header(value: &[u8], at: u64) -> Result<Header, (String, u64)> {
    let mut h = Header::default();
    for f in fields(value, at)? {
        match f.number {
            1 => h.shards = count(&f, i32::MAX as u64, "the number of data files", at)?,
            2 => match count(&f, 1, "the byte order", at)? {
                1 => h.big_endian = true,
                _ => h.big_endian = false,
            },
            3 => well_formed(&f, &[], "the version", at)?,
            _ => {}
        }
    }
    Ok(h)
}

fn tensor(value: &[u8], at: u64) -> Result<Tensor, (String, u64)> {
    let mut t = Tensor::default();
    for f in fields(value, at)? {
        match f.number {
            1 => t.dtype = count(&f, u64::MAX, "the data type", at)?,
            // TensorShapeProto: dim = 2 (Dim: size, name)
            2 => well_formed(&f, &[2], "the shape", at)?,
            3 => t.shard = count(&f, i32::MAX as u64, "the data file number", at)?,
            4 => t.offset = count(&f, i64::MAX as u64, "the offset", at)?,
            5 => t.size = count(&f, i64::MAX as u64, "the size", at)?,
            6 if f.wire != WireType::Fixed32 => {
                return Err(("the checksum is not a fixed32".into(), at + f.at as u64));
            }
            // TensorSliceProto: extent = 1 (Extent: start, length)
            7 => well_formed(&f, &[1], "a slice", at)?,
            _ => {}
        }
    }
    Ok(t)
}

impl Bundle {
    fn entry(&mut self, key: &[u8], value: &[u8], at: u64) {
        let first = !self.started;
        self.started = true;
        if key.is_empty() {
            match header(value, at) {
                Ok(h) => self.header = Some(h),
                Err((what, at)) => self
                    .found
                    .malformed(format!("the checkpoint header: {what}"), at),
            }
            return;
        }
        if first {
            self.found.malformed(
                "no header entry (the empty key) before the first tensor: not a checkpoint index"
                    .into(),
                at,
            );
        }
        self.tensors += 1;
        // Prefix compression lets a small index hold long keys: only a key's start is shown.
        let name = show(key.get(..SHOWN_KEY_BYTES).unwrap_or(key));
        let t = match tensor(value, at) {
            Ok(t) => t,
            Err((what, at)) => {
                self.found.malformed(format!("tensor `{name}`: {what}"), at);
                return;
            }
        };
        match t.dtype {
            d if plain_data(d) => {}
            DT_VARIANT => {
                self.variants += 1;
                self.found.add(
                    Verdict::Suspicious,
                    rule::VARIANT.id,
                    format!(
                        "tensor `{name}` is a variant: an object TensorFlow decodes by the type it names (a tf.data iterator's state, for one), not plain numbers"
                    ),
                    Some(at),
                );
            }
            0 => self
                .found
                .malformed(format!("tensor `{name}` has no data type"), at),
            DT_RESOURCE => self.found.malformed(
                format!("tensor `{name}` is a resource handle, which TensorFlow does not save"),
                at,
            ),
            d => self.found.malformed(
                format!("tensor `{name}` has the data type {d}, unknown to this scanner"),
                at,
            ),
        }
        let Some(h) = &self.header else { return };
        if t.shard >= h.shards {
            self.found.add(
                Verdict::Inconclusive,
                rule::TENSOR_RANGE.id,
                format!(
                    "tensor `{name}` is in data file {}, but the header counts {}",
                    t.shard, h.shards
                ),
                Some(at),
            );
            return;
        }
        let Some(end) = t
            .offset
            .checked_add(t.size)
            .filter(|&e| e <= i64::MAX as u64)
        else {
            self.found.add(
                Verdict::Inconclusive,
                rule::TENSOR_RANGE.id,
                format!(
                    "tensor `{name}`: offset {} and size {} overflow",
                    t.offset, t.size
                ),
                Some(at),
            );
            return;
        };
        let slot = self.ends.entry(t.shard).or_insert((0, String::new()));
        if end > slot.0 || slot.1.is_empty() {
            *slot = (end, name);
        }
    }
}

/// Checks a checkpoint index of `len` bytes whose path is `path` (its data files are looked
/// for beside it). Returns the evidence, and the data files of the checkpoint when the
/// index and every data file pass the checks (their paths beside `path`).
pub fn scan_files(
    r: &mut dyn ReadSeek,
    len: u64,
    path: &Path,
    limits: &Limits,
) -> (Vec<Finding>, Vec<PathBuf>) {
    let mut bundle = Bundle::default();
    let read = table::read(r, len, limits, |e| bundle.entry(e.key, e.value, e.at));
    let Bundle {
        header,
        tensors,
        variants,
        ends,
        mut found,
        ..
    } = bundle;
    // What was read before a table error is still checked.
    let (stats, table_error) = match read {
        Ok(stats) => (Some(stats), None),
        Err(e) => (None, Some(table_evidence(e))),
    };
    if stats.is_some() && header.is_none() && tensors == 0 {
        found.malformed(
            "no header entry (the empty key): not a checkpoint index".into(),
            0,
        );
    }
    let mut files = match &header {
        Some(h) => data_files(path, h, &ends, limits, &mut found),
        None => Vec::new(),
    };
    let mut out = found.finish();
    out.extend(table_error);
    let clean = out.iter().all(|e| e.verdict == Verdict::Safe) && variants == 0;
    if let (Some(stats), Some(h)) = (stats, &header) {
        let mut names: Vec<String> = files
            .iter()
            .take(3)
            .filter_map(|p| p.file_name())
            .map(|n| format!("`{}`", n.to_string_lossy()))
            .collect();
        if files.len() > names.len() {
            names.push("…".into());
        }
        let listed = if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        };
        out.push(finding(
            Verdict::Safe,
            rule::INDEX.id,
            format!(
                "TensorFlow checkpoint index: {} in {}{listed}{}, {}",
                plural(tensors, "tensor"),
                plural(h.shards, "data file"),
                if h.big_endian { ", big-endian" } else { "" },
                plural(stats.data_blocks, "data block"),
            ),
            Location::default(),
        ));
    }
    if !clean || stats.is_none() {
        files.clear();
    }
    (out, files)
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Why the table was not read to the end, as evidence.
fn table_evidence(e: table::TableError) -> Finding {
    let (rule, message) = match e.problem {
        table::Problem::Malformed => (
            rule::MALFORMED.id,
            format!("not a well-formed checkpoint index: {}", e.what),
        ),
        table::Problem::Compressed => (
            rule::COMPRESSED.id,
            format!("{}: the rest of the index is not checked", e.what),
        ),
        table::Problem::Limit => (
            rule::LIMIT.id,
            format!("{}: the rest of the index is not checked", e.what),
        ),
    };
    finding(
        Verdict::Inconclusive,
        rule,
        message,
        Location {
            member: None,
            offset: Some(e.at),
        },
    )
}

/// Checks the data files of the checkpoint whose index is `path`; returns the ones that
/// hold every tensor the index puts in them.
fn data_files(
    path: &Path,
    header: &Header,
    ends: &BTreeMap<u64, (u64, String)>,
    limits: &Limits,
    found: &mut Findings,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if header.shards == 0 {
        return files;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(prefix) = name.strip_suffix(".index").filter(|p| !p.is_empty()) else {
        found.add(
            Verdict::Inconclusive,
            rule::SHARD_MISSING.id,
            format!(
                "the index is named `{}`, not `<prefix>.index`: TensorFlow finds the data files from that name, so which files it reads is unknown",
                show(name.as_bytes())
            ),
            None,
        );
        return files;
    };
    if header.shards > limits.max_files as u64 {
        found.add(
            Verdict::Inconclusive,
            rule::LIMIT.id,
            format!(
                "the header counts {} data files, more than the {} files a scan visits: they are not checked",
                header.shards, limits.max_files
            ),
            None,
        );
        return files;
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    for shard in 0..header.shards {
        let file = data_file_name(prefix, shard, header.shards);
        let shown = show(file.as_bytes());
        let data = folder.join(&file);
        let meta = match std::fs::symlink_metadata(&data) {
            Ok(m) => m,
            Err(e) => {
                found.add(
                    Verdict::Inconclusive,
                    rule::SHARD_MISSING.id,
                    format!(
                        "data file `{shown}` cannot be read ({e}), so what the checkpoint restores is unknown"
                    ),
                    None,
                );
                continue;
            }
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&data)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            found.add(
                Verdict::Dangerous,
                rule::SHARD_ESCAPE.id,
                format!(
                    "data file `{shown}` is a symbolic link to `{target}`: restoring reads that file into the variables"
                ),
                None,
            );
            continue;
        }
        if meta.is_dir() {
            found.add(
                Verdict::Inconclusive,
                rule::SHARD_MISSING.id,
                format!("data file `{shown}` is a folder"),
                None,
            );
            continue;
        }
        if !meta.is_file() {
            found.add(
                Verdict::Dangerous,
                rule::SHARD_ESCAPE.id,
                format!(
                    "data file `{shown}` is a device, pipe or socket, not a regular file: restoring reads from it"
                ),
                None,
            );
            continue;
        }
        if let Some((end, tensor)) = ends.get(&shard)
            && *end > meta.len()
        {
            found.add(
                Verdict::Inconclusive,
                rule::TENSOR_RANGE.id,
                format!(
                    "tensor `{tensor}` ends at byte {end} of `{shown}`, past its end ({} bytes): the data file is truncated or not this checkpoint's",
                    meta.len()
                ),
                None,
            );
            continue;
        }
        files.push(data);
    }
    files
}

#[cfg(test)]
mod tests;
