//! TensorFlow SavedModel: `saved_model.pb` is a `SavedModel` protobuf
//! (tensorflow/core/protobuf/saved_model.proto): meta graphs, each a `GraphDef` of
//! operations plus a library of functions (TF2 keeps the model's code there). Loading and
//! serving run those operations, and a few TensorFlow operations reach outside the tensor
//! world:
//!
//! - **Python** (`PyFunc`, `PyFuncStateless`, `EagerPyFunc`): `tf.py_function` and
//!   `tf.numpy_function` call back into Python: dangerous (`savedmodel.python_op`).
//! - **Writing files** (`WriteFile`, summary writers, dataset savers, `PrintV2` to a
//!   `file://` stream): dangerous (`savedmodel.file_write`).
//! - **The network** (the RPC ops, tf.data service, debugger ops that send to
//!   `grpc://` URLs, GCS credential ops): dangerous (`savedmodel.network_op`).
//! - **Reading files** (`ReadFile`, `MatchingFiles`, the file readers and file datasets):
//!   an exported image model may legitimately take a file name as input and read it, so
//!   these are suspicious (`savedmodel.file_read`), and dangerous only when the path is a
//!   constant in the model (it reads a file of the author's choosing, e.g. a key, into
//!   what the model outputs). `ImmutableConst` maps the file named in its attribute: dangerous.
//!
//! Every SavedModel with variables has a saver: `SaveV2`, `MergeV2Checkpoints` and
//! `RestoreV2` reading and writing its own `variables/` checkpoint. These are allowed
//! where TensorFlow puts them, found by structure rather than by name: the nodes the
//! `SaverDef` names and what they depend on (TF1's `save/` scope), and the functions those
//! nodes call (TF2's `__inference__traced_save_*`), as long as nothing outside the saver
//! depends on or calls them and the object graph does not expose them as callable. Writes
//! are allowed only on the save side (the restore op runs when the model loads). Anywhere
//! else a checkpoint write is dangerous and a checkpoint read suspicious.
//!
//! There is no allowlist of operations: TensorFlow has well over a thousand, custom ones
//! cannot load without their library, and an unknown op is not a reason for alarm by
//! itself. `InitializeTableFromTextFile` reads vocabulary files from `assets/` in ordinary
//! text models and is not reported.
//!
//! The files under `assets/` that the meta graph names (`asset_file_def`) are data the
//! graph reads (vocabularies); a name that leads out of the SavedModel's folder is
//! dangerous (`savedmodel/assets.rs`).
//!
//! The folder's other protobufs are checked by name: `keras_metadata.pb` (Keras layer
//! configs: a `Lambda` layer is marshalled Python bytecode, dangerous) and
//! `fingerprint.pb` (hashes). `saved_model.pbtxt` (the text form) is not parsed: its op
//! names are looked at and it is inconclusive.

mod assets;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::onnx::{read_all, show};
use crate::proto::{Field, Fields, WireError, WireType, sub};
use crate::scan::{ReadSeek, finding};
use crate::{Finding, Format, Limits, Location, Verdict};

crate::rules::declare! {
    VALID = "savedmodel.valid":
        "A SavedModel graph parsed to its end.";
    MALFORMED = "savedmodel.malformed":
        "A file that is not a well-formed SavedModel.";
    LIMIT = "savedmodel.limit":
        "A SavedModel past a scan limit: the rest is not checked.";
    TEXT = "savedmodel.text":
        "A SavedModel in protobuf text form: only its op names are looked at, so it is never reported clean.";
    PYTHON_OP = "savedmodel.python_op":
        "A TensorFlow operation that calls back into Python.";
    FILE_WRITE = "savedmodel.file_write":
        "A TensorFlow operation that writes files outside the model's saver.";
    FILE_READ = "savedmodel.file_read":
        "A TensorFlow operation that reads or maps files outside the model's saver.";
    NETWORK_OP = "savedmodel.network_op":
        "A TensorFlow operation that talks to the network.";
    KERAS_LAMBDA = "savedmodel.keras_lambda":
        "A Keras Lambda layer in a SavedModel: Python bytecode that runs when the model is loaded.";
    KERAS_METADATA = "savedmodel.keras_metadata":
        "A SavedModel's Keras metadata, with no code in it.";
    FINGERPRINT = "savedmodel.fingerprint":
        "A SavedModel fingerprint (hashes only).";
    ASSET = "savedmodel.asset":
        "The files in a SavedModel's `assets/` that its graph reads as data (vocabularies).";
    ASSET_FILE = "savedmodel.asset_file":
        "A SavedModel asset scanned beside the graph: data, never run.";
    ASSET_MISSING = "savedmodel.asset_missing":
        "A SavedModel asset that is missing or cannot be read.";
    ASSET_LINK = "savedmodel.asset_link":
        "A SavedModel asset reached through a symbolic link that stays inside the folder.";
    ASSET_ESCAPE = "savedmodel.asset_escape":
        "A SavedModel asset whose path leaves the model's folder: loading reads that file into the graph.";
}

/// Findings of one rule kept in full before the rest are only counted.
const MAX_FINDINGS: usize = 64;

/// What an operation does outside the tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Python,
    Write,
    Network,
    /// Reads a path given as its first input (or from a queue).
    Read,
    /// Maps a file named in an attribute.
    MapFile,
    CheckpointWrite,
    CheckpointRead,
    /// `PrintV2`: only with a `file://` output stream.
    Print,
}

fn class(op: &[u8]) -> Option<Class> {
    use Class::*;
    let op = std::str::from_utf8(op).ok()?;
    Some(match op {
        "PyFunc" | "PyFuncStateless" | "EagerPyFunc" => Python,
        "WriteFile"
        | "SaveDataset"
        | "SaveDatasetV2"
        | "DatasetToTFRecord"
        | "ExperimentalDatasetToTFRecord"
        | "SnapshotDataset"
        | "SnapshotDatasetV2"
        | "CreateSummaryFileWriter"
        | "CreateSummaryDbWriter"
        | "WriteSummary"
        | "WriteScalarSummary"
        | "WriteHistogramSummary"
        | "WriteImageSummary"
        | "WriteAudioSummary"
        | "WriteGraphSummary"
        | "WriteRawProtoSummary"
        | "ImportEvent"
        | "DebugIdentityV2"
        | "DebugIdentityV3" => Write,
        "RpcClient"
        | "RpcServer"
        | "RpcServerStart"
        | "RpcServerRegister"
        | "RpcCall"
        | "DataServiceDataset"
        | "DataServiceDatasetV2"
        | "DataServiceDatasetV3"
        | "DataServiceDatasetV4"
        | "RegisterDataset"
        | "RegisterDatasetV2"
        | "DebugIdentity"
        | "DebugNanCount"
        | "DebugNumericSummary"
        | "DebugNumericSummaryV2"
        | "GcsConfigureCredentials"
        | "GcsConfigureBlockCache" => Network,
        "ReadFile"
        | "MatchingFiles"
        | "WholeFileReader"
        | "WholeFileReaderV2"
        | "TextLineReader"
        | "TextLineReaderV2"
        | "FixedLengthRecordReader"
        | "FixedLengthRecordReaderV2"
        | "TFRecordReader"
        | "TFRecordReaderV2"
        | "LMDBReader"
        | "TFRecordDataset"
        | "TFRecordDatasetV2"
        | "TextLineDataset"
        | "FixedLengthRecordDataset"
        | "FixedLengthRecordDatasetV2"
        | "CSVDataset"
        | "CSVDatasetV2"
        | "ExperimentalCSVDataset"
        | "LMDBDataset"
        | "ExperimentalLMDBDataset"
        | "SqlDataset"
        | "ExperimentalSqlDataset"
        | "LoadDataset" => Read,
        "ImmutableConst" => MapFile,
        "SaveV2" | "Save" | "SaveSlices" | "MergeV2Checkpoints" => CheckpointWrite,
        "RestoreV2" | "Restore" | "RestoreSlice" => CheckpointRead,
        "PrintV2" => Print,
        _ => return None,
    })
}

fn malformed(e: WireError) -> Finding {
    finding(
        Verdict::Inconclusive,
        rule::MALFORMED.id,
        format!("not a well-formed SavedModel: {e}"),
        Location::at(e.at),
    )
}

fn message(f: &Field<'_>, what: &str) -> Result<(), Finding> {
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

/// `name`, `^name`, `name:0`, `name:output:0` → `name`.
fn node_of(input: &[u8]) -> &[u8] {
    let input = input.strip_prefix(b"^").unwrap_or(input);
    input.split(|&b| b == b':').next().unwrap_or_default()
}

#[derive(Debug, Default)]
struct Node<'a> {
    name: &'a [u8],
    op: &'a [u8],
    inputs: Vec<&'a [u8]>,
    /// Functions named in attributes (`f`, `then_branch`, `body`, …).
    calls: Vec<&'a [u8]>,
    /// A string attribute worth quoting: `PrintV2`'s `output_stream`, `ImmutableConst`'s
    /// `memory_region_name`.
    attr_text: Option<&'a [u8]>,
    at: usize,
}

#[derive(Debug, Default)]
struct Function<'a> {
    name: &'a [u8],
    nodes: Vec<Node<'a>>,
}

#[derive(Debug, Default)]
struct Meta<'a> {
    nodes: Vec<Node<'a>>,
    functions: Vec<Function<'a>>,
    save: Option<&'a [u8]>,
    restore: Option<&'a [u8]>,
    /// Functions the object graph makes callable from Python.
    exposed: HashSet<&'a [u8]>,
    /// The asset file names (`AssetFileDef.filename`) and where they are.
    assets: Vec<(&'a [u8], usize)>,
    gradients: Vec<&'a [u8]>,
}

struct Reader<'l> {
    limits: &'l Limits,
    nodes: u64,
    items: u64,
}

impl<'l> Reader<'l> {
    fn limit(&self, what: String, offset: usize) -> Finding {
        finding(
            Verdict::Inconclusive,
            rule::LIMIT.id,
            format!("{what}: the rest of the model is not checked"),
            Location::at(offset),
        )
    }

    fn item(&mut self, offset: usize) -> Result<(), Finding> {
        self.items += 1;
        if self.items > self.limits.max_array_elements {
            return Err(self.limit(
                format!(
                    "more than {} node inputs and attributes",
                    self.limits.max_array_elements
                ),
                offset,
            ));
        }
        Ok(())
    }

    fn meta<'a>(&mut self, m: &Field<'a>) -> Result<Meta<'a>, Finding> {
        message(m, "a meta graph")?;
        let mut meta = Meta::default();
        for f in sub(m) {
            let f = f.map_err(malformed)?;
            match f.number {
                2 => {
                    message(&f, "the graph")?;
                    for g in sub(&f) {
                        let g = g.map_err(malformed)?;
                        match g.number {
                            1 => {
                                let node = self.node(&g)?;
                                meta.nodes.push(node);
                            }
                            2 => self.library(&g, &mut meta)?,
                            _ => {}
                        }
                    }
                }
                3 => {
                    message(&f, "the saver")?;
                    for s in sub(&f) {
                        let s = s.map_err(malformed)?;
                        match s.number {
                            2 => meta.save = Some(node_of(s.bytes)),
                            3 => meta.restore = Some(node_of(s.bytes)),
                            _ => {}
                        }
                    }
                }
                // asset_file_def: AssetFileDef { tensor_info = 1, filename = 2 }
                6 => {
                    message(&f, "an asset file")?;
                    for a in sub(&f) {
                        let a = a.map_err(malformed)?;
                        if a.number == 2 {
                            self.item(a.at)?;
                            meta.assets.push((a.bytes, a.at));
                        }
                    }
                }
                7 => self.object_graph(&f, &mut meta)?,
                _ => {}
            }
        }
        Ok(meta)
    }

    fn library<'a>(&mut self, l: &Field<'a>, meta: &mut Meta<'a>) -> Result<(), Finding> {
        message(l, "the function library")?;
        for f in sub(l) {
            let f = f.map_err(malformed)?;
            match f.number {
                1 => {
                    message(&f, "a function")?;
                    let mut function = Function::default();
                    for g in sub(&f) {
                        let g = g.map_err(malformed)?;
                        match g.number {
                            1 => {
                                message(&g, "a function signature")?;
                                for s in sub(&g) {
                                    let s = s.map_err(malformed)?;
                                    if s.number == 1 {
                                        function.name = s.bytes;
                                    }
                                }
                            }
                            3 => {
                                let node = self.node(&g)?;
                                function.nodes.push(node);
                            }
                            _ => {}
                        }
                    }
                    self.count_node(f.at)?;
                    meta.functions.push(function);
                }
                2 => {
                    message(&f, "a gradient")?;
                    for g in sub(&f) {
                        let g = g.map_err(malformed)?;
                        if g.number == 2 {
                            self.item(g.at)?;
                            meta.gradients.push(g.bytes);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn object_graph<'a>(&mut self, o: &Field<'a>, meta: &mut Meta<'a>) -> Result<(), Finding> {
        message(o, "the object graph")?;
        for f in sub(o) {
            let f = f.map_err(malformed)?;
            match f.number {
                // concrete_functions: map<string, SavedConcreteFunction>
                2 => {
                    message(&f, "a concrete function")?;
                    for kv in sub(&f) {
                        let kv = kv.map_err(malformed)?;
                        if kv.number == 1 {
                            self.item(kv.at)?;
                            meta.exposed.insert(kv.bytes);
                        }
                    }
                }
                // nodes: SavedFunction (6) and SavedBareConcreteFunction (8) name functions
                1 => {
                    message(&f, "a saved object")?;
                    for kind in sub(&f) {
                        let kind = kind.map_err(malformed)?;
                        if matches!(kind.number, 6 | 8) {
                            message(&kind, "a saved function")?;
                            for name in sub(&kind) {
                                let name = name.map_err(malformed)?;
                                if name.number == 1 {
                                    self.item(name.at)?;
                                    meta.exposed.insert(name.bytes);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn count_node(&mut self, offset: usize) -> Result<(), Finding> {
        self.nodes += 1;
        if self.nodes > self.limits.max_entries {
            return Err(self.limit(
                format!("more than {} nodes and functions", self.limits.max_entries),
                offset,
            ));
        }
        Ok(())
    }

    fn node<'a>(&mut self, n: &Field<'a>) -> Result<Node<'a>, Finding> {
        message(n, "a node")?;
        self.count_node(n.at)?;
        let mut node = Node {
            at: n.at,
            ..Node::default()
        };
        for f in sub(n) {
            let f = f.map_err(malformed)?;
            match f.number {
                1 => node.name = f.bytes,
                2 => node.op = f.bytes,
                3 => {
                    self.item(f.at)?;
                    node.inputs.push(f.bytes);
                }
                5 => {
                    message(&f, "an attribute")?;
                    let (mut key, mut value) = (&[][..], None);
                    for kv in sub(&f) {
                        let kv = kv.map_err(malformed)?;
                        match kv.number {
                            1 => key = kv.bytes,
                            2 => value = Some(kv),
                            _ => {}
                        }
                    }
                    if let Some(value) = value {
                        self.attr(&value, key, &mut node, 0)?;
                    }
                }
                _ => {}
            }
        }
        Ok(node)
    }

    /// An `AttrValue`: the functions it names (directly, in a list, or in a function's
    /// own attributes), and the strings worth quoting.
    fn attr<'a>(
        &mut self,
        v: &Field<'a>,
        key: &[u8],
        node: &mut Node<'a>,
        depth: usize,
    ) -> Result<(), Finding> {
        message(v, "an attribute value")?;
        if depth > self.limits.max_depth {
            return Err(self.limit(
                format!(
                    "function attributes nested more than {} deep",
                    self.limits.max_depth
                ),
                v.at,
            ));
        }
        for f in sub(v) {
            let f = f.map_err(malformed)?;
            self.item(f.at)?;
            match f.number {
                2 if matches!(key, b"output_stream" | b"memory_region_name") => {
                    node.attr_text = Some(f.bytes);
                }
                10 => self.func(&f, node, depth)?,
                1 => {
                    message(&f, "an attribute list")?;
                    for l in sub(&f) {
                        let l = l.map_err(malformed)?;
                        if l.number == 9 {
                            self.func(&l, node, depth)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A `NameAttrList`: a function's name and its attributes.
    fn func<'a>(
        &mut self,
        f: &Field<'a>,
        node: &mut Node<'a>,
        depth: usize,
    ) -> Result<(), Finding> {
        message(f, "a function reference")?;
        for g in sub(f) {
            let g = g.map_err(malformed)?;
            match g.number {
                1 => node.calls.push(g.bytes),
                2 => {
                    message(&g, "a function attribute")?;
                    for kv in sub(&g) {
                        let kv = kv.map_err(malformed)?;
                        if kv.number == 2 {
                            self.attr(&kv, b"", node, depth + 1)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Marks everything reachable from `seeds` along `edges`.
fn reach(count: usize, seeds: impl IntoIterator<Item = usize>, edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; count];
    let mut queue: VecDeque<usize> = seeds.into_iter().collect();
    while let Some(i) = queue.pop_front() {
        let Some(slot) = seen.get_mut(i) else {
            continue;
        };
        if *slot {
            continue;
        }
        *slot = true;
        if let Some(next) = edges.get(i) {
            queue.extend(next.iter().copied());
        }
    }
    seen
}

/// What the saver may do in one place.
#[derive(Debug, Clone, Copy, Default)]
struct Allowed {
    write: bool,
    read: bool,
}

/// Which top-level nodes and functions belong to the saver (see the module doc).
fn saver_roles(meta: &Meta<'_>) -> (Vec<Allowed>, Vec<Allowed>) {
    let n = meta.nodes.len();
    let index: HashMap<&[u8], usize> = meta
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.name, i))
        .collect();
    // edges from a node to the nodes it depends on
    let deps: Vec<Vec<usize>> = meta
        .nodes
        .iter()
        .map(|node| {
            node.inputs
                .iter()
                .filter_map(|i| index.get(node_of(i)).copied())
                .collect()
        })
        .collect();
    let root = |name: Option<&[u8]>| name.and_then(|n| index.get(n).copied());
    let save = reach(n, root(meta.save), &deps);
    let restore = reach(n, root(meta.restore), &deps);
    let others = (0..n).filter(|&i| {
        !save.get(i).copied().unwrap_or(false) && !restore.get(i).copied().unwrap_or(false)
    });
    let other = reach(n, others, &deps);
    let get = |v: &Vec<bool>, i: usize| v.get(i).copied().unwrap_or(false);
    let nodes: Vec<Allowed> = (0..n)
        .map(|i| Allowed {
            write: get(&save, i) && !get(&restore, i) && !get(&other, i),
            read: (get(&save, i) || get(&restore, i)) && !get(&other, i),
        })
        .collect();

    let f = meta.functions.len();
    let findex: HashMap<&[u8], usize> = meta
        .functions
        .iter()
        .enumerate()
        .map(|(i, func)| (func.name, i))
        .collect();
    let callees = |node: &Node<'_>| -> Vec<usize> {
        node.calls
            .iter()
            .chain(std::iter::once(&node.op))
            .filter_map(|c| findex.get(c).copied())
            .collect()
    };
    let calls: Vec<Vec<usize>> = meta
        .functions
        .iter()
        .map(|func| func.nodes.iter().flat_map(callees).collect())
        .collect();
    let mut called = vec![false; f];
    for i in calls.iter().flatten().chain(
        meta.nodes
            .iter()
            .flat_map(callees)
            .collect::<Vec<_>>()
            .iter(),
    ) {
        if let Some(c) = called.get_mut(*i) {
            *c = true;
        }
    }
    let mut seeds = [Vec::new(), Vec::new(), Vec::new()];
    for (node, allowed) in meta.nodes.iter().zip(&nodes) {
        let class = if allowed.write {
            0
        } else if allowed.read {
            1
        } else {
            2
        };
        if let Some(s) = seeds.get_mut(class) {
            s.extend(callees(node));
        }
    }
    // Functions Python can call, gradients, and functions nothing calls are outside the
    // saver.
    let [save_seeds, restore_seeds, mut other_seeds] = seeds;
    other_seeds.extend(
        meta.exposed
            .iter()
            .chain(&meta.gradients)
            .filter_map(|name| findex.get(name).copied()),
    );
    other_seeds.extend((0..f).filter(|&i| !called.get(i).copied().unwrap_or(false)));
    let save = reach(f, save_seeds, &calls);
    let restore = reach(f, restore_seeds, &calls);
    let other = reach(f, other_seeds, &calls);
    let functions = (0..f)
        .map(|i| Allowed {
            write: get(&save, i) && !get(&restore, i) && !get(&other, i),
            read: (get(&save, i) || get(&restore, i)) && !get(&other, i),
        })
        .collect();
    (nodes, functions)
}

/// Collects findings, keeping the first [`MAX_FINDINGS`] of each rule in full.
#[derive(Default)]
struct Findings {
    out: Vec<Finding>,
    counts: HashMap<&'static str, (u64, Verdict)>,
    saver_ops: u64,
}

impl Findings {
    fn add(&mut self, verdict: Verdict, rule: &'static str, message: String, offset: usize) {
        let (count, worst) = self.counts.entry(rule).or_insert((0, verdict));
        *count += 1;
        *worst = (*worst).max(verdict);
        if *count <= MAX_FINDINGS as u64 {
            self.out
                .push(finding(verdict, rule, message, Location::at(offset)));
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        let mut extra: Vec<_> = self
            .counts
            .iter()
            .filter(|(_, (n, _))| *n > MAX_FINDINGS as u64)
            .map(|(rule, (n, worst))| {
                finding(
                    *worst,
                    rule,
                    format!("{} more like these", n - MAX_FINDINGS as u64),
                    Location::default(),
                )
            })
            .collect();
        extra.sort_by(|a, b| a.rule.cmp(&b.rule));
        self.out.append(&mut extra);
        self.out
    }
}

fn check_node(
    node: &Node<'_>,
    scope: &str,
    allowed: Allowed,
    consts: &HashSet<&[u8]>,
    found: &mut Findings,
) {
    let Some(class) = class(node.op) else {
        return;
    };
    let what = format!("node `{}` ({}) in {scope}", show(node.name), show(node.op));
    let quoted = node.attr_text.map(show).unwrap_or_default();
    match class {
        Class::Python => found.add(
            Verdict::Dangerous,
            rule::PYTHON_OP.id,
            format!("{what} calls back into Python (tf.py_function / tf.numpy_function)"),
            node.at,
        ),
        Class::Write => found.add(
            Verdict::Dangerous,
            rule::FILE_WRITE.id,
            format!("{what} writes files"),
            node.at,
        ),
        Class::Network => found.add(
            Verdict::Dangerous,
            rule::NETWORK_OP.id,
            format!("{what} talks to the network (or to a debugger URL)"),
            node.at,
        ),
        Class::MapFile => found.add(
            Verdict::Dangerous,
            rule::FILE_READ.id,
            format!("{what} maps the file `{quoted}` into a tensor"),
            node.at,
        ),
        Class::Read => {
            let constant = node
                .inputs
                .first()
                .is_some_and(|i| consts.contains(node_of(i)));
            if constant {
                found.add(
                    Verdict::Dangerous,
                    rule::FILE_READ.id,
                    format!("{what} reads a file whose path is a constant in the model"),
                    node.at,
                );
            } else {
                found.add(
                    Verdict::Suspicious,
                    rule::FILE_READ.id,
                    format!("{what} reads files named by its input"),
                    node.at,
                );
            }
        }
        Class::CheckpointWrite if allowed.write => found.saver_ops += 1,
        Class::CheckpointRead if allowed.read => found.saver_ops += 1,
        Class::CheckpointWrite => found.add(
            Verdict::Dangerous,
            rule::FILE_WRITE.id,
            format!("{what} writes a checkpoint outside the model's saver"),
            node.at,
        ),
        Class::CheckpointRead => found.add(
            Verdict::Suspicious,
            rule::FILE_READ.id,
            format!("{what} reads a checkpoint outside the model's saver"),
            node.at,
        ),
        Class::Print => {
            if node
                .attr_text
                .is_some_and(|s| s.to_ascii_lowercase().starts_with(b"file://"))
            {
                found.add(
                    Verdict::Dangerous,
                    rule::FILE_WRITE.id,
                    format!("{what} prints to the file `{quoted}`"),
                    node.at,
                );
            }
        }
    }
}

fn check_nodes(nodes: &[Node<'_>], scope: &str, allowed: &[Allowed], found: &mut Findings) {
    let consts: HashSet<&[u8]> = nodes
        .iter()
        .filter(|n| n.op == b"Const")
        .map(|n| n.name)
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        let allowed = allowed.get(i).copied().unwrap_or_default();
        check_node(node, scope, allowed, &consts, found);
    }
}

/// Checks a file of a SavedModel folder (`path` names it): returns the kind of file it
/// is and the evidence.
#[cfg(test)]
pub fn scan(
    r: &mut dyn ReadSeek,
    len: u64,
    path: &Path,
    limits: &Limits,
) -> (Format, Vec<Finding>) {
    let (kind, found, _) = scan_files(r, len, path, limits);
    (kind, found)
}

/// What `scan` says, and the asset files the graph reads that passed the checks (inside the
/// SavedModel's folder, regular files).
pub fn scan_files(
    r: &mut dyn ReadSeek,
    len: u64,
    path: &Path,
    limits: &Limits,
) -> (Format, Vec<Finding>, Vec<PathBuf>) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind = match name {
        "keras_metadata.pb" => Format::KerasMetadata,
        "fingerprint.pb" => Format::TensorflowFingerprint,
        _ => Format::TensorflowSavedmodel,
    };
    let buf = match read_all(r, len, limits, rule::LIMIT.id) {
        Ok(buf) => buf,
        Err(e) => return (kind, vec![e], Vec::new()),
    };
    let mut files = Vec::new();
    let found = match name {
        "keras_metadata.pb" => keras_metadata(&buf),
        "fingerprint.pb" => fingerprint(&buf),
        "saved_model.pbtxt" => text_format(&buf),
        _ => {
            let (mut found, names) = analyse(&buf, limits);
            // Asset paths are relative to the SavedModel's folder.
            let folder = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            files = assets::check(folder, &names, limits, &mut found);
            found
        }
    };
    (kind, found, files)
}

/// `scan_files` of a `saved_model.pb` held in memory (its assets are not looked for).
pub fn scan_bytes(buf: &[u8], limits: &Limits) -> Vec<Finding> {
    analyse(buf, limits).0
}

/// The evidence on a `saved_model.pb`, and the asset file names its meta graphs list.
fn analyse<'a>(buf: &'a [u8], limits: &Limits) -> (Vec<Finding>, Vec<(&'a [u8], usize)>) {
    let mut reader = Reader {
        limits,
        nodes: 0,
        items: 0,
    };
    let mut metas = Vec::new();
    let mut version = None;
    let mut error = None;
    for f in Fields::new(buf) {
        let result = f.map_err(malformed).and_then(|f| match f.number {
            1 if f.wire == WireType::Varint => {
                version = Some(f.int);
                Ok(())
            }
            2 => reader.meta(&f).map(|m| metas.push(m)),
            _ => Ok(()),
        });
        if let Err(e) = result {
            error = Some(e);
            break;
        }
    }
    if error.is_none() && metas.is_empty() {
        error = Some(finding(
            Verdict::Inconclusive,
            rule::MALFORMED.id,
            "no meta graph: not a SavedModel",
            Location::default(),
        ));
    }
    // What was read before a malformed byte or a limit is still checked.
    let mut found = Findings::default();
    let mut nodes = 0;
    let mut functions = 0;
    for (m, meta) in metas.iter().enumerate() {
        let (top, funcs) = saver_roles(meta);
        let graph = if metas.len() == 1 {
            "the graph".to_owned()
        } else {
            format!("the graph of meta graph {m}")
        };
        check_nodes(&meta.nodes, &graph, &top, &mut found);
        nodes += meta.nodes.len();
        functions += meta.functions.len();
        for (func, allowed) in meta.functions.iter().zip(funcs) {
            let scope = format!("function `{}`", show(func.name));
            let allowed = vec![allowed; func.nodes.len()];
            check_nodes(&func.nodes, &scope, &allowed, &mut found);
            nodes += func.nodes.len();
        }
    }
    let saver_ops = found.saver_ops;
    let mut out = found.finish();
    let assets = metas
        .iter()
        .flat_map(|m| m.assets.iter().copied())
        .collect();
    match error {
        Some(e) => out.push(e),
        None => out.push(finding(
            Verdict::Safe,
            rule::VALID.id,
            format!(
                "SavedModel (schema version {}): {} meta graph{}, {nodes} nodes, {functions} functions; {saver_ops} checkpoint ops in the model's own saver",
                version.unwrap_or(0),
                metas.len(),
                if metas.len() == 1 { "" } else { "s" },
            ),
            Location::default(),
        )),
    }
    (out, assets)
}

/// `saved_model.pbtxt`: not parsed, but an op known to be dangerous is reported.
fn text_format(buf: &[u8]) -> Vec<Finding> {
    let mut found = Findings::default();
    let mut offset = 0;
    for line in buf.split(|&b| b == b'\n') {
        let trimmed = line.trim_ascii();
        if let Some(rest) = trimmed.strip_prefix(b"op") {
            let rest = rest.trim_ascii();
            if let Some(value) = rest.strip_prefix(b":") {
                let op = value.trim_ascii().trim_ascii_end();
                let op = op
                    .strip_prefix(b"\"")
                    .or_else(|| op.strip_prefix(b"'"))
                    .unwrap_or(op);
                let op = op
                    .strip_suffix(b"\"")
                    .or_else(|| op.strip_suffix(b"'"))
                    .unwrap_or(op);
                let (verdict, rule) = match class(op) {
                    Some(Class::Python) => (Verdict::Dangerous, rule::PYTHON_OP.id),
                    Some(Class::Write) => (Verdict::Dangerous, rule::FILE_WRITE.id),
                    Some(Class::Network) => (Verdict::Dangerous, rule::NETWORK_OP.id),
                    Some(Class::MapFile) => (Verdict::Dangerous, rule::FILE_READ.id),
                    _ => (Verdict::Safe, ""),
                };
                if verdict == Verdict::Dangerous {
                    found.add(verdict, rule, format!("an op `{}`", show(op)), offset);
                }
            }
        }
        offset += line.len() + 1;
    }
    let mut out = found.finish();
    out.push(finding(
        Verdict::Inconclusive,
        rule::TEXT.id,
        "a SavedModel in protobuf text form: only its op names are looked at, so it is not reported clean",
        Location::default(),
    ));
    out
}

/// `keras_metadata.pb`: `SavedMetadata` { nodes = 1: `SavedObject` { node_path = 3,
/// identifier = 4, metadata = 5 (the layer's JSON config) } }.
fn keras_metadata(buf: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut layers = 0u64;
    let walk = |out: &mut Vec<Finding>, layers: &mut u64| -> Result<(), Finding> {
        for f in Fields::new(buf) {
            let f = f.map_err(malformed)?;
            if f.number != 1 {
                continue;
            }
            message(&f, "a Keras object")?;
            *layers += 1;
            let (mut path, mut meta) = (&[][..], None);
            for g in sub(&f) {
                let g = g.map_err(malformed)?;
                match g.number {
                    3 => path = g.bytes,
                    5 => meta = Some(g),
                    _ => {}
                }
            }
            let Some(meta) = meta else { continue };
            let text = String::from_utf8_lossy(meta.bytes);
            if (text.contains("\"Lambda\"") || text.contains("__lambda__"))
                && out.len() < MAX_FINDINGS
            {
                out.push(finding(
                    Verdict::Dangerous,
                    rule::KERAS_LAMBDA.id,
                    format!(
                        "`{}` is a Lambda layer: Python bytecode that runs when Keras loads the model",
                        show(path)
                    ),
                    Location::at(meta.at),
                ));
            }
        }
        Ok(())
    };
    if let Err(e) = walk(&mut out, &mut layers) {
        out.push(e);
    } else {
        out.push(finding(
            Verdict::Safe,
            rule::KERAS_METADATA.id,
            format!("Keras metadata of {layers} objects"),
            Location::default(),
        ));
    }
    out
}

/// `fingerprint.pb`: hashes of the SavedModel's parts (fields 1 to 5, numbers).
fn fingerprint(buf: &[u8]) -> Vec<Finding> {
    for f in Fields::new(buf) {
        match f {
            Err(e) => return vec![malformed(e)],
            Ok(f) if (1..=5).contains(&f.number) && f.wire != WireType::Varint => {
                return vec![finding(
                    Verdict::Inconclusive,
                    rule::MALFORMED.id,
                    format!("fingerprint field {} is not a number", f.number),
                    Location::at(f.at),
                )];
            }
            Ok(_) => {}
        }
    }
    vec![finding(
        Verdict::Safe,
        rule::FINGERPRINT.id,
        "a SavedModel fingerprint (hashes only)",
        Location::default(),
    )]
}

#[cfg(test)]
mod tests;
