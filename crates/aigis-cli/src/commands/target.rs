//! The model a validation command asks about rows (`aigis explain`, `aigis redteam`):
//! one numeric output of shape `[N, k]` read back, from a model that is
//! - an ONNX file run in process (`model.onnx`);
//! - a version of the project's registry (`NAME@VERSION`, or `NAME@STAGE` for the version
//!   the gate put at a stage), its bytes checked against their registered digest;
//! - a model behind an Open Inference Protocol (KServe v2) server, the aigis gateway
//!   included (`https://host/v2/models/NAME`), asked over HTTP with a bearer token: what
//!   is deployed, as its callers see it. Only its answers are known: no graph, so
//!   gradients are estimated.
//!
//! Every row asked of the model is counted, and `--query-budget` bounds them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aigis_core::Digest;
use aigis_runtime::grad::Graph;
use aigis_runtime::rows::RowModel;
use aigis_runtime::{NamedTensor, OnnxRuntime, Runtime, Signature};
use anyhow::{Context as _, Result};

use crate::cli::TargetArgs;
use crate::context;

/// The largest model file read.
pub(crate) const MAX_MODEL_BYTES: u64 = 4 << 30;

/// Where the model is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    File(PathBuf),
    /// A registry version (`stage` when it was named by its stage) and its file.
    Registry {
        name: String,
        version: u32,
        stage: Option<String>,
        file: String,
    },
    /// An Open Inference Protocol model's URL.
    Remote(String),
}

/// A runtime whose queries (rows asked) are counted and bounded.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Runtime>,
    asked: AtomicU64,
    budget: Option<u64>,
    /// A call was refused for the budget.
    refused: AtomicBool,
}

impl Runtime for Counted {
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn remote(&self) -> bool {
        self.inner.remote()
    }

    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, aigis_runtime::Error> {
        let rows = inputs
            .first()
            .and_then(|t| t.tensor.shape().first().copied())
            .unwrap_or(1) as u64;
        let budget = self.budget;
        let counted = self
            .asked
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |asked| {
                let after = asked.saturating_add(rows);
                budget.is_none_or(|b| after <= b).then_some(after)
            });
        if counted.is_err() {
            self.refused.store(true, Ordering::SeqCst);
            return Err(aigis_runtime::Error::Unavailable(format!(
                "the query budget of {} rows is spent",
                budget.unwrap_or_default()
            )));
        }
        self.inner.run(inputs)
    }
}

/// The model, the output read, and how wide it is.
pub(crate) struct Target {
    pub(crate) model: RowModel,
    /// The model file's bytes (for its graph); `None` for a remote model.
    pub(crate) bytes: Option<Vec<u8>>,
    /// What the model is called in reports and evidence: the path, `NAME@VERSION`, or
    /// the URL.
    pub(crate) name: String,
    pub(crate) place: Place,
    /// The model file's SHA-256; for a remote model, its metadata's.
    pub(crate) digest: Digest,
    counted: Arc<Counted>,
    /// The model's differentiated graph, checked against the runtime, when
    /// [`Target::answer_by_graph`] found one: asked instead of the runtime.
    graph: Option<Graph>,
    pub(crate) output: usize,
    pub(crate) output_name: String,
    pub(crate) width: usize,
}

/// `NAME@VERSION` or `NAME@STAGE`, when `spec` reads as one.
fn registry_spec(spec: &str) -> Option<(&str, &str)> {
    let (name, at) = spec.split_once('@')?;
    (aigis_registry::store::check_name(name).is_ok()
        && !at.is_empty()
        && at
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    .then_some((name, at))
}

impl Target {
    /// The model `spec` names: a URL (`http(s)://`), an existing file, or a registry
    /// version of `project` (`NAME@VERSION`, `NAME@STAGE`).
    pub(crate) fn resolve(
        spec: &str,
        output: Option<&str>,
        cols: usize,
        args: &TargetArgs,
        project: Option<&aigis_ledger::Project>,
    ) -> Result<Self> {
        let url = spec.starts_with("http://") || spec.starts_with("https://");
        if args.model_file.is_some()
            && (url || registry_spec(spec).is_none() || Path::new(spec).exists())
        {
            anyhow::bail!(
                "--model-file names a file of a registry version (`NAME@VERSION`), not of `{spec}`"
            );
        }
        if url {
            return Self::remote(spec, output, cols, args);
        }
        let path = Path::new(spec);
        if args.token_env.is_some() || args.ca.is_some() {
            anyhow::bail!(
                "--token-env and --ca are for a remote model (`https://host/v2/models/NAME`), not `{spec}`"
            );
        }
        if !path.exists()
            && let Some((name, at)) = registry_spec(spec)
        {
            let project = project.ok_or_else(|| {
                anyhow::anyhow!(
                    "`{spec}` is neither a file nor, outside a project, a registry version (run inside an aigis project, or give --project)"
                )
            })?;
            let file = args.model_file.as_deref();
            let (bytes, place, digest) =
                registry_model(project, name, at, file).with_context(|| {
                    format!("`{spec}` is not a file; read as a registry version of `{name}`")
                })?;
            return Self::from_bytes(bytes, spec.to_owned(), place, digest, output, cols, args);
        }
        Self::open_with(path, output, cols, args)
    }

    /// The ONNX file `path`, every query counted, none bounded.
    pub(crate) fn open(path: &Path, output: Option<&str>, cols: usize) -> Result<Self> {
        Self::open_with(path, output, cols, &TargetArgs::default())
    }

    fn open_with(
        path: &Path,
        output: Option<&str>,
        cols: usize,
        args: &TargetArgs,
    ) -> Result<Self> {
        let bytes = context::read_input(path, "model", MAX_MODEL_BYTES)?;
        let digest = Digest::of(&bytes);
        Self::from_bytes(
            bytes,
            path.display().to_string(),
            Place::File(path.to_owned()),
            digest,
            output,
            cols,
            args,
        )
    }

    fn from_bytes(
        bytes: Vec<u8>,
        name: String,
        place: Place,
        digest: Digest,
        output: Option<&str>,
        cols: usize,
        args: &TargetArgs,
    ) -> Result<Self> {
        let runtime = OnnxRuntime::from_bytes(&bytes)
            .with_context(|| format!("loading the model `{name}`"))?;
        Self::new(
            Arc::new(runtime),
            Some(bytes),
            name,
            place,
            digest,
            output,
            cols,
            args,
        )
    }

    fn remote(url: &str, output: Option<&str>, cols: usize, args: &TargetArgs) -> Result<Self> {
        use aigis_gateway::upstream::{self, Bearer, Protocol, UpstreamConfig};
        let config = UpstreamConfig {
            url: url.to_owned(),
            ca: args.ca.clone(),
            cert: None,
            key: None,
            failures: u32::MAX,
            open_s: 1,
            protocol: Protocol::V2,
            inputs: Vec::new(),
            outputs: Vec::new(),
            version: None,
        };
        config
            .check()
            .map_err(|(_, message)| anyhow::anyhow!("the model URL `{url}`: {message}"))?;
        if !url.trim_end_matches('/').contains("/v2/models/") {
            anyhow::bail!(
                "the model URL `{url}` is not an Open Inference Protocol model's (`…/v2/models/NAME`, or `…/v2/models/NAME/versions/V`)"
            );
        }
        let bearer = match &args.token_env {
            Some(var) => {
                let token = std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("--token-env {var}: the environment variable `{var}` is not set (or not UTF-8)")
                })?;
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    anyhow::bail!(
                        "--token-env {var}: the token must be printable ASCII without spaces"
                    );
                }
                Some(Bearer::new(token))
            }
            None => None,
        };
        if args.timeout == 0 {
            anyhow::bail!("--timeout 0: a remote model needs time to answer");
        }
        let (runtime, _version, digest) = upstream::connect_as(
            url,
            &config,
            Path::new("."),
            Duration::from_secs(args.timeout),
            bearer,
        )
        .map_err(|e| {
            let hint = if e.contains("401") && args.token_env.is_none() {
                " (it wants a token: give --token-env VAR)"
            } else {
                ""
            };
            anyhow::anyhow!("the model at `{url}`: {e}{hint}")
        })?;
        Self::new(
            Arc::new(runtime),
            None,
            url.to_owned(),
            Place::Remote(url.to_owned()),
            digest,
            output,
            cols,
            args,
        )
    }

    #[allow(clippy::too_many_arguments, reason = "one private constructor")]
    fn new(
        runtime: Arc<dyn Runtime>,
        bytes: Option<Vec<u8>>,
        name: String,
        place: Place,
        digest: Digest,
        output: Option<&str>,
        cols: usize,
        args: &TargetArgs,
    ) -> Result<Self> {
        let remote = runtime.remote();
        let counted = Arc::new(Counted {
            inner: runtime,
            asked: AtomicU64::new(0),
            budget: args.query_budget,
            refused: AtomicBool::new(false),
        });
        let mut model = RowModel::new(counted.clone(), None)
            .map_err(|e| anyhow::anyhow!("the model `{name}`: {e}"))?;
        if remote {
            if args.batch == 0 {
                anyhow::bail!("--batch 0: a request holds at least one row");
            }
            model = model.with_batch(args.batch);
        }
        let outputs = model.runtime().signature().outputs.clone();
        let candidates = model.matrix_outputs();
        let name_of = |i: usize| outputs.get(i).map(|o| o.name.clone()).unwrap_or_default();
        let index = match output {
            Some(wanted) => candidates
                .iter()
                .copied()
                .find(|&i| name_of(i) == wanted)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the model has no numeric output `{wanted}` of shape [N, k]; its outputs: {}",
                        outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })?,
            None => candidates
                .iter()
                .copied()
                .find(|&i| name_of(i).to_lowercase().contains("prob"))
                .or_else(|| candidates.first().copied())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the model has no numeric output of shape [N, k] to read; its outputs: {}",
                        outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })?,
        };
        if let Some(f) = model.features()
            && f != cols
        {
            anyhow::bail!(
                "the model `{name}` takes {f} numbers per row, the data has {cols} numeric columns (name the label with --label to leave it out)"
            );
        }
        let mut target = Self {
            model,
            bytes,
            name,
            place,
            digest,
            counted,
            graph: None,
            output: index,
            output_name: name_of(index),
            width: 0,
        };
        target.width = target.run(&vec![0.0; cols], 1, cols)?.1;
        Ok(target)
    }

    pub(crate) fn run(&self, rows: &[f64], n: usize, cols: usize) -> Result<(Vec<f64>, usize)> {
        self.model
            .run(rows, n, cols, self.output)
            .map_err(|e| anyhow::anyhow!("the model: {e}"))
    }

    /// From now on, answers from the model's differentiated graph (the same function in
    /// `f64`, on ndarray's optimized products rather than the runtime's per-call cost)
    /// when it has one that answers as the runtime does on the first rows of `x`, and no
    /// query budget is set (every query then goes to the model, to be counted). Whether
    /// it does, and why not.
    pub(crate) fn answer_by_graph(&mut self, x: &[f64], cols: usize) -> Result<(), String> {
        if self.query_budget().is_some() {
            return Err("a query budget is set: every query goes to the model".into());
        }
        self.graph = Some(self.verified_graph(x, cols)?);
        Ok(())
    }

    /// Output `output` for `n` rows of `cols` numbers: from the graph when
    /// [`Target::answer_by_graph`] set one, else from the model.
    pub(crate) fn answers(
        &self,
        rows: &[f64],
        n: usize,
        cols: usize,
    ) -> Result<(Vec<f64>, usize), String> {
        match &self.graph {
            Some(g) => g.output(&g.forward(rows, n)?),
            None => self.model.run(rows, n, cols, self.output),
        }
    }

    /// Rows asked of the model so far.
    pub(crate) fn queries(&self) -> u64 {
        self.counted.asked.load(Ordering::SeqCst)
    }

    /// Whether a call was refused because the query budget was spent.
    pub(crate) fn budget_spent(&self) -> bool {
        self.counted.refused.load(Ordering::SeqCst)
    }

    /// The query budget, when there is one.
    pub(crate) fn query_budget(&self) -> Option<u64> {
        self.counted.budget
    }

    /// Where the model is, for `--json`: its kind, where, and its digest.
    pub(crate) fn describe(&self) -> serde_json::Value {
        let digest = self.digest.to_string();
        match &self.place {
            Place::File(path) => serde_json::json!({
                "kind": "file", "path": path, "sha256": digest,
            }),
            Place::Registry {
                name,
                version,
                stage,
                file,
            } => serde_json::json!({
                "kind": "registry", "name": name, "version": version, "stage": stage,
                "file": file, "sha256": digest,
            }),
            Place::Remote(url) => serde_json::json!({
                "kind": "remote", "url": url, "metadata_sha256": digest,
            }),
        }
    }

    /// Where the model is, in a sentence, when its name does not say it all.
    pub(crate) fn told(&self) -> Option<String> {
        match &self.place {
            Place::File(_) => None,
            Place::Registry {
                name,
                version,
                stage,
                file,
            } => Some(format!(
                "`{}`: registry version {version} of `{name}`{}, file `{file}` (sha256 {})",
                self.name,
                stage
                    .as_ref()
                    .map(|s| format!(" (at stage `{s}`)"))
                    .unwrap_or_default(),
                self.digest.hex()
            )),
            Place::Remote(url) => Some(format!(
                "`{url}`: a remote model, asked over the Open Inference Protocol ({} rows per request); its metadata hashes to {}",
                self.model.batch(),
                self.digest.hex()
            )),
        }
    }

    /// The evidence subject that names the model: `model:<name>` and its digest.
    pub(crate) fn subject(&self) -> (String, Digest) {
        (format!("model:{}", self.name), self.digest)
    }

    /// The column each row's answer is read from: `class`, or the row's top class.
    pub(crate) fn column_of(&self, values: &[f64], class: Option<usize>) -> usize {
        if self.width <= 1 {
            return 0;
        }
        class.unwrap_or_else(|| {
            values
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |m| m.0)
        })
    }
}

/// Rows the differentiated graph is compared with the runtime on before it is used.
const AGREEMENT_ROWS: usize = 64;

/// The model's graph, differentiated, when every operator on its path is one `grad`
/// differentiates and its answers on the first rows of `x` equal the runtime's (to 1e-3,
/// relative): a graph this module reads otherwise than tract runs it (an attribute
/// misread, an operator's corner) would give gradients of another function, silently.
/// Else why not.
impl Target {
    pub(crate) fn verified_graph(&self, x: &[f64], cols: usize) -> Result<Graph, String> {
        let target = self;
        let bytes = target
            .bytes
            .as_deref()
            .ok_or("the model is remote: only its answers are known, not its graph")?;
        let proto = aigis_runtime::onnx::read_proto(bytes).map_err(|e| e.to_string())?;
        let g = Graph::from_onnx(&proto, Some(target.model.input()), &target.output_name)
            .map_err(|u| format!("its graph uses what is not differentiated here: {u}"))?;
        if g.features() != cols {
            return Err(format!(
                "its graph takes {} numbers per row, the data has {cols}",
                g.features()
            ));
        }
        let n = (x.len() / cols.max(1)).min(AGREEMENT_ROWS);
        let sample = x.get(..n * cols).unwrap_or_default();
        let tape = g
            .forward(sample, n)
            .map_err(|e| format!("its differentiated graph cannot run: {e}"))?;
        let (ours, k) = g.output(&tape)?;
        let (theirs, k2) = target
            .model
            .run(sample, n, cols, target.output)
            .map_err(|e| format!("the model: {e}"))?;
        agree(&ours, k, &theirs, k2, n)?;
        Ok(g)
    }
}

/// Whether the graph's answers `ours` (`k` per row) equal the runtime's `theirs` (`k2` per
/// row) on `n` rows, to 1e-3 relative: else why not.
pub(crate) fn agree(
    ours: &[f64],
    k: usize,
    theirs: &[f64],
    k2: usize,
    n: usize,
) -> Result<(), String> {
    let worst = if k == k2 && ours.len() == theirs.len() {
        ours.iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            // Not `f64::max`, which drops a NaN: a graph answering NaN must be refused.
            .fold(0.0, |m, d| if d.is_nan() || d > m { d } else { m })
    } else {
        f64::INFINITY
    };
    if worst.is_nan() || worst > 1e-3 {
        return Err(format!(
            "its differentiated graph answers otherwise than the runtime (by {worst:.1e} on the first {n} rows)"
        ));
    }
    Ok(())
}

/// The bytes of registry version `at` (a number, or a stage the gate put one at) of
/// `name`: its file `file`, or its one `.onnx` file, read from the store and checked
/// against its digest.
fn registry_model(
    project: &aigis_ledger::Project,
    name: &str,
    at: &str,
    file: Option<&str>,
) -> Result<(Vec<u8>, Place, Digest)> {
    let reg = aigis_registry::open(project)?;
    // A version of several models: the registry's refusal names its `file` key (of the
    // gateway's configuration); here it is an option.
    let one_of = |record: &aigis_registry::VersionRecord| -> Result<()> {
        let onnx: Vec<&str> = record
            .files
            .iter()
            .map(|e| e.path.as_str())
            .filter(|p| p.ends_with(".onnx"))
            .collect();
        if file.is_none() && onnx.len() > 1 {
            anyhow::bail!(
                "`{name}` version {} holds several `.onnx` files ({}): name one with --model-file",
                record.version,
                onnx.join(", ")
            );
        }
        Ok(())
    };
    if let Ok(version) = at.parse::<u32>() {
        let record = reg
            .version(name, version)
            .with_context(|| format!("the registry has no `{name}` version {version}"))?;
        one_of(&record)?;
        let entry = aigis_registry::model_file(&record, file)?;
        let bytes = reg.read_blob(&entry.sha256, MAX_MODEL_BYTES)?;
        let place = Place::Registry {
            name: name.to_owned(),
            version,
            stage: None,
            file: entry.path.clone(),
        };
        return Ok((bytes, place, entry.sha256));
    }
    if let Some(at) = reg.stages(name)?.stages.get(at) {
        one_of(&reg.version(name, at.version)?)?;
    }
    let staged = aigis_registry::staged(project, &reg, name, at, file)?;
    let place = Place::Registry {
        name: name.to_owned(),
        version: staged.version,
        stage: Some(at.to_owned()),
        file: staged.file.clone(),
    };
    Ok((staged.bytes, place, staged.digest))
}

/// The numbers of a table's column `label`, every one of them present and finite.
pub(crate) fn label_column(
    path: &Path,
    label: &str,
    read: &crate::cli::ReadArgs,
) -> Result<Vec<f64>> {
    use aigis_monitor::detect::{self, Columns};
    let (format, read_opts) = crate::commands::data::scan::read_options(read)?;
    let names = [label.to_string()];
    let y = detect::read_matrix(
        path,
        &Columns {
            names: Some(&names),
            label: None,
            text_is_missing: false,
        },
        format,
        &read_opts,
    )
    .with_context(|| format!("reading the label `{label}`"))?;
    if let Some(i) = y.data.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "the label `{label}` is missing or not a number at row {}: every row needs one",
            i + 1
        );
    }
    Ok(y.data)
}

/// The class index of each label, for a classifier of `width` classes: labels must be
/// the indices 0 to `width - 1` of its output's columns.
pub(crate) fn class_indices(labels: &[f64], label: &str, width: usize) -> Result<Vec<usize>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && v >= 0.0 && (v as usize) < width {
                Ok(v as usize)
            } else {
                Err(anyhow::anyhow!(
                    "the label `{label}` at row {} is {v}: a classifier's labels here are its class indices 0 to {}",
                    i + 1,
                    width.saturating_sub(1)
                ))
            }
        })
        .collect()
}

/// Records `predicate` about `target` and the data file `data` (subjects `model:<name>`
/// and `data:<path>`, with their digests) in `project`: the ledger index.
pub(crate) fn record_model_data<P: aigis_evidence::Predicate>(
    project: &aigis_ledger::Project,
    target: &Target,
    data: &Path,
    predicate: &P,
) -> Result<u64> {
    let subjects = vec![
        target.subject(),
        (
            format!("data:{}", data.display()),
            aigis_crypto::sha256_file(data)?,
        ),
    ];
    Ok(project.record(&context::signing_key(project)?, subjects, predicate)?)
}

#[cfg(test)]
mod tests {
    use super::{agree, registry_spec};

    #[test]
    fn a_registry_version_is_a_name_at_a_version_or_stage() {
        assert_eq!(registry_spec("digits@3"), Some(("digits", "3")));
        assert_eq!(
            registry_spec("fraud-v2@production"),
            Some(("fraud-v2", "production"))
        );
        for not in [
            "digits.onnx",
            "digits@",
            "@3",
            "a/b@3",
            "digits@3/x",
            "digits@a b",
        ] {
            assert_eq!(registry_spec(not), None, "{not}");
        }
    }

    /// The graph is trusted only when it answers as the runtime does: a difference beyond
    /// 1e-3 (relative), a NaN, or another width refuses it, with the difference said.
    #[test]
    fn a_graph_that_answers_otherwise_is_refused() {
        let theirs = [0.2, 0.8, 0.6, 0.4];
        assert!(agree(&[0.2, 0.8, 0.6, 0.4], 2, &theirs, 2, 2).is_ok());
        assert!(agree(&[0.2004, 0.7996, 0.6, 0.4], 2, &theirs, 2, 2).is_ok());
        let off = agree(&[0.2, 0.8, 0.61, 0.39], 2, &theirs, 2, 2).unwrap_err();
        assert!(
            off.contains("1.0e-2") && off.contains("first 2 rows"),
            "{off}"
        );
        assert!(agree(&[0.2, 0.8, f64::NAN, 0.4], 2, &theirs, 2, 2).is_err());
        assert!(agree(&[0.2, 0.8, 0.6, 0.4], 4, &theirs, 2, 1).is_err());
        assert!(agree(&[0.2, 0.8], 2, &theirs, 2, 2).is_err());
    }
}
