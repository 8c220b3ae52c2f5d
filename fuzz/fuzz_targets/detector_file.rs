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
//! extraction calibration, accepted atypical cuts and accepted class counts give
//! settings the gateway's tracker takes; the class-by-class test over such counts gives
//! a probability.
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
    // Accepted atypical cuts are finite, and give a rate the tracker takes (or none).
    if let Some(a) = &detector.calibration.atypical {
        assert!(a.cuts.values().all(|c| c.is_finite()), "{a:?}");
        let rate = aigis_monitor::extraction::atypical_rate(
            a.above as u64,
            detector.calibration.calibration_rows as u64,
        );
        let settings = aigis_monitor::extraction::Settings {
            atypical_rate: rate,
            ..aigis_monitor::extraction::Settings::default()
        };
        assert!(settings.validate().is_ok(), "{a:?}: {rate:?}");
    }
    // Accepted class counts give settings the tracker takes, and the class-by-class
    // test over them gives a probability, at once, whatever the counts.
    if let Some(b) = &detector.calibration.by_class {
        let settings = aigis_monitor::extraction::Settings {
            flag_rate: Some(0.05),
            flag_by_class: Some(b.classes.clone()),
            ..aigis_monitor::extraction::Settings::default()
        };
        assert!(settings.validate().is_ok(), "{b:?}");
        let strata: Vec<_> = b
            .classes
            .iter()
            .map(|c| aigis_monitor::extraction::Stratum {
                rows: c.rows.saturating_mul(3),
                flagged: c.flagged.saturating_mul(5).min(c.rows.saturating_mul(3)),
                clean_rows: c.rows,
                clean_flagged: c.flagged,
            })
            .collect();
        let p = aigis_monitor::extraction::stratified_tail(&strata);
        assert!((0.0..=1.0).contains(&p), "{p}");
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
