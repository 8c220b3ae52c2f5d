//! The aigis training stage.
//!
//! - [`privacy`]: the accountant of DP-SGD, the Rényi DP of the Poisson-subsampled
//!   Gaussian mechanism over its steps and the `(ε, δ)` it gives, and the noise multiplier
//!   a target ε needs (`aigis privacy epsilon`, `aigis privacy noise`).
//!
//! ```
//! use aigis_train::privacy::{self, Mechanism};
//!
//! // DP-SGD on MNIST as Abadi et al. ran it: batches of 256 of 60,000, σ = 1.1, 60 epochs.
//! let run = Mechanism { sampling_rate: 256.0 / 60_000.0, noise_multiplier: 1.1, steps: 14_062 };
//! let spent = privacy::epsilon(&run, 1e-5, &[])?;
//! assert!((spent.epsilon - 2.597).abs() < 0.01); // dp_accounting's RDP: 2.5966
//! # Ok::<(), privacy::Error>(())
//! ```

pub mod privacy;
