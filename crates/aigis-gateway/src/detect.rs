//! The detectors of `aigis detect fit` at the inspection seam: an out-of-distribution
//! score (isolation forest), a Mahalanobis distance and feature squeezing, from a signed
//! detector file.
//!
//! ```toml
//! [[serve.models]]
//! name = "digits"
//! path = "models/digits.onnx"
//! [serve.models.detector]           # `aigis detect fit train.npy --model models/digits.onnx …`
//! file = "digits.detector.json"     # signed (`digits.detector.json.sig`) by a trusted key
//! action = "flag"                   # or "block"
//! # detectors = ["ood"]             # a subset of the file's (default: all of them)
//! # input = "X"                     # the input they look at (default: the only one)
//! # verify = false                  # use an unsigned file: said in so many words
//! ```
//!
//! The squeeze detector runs after the model call, before the answer leaves (a block
//! still withholds it): it compares the probabilities served with those of the served
//! model run again on each squeezed input, on the request's thread. It is refused for a
//! model on another server, and it must be the model the file was calibrated with (the
//! file records its SHA-256). The `ood` and `mahalanobis` detectors run before the call. A flag's reasons
//! name features and thresholds, never a value of the request (they go to the audit
//! record).

use std::path::PathBuf;
use std::sync::Arc;

use aigis_model::signing::{self, VerifierKey};
use aigis_monitor::detect::{self, Matrix, Model, ScoreOptions};
pub(crate) use aigis_runtime::rows::pick_input;
use aigis_runtime::rows::{RowModel, output_matrix};
use aigis_runtime::{Data, NamedTensor, Runtime};
use serde::Deserialize;

use crate::inspect::{Action, Detector, Finding, Inspected};

/// `[serve.models.detector]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// The detector file (`aigis detect fit`), relative to the configuration's folder.
    pub file: PathBuf,
    /// Its signature [default: the file's path with `.sig` added].
    #[serde(default)]
    pub signature: Option<PathBuf>,
    /// `false` uses the file without checking a signature.
    #[serde(default = "yes")]
    pub verify: bool,
    /// What a flag does.
    #[serde(default = "flag")]
    pub action: Action,
    /// Which of the file's detectors run (`ood`, `squeeze`).
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// The model input they look at.
    #[serde(default)]
    pub input: Option<String>,
}

fn yes() -> bool {
    true
}

fn flag() -> Action {
    Action::Flag
}

/// A served model asked for its class probabilities (what squeezing compares): its one
/// floating-point input fed with rows, its output of shape `[N, classes]` read.
#[derive(Debug, Clone)]
pub struct RuntimeModel {
    rows: RowModel,
    output: usize,
    /// The probabilities output's name, to find it in a served answer.
    output_name: String,
}

/// Reasons kept per finding.
const MAX_REASONS: usize = 5;

impl RuntimeModel {
    /// The model behind `runtime`, fed through `input` (its only input when `None`).
    pub fn new(runtime: Arc<dyn Runtime>, input: Option<&str>) -> Result<Self, String> {
        let rows = RowModel::new(runtime, input)?;
        let sig = rows.runtime().signature();
        // The probabilities: a floating-point output of two dimensions with at least two
        // classes, one whose name says so first.
        let candidates: Vec<usize> = rows
            .matrix_outputs()
            .into_iter()
            .filter(|&i| {
                sig.outputs
                    .get(i)
                    .and_then(|o| o.shape.get(1))
                    .is_none_or(|k| k.is_none_or(|k| k >= 2))
            })
            .collect();
        let output = candidates
            .iter()
            .copied()
            .find(|&i| {
                sig.outputs
                    .get(i)
                    .is_some_and(|o| o.name.to_lowercase().contains("prob"))
            })
            .or_else(|| candidates.first().copied())
            .ok_or_else(|| {
                format!(
                    "the model gives no class probabilities (a floating-point output of shape [N, classes]); its outputs: {}",
                    sig.outputs
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        let output_name = sig
            .outputs
            .get(output)
            .map(|o| o.name.clone())
            .unwrap_or_default();
        Ok(Self {
            rows,
            output,
            output_name,
        })
    }
}

impl Model for RuntimeModel {
    fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
        self.rows.run(&rows.data, rows.rows, rows.cols, self.output)
    }
}

/// The served model with the answer it gave the call being inspected: squeezing compares
/// the squeezed rows' probabilities with those the caller was served, and runs the model
/// once less.
struct Answered<'a> {
    model: &'a RuntimeModel,
    answer: &'a [NamedTensor],
}

impl Model for Answered<'_> {
    fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
        self.model.probabilities(rows)
    }

    /// The served probabilities, when the answer has them for as many rows (otherwise the
    /// model is asked, as without an answer).
    fn answered(&self, rows: &Matrix) -> Option<(Vec<f64>, usize)> {
        let output = self
            .answer
            .iter()
            .find(|o| o.name == self.model.output_name)?;
        output_matrix(&output.tensor, rows.rows).ok()
    }
}

/// One detector of a file, at the seam.
#[derive(Debug)]
pub struct FileDetector {
    name: &'static str,
    detector: Arc<detect::Detector>,
    model: Option<Arc<RuntimeModel>>,
    input: String,
}

impl FileDetector {
    /// The input tensor's rows, or `None` when the call does not have it as floats.
    fn rows(&self, inputs: &[NamedTensor]) -> Option<Matrix> {
        let tensor = &inputs.iter().find(|t| t.name == self.input)?.tensor;
        let (&n, rest) = tensor.shape().split_first()?;
        let cols: usize = rest.iter().product();
        let data: Vec<f64> = match tensor.data() {
            Data::Fp32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::Fp64(v) => v.clone(),
            _ => return None,
        };
        Matrix::new(n, cols, data, Matrix::positional_names(cols)).ok()
    }
}

impl Detector for FileDetector {
    fn name(&self) -> &'static str {
        self.name
    }

    /// The 99.9 % upper bound of the share of its calibration rows the file's detectors
    /// flagged together (or of `fpr`, for a file that does not say).
    fn clean_rate(&self) -> Option<f64> {
        let c = &self.detector.calibration;
        let share = c.flagged.get("any").copied().unwrap_or(self.detector.fpr);
        let n = c.calibration_rows as u64;
        aigis_monitor::extraction::clean_rate_bound((share * n as f64).round() as u64, n)
    }

    /// The file's [`aigis_monitor::detect::Atypical`] cuts, when it has one for this
    /// detector: the 99.9 % bound of the calibration rows above them, at least a half.
    fn atypical_rate(&self) -> Option<f64> {
        let c = &self.detector.calibration;
        let a = c.atypical.as_ref()?;
        a.cuts.contains_key(self.name).then_some(())?;
        aigis_monitor::extraction::atypical_rate(a.above as u64, c.calibration_rows as u64)
    }

    fn feature_ranges(&self) -> Option<Vec<[f64; 2]>> {
        Some(self.detector.ranges.clone())
    }

    /// The file's calibration rows by class, when the model that classed them is this one.
    fn clean_flags_by_class(
        &self,
        model_sha256: &str,
    ) -> Option<Vec<aigis_monitor::extraction::ClassFlags>> {
        let b = self.detector.calibration.by_class.as_ref()?;
        b.model_sha256
            .eq_ignore_ascii_case(model_sha256)
            .then(|| b.classes.clone())
    }

    fn extraction_threshold(&self) -> Option<crate::extraction::CalibratedThreshold> {
        let ex = self.detector.extraction.as_ref()?;
        Some(crate::extraction::CalibratedThreshold {
            prada: ex.prada.clone(),
            model_sha256: ex.model_sha256.clone(),
            ranges: self.detector.ranges.clone(),
        })
    }

    /// Squeezing compares with the served answer.
    fn needs_answer(&self) -> bool {
        self.model.is_some()
    }

    fn inspect(&self, call: &Inspected<'_>) -> Finding {
        let refuse = |why: String| Finding {
            flagged: true,
            score: None,
            reasons: vec![why],
            flagged_rows: Some(usize::MAX),
            atypical_rows: Some(usize::MAX),
            row_flags: None,
            row_atypical: None,
        };
        let Some(rows) = self.rows(call.inputs) else {
            return refuse(format!(
                "the input `{}` is not a batch of float rows",
                self.input
            ));
        };
        let opts = ScoreOptions {
            ood: self.name == "ood",
            mahalanobis: self.name == "mahalanobis",
            squeeze: self.name == "squeeze",
            values: false,
        };
        let answered = match (self.model.as_deref(), call.answer) {
            (Some(model), Some(answer)) => Some(Answered { model, answer }),
            _ => None,
        };
        let model = match &answered {
            Some(a) => Some(a as &dyn Model),
            None => self.model.as_deref().map(|m| m as &dyn Model),
        };
        // No verdict is not a pass: a call the detector cannot score is flagged.
        let results = match self.detector.score_with(&rows, model, &opts) {
            Ok(r) => r,
            Err(e) => return refuse(format!("not scored: {e}")),
        };
        let row_atypical = self.detector.atypical_flags(&results, Some(self.name));
        let atypical_rows = row_atypical
            .as_ref()
            .map(|f| f.iter().filter(|a| **a).count());
        let mut row_flags = vec![false; rows.rows];
        for r in &results {
            if let Some(f) = row_flags.get_mut(r.row) {
                *f |= r.flagged;
            }
        }
        let mut finding = Finding {
            flagged_rows: Some(results.iter().filter(|r| r.flagged).count()),
            atypical_rows,
            row_flags: (results.len() == rows.rows).then_some(row_flags),
            row_atypical: row_atypical.filter(|f| f.len() == rows.rows),
            ..Finding::default()
        };
        for r in &results {
            if let Some(Some(s)) = r.scores.get(self.name) {
                finding.score = Some(finding.score.map_or(*s, |m: f64| m.max(*s)));
            }
            if r.flagged {
                finding.flagged = true;
                for reason in &r.reasons {
                    if finding.reasons.len() < MAX_REASONS {
                        finding.reasons.push(format!("row {}: {reason}", r.row));
                    }
                }
            }
        }
        finding
    }
}

/// A detector at the seam, with what its flag does.
pub type Seam = (Arc<dyn Detector>, Action);

/// Loads `[serve.models.detector]` for a served model: the file (checked against
/// `trusted` unless `verify = false`), each of its detectors as a seam detector. The
/// error is the key under the table and the message.
pub fn load(
    config: &DetectorConfig,
    base: &std::path::Path,
    runtime: &Arc<dyn Runtime>,
    model_sha256: &str,
    trusted: &[VerifierKey],
) -> Result<Vec<Seam>, (String, String)> {
    let resolve = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }
    };
    let path = resolve(&config.file);
    let file_err = |m: String| {
        (
            "file".to_owned(),
            format!("`{}`: {m}", config.file.display()),
        )
    };
    let bytes = read_bounded(&path, detect::MAX_DETECTOR_BYTES).map_err(file_err)?;
    if config.verify {
        let signature = config.signature.as_ref().map_or_else(
            || {
                let mut name = path.clone().into_os_string();
                name.push(".sig");
                PathBuf::from(name)
            },
            resolve,
        );
        let bundle = read_bounded(&signature, signing::MAX_BUNDLE_BYTES as u64).map_err(|e| {
            file_err(format!(
                "it is unsigned or its signature cannot be read (`{}`: {e}); sign it with `aigis model sign`, or say `verify = false`",
                signature.display()
            ))
        })?;
        if trusted.is_empty() {
            return Err(file_err("no key is trusted to sign it".into()));
        }
        let report = signing::verify_bytes(&bytes, &bundle, trusted)
            .map_err(|e| file_err(format!("its signature does not verify: {e}")))?;
        if !report.passed() {
            return Err(file_err("it is not the file its signature signed".into()));
        }
    } else {
        tracing::warn!(file = %config.file.display(), "using a detector file without a signature check (verify = false)");
    }
    let detector =
        Arc::new(detect::Detector::from_json(&bytes).map_err(|e| file_err(e.to_string()))?);
    let available = detector.names();
    let wanted: Vec<&'static str> = match &config.detectors {
        None => available.clone(),
        Some(names) => names
            .iter()
            .map(|n| {
                available.iter().copied().find(|a| a == n).ok_or_else(|| {
                    (
                        "detectors".to_owned(),
                        format!(
                            "the file has no detector `{n}` (it has {})",
                            available.join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let spec = pick_input(&runtime.signature().inputs, config.input.as_deref())
        .map_err(|m| ("input".to_owned(), m))?;
    let width: Option<usize> = spec
        .shape
        .get(1..)
        .and_then(|s| s.iter().copied().product());
    if let Some(w) = width
        && w != detector.features.len()
    {
        return Err((
            "input".into(),
            format!(
                "`{}` has {w} values per row, the detector's features are {}",
                spec.name,
                detector.features.len()
            ),
        ));
    }
    let mut out: Vec<Seam> = Vec::new();
    for name in wanted {
        let model = if name == "squeeze" {
            if runtime.remote() {
                return Err((
                    "detectors".into(),
                    "squeeze runs the model again on each call: not for a model on another server"
                        .into(),
                ));
            }
            let expected = detector
                .squeeze
                .as_ref()
                .map(|s| s.model_sha256.as_str())
                .unwrap_or_default();
            if expected != model_sha256 {
                return Err(file_err(format!(
                    "its squeeze detector was calibrated with the model sha256:{expected}, this model is sha256:{model_sha256}: fit it again for this model"
                )));
            }
            Some(Arc::new(
                RuntimeModel::new(runtime.clone(), Some(&spec.name))
                    .map_err(|m| ("detectors".to_owned(), m))?,
            ))
        } else {
            None
        };
        out.push((
            Arc::new(FileDetector {
                name,
                detector: detector.clone(),
                model,
                input: spec.name.clone(),
            }),
            config.action,
        ));
    }
    Ok(out)
}

fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}
