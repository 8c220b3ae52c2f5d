//! The inspection seam (guard 6), and what uses the data stage's profile of the training
//! data: validation of the features (guard 5) and the profile-range detector.
//!
//! A [`Detector`] looks at a call's inputs once they are valid, and says whether it flags
//! them, with a score and reasons; the model's configuration says what a flag does
//! ([`Action`]): `flag` lets the call through and records the flag in the call's audit
//! record and the metrics, `block` refuses it (422, `input_blocked`). Detectors of
//! out-of-distribution inputs, feature squeezing and extraction plug in here.
//!
//! ```toml
//! [[serve.models]]
//! name = "cancer"
//! path = "models/cancer.onnx"
//! [serve.models.profile]            # `aigis data profile train.csv -o train.profile.json`
//! file = "train.profile.json"
//! label = "target"                  # left out of the features
//! # features = ["mean radius", …]   # the profile's columns in the order of the input's
//! #                                 # last dimension (default: its numeric columns but `label`)
//! # input = "X"                     # the input they describe (default: the model's only input)
//! tolerance = 0.05                  # a range widened by this share of max - min on each side
//! action = "flag"                   # or "block": what a row out of range does
//! ```
//!
//! With a profile, validation also refuses (422, naming the row and the feature): a value
//! that is not a finite number where the training data had no missing values (NaN where it
//! had some, as scikit-learn's missing-value marker, is let through); a fraction in a
//! column of integers; and a value outside the categories of a column whose categories are
//! numbers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_runtime::{Data, NamedTensor};
use serde::Deserialize;

use crate::ApiError;

/// What a flag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the call through; record the flag.
    Flag,
    /// Refuse the call (422, `input_blocked`).
    Block,
}

impl Action {
    /// The name in evidence and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Flag => "flag",
            Action::Block => "block",
        }
    }
}

/// A call as a detector sees it: valid inputs, and who sent them to which model; for a
/// detector that reads the answer ([`Detector::needs_answer`]), the model's outputs.
#[derive(Debug)]
pub struct Inspected<'a> {
    pub principal: &'a str,
    pub model: &'a str,
    pub inputs: &'a [NamedTensor],
    /// The served model's outputs for `inputs`, all of them, before any hardening.
    pub answer: Option<&'a [NamedTensor]>,
}

/// What a detector found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Finding {
    pub flagged: bool,
    /// The detector's score, when it has one (higher is more suspicious).
    pub score: Option<f64>,
    /// Why, for the audit record and the refusal (a few lines at most).
    pub reasons: Vec<String>,
    /// How many rows it flagged, for a detector calibrated for a false-positive rate
    /// ([`Detector::clean_rate`]): what the extraction detector's inputs sign counts.
    pub flagged_rows: Option<usize>,
    /// How many rows were above its atypical cut ([`Detector::atypical_rate`]): what the
    /// extraction detector's atypical sign counts.
    pub atypical_rows: Option<usize>,
    /// Which rows it flagged, one per row, when it says: what the inputs sign counts
    /// class by class.
    pub row_flags: Option<Vec<bool>>,
    /// Which rows were above its atypical cut, one per row, when it says.
    pub row_atypical: Option<Vec<bool>>,
}

/// A per-request detector.
pub trait Detector: Send + Sync + std::fmt::Debug {
    /// Its name in evidence and metrics (`profile_range`, …).
    fn name(&self) -> &'static str;
    /// Looks at one call.
    fn inspect(&self, call: &Inspected<'_>) -> Finding;
    /// Whether it reads the model's answer: it then runs after the model call, before
    /// the answer leaves (a block still withholds it), and is given the outputs.
    fn needs_answer(&self) -> bool {
        false
    }
    /// The share of clean rows it flags, when it was calibrated for one.
    fn clean_rate(&self) -> Option<f64> {
        None
    }
    /// The clean calibration rows it flagged per class of the model whose SHA-256 (hex)
    /// is given, when it counted them ([`aigis_monitor::detect::ByClass`]).
    fn clean_flags_by_class(
        &self,
        _model_sha256: &str,
    ) -> Option<Vec<aigis_monitor::extraction::ClassFlags>> {
        None
    }
    /// The share of clean rows above its atypical cut (the extraction detector's
    /// [`aigis_monitor::extraction::atypical_rate`]), when it has one.
    fn atypical_rate(&self) -> Option<f64> {
        None
    }
    /// Each feature's smallest and largest value in the reference data, when it knows
    /// them (what the extraction detector scales distances by).
    fn feature_ranges(&self) -> Option<Vec<[f64; 2]>> {
        None
    }
    /// The extraction detector's PRADA threshold, when it holds one calibrated for a
    /// model.
    fn extraction_threshold(&self) -> Option<crate::extraction::CalibratedThreshold> {
        None
    }
}

/// `[serve.models.profile]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The profile file (`aigis data profile`), relative to the configuration's folder.
    pub file: PathBuf,
    /// The label column, left out of the default features.
    #[serde(default)]
    pub label: Option<String>,
    /// The profile's columns, in the order of the input's last dimension.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// The model input they describe.
    #[serde(default)]
    pub input: Option<String>,
    /// A range is widened by this share of its width on each side.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// What a row out of range does.
    #[serde(default = "default_action")]
    pub action: Action,
}

fn default_tolerance() -> f64 {
    0.05
}

fn default_action() -> Action {
    Action::Flag
}

/// The largest profile file read.
const MAX_PROFILE: u64 = 64 << 20;
/// Reasons kept per finding.
const MAX_REASONS: usize = 5;

/// One feature, as the training data had it.
#[derive(Debug, Clone)]
struct Feature {
    name: String,
    /// The range widened by the tolerance.
    low: f64,
    high: f64,
    min: f64,
    max: f64,
    /// Whether the training data had missing values in it.
    nulls: bool,
    integer: bool,
    /// Numeric categories, when the column is categorical.
    categories: Option<Vec<f64>>,
}

/// The features of a model's input, from the profile: what validation and the
/// profile-range detector check.
#[derive(Debug)]
pub struct Features {
    input: String,
    features: Vec<Feature>,
    /// Each feature's quantile sketch in the training data, when the profile has one
    /// (what the gateway's drift windows are tested against).
    quantiles: Vec<Option<aigis_monitor::sketch::Quantiles>>,
    /// The profile file's SHA-256.
    profile_sha256: String,
}

impl Features {
    /// Reads the profile of `config` (relative to `base`) for a model whose input
    /// `input` has `width` features; the error is the key and the message.
    pub fn load(
        config: &ProfileConfig,
        base: &Path,
        inputs: &[aigis_runtime::TensorSpec],
    ) -> Result<Self, (String, String)> {
        let path = if config.file.is_absolute() {
            config.file.clone()
        } else {
            base.join(&config.file)
        };
        let file_err = |m: String| {
            (
                "file".to_owned(),
                format!("`{}`: {m}", config.file.display()),
            )
        };
        let file = std::fs::File::open(&path).map_err(|e| file_err(format!("cannot read: {e}")))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PROFILE + 1), &mut bytes)
            .map_err(|e| file_err(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_PROFILE {
            return Err(file_err(format!("larger than {MAX_PROFILE} bytes")));
        }
        let profile =
            aigis_data::profile::Profile::from_json(&bytes).map_err(|e| file_err(e.to_string()))?;
        if !(0.0..=10.0).contains(&config.tolerance) {
            return Err(("tolerance".into(), "must be between 0 and 10".into()));
        }
        let spec = crate::detect::pick_input(inputs, config.input.as_deref())
            .map_err(|m| ("input".to_owned(), m))?;
        if !matches!(
            spec.datatype,
            aigis_runtime::DataType::Fp32 | aigis_runtime::DataType::Fp64
        ) || spec.shape.len() != 2
        {
            return Err((
                "input".into(),
                format!(
                    "`{}` is not a batch of float feature rows ([rows, features]); a profile describes one",
                    spec.name
                ),
            ));
        }
        let names: Vec<String> = match &config.features {
            Some(f) => f.clone(),
            None => profile
                .columns
                .iter()
                .filter(|c| c.column_type.is_numeric() || is_numeric_categorical(c))
                .filter(|c| config.label.as_deref() != Some(c.name.as_str()))
                .map(|c| c.name.clone())
                .collect(),
        };
        if let Some(Some(width)) = spec.shape.get(1)
            && names.len() != *width
        {
            return Err((
                "features".into(),
                format!(
                    "{} features from the profile, but the model's input `{}` has {width}",
                    names.len(),
                    spec.name
                ),
            ));
        }
        let mut features = Vec::with_capacity(names.len());
        for name in names {
            let column = profile.column(&name).ok_or_else(|| {
                (
                    "features".to_owned(),
                    format!("the profile has no column `{name}`"),
                )
            })?;
            let categories = is_numeric_categorical(column).then(|| {
                column
                    .categories
                    .keys()
                    .filter_map(|k| k.trim().parse::<f64>().ok())
                    .collect::<Vec<f64>>()
            });
            let (min, max) = match (column.min, column.max) {
                (Some(min), Some(max)) => (min, max),
                _ => match &categories {
                    Some(c) if !c.is_empty() => (
                        c.iter().copied().fold(f64::INFINITY, f64::min),
                        c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    ),
                    _ => {
                        return Err((
                            "features".into(),
                            format!("the profile's column `{name}` has no numeric range"),
                        ));
                    }
                },
            };
            let slack = (max - min) * config.tolerance;
            features.push(Feature {
                low: min - slack,
                high: max + slack,
                min,
                max,
                nulls: column.nulls > 0,
                integer: column.column_type == aigis_data::profile::ColumnType::Integer,
                categories,
                name,
            });
        }
        let quantiles = features
            .iter()
            .map(|f| aigis_monitor::sketch::Quantiles::of_column(&profile, &f.name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(file_err)?;
        Ok(Features {
            input: spec.name.clone(),
            features,
            quantiles,
            profile_sha256: aigis_core::Digest::of(&bytes).hex(),
        })
    }

    /// The profile file's SHA-256.
    pub fn profile_sha256(&self) -> &str {
        &self.profile_sha256
    }

    /// Each feature's name and its quantile sketch in the training data, if any.
    pub fn reference(
        &self,
    ) -> impl Iterator<Item = (&str, Option<&aigis_monitor::sketch::Quantiles>)> {
        self.features
            .iter()
            .zip(&self.quantiles)
            .map(|(f, q)| (f.name.as_str(), q.as_ref()))
    }

    /// The rows of the described input as f64, with the row width.
    pub(crate) fn rows(&self, inputs: &[NamedTensor]) -> Option<(Vec<f64>, usize)> {
        let tensor = &inputs.iter().find(|t| t.name == self.input)?.tensor;
        let width = *tensor.shape().get(1)?;
        let values = match tensor.data() {
            Data::Fp32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            Data::Fp64(v) => v.clone(),
            _ => return None,
        };
        (width == self.features.len()).then_some((values, width))
    }

    /// Refuses values the training data could not have had (see the module's doc).
    pub fn validate(&self, inputs: &[NamedTensor]) -> Result<(), ApiError> {
        let Some((values, width)) = self.rows(inputs) else {
            return Ok(());
        };
        let index = inputs
            .iter()
            .position(|t| t.name == self.input)
            .unwrap_or_default();
        for (i, value) in values.iter().enumerate() {
            let (row, col) = (i / width.max(1), i % width.max(1));
            let Some(f) = self.features.get(col) else {
                continue;
            };
            let wrong = |what: String| {
                ApiError::invalid(
                    format!("inputs[{index}].data"),
                    format!("row {row}, feature `{}`: {what}", f.name),
                )
            };
            if value.is_nan() {
                if !f.nulls {
                    return Err(wrong(
                        "a missing value (NaN), and the training data had none here".into(),
                    ));
                }
                continue;
            }
            if value.is_infinite() {
                return Err(wrong("not a finite number".into()));
            }
            if f.integer && value.fract() != 0.0 {
                return Err(wrong(format!(
                    "{value} is not a whole number, and the training data had only whole numbers here"
                )));
            }
            if let Some(c) = &f.categories
                && !c.is_empty()
                && !c.contains(value)
            {
                return Err(wrong(format!(
                    "{value} is not one of the training data's categories"
                )));
            }
        }
        Ok(())
    }
}

/// A categorical column whose categories are all numbers (class codes, counts).
fn is_numeric_categorical(c: &aigis_data::profile::ColumnProfile) -> bool {
    c.column_type == aigis_data::profile::ColumnType::Categorical
        && !c.categories.is_empty()
        && c.categories.keys().all(|k| k.trim().parse::<f64>().is_ok())
}

/// Flags rows with features outside the training data's ranges (widened by the
/// tolerance). The score is the share of the call's values out of range.
#[derive(Debug)]
pub struct ProfileRange {
    features: Arc<Features>,
}

impl ProfileRange {
    pub fn new(features: Arc<Features>) -> Self {
        ProfileRange { features }
    }
}

impl Detector for ProfileRange {
    fn name(&self) -> &'static str {
        "profile_range"
    }

    fn feature_ranges(&self) -> Option<Vec<[f64; 2]>> {
        Some(
            self.features
                .features
                .iter()
                .map(|f| [f.min, f.max])
                .collect(),
        )
    }

    fn inspect(&self, call: &Inspected<'_>) -> Finding {
        let Some((values, width)) = self.features.rows(call.inputs) else {
            return Finding::default();
        };
        let mut outside = 0usize;
        let mut reasons = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let Some(f) = self.features.features.get(i % width.max(1)) else {
                continue;
            };
            if value.is_nan() || (f.low..=f.high).contains(value) {
                continue;
            }
            outside += 1;
            if reasons.len() < MAX_REASONS {
                let (side, bound) = if *value < f.low {
                    ("below the training minimum", f.min)
                } else {
                    ("above the training maximum", f.max)
                };
                // Not the value itself: the reasons go to the audit record, which holds
                // no request data.
                reasons.push(format!(
                    "row {}, `{}`: {side} {bound}",
                    i / width.max(1),
                    f.name
                ));
            }
        }
        Finding {
            flagged_rows: None,
            atypical_rows: None,
            row_flags: None,
            row_atypical: None,
            flagged: outside > 0,
            score: Some(if values.is_empty() {
                0.0
            } else {
                outside as f64 / values.len() as f64
            }),
            reasons,
        }
    }
}

/// What the detectors said about one call, for its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub detector: &'static str,
    /// What the flag did (`flag`, `block`; `throttle` for extraction).
    pub action: &'static str,
    pub score: Option<f64>,
    pub reasons: Vec<String>,
    /// The rows of the call it flagged, when it judges rows one by one.
    pub rows: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigis_runtime::{DataType, Tensor, TensorSpec};

    const PROFILE: &str = r#"{"format": "aigis/data-profile@v1", "rows": 10, "columns": [
      {"name": "a", "type": "float", "count": 10, "nulls": 0, "null_rate": 0.0, "type_violations": 0, "distinct": 10, "min": 0.0, "max": 10.0, "sketches": {"hll": "", "frequent_items": ""}},
      {"name": "n", "type": "integer", "count": 10, "nulls": 2, "null_rate": 0.2, "type_violations": 0, "distinct": 5, "min": 1.0, "max": 5.0, "sketches": {"hll": "", "frequent_items": ""}},
      {"name": "k", "type": "categorical", "count": 10, "nulls": 0, "null_rate": 0.0, "type_violations": 0, "distinct": 2, "categories": {"0": 0.5, "2": 0.5}, "sketches": {"hll": "", "frequent_items": ""}},
      {"name": "y", "type": "integer", "count": 10, "nulls": 0, "null_rate": 0.0, "type_violations": 0, "distinct": 2, "min": 0.0, "max": 1.0, "sketches": {"hll": "", "frequent_items": ""}}
    ]}"#;

    fn features(config: &str) -> Result<Features, (String, String)> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), PROFILE).unwrap();
        let config: ProfileConfig =
            toml::from_str(&format!("file = \"p.json\"\n{config}")).unwrap();
        let spec = TensorSpec {
            name: "X".into(),
            datatype: DataType::Fp32,
            shape: vec![None, Some(3)],
        };
        Features::load(&config, dir.path(), &[spec])
    }

    fn rows(values: &[f32]) -> Vec<NamedTensor> {
        let tensor = Tensor::new(vec![values.len() / 3, 3], Data::Fp32(values.to_vec())).unwrap();
        vec![NamedTensor::new("X", tensor)]
    }

    #[test]
    fn validation_refuses_what_the_training_data_could_not_have_had() {
        let f = features("label = \"y\"").unwrap();
        assert!(
            f.validate(&rows(&[1.0, 3.0, 2.0, 9.0, f32::NAN, 0.0]))
                .is_ok()
        );
        for (values, says) in [
            (
                &[f32::NAN, 3.0, 2.0][..],
                "row 0, feature `a`: a missing value",
            ),
            (&[1.0, 3.5, 2.0], "feature `n`: 3.5 is not a whole number"),
            (&[1.0, 3.0, 1.0], "feature `k`: 1 is not one of"),
            (
                &[1.0, 3.0, 2.0, f32::INFINITY, 3.0, 2.0],
                "row 1, feature `a`: not a finite",
            ),
        ] {
            let e = f.validate(&rows(values)).unwrap_err();
            assert!(
                e.message.contains(says) && e.message.starts_with("inputs[0].data"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn the_range_detector_flags_rows_outside_the_widened_range() {
        let f = Arc::new(features("label = \"y\"\ntolerance = 0.1").unwrap());
        let d = ProfileRange::new(f);
        let inspect = |values: &[f32]| {
            d.inspect(&Inspected {
                principal: "p",
                model: "m",
                inputs: &rows(values),
                answer: None,
            })
        };
        // 10.9 is inside 0..10 widened by 10 %; 11.5 is not, nor -2 for `n` (1..5 ± 0.4).
        assert!(!inspect(&[10.9, 5.3, 2.0]).flagged);
        let found = inspect(&[11.5, 3.0, 2.0, 1.0, -2.0, 0.0]);
        assert!(found.flagged);
        assert_eq!(found.score, Some(2.0 / 6.0));
        assert_eq!(
            found.reasons,
            [
                "row 0, `a`: above the training maximum 10",
                "row 1, `n`: below the training minimum 1"
            ]
        );
    }

    #[test]
    fn a_profile_that_does_not_fit_the_model_is_named() {
        assert_eq!(features("").unwrap_err().0, "features");
        assert!(
            features("")
                .unwrap_err()
                .1
                .contains("4 features from the profile")
        );
        assert_eq!(
            features("features = [\"a\", \"b\", \"k\"]").unwrap_err().0,
            "features"
        );
        assert_eq!(
            features("label = \"y\"\ninput = \"Z\"").unwrap_err().0,
            "input"
        );
        assert_eq!(
            features("label = \"y\"\ntolerance = -1").unwrap_err().0,
            "tolerance"
        );
        assert!(features("features = [\"k\", \"a\", \"n\"]").is_ok());
    }
}
