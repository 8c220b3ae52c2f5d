//! The aigis monitor: drift between a reference and current data, feature by feature,
//! with the tests scipy users know and the same p-values.
//!
//! - [`ks`]: the two-sample Kolmogorov–Smirnov test, exact and asymptotic p-values as
//!   `scipy.stats.ks_2samp` computes them, on [`kolmogorov`]'s distributions;
//! - [`stats`]: the chi-square test of homogeneity, the Wasserstein distance and the
//!   population stability index;
//! - [`drift`]: two tables compared column by column, with a verdict per feature and for
//!   the dataset (`aigis monitor drift`), or a table against a reference profile;
//! - [`sketch`]: the statistics against a profile's quantile sketch, with their error;
//! - [`detect`]: per-request detectors of inputs unlike the reference (an isolation
//!   forest, feature squeezing), fitted and calibrated offline (`aigis detect fit`);
//! - [`extraction`]: each principal's signs of copying a model through its API (PRADA's
//!   distances under a Shapiro–Wilk test, probing, the detectors' flag rate, a budget).
//!
//! ```
//! use aigis_monitor::ks::{Method, ks_2samp};
//!
//! // Both samples sorted; scipy.stats.ks_2samp gives 0.7142857142857143, 0.06565656565656565.
//! let r = ks_2samp(&[0.1, 0.4, 0.7, 1.5, 2.0], &[0.3, 0.5, 2.5, 3.0, 3.1, 4.0, 4.5]);
//! assert_eq!(r.method, Method::Exact);
//! assert!((r.statistic - 0.714_285_714_285_714_3).abs() < 1e-15);
//! assert!((r.p_value - 0.065_656_565_656_565_65).abs() < 1e-12);
//! ```

pub mod detect;
pub mod drift;
mod ecdf;
pub mod extraction;
pub mod kolmogorov;
pub mod ks;
pub mod sketch;
pub mod stats;
pub mod stream;

/// What went wrong in the monitor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table that cannot be read (the message names the file and row).
    #[error(transparent)]
    Data(#[from] aigis_data::Error),
    /// The two inputs' columns do not line up.
    #[error("{0}")]
    Columns(String),
    /// An option out of its range.
    #[error("{0}")]
    Options(String),
    /// A reference profile that cannot be used.
    #[error("{}: {message}", path.display())]
    Profile {
        path: std::path::PathBuf,
        message: String,
    },
}
