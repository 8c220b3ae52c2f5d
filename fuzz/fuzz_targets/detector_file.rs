//! The detector file (`aigis detect fit`) and the `.npy` arrays `aigis detect` reads, from
//! any bytes: the whole input is read as a detector file and, separately, as an `.npy`
//! array. A detector file that is accepted then scores the rows of that array, or rows
//! made of the input's bytes, with a model that answers the same probabilities for every
//! row.
//!
//! Checks that nothing panics or hangs: a forest read from a file could name a column
//! past the row's end or a child before its parent (a walk that never ends); validation
//! must refuse both; a Mahalanobis factor of the wrong size or with a diagonal that is not
//! positive too. Every score of an accepted file is in 0..=1 (ood), at least 0
//! (mahalanobis) or in 0..=2 (squeeze), or absent with the row flagged. An accepted
//! extraction calibration gives settings the gateway's tracker takes.
#![no_main]

use aigis_monitor::detect::{Detector, Matrix, Model, input::npy};
use libfuzzer_sys::fuzz_target;

/// Two classes, even odds, whatever the row.
struct Even;

impl Model for Even {
    fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
        Ok((vec![0.5; rows.rows * 2], 2))
    }
}

fuzz_target!(|data: &[u8]| {
    let array = npy(data).ok();
    let Ok(detector) = Detector::from_json(data) else {
        return;
    };
    if let Some(ex) = &detector.extraction {
        let p = &ex.prada;
        let settings = aigis_monitor::extraction::Settings {
            threshold: p.threshold,
            min_distances: p.min_distances,
            history: p.history,
            probe_window: p.probe_window,
            ..aigis_monitor::extraction::Settings::default()
        };
        assert!(settings.validate().is_ok(), "{p:?}");
    }
    let cols = detector.features.len();
    let rows = match array {
        Some(m) if m.cols == cols && m.rows <= 64 => m,
        _ => {
            let values: Vec<f64> = data
                .iter()
                .take(cols.saturating_mul(4).min(4096))
                .map(|&b| f64::from(b) - 128.0)
                .collect();
            let n = values.len() / cols.max(1);
            let values = values.get(..n * cols).unwrap_or_default().to_vec();
            match Matrix::new(n, cols, values, Matrix::positional_names(cols)) {
                Ok(m) => m,
                Err(_) => return,
            }
        }
    };
    if let Ok(results) = detector.score(&rows, Some(&Even)) {
        for r in results {
            if let Some(Some(s)) = r.scores.get("ood") {
                assert!((0.0..=1.0).contains(s), "ood score {s}");
            }
            if let Some(Some(s)) = r.scores.get("mahalanobis") {
                assert!(*s >= 0.0, "mahalanobis score {s}");
            }
            if let Some(Some(s)) = r.scores.get("squeeze") {
                assert!((0.0..=2.0).contains(s), "squeeze score {s}");
            }
            if r.scores.values().any(Option::is_none) {
                assert!(r.flagged, "a row without a score passed");
            }
        }
    }
});
