//! ONNX: a protobuf `ModelProto` (onnx.proto) holding a graph of operators. Loading one
//! runs no Python, but two things in it reach outside the file:
//!
//! - **External data.** A tensor may keep its bytes in another file, named by a path in
//!   the model (`external_data` `location`). `onnx.load` and onnxruntime join it to the
//!   model's folder, so `../../home/user/.ssh/id_rsa`, `/etc/shadow`, a symbolic link or a
//!   device read a file outside the model into a tensor (whose values an output can then
//!   leak), or block the loader (`/dev/zero`, a pipe): `onnx.external_data_escape`,
//!   dangerous. A file that is missing is inconclusive (what would be loaded is unknown);
//!   an offset or length past the end of the file is suspicious (a loader bug to reach).
//!   Every external file is listed (`onnx.external_data`), so a folder scan can tell which
//!   files belong to the model.
//! - **Custom operators.** A node whose domain is not one of the standard ONNX domains or
//!   the contrib domains built into onnxruntime cannot run unless the user registers a
//!   custom-op library (native code, `register_custom_ops_library`): `onnx.custom_domain`,
//!   suspicious. `com.microsoft` (and its `nchwc`/`experimental` variants) is allowlisted:
//!   those are the contrib operators compiled into every onnxruntime build, and graphs
//!   optimised by onnxruntime or exported by its transformer tools use them routinely. A
//!   node that calls a function defined in the model itself (`ModelProto.functions`) is
//!   fine: the function's body is checked like the graph.
//!
//! Subgraphs (`If`, `Loop`, `Scan` attributes), function bodies and training graphs are
//! walked too, to a nesting depth of `max_depth`. A file that is not well-formed protobuf,
//! has no graph, or passes a limit is inconclusive, with the byte offset.
//!
//! The model is held in memory (up to `max_proto_bytes`): protobuf caps an ONNX file at
//! 2 GiB, and larger models keep their weights in external files, which are never read.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, SeekFrom};
use std::path::{Path, PathBuf};

use crate::folder::Unresolved;
use crate::proto::{Field, Fields, WireError, WireType, sub};
use crate::scan::{ReadSeek, finding};
use crate::{Finding, Limits, Location, Verdict};

crate::rules::declare! {
    VALID = "onnx.valid":
        "An ONNX model parsed to its end.";
    MALFORMED = "onnx.malformed":
        "A file that is not a well-formed ONNX model.";
    LIMIT = "onnx.limit":
        "An ONNX model past a scan limit: the rest is not checked.";
    CUSTOM_DOMAIN = "onnx.custom_domain":
        "An ONNX operator outside the standard and onnxruntime domains: loading needs a custom-op library.";
    EXTERNAL_DATA = "onnx.external_data":
        "An ONNX tensor's external data file inside the model's folder.";
    EXTERNAL_DATA_FILE = "onnx.external_data_file":
        "A file an ONNX model reads its tensors from, scanned beside it: numbers, never run.";
    EXTERNAL_DATA_INVALID = "onnx.external_data_invalid":
        "An ONNX tensor that keeps its data in an external file but names none, or names it in a way loaders disagree on.";
    EXTERNAL_DATA_ESCAPE = "onnx.external_data_escape":
        "An ONNX tensor whose external data path leaves the model's folder (absolute, `..`, a symbolic link out of it, or a device).";
    EXTERNAL_DATA_MISSING = "onnx.external_data_missing":
        "An ONNX tensor's external data file that cannot be read, so what the model loads is unknown.";
    EXTERNAL_DATA_LINK = "onnx.external_data_link":
        "An ONNX tensor's external data file reached through a symbolic link that stays inside the folder.";
    EXTERNAL_DATA_RANGE = "onnx.external_data_range":
        "An ONNX tensor's external data range that is invalid or runs past the end of its file.";
}

/// Operator domains every runtime has: the ONNX standard sets, and the contrib domains
/// compiled into onnxruntime (see the module doc).
pub const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
    "com.microsoft",
    "com.microsoft.nchwc",
    "com.microsoft.experimental",
];

/// Findings of one rule kept in full before the rest are only counted.
const MAX_FINDINGS: usize = 64;

/// Reads a whole protobuf file into memory, or says why not.
pub(crate) fn read_all(
    r: &mut dyn ReadSeek,
    len: u64,
    limits: &Limits,
    rule: &str,
) -> Result<Vec<u8>, Finding> {
    if len > limits.max_proto_bytes {
        return Err(finding(
            Verdict::Inconclusive,
            rule,
            format!(
                "{len} bytes, more than the {} bytes a protobuf model is read into memory up to",
                limits.max_proto_bytes
            ),
            Location::default(),
        ));
    }
    let mut buf = Vec::new();
    r.seek(SeekFrom::Start(0))
        .and_then(|_| r.take(len).read_to_end(&mut buf))
        .map_err(|e| {
            finding(
                Verdict::Inconclusive,
                rule,
                format!("could not be read: {e}"),
                Location::default(),
            )
        })?;
    Ok(buf)
}

/// Text from a model, shortened for a message.
pub(crate) fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(120).collect();
    if text.chars().nth(120).is_some() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

fn malformed(e: WireError) -> Finding {
    finding(
        Verdict::Inconclusive,
        rule::MALFORMED.id,
        format!("not a well-formed ONNX model: {e}"),
        Location::at(e.at),
    )
}

/// A length-delimited field, or the error that a message field is not one.
fn message<'a>(f: &Field<'a>, what: &str) -> Result<(), Finding> {
    if f.wire == WireType::Len {
        Ok(())
    } else {
        Err(finding(
            Verdict::Inconclusive,
            rule::MALFORMED.id,
            format!(
                "{what} (field {}) is not a length-delimited message",
                f.number
            ),
            Location::at(f.at),
        ))
    }
}

/// One tensor's external-data entry.
#[derive(Debug, Default)]
struct ExternalRef {
    tensor: String,
    location: Option<Vec<u8>>,
    offset: Option<Vec<u8>>,
    length: Option<Vec<u8>>,
    at: usize,
}

/// All tensors that keep their data in one file.
#[derive(Debug)]
struct ExternalFile {
    tensors: u64,
    first_tensor: String,
    at: usize,
    /// The furthest byte any tensor reads, and which tensor, or a value that is not a
    /// number.
    end: u64,
    end_tensor: String,
    bad_number: Option<String>,
}

/// Nodes of one non-standard domain.
#[derive(Debug)]
struct DomainUse {
    nodes: u64,
    first: String,
    at: usize,
}

struct Walk<'l> {
    limits: &'l Limits,
    nodes: u64,
    tensors: u64,
    /// domain → (op type → first use)
    uses: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, DomainUse>>,
    files: BTreeMap<Vec<u8>, ExternalFile>,
    /// `external_data` without a location.
    unnamed: Vec<Finding>,
}

impl Walk<'_> {
    fn limit(&self, what: &str, offset: usize) -> Finding {
        finding(
            Verdict::Inconclusive,
            rule::LIMIT.id,
            format!("{what}: the rest of the model is not checked"),
            Location::at(offset),
        )
    }

    fn graph(&mut self, g: &Field<'_>, depth: usize) -> Result<(), Finding> {
        message(g, "a graph")?;
        if depth > self.limits.max_depth {
            return Err(self.limit(
                &format!("subgraphs nested more than {} deep", self.limits.max_depth),
                g.at,
            ));
        }
        for f in sub(g) {
            let f = f.map_err(malformed)?;
            match f.number {
                1 => self.node(&f, depth)?,
                5 => self.tensor(&f)?,
                15 => self.sparse(&f)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn node(&mut self, n: &Field<'_>, depth: usize) -> Result<(), Finding> {
        message(n, "a node")?;
        self.nodes += 1;
        if self.nodes > self.limits.max_entries {
            return Err(self.limit(
                &format!("more than {} nodes", self.limits.max_entries),
                n.at,
            ));
        }
        let (mut name, mut op, mut domain) = (&[][..], &[][..], &[][..]);
        for f in sub(n) {
            let f = f.map_err(malformed)?;
            match f.number {
                3 => name = f.bytes,
                4 => op = f.bytes,
                7 => domain = f.bytes,
                5 => self.attribute(&f, depth)?,
                _ => {}
            }
        }
        if !is_standard(domain) {
            let by_op = self.uses.entry(domain.to_vec()).or_default();
            if by_op.len() < MAX_FINDINGS || by_op.contains_key(op) {
                by_op
                    .entry(op.to_vec())
                    .or_insert_with(|| DomainUse {
                        nodes: 0,
                        first: show(name),
                        at: n.at,
                    })
                    .nodes += 1;
            }
        }
        Ok(())
    }

    fn attribute(&mut self, a: &Field<'_>, depth: usize) -> Result<(), Finding> {
        message(a, "an attribute")?;
        for f in sub(a) {
            let f = f.map_err(malformed)?;
            match f.number {
                5 | 10 => self.tensor(&f)?,
                6 | 11 => self.graph(&f, depth + 1)?,
                22 | 23 => self.sparse(&f)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn sparse(&mut self, s: &Field<'_>) -> Result<(), Finding> {
        message(s, "a sparse tensor")?;
        for f in sub(s) {
            let f = f.map_err(malformed)?;
            if matches!(f.number, 1 | 2) {
                self.tensor(&f)?;
            }
        }
        Ok(())
    }

    fn tensor(&mut self, t: &Field<'_>) -> Result<(), Finding> {
        message(t, "a tensor")?;
        self.tensors += 1;
        if self.tensors > self.limits.max_entries {
            return Err(self.limit(
                &format!("more than {} tensors", self.limits.max_entries),
                t.at,
            ));
        }
        let mut external = false;
        let mut entry = ExternalRef {
            at: t.at,
            ..ExternalRef::default()
        };
        let mut has_entries = false;
        for f in sub(t) {
            let f = f.map_err(malformed)?;
            match f.number {
                8 => entry.tensor = show(f.bytes),
                14 => external = f.int == 1,
                13 => {
                    message(&f, "an external_data entry")?;
                    has_entries = true;
                    let (mut key, mut value) = (&[][..], None);
                    for kv in sub(&f) {
                        let kv = kv.map_err(malformed)?;
                        match kv.number {
                            1 => key = kv.bytes,
                            2 => value = Some((kv.bytes, kv.at)),
                            _ => {}
                        }
                    }
                    let Some((value, value_at)) = value else {
                        continue;
                    };
                    match key {
                        b"location" => {
                            entry.location = Some(value.to_vec());
                            entry.at = value_at;
                        }
                        b"offset" => entry.offset = Some(value.to_vec()),
                        b"length" => entry.length = Some(value.to_vec()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // A location is checked even when `data_location` is not EXTERNAL: a path out of
        // the folder has no business in a model either way.
        if external || entry.location.is_some() {
            self.external(entry, has_entries)?;
        }
        Ok(())
    }

    fn external(&mut self, entry: ExternalRef, has_entries: bool) -> Result<(), Finding> {
        let Some(location) = entry.location else {
            if self.unnamed.len() < MAX_FINDINGS {
                self.unnamed.push(finding(
                    Verdict::Inconclusive,
                    rule::EXTERNAL_DATA_INVALID.id,
                    format!(
                        "tensor `{}` keeps its data in an external file but names none{}",
                        entry.tensor,
                        if has_entries {
                            ""
                        } else {
                            " (no external_data)"
                        }
                    ),
                    Location::at(entry.at),
                ));
            }
            return Ok(());
        };
        if !self.files.contains_key(&location) && self.files.len() as u64 >= self.limits.max_entries
        {
            return Err(self.limit(
                &format!("more than {} external data files", self.limits.max_entries),
                entry.at,
            ));
        }
        let file = self.files.entry(location).or_insert_with(|| ExternalFile {
            tensors: 0,
            first_tensor: entry.tensor.clone(),
            at: entry.at,
            end: 0,
            end_tensor: String::new(),
            bad_number: None,
        });
        file.tensors += 1;
        let number = |v: &Option<Vec<u8>>| -> Result<u64, String> {
            match v {
                None => Ok(0),
                Some(v) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| show(v)),
            }
        };
        match (number(&entry.offset), number(&entry.length)) {
            (Ok(offset), Ok(length)) => {
                let end = offset.saturating_add(length);
                if end > file.end {
                    file.end = end;
                    file.end_tensor = entry.tensor;
                }
            }
            (Err(v), _) | (_, Err(v)) => {
                if file.bad_number.is_none() {
                    file.bad_number = Some(format!(
                        "tensor `{}` has an offset or length `{v}` that is not a number",
                        entry.tensor
                    ));
                }
            }
        }
        Ok(())
    }
}

fn is_standard(domain: &[u8]) -> bool {
    STANDARD_DOMAINS.iter().any(|d| d.as_bytes() == domain)
}

/// What the top level of a model declares, read before the graph (serializers write the
/// graph before the opset imports and functions).
#[derive(Default)]
struct Header<'a> {
    ir_version: Option<u64>,
    producer: &'a [u8],
    graph: Option<Field<'a>>,
    opsets: Vec<(Vec<u8>, usize)>,
    /// (domain, name) of the model's own functions, and the fields to walk.
    functions: BTreeSet<(Vec<u8>, Vec<u8>)>,
    bodies: Vec<Field<'a>>,
    training: Vec<Field<'a>>,
}

fn header(buf: &[u8]) -> Result<Header<'_>, Finding> {
    let mut h = Header::default();
    for f in Fields::new(buf) {
        let f = f.map_err(malformed)?;
        match f.number {
            1 if f.wire == WireType::Varint => h.ir_version = Some(f.int),
            2 => h.producer = f.bytes,
            7 => {
                message(&f, "the graph")?;
                if h.graph.is_some() {
                    return Err(finding(
                        Verdict::Inconclusive,
                        rule::MALFORMED.id,
                        "two graphs: loaders disagree on which one is the model",
                        Location::at(f.at),
                    ));
                }
                h.graph = Some(f);
            }
            8 => {
                message(&f, "an opset import")?;
                // proto2 writers leave out a field that has its default value, so an
                // entry without a domain imports the default domain `""` (ai.onnx),
                // as `onnx.checker` and onnxruntime read it.
                let mut domain = (Vec::new(), f.at);
                for o in sub(&f) {
                    let o = o.map_err(malformed)?;
                    if o.number == 1 {
                        domain = (o.bytes.to_vec(), o.at);
                    }
                }
                h.opsets.push(domain);
            }
            20 => {
                message(&f, "a training info")?;
                h.training.push(f);
            }
            25 => {
                message(&f, "a function")?;
                let (mut name, mut domain) = (&[][..], &[][..]);
                for g in sub(&f) {
                    let g = g.map_err(malformed)?;
                    match g.number {
                        1 => name = g.bytes,
                        10 => domain = g.bytes,
                        _ => {}
                    }
                }
                h.functions.insert((domain.to_vec(), name.to_vec()));
                h.bodies.push(f);
            }
            _ => {}
        }
    }
    Ok(h)
}

/// Checks an ONNX model of `len` bytes from the reader's start. `folder` is where its
/// external data files are looked for (the model file's folder). Returns the evidence and
/// the external data files the model loads that passed the checks (inside `folder`,
/// regular files), as paths under `folder`.
pub fn scan_files(
    r: &mut dyn ReadSeek,
    len: u64,
    folder: &Path,
    limits: &Limits,
) -> (Vec<Finding>, Vec<PathBuf>) {
    match read_all(r, len, limits, rule::LIMIT.id) {
        Ok(buf) => analyse(&buf, folder, limits),
        Err(e) => (vec![e], Vec::new()),
    }
}

/// `scan_files` of a model held in memory.
pub fn scan_bytes(buf: &[u8], folder: &Path, limits: &Limits) -> Vec<Finding> {
    analyse(buf, folder, limits).0
}

fn analyse(buf: &[u8], folder: &Path, limits: &Limits) -> (Vec<Finding>, Vec<PathBuf>) {
    let mut out = Vec::new();
    let mut listed = Vec::new();
    let mut walk = Walk {
        limits,
        nodes: 0,
        tensors: 0,
        uses: BTreeMap::new(),
        files: BTreeMap::new(),
        unnamed: Vec::new(),
    };
    let result = header(buf).and_then(|h| {
        let Some(graph) = &h.graph else {
            return Err(finding(
                Verdict::Inconclusive,
                rule::MALFORMED.id,
                "no graph: not an ONNX model",
                Location::default(),
            ));
        };
        walk.graph(graph, 0)?;
        if h.opsets.is_empty() {
            return Err(finding(
                Verdict::Inconclusive,
                rule::MALFORMED.id,
                "no operator set imports: loaders refuse the model, and the file may be cut short",
                Location::default(),
            ));
        }
        for body in &h.bodies {
            for f in sub(body) {
                let f = f.map_err(malformed)?;
                match f.number {
                    7 => walk.node(&f, 1)?,
                    11 => walk.attribute(&f, 1)?,
                    _ => {}
                }
            }
        }
        for t in &h.training {
            for f in sub(t) {
                let f = f.map_err(malformed)?;
                if matches!(f.number, 1 | 2) {
                    walk.graph(&f, 1)?;
                }
            }
        }
        Ok(h)
    });
    // What was found before a malformed byte or a limit still counts.
    let header = match result {
        Ok(h) => Some(h),
        Err(e) => {
            out.push(e);
            None
        }
    };
    let functions = header
        .as_ref()
        .map(|h| h.functions.clone())
        .unwrap_or_default();
    let function_domains: BTreeSet<&[u8]> = functions.iter().map(|(d, _)| d.as_slice()).collect();
    custom_domains(&walk, &functions, &mut out);
    if let Some(h) = &header {
        let mut seen = BTreeSet::new();
        for (domain, offset) in &h.opsets {
            if !is_standard(domain)
                && !function_domains.contains(domain.as_slice())
                && !walk.uses.contains_key(domain)
                && seen.insert(domain.clone())
                && seen.len() <= MAX_FINDINGS
            {
                out.push(finding(
                    Verdict::Suspicious,
                    rule::CUSTOM_DOMAIN.id,
                    format!(
                        "imports the operator set `{}`, which is not a standard ONNX or onnxruntime domain: loading needs a custom-op library",
                        show(domain)
                    ),
                    Location::at(*offset),
                ));
            }
        }
    }
    out.append(&mut walk.unnamed);
    for (location, file) in &walk.files {
        listed.extend(external_file(folder, location, file, &mut out));
    }
    // Parsed to the end: said even when something above is wrong.
    if let Some(h) = header {
        let mut opsets: Vec<String> = h
            .opsets
            .iter()
            .map(|(d, _)| {
                if d.is_empty() {
                    "ai.onnx".to_owned()
                } else {
                    show(d)
                }
            })
            .collect();
        opsets.dedup();
        out.push(finding(
            Verdict::Safe,
            rule::VALID.id,
            format!(
                "ONNX IR version {}, producer `{}`: {} nodes, {} tensors, operator sets {}",
                h.ir_version.unwrap_or(0),
                show(h.producer),
                walk.nodes,
                walk.tensors,
                opsets.join(", ")
            ),
            Location::default(),
        ));
    }
    (out, listed)
}

fn custom_domains(
    walk: &Walk<'_>,
    functions: &BTreeSet<(Vec<u8>, Vec<u8>)>,
    out: &mut Vec<Finding>,
) {
    for (domain, ops) in &walk.uses {
        let unknown: Vec<(&Vec<u8>, &DomainUse)> = ops
            .iter()
            .filter(|(op, _)| !functions.contains(&(domain.clone(), (*op).clone())))
            .collect();
        let Some((op, first)) = unknown.first() else {
            continue;
        };
        let nodes: u64 = unknown.iter().map(|(_, u)| u.nodes).sum();
        let others: Vec<String> = unknown.iter().skip(1).map(|(op, _)| show(op)).collect();
        out.push(finding(
            Verdict::Suspicious,
            rule::CUSTOM_DOMAIN.id,
            format!(
                "node `{}` runs `{}` from the operator domain `{}` ({nodes} node{}{}), which is not a standard ONNX or onnxruntime domain: loading needs a custom-op library",
                first.first,
                show(op),
                show(domain),
                if nodes == 1 { "" } else { "s" },
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; also {}", others.join(", "))
                },
            ),
            Location::at(first.at),
        ));
    }
}

/// Checks one external data file on disk and reports it; its path when it is fine.
fn external_file(
    folder: &Path,
    location: &[u8],
    file: &ExternalFile,
    out: &mut Vec<Finding>,
) -> Option<PathBuf> {
    let shown = show(location);
    let place = Location::at(file.at);
    let tensors = if file.tensors == 1 {
        format!("tensor `{}`", file.first_tensor)
    } else {
        format!("{} tensors (`{}`, …)", file.tensors, file.first_tensor)
    };
    let escape = |why: String| {
        finding(
            Verdict::Dangerous,
            rule::EXTERNAL_DATA_ESCAPE.id,
            format!("{tensors}: external data location `{shown}` {why}"),
            place.clone(),
        )
    };
    let Ok(text) = std::str::from_utf8(location) else {
        out.push(finding(
            Verdict::Inconclusive,
            rule::EXTERNAL_DATA_INVALID.id,
            format!("{tensors}: external data location `{shown}` is not UTF-8"),
            place,
        ));
        return None;
    };
    if text.is_empty() {
        out.push(finding(
            Verdict::Inconclusive,
            rule::EXTERNAL_DATA_INVALID.id,
            format!("{tensors}: an empty external data location"),
            place,
        ));
        return None;
    }
    let crate::folder::Resolved { path, meta, link } = match crate::folder::resolve(folder, text) {
        Ok(found) => found,
        Err(Unresolved::Escape(why)) => {
            out.push(escape(why));
            return None;
        }
        Err(Unresolved::Missing(e)) => {
            out.push(finding(
                Verdict::Inconclusive,
                rule::EXTERNAL_DATA_MISSING.id,
                format!("{tensors}: external data file `{shown}` cannot be read ({e}), so what the model loads is unknown"),
                place,
            ));
            return None;
        }
        Err(Unresolved::Folder) => {
            out.push(finding(
                Verdict::Inconclusive,
                rule::EXTERNAL_DATA_INVALID.id,
                format!("{tensors}: external data location `{shown}` is a folder"),
                place,
            ));
            return None;
        }
    };
    if let Some(link) = link {
        out.push(finding(
            Verdict::Suspicious,
            rule::EXTERNAL_DATA_LINK.id,
            format!("{tensors}: external data location `{shown}` {link}: a folder scan does not follow links, so the file is checked where the link points"),
            place.clone(),
        ));
    }
    if let Some(bad) = &file.bad_number {
        out.push(finding(
            Verdict::Suspicious,
            rule::EXTERNAL_DATA_RANGE.id,
            format!("`{shown}`: {bad}"),
            place,
        ));
        return None;
    }
    if file.end > meta.len() {
        out.push(finding(
            Verdict::Suspicious,
            rule::EXTERNAL_DATA_RANGE.id,
            format!(
                "tensor `{}` reads `{shown}` up to byte {}, past its end ({} bytes)",
                file.end_tensor,
                file.end,
                meta.len()
            ),
            place,
        ));
        return None;
    }
    out.push(finding(
        Verdict::Safe,
        rule::EXTERNAL_DATA.id,
        format!(
            "{tensors}: data in `{shown}` ({} bytes), inside the model's folder",
            meta.len()
        ),
        place,
    ));
    Some(path)
}

#[cfg(test)]
mod tests;
