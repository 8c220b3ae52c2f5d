//! The pickle scanner: what loading a pickle would import and call, found by emulating
//! the pickle machine without running anything.
//!
//! Every opcode of protocols 0–5 is emulated over a symbolic stack and memo, so a module
//! name built on the stack, fetched from the memo or escaped in a protocol-0 string is
//! resolved before the [`policy`] classifies it. Where CPython's own readers disagree on
//! the bytes (a pickle that breaks its protocol-4 frames, a last line with no newline,
//! a frame longer than the input), every reading is followed (module `readings`), and
//! `scripts/pickle_differential.py` checks the result against CPython's unpicklers.
//!
//! Payloads (tensor data, long strings) are skipped with `Seek`, never read into memory;
//! every structure the machine keeps is bounded by [`Limits`], and reaching a limit makes
//! the file inconclusive — never clean.
//!
//! ```
//! use aigis_scan::internal::pickle;
//! use aigis_scan::{Location, Verdict};
//! // protocol 0: `os.system("echo aigis-test")`
//! let bytes = b"cos\nsystem\n(S'echo aigis-test'\ntR.";
//! let report = pickle::scan_bytes(bytes, &Location::default(), &pickle::Limits::default());
//! assert_eq!(report.verdict, Verdict::Dangerous);
//! assert_eq!(report.findings[0].rule, "pickle.global.dangerous");
//! assert_eq!(report.findings[0].location.offset, Some(32)); // the REDUCE
//! ```

mod allowlist;
mod calls;
mod joblib;
mod machine;
mod policy;
mod readings;
mod source;
mod stack;
mod text;
mod value;

#[cfg(test)]
mod tests;

use std::io::{BufReader, Cursor, Read, Seek};

use serde::Serialize;

pub use allowlist::{AllowEntry, Allowlist, AllowlistError};
pub use policy::{Classification, classify, classify_with};

use crate::{Error, Finding, Location, Verdict};

crate::rules::declare! {
    GLOBAL_DANGEROUS = "pickle.global.dangerous":
        "A pickle imports or calls something known to run code, touch files or the network.";
    GLOBAL_SUSPICIOUS = "pickle.global.suspicious":
        "A pickle imports or calls something outside the allowlist that is not known to be dangerous.";
    GLOBAL_INCONCLUSIVE = "pickle.global.inconclusive":
        "A pickle imports something the policy cannot judge.";
    GLOBAL_SAFE = "pickle.global.safe":
        "A pickle calls an allowlisted import.";
    ALLOWLIST = "pickle.allowlist":
        "A pickle import allowed by an entry of the project's reviewed allowlist (aigis.toml `[[model.allow]]`).";
    IMPORTS = "pickle.imports":
        "Every global a pickle imports, safe ones included, for review.";
    STACK_GLOBAL_UNRESOLVED = "pickle.stack_global.unresolved":
        "A STACK_GLOBAL whose module or name is not a plain string: what it imports is unknown.";
    CALL_UNRESOLVED = "pickle.call.unresolved":
        "A pickle calls something that is not an imported global: what it runs is unknown.";
    MUTATE_GLOBAL = "pickle.mutate.global":
        "A pickle changes an imported global or module instead of a new object.";
    EXT_UNKNOWN = "pickle.ext.unknown":
        "A pickle uses an extension code that is not registered.";
    LIMIT = "pickle.limit":
        "A pickle past a scan limit (opcodes, stack, memo, nesting): the rest is not analysed.";
    TRUNCATED = "pickle.truncated":
        "A pickle that ends inside an opcode or a frame: readers disagree on what it holds.";
    MALFORMED = "pickle.malformed":
        "Bytes the pickle machine cannot read as a pickle.";
    READ = "pickle.read":
        "A pickle whose source cannot be read.";
    MORE = "pickle.more":
        "More pickle findings, counted but not listed.";
    VERDICT = "pickle.verdict":
        "The pickle scanner's verdict on a stream, when no single finding carries it.";
    TRAILING_DATA = "pickle.trailing_data":
        "Bytes after the last pickle of a stream, which the loader does not read.";
    MEMO = "pickle.memo":
        "A pickle that depends on the memo of an earlier pickle of its stream: loaders that read them one by one see different objects.";
    FRAME = "pickle.frame":
        "A pickle that CPython's readers read in different ways (frames broken, a last line with no newline): each reading was followed.";
    JOBLIB_COMPANION = "pickle.joblib_companion":
        "A joblib pickle that loads an array from a file beside it: that file is scanned too.";
    LEGACY_TORCH = "pickle.legacy_torch":
        "A legacy `torch.save` stream: its raw storages are skipped as numbers.";
    LEGACY_STORAGE = "pickle.legacy_storage":
        "A legacy `torch.save` storage record that is inconsistent.";
    LEGACY_RECORD = "pickle.legacy_record":
        "A legacy PyTorch raw record that is cut short or malformed.";
    LEGACY_LEFTOVER = "pickle.legacy_leftover":
        "Bytes after the last record of a legacy PyTorch stream, which torch.load never reads: scanned as more pickles.";
}

/// Bounds on what one scan may cost. Reaching one stops the scan with an inconclusive
/// verdict (rule `pickle.limit`).
///
/// Memory is bounded by these: stack and memo entries are a few dozen bytes each (a
/// kept tuple holds at most four items, a kept dict sixteen), kept strings count against
/// `max_retained`, and payloads are never held. At the defaults a hostile file can make
/// the scan hold on the order of a hundred megabytes at worst; ordinary model pickles
/// (PyTorch `data.pkl`, scikit-learn estimators) use a small fraction of every limit.
/// A pickle that breaks its frames is read several ways, one reading at a time on one
/// opcode budget; what the other readings add is kept within `max_retained` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Opcodes executed, over all pickles in the input (time).
    pub max_ops: u64,
    /// Stack items plus open marks (memory).
    pub max_stack: usize,
    /// Memo entries (memory).
    pub max_memo: usize,
    /// Tuple nesting, and pickles nested in pickles (recursion).
    pub max_nesting: u32,
    /// A string or bytes longer than this is skipped, not kept for inspection.
    pub max_inspect: usize,
    /// Total bytes of strings kept for inspection (memory).
    pub max_retained: usize,
    /// Bytes after the last pickle are expected: they are still reported
    /// (`trailing_data`) but do not make the verdict inconclusive. (Legacy `torch.save`
    /// files need no allowance: a stream that starts with their magic number has its raw
    /// storages skipped by the sizes its pickles give, `pickle.legacy_torch`.)
    pub allow_trailing_data: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_ops: 10_000_000,
            max_stack: 100_000,
            max_memo: 1 << 20,
            max_nesting: 64,
            max_inspect: 4096,
            max_retained: 16 << 20,
            allow_trailing_data: false,
        }
    }
}

/// A global the pickle imports, how often, and the policy's verdict on it. Safe ones are
/// listed here (and counted) but produce no finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// The module (`collections`).
    pub module: String,
    /// The name in it (`OrderedDict`).
    pub name: String,
    /// The policy's verdict on it.
    pub verdict: Verdict,
    /// How many times it is imported.
    pub count: u64,
}

/// The result of scanning one pickle stream (which may hold several pickles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickleReport {
    /// The worst verdict of the findings; `Safe` only when there is none.
    pub verdict: Verdict,
    /// Every reason for the verdict, in file order (offsets are of the opcode).
    pub findings: Vec<Finding>,
    /// Every distinct global imported, in order of first appearance.
    pub imports: Vec<Import>,
    /// Opcodes executed.
    pub ops: u64,
    /// Complete pickles (`STOP` reached).
    pub pickles: u32,
    /// Offset and length of bytes after the last pickle, if any.
    pub trailing_data: Option<(u64, u64)>,
}

/// How pickles and raw records alternate in a stream: what the loader reads between
/// one pickle and the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// Pickles one after another. A stream that starts with the legacy `torch.save`
    /// magic number has its raw storages found and skipped (`pickle.legacy_torch`).
    #[default]
    Stream,
    /// The `storages` member of a legacy PyTorch tar checkpoint: a pickled count; per
    /// storage a pickled `(key, location, torch.<Type>Storage)`, an 8-byte element count
    /// and the elements; then the pickled storage views.
    TorchTarStorages,
    /// The `tensors` member of a legacy PyTorch tar checkpoint: a pickled count; per
    /// tensor a pickled `(key, storage_key, torch.<Type>Tensor)` and its raw metadata
    /// (a 4-byte dimension count, 4 unused bytes, sizes and strides of 8 bytes per
    /// dimension, an 8-byte storage offset).
    TorchTarTensors,
}

/// Scans a pickle stream from the reader's current position to its end. `location`
/// names the member (`archive/data.pkl`) in the evidence; offsets count from the
/// starting position, plus `location.offset` when the pickle sits inside a larger file.
///
/// A malformed, truncated or oversized pickle is a verdict (inconclusive), not an error;
/// the error is for a reader that fails.
pub fn scan(
    reader: impl Read + Seek,
    location: &Location,
    limits: &Limits,
) -> Result<PickleReport, Error> {
    scan_layout(
        reader,
        location,
        limits,
        &Allowlist::default(),
        Layout::Stream,
    )
}

/// [`scan`] of a stream laid out as `layout` says, with the project's reviewed
/// `allowlist` (`[[model.allow]]` in `aigis.toml`: imports it names exactly are safe
/// instead of suspicious, each use a `pickle.allowlist` finding). The raw records between
/// its pickles are skipped by the sizes the pickles and records give, so every pickle is
/// found and the bytes the loader never reads are reported.
pub fn scan_layout(
    reader: impl Read + Seek,
    location: &Location,
    limits: &Limits,
    allowlist: &Allowlist,
    layout: Layout,
) -> Result<PickleReport, Error> {
    let member = location.member.clone();
    let io_err = |e| Error::io(member.clone().unwrap_or_else(|| "pickle".to_owned()), e);
    let source = source::Source::new(BufReader::new(reader)).map_err(io_err)?;
    readings::run(source, location, limits, allowlist, 0, layout).map_err(io_err)
}

/// [`scan`] over bytes in memory (an npy object array, a zip member already read).
pub fn scan_bytes(bytes: &[u8], location: &Location, limits: &Limits) -> PickleReport {
    match source::Source::new(Cursor::new(bytes)) {
        Ok(src) => readings::run(
            src,
            location,
            limits,
            &Allowlist::default(),
            0,
            Layout::Stream,
        )
        .unwrap_or_else(|e| failed(location, &e)),
        Err(e) => failed(location, &e),
    }
}

/// Distinct globals listed in one [`imports_evidence`] item.
const MAX_LISTED_IMPORTS: usize = 256;

/// Every global a pickle stream imports, safe ones included, as one safe finding
/// (`pickle.imports`): "`collections.OrderedDict` ×2 (safe), …". What a file imports is
/// what an auditor (or a team writing its allowlist) reviews; `None` when there is none.
pub fn imports_evidence(imports: &[Import], location: &Location) -> Option<Finding> {
    if imports.is_empty() {
        return None;
    }
    let mut listed: Vec<String> = imports
        .iter()
        .take(MAX_LISTED_IMPORTS)
        .map(|i| format!("`{}.{}` ×{} ({})", i.module, i.name, i.count, i.verdict))
        .collect();
    if imports.len() > MAX_LISTED_IMPORTS {
        listed.push(format!("and {} more", imports.len() - MAX_LISTED_IMPORTS));
    }
    let n = imports.len();
    let globals = if n == 1 { "global" } else { "globals" };
    Some(Finding {
        verdict: Verdict::Safe,
        rule: rule::IMPORTS.id.to_owned(),
        message: format!("imports {n} {globals}: {}", listed.join(", ")),
        location: location.clone(),
    })
}

/// A cursor over memory cannot fail; if it ever did, the answer is still not "clean".
fn failed(location: &Location, e: &std::io::Error) -> PickleReport {
    PickleReport {
        verdict: Verdict::Inconclusive,
        findings: vec![Finding {
            verdict: Verdict::Inconclusive,
            rule: rule::MALFORMED.id.to_owned(),
            message: format!("the pickle could not be read: {e}"),
            location: location.clone(),
        }],
        imports: Vec::new(),
        ops: 0,
        pickles: 0,
        trailing_data: None,
    }
}
