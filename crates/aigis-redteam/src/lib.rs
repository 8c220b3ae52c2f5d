//! The aigis validation stage: how a model can be fooled and what it does to people,
//! measured before it ships.
//!
//! - [`fairness`]: a classifier's decisions per group of one or more sensitive columns
//!   (selection rate, true and false positive rates, accuracy, calibration of a score),
//!   the disparities between groups as fairlearn defines them (demographic parity,
//!   equalized odds, disparate impact), bootstrap intervals, and thresholds to fail on
//!   (`aigis fairness`);
//! - [`evasion`]: FGSM and PGD (L∞ and L2, targeted or not, random restarts) as IBM ART
//!   defines them, with the exact gradients of the model's ONNX graph
//!   ([`aigis_runtime::grad`]) or gradients estimated from its answers (`aigis redteam`);
//! - [`hopskipjump`]: HopSkipJump, the decision-based attack, as ART runs it;
//! - [`square`]: the Square attack (L∞ as ART runs it, L2 as the paper gives it),
//!   score-based, ART's schedule and margin loss, one model call per iteration for every
//!   row still standing;
//! - [`extraction`]: copies trained on the model's answers (scikit-learn's
//!   MLPClassifier's training), their fidelity against the queries;
//! - [`poisoning`]: label flips and backdoors in a share of the training rows, a model
//!   retrained on them by [`extraction::train`], its accuracy and the backdoor's success;
//! - [`lime`]: LIME for tabular rows as the `lime` package runs it (quartile bins,
//!   neighbours drawn per bin, a weighted ridge fit on the features chosen);
//! - [`membership`]: membership inference (loss, confidence, and with reference models
//!   difficulty calibration and offline LiRA), its ROC, AUC and true-positive rate at a
//!   low false-positive rate;
//! - [`explain`]: Shapley values of one answer (exact up to ten features, KernelSHAP's
//!   sampled regression beyond) and permutation importance, asking the model about rows
//!   only (`aigis explain`).
//!
//! ```
//! use aigis_redteam::fairness::{self, Options};
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("decisions.csv");
//! std::fs::write(&data, "sex,y,pred\nF,1,1\nF,0,0\nF,1,0\nM,1,1\nM,0,1\nM,0,1\n")?;
//! let options = Options::new("y", "pred", vec!["sex".into()]);
//! let report = fairness::assess(&data, &options)?;
//! let dp = report.analyses[0].disparities.demographic_parity_difference.value;
//! assert_eq!(dp, Some(1.0 - 1.0 / 3.0)); // M selected 3 of 3, F 1 of 3
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod evasion;
pub mod explain;
pub mod extraction;
pub mod fairness;
pub mod hopskipjump;
pub mod lime;
pub mod membership;
pub mod poisoning;
pub mod square;

/// What went wrong in the validation stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table that cannot be read (the message names the file and row).
    #[error(transparent)]
    Data(#[from] aigis_data::Error),
    /// A column that is missing or holds what it cannot (the message names it and the
    /// row).
    #[error("{0}")]
    Column(String),
    /// An option out of its range.
    #[error("{0}")]
    Options(String),
    /// The model could not answer, or answered what cannot be used.
    #[error("the model: {0}")]
    Model(String),
}
