//! The aigis training stage.
//!
//! - [`mlp`]: a multilayer perceptron (or multinomial logistic regression) trained as
//!   scikit-learn's `MLPClassifier` trains one, written out as a standard ONNX model;
//! - [`dpsgd`]: the same network trained by DP-SGD (Poisson sampling, per-example
//!   clipping, Gaussian noise), differentially private with respect to one row;
//! - [`partition`]: deep partition aggregation, an ensemble whose every prediction carries
//!   the number of poisoned training rows it is certified to withstand;
//! - [`federated`] and [`aggregate`]: a federation's network, a client's local training
//!   and own DP, and the rules that combine a round's updates (FedAvg's mean, the median,
//!   the trimmed mean, Krum, multi-Krum), which `aigis federate` runs between processes;
//! - [`privacy`]: the accountant of DP-SGD: the `(ε, δ)` a run of the Poisson-subsampled
//!   Gaussian mechanism spends, by Rényi DP and by its privacy loss distribution
//!   ([`privacy::pld`]), and the noise multiplier a target ε needs (`aigis privacy
//!   epsilon`, `aigis privacy noise`).
//!
//! ```
//! use aigis_train::privacy::{self, Mechanism};
//!
//! // DP-SGD on MNIST as Abadi et al. ran it: batches of 256 of 60,000, σ = 1.1, 60 epochs.
//! let run = Mechanism { sampling_rate: 256.0 / 60_000.0, noise_multiplier: 1.1, steps: 14_062 };
//! let spent = privacy::epsilon(&run, 1e-5, &[])?;
//! assert!((spent.epsilon - 2.597).abs() < 0.01); // dp_accounting's RDP: 2.5966
//! let (tighter, _) = privacy::pld::epsilon(&run, 1e-5, privacy::pld::DEFAULT_INTERVAL)?;
//! assert!((tighter - 2.382).abs() < 0.01); // dp_accounting's PLD: 2.3817
//! # Ok::<(), privacy::Error>(())
//! ```

pub mod aggregate;
pub mod dpsgd;
pub mod federated;
pub mod mlp;
pub mod partition;
pub mod privacy;
