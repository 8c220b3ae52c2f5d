//! One verdict per file: recognise the format by content, run its checker, and hand every
//! pickle (raw files, joblib (compressed too), `.pkl` members of PyTorch zips, object
//! arrays, legacy PyTorch tar members) to the pickle machine, with the [`Scanner`]'s
//! configuration.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::{self, Content};
use crate::pickle::Layout;
use crate::{Allowlist, Error, Finding, Format, Limits, Location, PickleLimits, Verdict, zip};

crate::rules::declare! {
    KNOWN_BAD = "known_bad.digest":
        "A file whose SHA-256 is on a known-bad feed: dangerous whatever its content.";
    FORMAT_UNKNOWN = "format.unknown":
        "A file of no model format the scanner recognises.";
    FORMAT_TEXT = "format.text":
        "Text, not a model format: loading it runs nothing.";
    FORMAT_POLYGLOT = "format.polyglot":
        "A file that is two formats at once (a zip at its end, bytes before the first zip member, a checkpoint-index footer): loaders may read either.";
    FORMAT_EXTENSION_MISMATCH = "format.extension_mismatch":
        "A file whose name says a different format than its content.";
    PATH_SYMLINK = "path.symlink":
        "A symbolic link in a scanned folder: reported, not followed.";
    PATH_TOO_DEEP = "path.too_deep":
        "Folders nested past the limit: not scanned.";
    PATH_SPECIAL = "path.special":
        "A device, pipe or socket in a scanned folder: not a model file, and not read.";
}

/// A byte source the scanners can read and seek: a file, or a member held in memory.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// What scans files: the bounds of a scan ([`Limits`], [`PickleLimits`]) and the project's
/// reviewed pickle [`Allowlist`]. The default is the built-in policy with default bounds.
///
/// ```
/// use aigis_scan::{AllowEntry, Allowlist, Scanner, Verdict};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("model.pkl");
/// // protocol 0: an instance of `mypkg.models.Net`, the team's own class
/// std::fs::write(&path, b"cmypkg.models\nNet\n)R.")?;
/// assert_eq!(Scanner::new().scan_file(&path)?.verdict, Verdict::Suspicious);
///
/// let allow = Allowlist::new([AllowEntry {
///     name: "mypkg.models.Net".into(),
///     reason: "our classifier".into(),
///     by: "ml-platform".into(),
/// }])?;
/// let scanner = Scanner::new().with_allowlist(allow);
/// assert_eq!(scanner.scan_file(&path)?.verdict, Verdict::Safe);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    limits: Limits,
    pickle: PickleLimits,
    allowlist: Allowlist,
    known_bad: crate::KnownBad,
}

impl Scanner {
    /// The built-in policy with the default bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same scanner with other bounds on files, archives and headers.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same scanner with other bounds on the pickle machine.
    pub fn with_pickle_limits(mut self, limits: PickleLimits) -> Self {
        self.pickle = limits;
        self
    }

    /// The same scanner with the project's reviewed allowlist (`[[model.allow]]`):
    /// imports it names exactly are safe instead of suspicious, each use a
    /// `pickle.allowlist` finding.
    pub fn with_allowlist(mut self, allowlist: Allowlist) -> Self {
        self.allowlist = allowlist;
        self
    }

    /// The same scanner with known-bad digests: a file whose bytes hash to one is
    /// dangerous (`known_bad.digest`), whatever its content.
    pub fn with_known_bad(mut self, known_bad: crate::KnownBad) -> Self {
        self.known_bad = known_bad;
        self
    }

    /// The known-bad digests in force.
    pub fn known_bad(&self) -> &crate::KnownBad {
        &self.known_bad
    }

    /// The bounds on files, archives and headers.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The allowlist in force.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// Scans a file, or every file under a folder (symbolic links are reported, not
    /// followed: a link can point out of the model folder), in path order. Files a model
    /// reads as data are claimed by it ([`claim_external_data`]).
    pub fn scan_path(&self, path: &Path) -> Result<Vec<FileReport>, Error> {
        let mut reports = walk(path, self)?;
        claim_external_data(&mut reports);
        Ok(reports)
    }

    /// Scans one file: its format by content, the checks of that format, and the
    /// extension and polyglot checks.
    pub fn scan_file(&self, path: &Path) -> Result<FileReport, Error> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let (format, mut findings, external_data) =
            scan_reader_files(&mut file, len, path, self).map_err(|e| Error::io(path, e))?;
        if !self.known_bad.is_empty() {
            // Hashed apart from the format's reading, which need not read every byte.
            let mut again = File::open(path).map_err(|e| Error::io(path, e))?;
            let digest =
                aigis_core::Digest::of_reader(&mut again).map_err(|e| Error::io(path, e))?;
            if let Some(sources) = self.known_bad.sources(&digest) {
                findings.push(finding(
                    Verdict::Dangerous,
                    rule::KNOWN_BAD.id,
                    format!(
                        "the file's SHA-256 ({digest}) is on a known-bad list: {}",
                        sources.join("; ")
                    ),
                    Location::default(),
                ));
            }
        }
        let verdict = Verdict::worst(&findings);
        Ok(FileReport {
            path: path.to_owned(),
            format,
            verdict,
            findings,
            bytes: len,
            external_data,
        })
    }

    /// Scans a stream of `len` bytes named `path` (the name only matters to the extension
    /// checks): the format it was recognised as, and the findings. `Err` only when the
    /// source itself fails to read.
    pub fn scan_reader<R: Read + Seek>(
        &self,
        r: &mut R,
        len: u64,
        path: &Path,
    ) -> std::io::Result<(Format, Vec<Finding>)> {
        scan_reader_files(r, len, path, self).map(|(format, found, _)| (format, found))
    }

    /// Reads one pickle stream, laid out as `layout` says, from the reader's current
    /// position (the start) and says what loading it would do: the verdict and the
    /// findings, the imports among them (`pickle.imports`). A reader that fails
    /// mid-pickle makes the pickle inconclusive, never clean.
    pub(crate) fn pickle(
        &self,
        reader: &mut dyn ReadSeek,
        location: &Location,
        layout: Layout,
    ) -> (Verdict, Vec<Finding>) {
        match crate::pickle::scan_layout(reader, location, &self.pickle, &self.allowlist, layout) {
            Ok(report) => {
                let mut found = report.findings;
                found.extend(crate::pickle::imports_evidence(&report.imports, location));
                (report.verdict, found)
            }
            Err(e) => (
                Verdict::Inconclusive,
                vec![finding(
                    Verdict::Inconclusive,
                    crate::pickle::rule::READ.id,
                    format!("the pickle could not be read: {e}"),
                    location.clone(),
                )],
            ),
        }
    }
}

/// The verdict on one file and the findings behind it.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file, as found under the path scanned.
    pub path: PathBuf,
    /// What the file is, by content (`pickle`, `pytorch-zip`, `npz`, `keras`, …).
    pub format: Format,
    /// The worst verdict of the findings; `safe` when there is none.
    pub verdict: Verdict,
    /// Every reason for the verdict.
    pub findings: Vec<Finding>,
    /// The file's size.
    pub bytes: u64,
    /// Files this one makes its loader read as data (ONNX external data, the data files of
    /// a TensorFlow checkpoint index, a SavedModel's assets), checked to be inside its
    /// folder. A folder scan reports them as that model's data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<PathBuf>,
}

pub(crate) fn finding(
    verdict: Verdict,
    rule: &str,
    message: impl Into<String>,
    location: Location,
) -> Finding {
    Finding {
        verdict,
        rule: rule.to_owned(),
        message: message.into(),
        location,
    }
}

/// Runs the pickle scanner over a plain stream of pickles, keeping its verdict even when
/// it gave no evidence.
pub(crate) fn run_pickle(scanner: &Scanner, r: &mut dyn ReadSeek, at: &Location) -> Vec<Finding> {
    run_pickle_as(scanner, r, at, Layout::Stream)
}

/// [`run_pickle`] of a stream laid out as `layout` says.
pub(crate) fn run_pickle_as(
    scanner: &Scanner,
    r: &mut dyn ReadSeek,
    at: &Location,
    layout: Layout,
) -> Vec<Finding> {
    let (verdict, mut found) = scanner.pickle(r, at, layout);
    if found.iter().all(|e| e.verdict < verdict) {
        found.push(finding(
            verdict,
            crate::pickle::rule::VERDICT.id,
            format!("the pickle scanner found it {verdict}"),
            at.clone(),
        ));
    }
    found
}

/// [`Scanner::scan_reader`], and the files the model makes its loader read
/// ([`FileReport::external_data`]).
fn scan_reader_files(
    r: &mut dyn ReadSeek,
    len: u64,
    path: &Path,
    scanner: &Scanner,
) -> std::io::Result<(Format, Vec<Finding>, Vec<PathBuf>)> {
    let limits = scanner.limits();
    let mut external = Vec::new();
    r.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    r.take(detect::HEAD_LEN as u64).read_to_end(&mut head)?;
    let mut tail = Vec::new();
    r.seek(SeekFrom::Start(len.saturating_sub(detect::TAIL_LEN as u64)))?;
    r.take(detect::TAIL_LEN as u64).read_to_end(&mut tail)?;
    let content = detect::sniff(&head, &tail, len, path);
    let eocd = zip::find_eocd(r, len)?;
    r.seek(SeekFrom::Start(0))?;
    let mut out = Vec::new();
    let mut format = Format::from(content);
    match content {
        Content::Zip => format = scan_zip(r, len, scanner, &mut out),
        Content::Pickle => {
            if detect::extension(path).as_deref() == Some("joblib") {
                format = Format::Joblib;
            }
            out.extend(run_pickle(scanner, r, &Location::default()));
        }
        Content::Compressed => out.extend(crate::compressed::scan(r, scanner)),
        Content::Npy => out.extend(crate::npy::scan(r, len, &Location::default(), scanner)),
        Content::Safetensors => out.extend(crate::safetensors::scan(r, len, limits)),
        Content::Gguf => out.extend(crate::gguf::scan(r, len, limits)),
        Content::Hdf5 => out.extend(crate::hdf5::scan(r, len, &Location::default(), limits)),
        Content::Onnx => {
            // External data paths are relative to the model's folder.
            let folder = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let (found, files) = crate::onnx::scan_files(r, len, folder, limits);
            out.extend(found);
            external = files;
        }
        Content::SavedModel => {
            let (kind, found, files) = crate::savedmodel::scan_files(r, len, path, limits);
            format = kind;
            out.extend(found);
            external = files;
        }
        Content::CheckpointIndex => {
            let (found, files) = crate::checkpoint::scan_files(r, len, path, limits);
            out.extend(found);
            external = files;
        }
        Content::Tar => format = scan_tar(r, len, scanner, &mut out),
        Content::Text => {
            scan_text(r, len, path, limits, &mut out)?;
            let hidden = hidden_pickle(r, scanner)?;
            if !hidden.is_empty() {
                out.retain(|e| e.rule != rule::FORMAT_TEXT.id);
            }
            out.extend(hidden);
        }
        Content::Unknown => {
            out.push(finding(
                Verdict::Inconclusive,
                rule::FORMAT_UNKNOWN.id,
                "not a model format this scanner recognises",
                Location::default(),
            ));
            out.extend(hidden_pickle(r, scanner)?);
        }
    }
    // A file that also ends like a zip is two files: the one its first bytes say and the
    // one `zipfile`/`torch.load` open.
    if content != Content::Zip && eocd.is_some() {
        out.push(finding(
            Verdict::Suspicious,
            rule::FORMAT_POLYGLOT.id,
            format!("a {} that is also a zip archive", content.as_str()),
            Location {
                member: None,
                offset: eocd,
            },
        ));
        r.seek(SeekFrom::Start(0))?;
        scan_zip(r, len, scanner, &mut out);
    }
    // Read by name, TensorFlow takes a file ending like a table for a checkpoint index.
    if content != Content::CheckpointIndex && detect::is_checkpoint_index(&tail, len) {
        out.push(finding(
            Verdict::Suspicious,
            rule::FORMAT_POLYGLOT.id,
            format!(
                "a {} that also ends like a TensorFlow checkpoint index",
                content.as_str()
            ),
            Location::at(len.saturating_sub(8) as usize),
        ));
    }
    if let Some(expected) = detect::expected(path) {
        let zip_ok = match detect::extension(path).as_deref() {
            Some("npz") => format == Format::Npz,
            Some("keras") => format == Format::Keras,
            Some("pt" | "pth" | "ckpt") => format == Format::PytorchZip,
            _ => true,
        };
        if !expected.contains(&content)
            || (content == Content::Zip && !zip_ok)
            || (content == Content::Tar
                && format != Format::PytorchTar
                && detect::extension(path).as_deref() != Some("tar"))
        {
            out.push(finding(
                Verdict::Suspicious,
                rule::FORMAT_EXTENSION_MISMATCH.id,
                format!(
                    "named like {:?} but the content is {format}",
                    path.extension().unwrap_or_default()
                ),
                Location::default(),
            ));
        }
    }
    Ok((format, out, external))
}

/// A protocol-0 pickle is printable text and may start with any opcode, so text and
/// unrecognised files are also run through the pickle scanner from the start: when it
/// reaches imports (`pickle.global.*` evidence), the file is a pickle whatever it looks
/// like, and that evidence stands. Anything else it says about a file that is not a
/// pickle (malformed, truncated) is dropped.
pub(crate) fn hidden_pickle(
    r: &mut dyn ReadSeek,
    scanner: &Scanner,
) -> std::io::Result<Vec<Finding>> {
    r.seek(SeekFrom::Start(0))?;
    let (_, found) = scanner.pickle(r, &Location::default(), Layout::Stream);
    // A complete pickle in text: what it imports is reported, safe imports included.
    if found
        .iter()
        .any(|e| e.rule.starts_with("pickle.global") || e.rule == crate::pickle::rule::IMPORTS.id)
    {
        Ok(found)
    } else {
        Ok(Vec::new())
    }
}

/// Text is not a model format, but Hugging Face keeps chat templates (Jinja, rendered by
/// the server) in `tokenizer_config.json` and `chat_template.jinja`: those get the same
/// check as GGUF templates.
fn scan_text(
    r: &mut dyn ReadSeek,
    len: u64,
    path: &Path,
    limits: &Limits,
    out: &mut Vec<Finding>,
) -> std::io::Result<()> {
    let at = Location::default();
    let jinja = detect::extension(path).as_deref() == Some("jinja");
    if len <= limits.max_header_bytes {
        let mut text = String::new();
        if r.take(len).read_to_string(&mut text).is_ok() {
            if jinja {
                crate::gguf::check_template("chat template", &text, 0, out);
            } else if text.contains("chat_template")
                && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text)
            {
                let templates = match map.get("chat_template") {
                    Some(serde_json::Value::String(t)) => vec![t.as_str()],
                    // a list of {"name", "template"} objects
                    Some(serde_json::Value::Array(list)) => list
                        .iter()
                        .filter_map(|t| t.get("template").and_then(serde_json::Value::as_str))
                        .collect(),
                    _ => vec![],
                };
                for t in templates {
                    crate::gguf::check_template("chat_template", t, 0, out);
                }
            }
        }
    }
    out.push(finding(
        Verdict::Safe,
        rule::FORMAT_TEXT.id,
        "text, not a model format: loading it runs nothing",
        at,
    ));
    Ok(())
}

/// `data/0`, `archive/data/12`: PyTorch tensor storages, raw numbers never unpickled.
fn is_tensor_data(name: &str) -> bool {
    let mut parts = name.rsplit('/');
    let last = parts.next().unwrap_or_default();
    !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) && parts.next() == Some("data")
}

/// What kind of zip the member names make it.
fn zip_kind(members: &[zip::Member]) -> Format {
    let files: Vec<&str> = members
        .iter()
        .filter(|m| !m.is_dir())
        .map(|m| m.name.as_str())
        .collect();
    if files
        .iter()
        .any(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
    {
        Format::PytorchZip
    } else if !files.is_empty() && files.iter().all(|n| n.ends_with(".npy")) {
        Format::Npz
    } else if files.contains(&"config.json")
        && files
            .iter()
            .any(|n| *n == "metadata.json" || n.ends_with(".weights.h5"))
    {
        Format::Keras
    } else {
        Format::Zip
    }
}

/// Between the names of an archive inside an archive and its members, in evidence
/// locations: `models.zip!archive/data.pkl` is `archive/data.pkl` of the zip member
/// `models.zip`.
pub const NESTED: char = '!';

/// Reads the archive and scans each member that can hold code; returns the zip kind.
fn scan_zip(r: &mut dyn ReadSeek, len: u64, scanner: &Scanner, out: &mut Vec<Finding>) -> Format {
    let limits = scanner.limits();
    let mut budget = limits.max_total_bytes;
    scan_zip_nested(r, len, scanner, out, 1, &mut budget)
}

/// [`scan_zip`] of an archive `depth` levels down (the file itself is 1), the bytes of
/// every level drawn from one `budget`.
fn scan_zip_nested(
    r: &mut dyn ReadSeek,
    len: u64,
    scanner: &Scanner,
    out: &mut Vec<Finding>,
    depth: usize,
    budget: &mut u64,
) -> Format {
    let limits = scanner.limits();
    let archive = match zip::open(r, len, limits) {
        Ok(a) => a,
        Err(e) => {
            out.push(e);
            return Format::Zip;
        }
    };
    out.extend(archive.findings);
    let kind = zip_kind(&archive.members);
    let mut seen = HashSet::new();
    for m in &archive.members {
        // Duplicates are all scanned: a loader may pick either.
        let key = (m.name.as_str(), m.header_offset);
        if m.is_dir()
            || !m.readable()
            || !seen.insert(key)
            || (kind == Format::PytorchZip && is_tensor_data(&m.name))
        {
            continue;
        }
        let at = Location {
            member: Some(m.name.clone()),
            offset: None,
        };
        let bytes = match zip::read(r, m, limits, budget) {
            Ok(data) => {
                out.extend(data.crc_mismatch);
                data.bytes
            }
            Err(e) => {
                out.push(e);
                continue;
            }
        };
        let head = bytes.get(..detect::HEAD_LEN).unwrap_or(&bytes);
        let inner = detect::sniff(
            head,
            detect::tail(&bytes),
            bytes.len() as u64,
            Path::new(&m.name),
        );
        let len = bytes.len() as u64;
        let mut cursor = Cursor::new(bytes);
        let lower = m.name.to_ascii_lowercase();
        if lower.ends_with(".pkl") || lower.ends_with(".pickle") || inner == Content::Pickle {
            out.extend(run_pickle(scanner, &mut cursor, &at));
        } else if inner == Content::Npy {
            out.extend(crate::npy::scan(&mut cursor, len, &at, scanner));
        } else if inner == Content::Zip {
            if depth >= limits.max_archive_depth {
                out.push(finding(
                    Verdict::Inconclusive,
                    crate::zip::rule::DEPTH.id,
                    format!(
                        "a zip inside {depth} levels of archives, past the limit: not analysed"
                    ),
                    at,
                ));
                continue;
            }
            let mut found = Vec::new();
            scan_zip_nested(&mut cursor, len, scanner, &mut found, depth + 1, budget);
            out.extend(found.into_iter().map(|mut e| {
                e.location.member = Some(match e.location.member.take() {
                    Some(inside) => format!("{}{NESTED}{inside}", m.name),
                    None => m.name.clone(),
                });
                e
            }));
        } else if inner == Content::Hdf5 {
            // `model.weights.h5` of a `.keras` zip: weights, unless it carries a config
            out.extend(crate::hdf5::scan(&mut cursor, len, &at, limits));
        } else if kind == Format::Keras && m.name == "config.json" {
            crate::keras::check_config(&cursor.into_inner(), "model config", &at, limits, out);
        } else if kind == Format::Keras && m.name == "metadata.json" {
            crate::keras::check_metadata(&cursor.into_inner(), &at, out);
        }
    }
    kind
}

/// Legacy PyTorch tar checkpoints: `sys_info` and `pickle` are pickles; `storages` and
/// `tensors` are pickles between raw records, read as `torch.load` reads them
/// ([`Layout`]). Other members are sniffed.
fn scan_tar(r: &mut dyn ReadSeek, len: u64, scanner: &Scanner, out: &mut Vec<Finding>) -> Format {
    let limits = scanner.limits();
    let archive = match crate::tar::open(r, len, limits) {
        Ok(a) => a,
        Err(e) => {
            out.push(e);
            return Format::Tar;
        }
    };
    out.extend(archive.findings);
    let torch = archive.members.iter().any(|m| m.name == "pickle");
    for m in &archive.members {
        let at = Location {
            member: Some(m.name.clone()),
            offset: None,
        };
        // Scanned in place: a `storages` member holds every tensor of the checkpoint,
        // and the pickle machine seeks past them without reading.
        let mut member = Window::new(r, m.data_offset, m.size);
        let mut head = vec![0u8; detect::HEAD_LEN.min(m.size as usize)];
        let mut tail = vec![0u8; detect::TAIL_LEN.min(m.size as usize)];
        let read = member.read_exact(&mut head).and_then(|_| {
            member.seek(SeekFrom::End(-(tail.len() as i64)))?;
            member.read_exact(&mut tail)?;
            member.seek(SeekFrom::Start(0))
        });
        if let Err(e) = read {
            out.push(finding(
                Verdict::Inconclusive,
                crate::tar::rule::IO.id,
                e.to_string(),
                at,
            ));
            continue;
        }
        let inner = detect::sniff(&head, &tail, m.size, Path::new(&m.name));
        let layout = match m.name.as_str() {
            "sys_info" | "pickle" if torch => Some(Layout::Stream),
            "storages" if torch => Some(Layout::TorchTarStorages),
            "tensors" if torch => Some(Layout::TorchTarTensors),
            _ if inner == Content::Pickle || m.name.ends_with(".pkl") => Some(Layout::Stream),
            _ => None,
        };
        if let Some(layout) = layout {
            out.extend(run_pickle_as(scanner, &mut member, &at, layout));
        }
    }
    if torch {
        Format::PytorchTar
    } else {
        Format::Tar
    }
}

/// A byte range of a reader, read and sought as a file of its own (a tar member scanned
/// in place). Reads stop at the range's end; seeks are relative to its start.
struct Window<'a> {
    inner: &'a mut dyn ReadSeek,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    fn new(inner: &'a mut dyn ReadSeek, start: u64, len: u64) -> Self {
        Window {
            inner,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(buf) = buf.get_mut(..n).filter(|b| !b.is_empty()) else {
            return Ok(0);
        };
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(buf)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(n) => (n, 0),
            SeekFrom::End(d) => (self.len, d),
            SeekFrom::Current(d) => (self.pos, d),
        };
        self.pos = base.checked_add_signed(delta).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a seek before the start of the member",
            )
        })?;
        Ok(self.pos)
    }
}

/// A model's data files (ONNX external data, a TensorFlow checkpoint's data files, a
/// SavedModel's assets) are bytes the model reads, with no format of their own: among the
/// reports of one scan, each is its model's data (safe) rather than an unknown file. Only
/// the `format.unknown` (or `format.text`) evidence is replaced; anything else found in the
/// file (a hidden pickle) stands, and a file that is some other format keeps its own
/// verdict.
///
/// [`Scanner::scan_path`] does this for the files under its path; a caller that scans
/// several paths (a model's files one by one) calls it once over all their reports.
pub fn claim_external_data(reports: &mut [FileReport]) {
    let mut owners: std::collections::HashMap<PathBuf, (PathBuf, Format)> = Default::default();
    for r in reports.iter() {
        for data in &r.external_data {
            owners
                .entry(data.clone())
                .or_insert_with(|| (r.path.clone(), r.format));
        }
    }
    if owners.is_empty() {
        return;
    }
    for r in reports.iter_mut() {
        let Some((model, owner_format)) = owners.get(&r.path) else {
            continue;
        };
        let Some((format, rule, message)) = data_claim(*owner_format, model) else {
            continue;
        };
        let replaced = match r.format {
            Format::Unknown => rule::FORMAT_UNKNOWN.id,
            Format::Text => rule::FORMAT_TEXT.id,
            _ => continue,
        };
        r.findings.retain(|e| e.rule != replaced);
        r.findings
            .push(finding(Verdict::Safe, rule, message, Location::default()));
        r.format = format;
        r.verdict = Verdict::worst(&r.findings);
    }
}

/// What a file listed in a model's [`FileReport::external_data`] is, by the model's
/// format: its format name, rule and message.
fn data_claim(owner_format: Format, model: &Path) -> Option<(Format, &'static str, String)> {
    let model = model.display();
    Some(match owner_format {
        Format::Onnx => (
            Format::OnnxExternalData,
            crate::onnx::rule::EXTERNAL_DATA_FILE.id,
            format!("tensor data of the ONNX model `{model}`: read as numbers, never run"),
        ),
        Format::TensorflowCheckpointIndex => (
            Format::TensorflowCheckpointData,
            crate::checkpoint::rule::DATA_FILE.id,
            format!("tensor data of the checkpoint `{model}`: read as numbers, never run"),
        ),
        Format::TensorflowSavedmodel => (
            Format::TensorflowAsset,
            crate::savedmodel::rule::ASSET_FILE.id,
            format!("an asset of the SavedModel `{model}`: data its graph reads, never run"),
        ),
        _ => return None,
    })
}

/// Every file under `path` (or `path` itself) scanned, in path order: a symbolic link is
/// reported, not followed (the walk's `LinkPolicy::Report`); so are a device, pipe or
/// socket (never opened: a pipe would block the scan) and a folder past the depth limit.
fn walk(path: &Path, scanner: &Scanner) -> Result<Vec<FileReport>, Error> {
    use aigis_core::walk::{self, Kind, LinkPolicy, Walk};
    let limits = scanner.limits();
    let entries = Walk::new(path, LinkPolicy::Report)
        .max_depth(limits.max_depth)
        .run()
        .map_err(|e| match e {
            walk::Error::Io { path, source } => Error::io(path, source),
            // INVARIANT: a walk that reports links stops on nothing but I/O; should that
            // change, the error still names its path.
            other => Error::io(other.path().to_owned(), std::io::Error::other(other)),
        })?;
    let mut reports = Vec::new();
    for entry in entries {
        if reports.len() >= limits.max_files {
            break;
        }
        let report = |format: Format, verdict, rule: &str, message: String| FileReport {
            path: entry.path.clone(),
            format,
            verdict,
            findings: vec![finding(verdict, rule, message, Location::default())],
            bytes: 0,
            external_data: Vec::new(),
        };
        match entry.kind {
            Kind::Link => {
                let target = entry
                    .link
                    .as_ref()
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                reports.push(report(
                    Format::Symlink,
                    Verdict::Suspicious,
                    rule::PATH_SYMLINK.id,
                    format!("a symbolic link to `{target}`, not followed"),
                ));
            }
            Kind::Dir if !entry.entered => reports.push(report(
                Format::Folder,
                Verdict::Inconclusive,
                rule::PATH_TOO_DEEP.id,
                "folders nested past the limit are not scanned".to_owned(),
            )),
            Kind::Dir => {}
            Kind::Special => reports.push(report(
                Format::Unknown,
                Verdict::Suspicious,
                rule::PATH_SPECIAL.id,
                "a device, pipe or socket, not a model file: not read".to_owned(),
            )),
            Kind::File => reports.push(scanner.scan_file(&entry.path)?),
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_storages_are_recognised() {
        assert!(is_tensor_data("archive/data/0"));
        assert!(is_tensor_data("data/17"));
        assert!(!is_tensor_data("archive/data.pkl"));
        assert!(!is_tensor_data("archive/data/x.pkl"));
    }

    fn rule_of(r: &FileReport) -> Option<&str> {
        r.findings.first().map(|f| f.rule.as_str())
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_walk_reports_links_pipes_and_depth_and_reads_none_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("a/b")).unwrap();
        std::fs::write(p.join("a/b/deep.txt"), b"hello").unwrap();
        std::fs::write(p.join("a/readme.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("link.pkl")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(p.join("pipe.pkl"))
            .status()
            .is_ok_and(|s| s.success());
        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let reports = Scanner::new().with_limits(limits).scan_path(p).unwrap();
        let got: Vec<(String, Option<&str>)> = reports
            .iter()
            .map(|r| {
                let rel = r.path.strip_prefix(p).unwrap();
                (rel.to_string_lossy().into_owned(), rule_of(r))
            })
            .collect();
        let mut want = vec![
            ("a/b".to_owned(), Some(rule::PATH_TOO_DEEP.id)),
            ("a/readme.txt".to_owned(), Some(rule::FORMAT_TEXT.id)),
            ("link.pkl".to_owned(), Some(rule::PATH_SYMLINK.id)),
        ];
        if fifo {
            want.push(("pipe.pkl".to_owned(), Some(rule::PATH_SPECIAL.id)));
        }
        assert_eq!(got, want);
        assert!(
            reports
                .iter()
                .all(|r| r.verdict != Verdict::Safe || r.format == Format::Text)
        );
        // A link named as the root is reported, not followed, too.
        let root = Scanner::new().scan_path(&p.join("link.pkl")).unwrap();
        assert_eq!(root.first().and_then(rule_of), Some(rule::PATH_SYMLINK.id));
    }
}
