//! Predicates of the training stage (`aigis train`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Predicate, Tool};

/// `aigis train`: a classifier trained on a table and written as ONNX. The subjects are
/// the table (`data:<path>`) and the model written (`model:<path>`). The settings, the
/// table's shape (rows, feature names, classes), the accuracy on the training rows and,
/// for a DP-SGD run, its guarantee and the budget it was charged to. Never a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// `mlp`, `softmax` or `logistic`.
    pub model: String,
    /// Rows trained on.
    pub rows: u64,
    /// The features, in the model's input order.
    pub features: Vec<String>,
    /// The label's column.
    pub label: String,
    /// The label's values, in the order of the model's class indices.
    pub classes: Vec<f64>,
    /// Hidden units (0 for a linear model).
    pub hidden: u64,
    /// Epochs run (for DP-SGD, the steps times the sampling rate, rounded up).
    pub epochs: u64,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The L2 penalty.
    pub alpha: f64,
    /// The seed of the initial weights (and, without DP, of the shuffles).
    pub seed: u64,
    /// The share of the training rows the model classifies right (measured on the data,
    /// outside any privacy guarantee).
    pub training_accuracy: f64,
    /// The share of the rows held out to stop on (`--validation-fraction`); `null` when
    /// none was.
    pub validation_fraction: Option<f64>,
    /// The held-out rows' accuracy at the epoch kept; `null` without a validation split.
    pub validation_accuracy: Option<f64>,
    /// The temperature of defensive distillation (the model is the student); `null`
    /// without.
    pub distillation_temperature: Option<f64>,
    /// A partition ensemble's partitions' sizes (rows), one per member; `null` for a
    /// single model.
    pub partitions: Option<Vec<u64>>,
    /// The adversarial training run; `null` when the network learned from the rows.
    pub adversarial: Option<TrainingAdversarial>,
    /// The signed manifest the table was checked against; `null` when none was.
    pub data_manifest: Option<TrainingManifest>,
    /// The DP-SGD run's guarantee; `null` when the training was not private.
    pub dp: Option<TrainingPrivacy>,
    /// `aigis <version>`.
    pub tool: Tool,
}

/// Adversarial training: each minibatch replaced by its adversarial examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingAdversarial {
    /// `pgd` (Madry et al.: trained on the examples) or `trades` (Zhang et al.: the clean
    /// cross-entropy plus β times the examples' divergence).
    pub method: String,
    /// TRADES' β; `null` for `pgd`.
    pub beta: Option<f64>,
    /// `linf`.
    pub norm: String,
    /// The radius, in the features' units.
    pub eps: f64,
    /// PGD steps per minibatch.
    pub steps: u64,
    /// Each step's size, in the features' units.
    pub step_size: f64,
    /// The features' valid range the examples were clipped into; `null` when none.
    pub clip: Option<[f64; 2]>,
}

/// The signed manifest (`aigis data sign`) a table matched, every file and chunk, before
/// it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingManifest {
    /// The manifest's Merkle root, in hex.
    pub root: String,
    /// The ledger index of the manifest's `data-manifest` evidence.
    pub evidence: u64,
    /// The key id that signed it.
    pub signed_by: String,
}

/// What a DP-SGD run promised: `(epsilon, delta)`-differential privacy with respect to
/// adding or removing one row of the table, and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingPrivacy {
    /// The ε spent: the smaller of the two accountants' (both are upper bounds).
    pub epsilon: f64,
    /// The δ of the guarantee.
    pub delta: f64,
    /// `pld` or `rdp`: the accountant whose ε is `epsilon`.
    pub accountant: String,
    /// Rényi DP's ε; `null` when it found no bound.
    pub rdp_epsilon: Option<f64>,
    /// The privacy loss distribution's ε; `null` when it found no bound.
    pub pld_epsilon: Option<f64>,
    /// The ε asked for (`--epsilon`); `null` when the noise was given.
    pub target_epsilon: Option<f64>,
    /// `poisson`: each step took each row independently with `sampling_rate`.
    pub sampling: String,
    /// Each row's probability of joining a step's batch.
    pub sampling_rate: f64,
    /// The noise's standard deviation over the clipping norm.
    pub noise_multiplier: f64,
    /// Steps run (fixed before training).
    pub steps: u64,
    /// Each row's gradient was clipped to this L2 norm.
    pub max_grad_norm: f64,
    /// Each feature's lower public bound (rows were clamped into the bounds), in feature
    /// order.
    pub bounds_low: Vec<f64>,
    /// Each feature's upper public bound.
    pub bounds_high: Vec<f64>,
    /// The project budget (`[[train.budget]]`) the run was charged to; `null` when the
    /// table is under none.
    pub budget: Option<String>,
}

impl Predicate for Training {
    const TYPE: &'static str = "https://aigis.dev/predicate/training/v1";
    const NAME: &'static str = "training";
}

/// `aigis certify`: a partition ensemble's predictions on a table, each certified against
/// a number of poisoned training rows (rows added or removed), summarized. The subjects
/// are the model (`model:<path>`) and the table (`data:<path>`). Counts and shares only,
/// never a row or a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certification {
    /// The ensemble's members (partitions).
    pub partitions: u64,
    /// Rows predicted.
    pub rows: u64,
    /// The label's column the accuracy was measured against; `null` without labels.
    pub label: Option<String>,
    /// The share of rows predicted right; `null` without labels.
    pub accuracy: Option<f64>,
    /// The median certificate, in training rows.
    pub median_certified_rows: u64,
    /// For each number of poisoned rows from 0 to the largest certificate, the share of
    /// rows certified for at least that many (and, with labels, right).
    pub certified: Vec<CertifiedShare>,
    /// `aigis <version>`.
    pub tool: Tool,
}

/// One point of a [`Certification`]'s curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifiedShare {
    /// Poisoned training rows.
    pub rows: u64,
    /// The share of rows certified for at least that many (and right, with labels).
    pub share: f64,
}

impl Predicate for Certification {
    const TYPE: &'static str = "https://aigis.dev/predicate/certification/v1";
    const NAME: &'static str = "certification";
}

/// `aigis federate serve`: one round of a federation, recorded by the coordinator before
/// the next round starts. The subject is the round's model
/// (`federation:<name>/round-<n>`, SHA-256 of its parameters as little-endian `f64`s).
/// Each update is named by its digest and carries its client's Ed25519 signature of
/// `aigis-federate-update/v1\n<federation>\n<round>\n<base>\n<update digest>\n<rows>\n`,
/// so the rounds chain (each `base` is the last round's `model`) and every update can be
/// checked against its client's key. Never a parameter or a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedRound {
    /// The federation's name.
    pub federation: String,
    /// The round, from 1.
    pub round: u64,
    /// The model the round started from.
    pub base: String,
    /// The model the round made.
    pub model: String,
    /// `mean`, `median`, `trimmed-mean`, `krum` or `multi-krum`.
    pub rule: String,
    /// Each update's L2 norm bound before the rule (each client's own under secure
    /// aggregation); `null` without.
    pub norm_bound: Option<f64>,
    /// Whether the round was securely aggregated: the coordinator saw only masked
    /// updates, and each update's `digest` and signature are of its masked form
    /// (`aigis-federate-masked/v1\n<federation>\n<round>\n<base>\n<digest>\n`).
    pub secure_aggregation: bool,
    /// The clients sampled, by name.
    pub sampled: Vec<String>,
    /// The updates combined.
    pub updates: Vec<FederatedUpdate>,
    /// The sampled clients whose update is not in the round, and why (stragglers,
    /// declines, rejections, departures).
    pub absent: Vec<FederatedAbsent>,
    /// SHA-256 of the aggregate update.
    pub aggregate: String,
    /// `aigis <version>`.
    pub tool: Tool,
}

/// One client's update in a [`FederatedRound`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedUpdate {
    /// The client's name (its verifier key's).
    pub client: String,
    /// SHA-256 of its Ed25519 public key, hex.
    pub key_id: String,
    /// The rows it says it trained on (the mean's weight); `null` under secure
    /// aggregation, where the weight is inside the masked update.
    pub rows: Option<u64>,
    /// SHA-256 of the update.
    pub digest: String,
    /// Its Ed25519 signature, hex.
    pub signature: String,
    /// Whether the rule used it.
    pub selected: bool,
    /// Whether its norm was bounded.
    pub clipped: bool,
}

/// A sampled client missing from a [`FederatedRound`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedAbsent {
    /// The client's name.
    pub client: String,
    /// SHA-256 of its public key, hex.
    pub key_id: String,
    /// Why.
    pub reason: String,
}

/// `aigis federate serve`: a federation's model, written as ONNX. The subjects are the
/// model file (`model:<path>`) and its parameters (`federation:<name>`, the last round's
/// `model`). The settings every party trained under; the rounds are their own entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    /// The federation's name.
    pub federation: String,
    /// The clients allowed, by name and key id.
    pub clients: Vec<FederatedClient>,
    /// Rounds run.
    pub rounds: u64,
    /// The features, in the model's input order.
    pub features: Vec<String>,
    /// The label's values, in the order of the model's class indices.
    pub classes: Vec<f64>,
    /// Hidden units (0: softmax regression).
    pub hidden: u64,
    /// Each feature's public lower bound.
    pub bounds_low: Vec<f64>,
    /// Each feature's public upper bound.
    pub bounds_high: Vec<f64>,
    /// How updates were combined.
    pub rule: String,
    /// The rule's setting: the trimmed share, or the poisoning clients Krum tolerates;
    /// `null` for the mean and the median.
    pub rule_parameter: Option<f64>,
    /// Each update's L2 norm bound; `null` without.
    pub norm_bound: Option<f64>,
    /// Whether the rounds were securely aggregated.
    pub secure_aggregation: bool,
    /// Clients sampled a round.
    pub per_round: u64,
    /// The clients' local epochs a round.
    pub local_epochs: u64,
    /// Their SGD step.
    pub learning_rate: f64,
    /// Their batch size.
    pub batch_size: u64,
    /// The seed of the first model.
    pub seed: u64,
    /// SHA-256 of the first model's parameters.
    pub first_model: String,
    /// SHA-256 of the final model's parameters.
    pub final_model: String,
    /// `aigis <version>`.
    pub tool: Tool,
}

/// A client allowed into a [`Federation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedClient {
    /// Its name (its verifier key's).
    pub name: String,
    /// SHA-256 of its public key, hex.
    pub key_id: String,
}

/// `aigis federate join`: a client's part in a federation, recorded by the client. The
/// subjects are its table (`data:<path>`) and the federation's final model
/// (`federation:<name>`). Never a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedParticipation {
    /// The federation's name.
    pub federation: String,
    /// SHA-256 of the coordinator's public key, hex.
    pub coordinator_key_id: String,
    /// Rows of the table.
    pub rows: u64,
    /// The label's column.
    pub label: String,
    /// The federation's rounds.
    pub rounds: u64,
    /// The rounds this client trained in.
    pub trained: u64,
    /// The client's own differential privacy; `null` without.
    pub dp: Option<ClientPrivacy>,
    /// The model written, if any (`--output`); `null` otherwise.
    pub output: Option<String>,
    /// `aigis <version>`.
    pub tool: Tool,
}

/// A client's own differential privacy in a federation: each update clipped and noised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPrivacy {
    /// Each update's L2 norm bound.
    pub clip: f64,
    /// The noise's deviation over the bound.
    pub noise_multiplier: f64,
    /// The guarantee's δ.
    pub delta: f64,
    /// The ε spent over the rounds trained, each a Gaussian mechanism on the whole table
    /// (the tighter of PLD and RDP).
    pub epsilon: f64,
    /// The most ε the client would spend; `null` without a limit.
    pub epsilon_limit: Option<f64>,
}

impl Predicate for FederatedRound {
    const TYPE: &'static str = "https://aigis.dev/predicate/federated-round/v1";
    const NAME: &'static str = "federated-round";
}

impl Predicate for Federation {
    const TYPE: &'static str = "https://aigis.dev/predicate/federation/v1";
    const NAME: &'static str = "federation";
}

impl Predicate for FederatedParticipation {
    const TYPE: &'static str = "https://aigis.dev/predicate/federated-participation/v1";
    const NAME: &'static str = "federated-participation";
}
