//! Predicates of the validation stage (`aigis fairness`, `aigis explain`, `aigis redteam`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis fairness`: a classifier's decisions measured per group of one or more sensitive
/// columns, the disparities between the groups, and the thresholds they were held to.
/// The subjects are the table (`data:<path>`) and, when named, the model whose decisions
/// it holds (`model:<path>`). Counts, rates and the groups' names (the sensitive columns'
/// values), never a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fairness {
    /// Data rows measured.
    pub rows: u64,
    /// The true outcome's column.
    pub label: String,
    /// The decision's column.
    pub prediction: String,
    /// The score's column, when calibration was measured.
    pub score: Option<String>,
    /// The positive (favourable) outcome, as the columns write it.
    pub positive: String,
    /// Groups with fewer rows were left out of the disparities.
    pub min_group: u64,
    /// The bootstrap of the intervals; `null` when none was drawn.
    pub bootstrap: Option<FairnessBootstrap>,
    /// Everyone's rates.
    pub overall: FairnessGroup,
    /// Each sensitive column alone, then their intersection.
    pub analyses: Vec<FairnessAnalysis>,
    /// The thresholds every analysis was held to.
    pub thresholds: Vec<FairnessThreshold>,
    /// The thresholds an analysis did not meet (an undefined value does not meet one).
    pub breaches: Vec<FairnessBreach>,
    /// No breach.
    pub passed: bool,
    /// The aigis that measured it.
    pub tool: Tool,
}

/// The bootstrap of a [`Fairness`] run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessBootstrap {
    /// Resamples of the rows, with replacement.
    pub resamples: u64,
    /// The percentile intervals' confidence.
    pub confidence: f64,
    /// The resampling's seed.
    pub seed: u64,
}

/// One sensitive column, or the intersection of several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessAnalysis {
    /// The sensitive columns (one, or several intersected).
    pub sensitive: Vec<String>,
    /// Every group present, in the order of their values.
    pub groups: Vec<FairnessGroup>,
    /// Every disparity, in the order `aigis fairness` lists them.
    pub disparities: Vec<FairnessDisparity>,
}

/// One group's counts and rates (`null`: undefined).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessGroup {
    /// Its value in each sensitive column (empty for everyone).
    pub values: Vec<String>,
    /// Its rows.
    pub rows: u64,
    /// Rows whose label is the positive outcome.
    pub label_positive: u64,
    /// Rows whose decision is the positive outcome.
    pub predicted_positive: u64,
    /// The share of its rows decided positive.
    pub selection_rate: Option<f64>,
    /// Of its positive labels, the share decided positive (0 without one, as fairlearn).
    pub true_positive_rate: Option<f64>,
    /// Of its negative labels, the share decided positive (0 without one, as fairlearn).
    pub false_positive_rate: Option<f64>,
    /// The share of its decisions equal to the label.
    pub accuracy: Option<f64>,
    /// Its selection rate over the most selected group's; `null` for everyone.
    pub impact_ratio: Option<f64>,
    /// Left out of the disparities for its size.
    pub excluded: bool,
    /// With a score: the Brier score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
    /// With a score: the expected calibration error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_calibration_error: Option<f64>,
}

/// A disparity between an analysis's groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessDisparity {
    /// `demographic-parity-difference`, `equalized-odds-ratio`, …
    pub metric: String,
    /// `null`: undefined (fewer than two groups, or a ratio over 0).
    pub value: Option<f64>,
    /// The bootstrap interval, when drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// A threshold on a disparity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessThreshold {
    /// The disparity (`demographic-parity-ratio`, …).
    pub metric: String,
    /// `at_most` (`--fail-over`) or `at_least` (`--fail-under`).
    pub bound: String,
    /// The threshold.
    pub value: f64,
}

/// A threshold an analysis did not meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FairnessBreach {
    /// The analysis (`sex`, `sex × race`).
    pub analysis: String,
    /// The disparity.
    pub metric: String,
    /// `at_most` or `at_least`.
    pub bound: String,
    /// The threshold.
    pub threshold: f64,
    /// `null`: undefined.
    pub value: Option<f64>,
}

impl Predicate for Fairness {
    const TYPE: &'static str = "https://aigis.dev/predicate/fairness/v1";
    const NAME: &'static str = "fairness";
}

/// `aigis explain`: what a model's answers depend on. The subjects are the model
/// (`model:<path>`) and the data (`data:<path>`). Aggregates over the rows only (each
/// feature's mean absolute Shapley value, its permutation importance), never a row's own
/// values or explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The model output explained (its name in the signature).
    pub output: String,
    /// The data's features, in order.
    pub features: Vec<String>,
    /// Rows whose answers were explained by Shapley values.
    pub explained_rows: u64,
    /// Background rows after summarizing (k-means centres), and the rows they summarize.
    pub background: u64,
    /// The rows the background was summarized from.
    pub background_from: u64,
    /// `exact` (every coalition) or `kernel_shap` (sampled coalitions).
    pub method: String,
    /// Coalitions drawn per row when sampled; `null` when exact.
    pub samples: Option<u64>,
    /// The seed of the summary, the sample and the shuffles.
    pub seed: u64,
    /// Per feature, the mean absolute Shapley value over the explained rows.
    pub mean_abs_shap: Vec<f64>,
    /// Permutation importance, when labels were given.
    pub permutation: Option<PermutationImportance>,
    /// LIME, when it ran (`--lime`). Absent from runs before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lime: Option<LimeSummary>,
    /// The aigis that explained it.
    pub tool: Tool,
}

/// LIME over the explained rows, as aggregates: no row, no bin boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimeSummary {
    /// Neighbours drawn per row.
    pub samples: u64,
    /// Features each row's local model kept.
    pub features: u64,
    /// Per feature, the mean absolute LIME weight over the rows (0 where a row's local
    /// model left it out).
    pub mean_abs_weight: Vec<f64>,
    /// The local models' mean weighted R².
    pub mean_score: f64,
}

/// Permutation importance over a labelled table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermutationImportance {
    /// `accuracy` (a classifier) or `r2` (a regressor).
    pub metric: String,
    /// The score on the rows as they are.
    pub score: f64,
    /// Rows scored.
    pub rows: u64,
    /// Shuffles per feature.
    pub repeats: u64,
    /// Per feature, the score's mean drop when it is shuffled.
    pub mean: Vec<f64>,
    /// Per feature, the drop's standard deviation.
    pub std: Vec<f64>,
}

impl Predicate for Explanation {
    const TYPE: &'static str = "https://aigis.dev/predicate/explanation/v1";
    const NAME: &'static str = "explanation";
}

/// `aigis redteam`: how easily a model is fooled, by attacks run on labelled rows. The
/// subjects are the model (`model:<path>`) and the data (`data:<path>`). Counts, rates
/// and perturbation sizes only, never a row or an adversarial example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeam {
    /// The model output attacked (its name in the signature).
    pub output: String,
    /// Rows attacked from (0 when only membership inference ran).
    pub rows: u64,
    /// The share of them the model gets right (`null` without rows).
    pub clean_accuracy: Option<f64>,
    /// `exact` (the graph differentiated), `estimated` (central differences of the
    /// model's answers) or `none` (only decision-based attacks); `null` when no evasion
    /// attack ran.
    pub gradients: Option<String>,
    /// Why the gradients were estimated, when they were.
    pub gradients_note: Option<String>,
    /// The valid range every feature was clipped to, when one was given.
    pub clip: Option<[f64; 2]>,
    /// The seed of the random starts.
    pub seed: u64,
    /// Each evasion attack run.
    pub attacks: Vec<RedTeamAttack>,
    /// Membership inference, when members and non-members were given.
    pub membership: Option<RedTeamMembership>,
    /// Model extraction, when it ran. Absent from runs before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extraction: Option<RedTeamExtraction>,
    /// Poisoning of the training rows, when it ran. Absent from runs before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poisoning: Option<RedTeamPoisoning>,
    /// The thresholds the run was checked against.
    pub thresholds: Vec<RedTeamThreshold>,
    /// The thresholds not met (or not measured).
    pub breaches: Vec<RedTeamBreach>,
    /// Whether every threshold was met.
    pub passed: bool,
    /// Rows asked of the model through its runtime (or its server), all attacks
    /// together; gradients from its own graph are not queries. Absent from runs before
    /// it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<u64>,
    /// The aigis that attacked it.
    pub tool: Tool,
}

/// One attack of a [`RedTeam`] run, at one ε.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamAttack {
    /// `fgsm`, `pgd` or `hsj` (HopSkipJump: one run, its rows counted as fooled at each
    /// ε when their point is within ε).
    pub attack: String,
    /// `inf` or `l2`.
    pub norm: String,
    /// The largest perturbation.
    pub eps: f64,
    /// The step size.
    pub step: f64,
    /// Steps per run.
    pub steps: u64,
    /// Runs from random starts (0: one from the clean row).
    pub restarts: u64,
    /// The class every row was pushed to, when targeted.
    pub target: Option<u64>,
    /// Rows attacked (those the model gets right; targeted, not already of the target).
    pub attacked: u64,
    /// Attacked rows that fooled the model.
    pub succeeded: u64,
    /// `succeeded / attacked`.
    pub success_rate: Option<f64>,
    /// The share of every row the model still gets right under attack.
    pub robust_accuracy: Option<f64>,
    /// The median L∞ size of the successful perturbations.
    pub median_linf: Option<f64>,
    /// The median L2 size of the successful perturbations.
    pub median_l2: Option<f64>,
    /// Gradients computed per row.
    pub gradients_per_row: u64,
    /// Model queries per row.
    pub queries_per_row: u64,
    /// Wall-clock seconds of the attack (judging its rows aside).
    pub seconds: f64,
    /// Why the attack was not run (a budget spent), when it was not.
    pub skipped: Option<String>,
}

/// Membership inference in a [`RedTeam`] run: how well each attack tells the model's
/// training rows from held-out ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamMembership {
    /// Training rows (members) scored.
    pub members: u64,
    /// Held-out rows (non-members) scored.
    pub non_members: u64,
    /// Reference models (trained without these rows) the calibrated attacks used.
    pub references: u64,
    /// Each attack's power.
    pub attacks: Vec<RedTeamMembershipAttack>,
}

/// Model extraction: surrogates trained on the model's classes for more and more
/// queries, measured on the held-out (attacked) rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamExtraction {
    /// Where the queries came from: `random` (uniform in each feature's range),
    /// `profile` (a normal per feature fitted to the rows) or `pool` (the attacker's own
    /// rows, in order).
    pub source: String,
    /// The surrogate: hidden units of its one hidden layer (0: logistic regression).
    pub hidden: u64,
    /// Rows the surrogates were measured on.
    pub rows: u64,
    /// One point per budget, ascending.
    pub points: Vec<RedTeamExtractionPoint>,
    /// Why the budgets after the last point were not trained for (the time budget
    /// spent), when they were not: the run then failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Poisoning of the training rows: a model retrained by aigis on them clean and once
/// per poisoning (same trainer, same seed), each measured on the held-out (attacked)
/// rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamPoisoning {
    /// The trainer: hidden units of its one hidden layer (0: logistic regression).
    pub hidden: u64,
    /// Training rows.
    pub train_rows: u64,
    /// Held-out rows the models were measured on.
    pub rows: u64,
    /// The backdoor's target class.
    pub target: u64,
    /// The features the backdoor's trigger sets.
    pub trigger_features: Vec<u64>,
    /// The clean model's accuracy on the held-out rows.
    pub clean_accuracy: f64,
    /// The clean model's share of triggered held-out rows (not of the target) given
    /// the target.
    pub clean_backdoor_rate: f64,
    /// One per poisoning run (in the order asked).
    pub outcomes: Vec<RedTeamPoisoningOutcome>,
    /// Why the poisonings after the last outcome were not run (the time budget spent),
    /// when they were not: the run then failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A model trained on poisoned rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamPoisoningOutcome {
    /// `label-flip` or `backdoor`.
    pub kind: String,
    /// The share of the training rows asked for.
    pub rate: f64,
    /// Training rows poisoned.
    pub poisoned: u64,
    /// Its accuracy on the held-out rows.
    pub accuracy: f64,
    /// The clean model's accuracy less this one's.
    pub accuracy_drop: f64,
    /// A backdoor's success: the share of triggered held-out rows (not of the target)
    /// it gives the target.
    pub backdoor_success: Option<f64>,
}

/// A surrogate trained on `queries` of the model's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamExtractionPoint {
    /// Queries it was trained on.
    pub queries: u64,
    /// The share of rows where it gives the model's class.
    pub fidelity: f64,
    /// The share where it gives the true label.
    pub accuracy: f64,
}

/// One membership attack's ROC, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamMembershipAttack {
    /// `loss`, `confidence`, `reference` or `lira_offline`.
    pub attack: String,
    /// The area under the ROC curve (0.5: no better than a coin).
    pub auc: f64,
    /// The true-positive rate at a false-positive rate of at most 0.1 %.
    pub tpr_at_0_1_pct_fpr: f64,
    /// The true-positive rate at a false-positive rate of at most 1 %.
    pub tpr_at_1_pct_fpr: f64,
    /// The largest TPR − FPR (the membership advantage).
    pub advantage: f64,
}

/// A bound a [`RedTeam`] run is checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamThreshold {
    /// `robust-accuracy` (the lowest over the attacks), `clean-accuracy`,
    /// `success-rate` (the highest over the attacks), or `mia-auc`, `mia-tpr-at-0.001`,
    /// `mia-tpr-at-0.01` (the highest over the membership attacks).
    pub metric: String,
    /// `at_least` or `at_most`.
    pub bound: String,
    /// The bound's value.
    pub value: f64,
}

/// A threshold not met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedTeamBreach {
    /// The metric.
    pub metric: String,
    /// `at_least` or `at_most`.
    pub bound: String,
    /// The bound's value.
    pub threshold: f64,
    /// The value measured, or `null` when it could not be (an attack skipped): a
    /// verdict not reached is a breach.
    pub value: Option<f64>,
}

impl RedTeamAttack {
    /// The attack's name as a reader knows it: FGSM, PGD, HopSkipJump, Square.
    pub fn title(&self) -> String {
        match self.attack.as_str() {
            "hsj" => "HopSkipJump".into(),
            "square" => "Square".into(),
            other => other.to_uppercase(),
        }
    }
}

impl Predicate for RedTeam {
    const TYPE: &'static str = "https://aigis.dev/predicate/redteam/v1";
    const NAME: &'static str = "redteam";
}
