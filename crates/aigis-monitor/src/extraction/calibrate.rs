//! PRADA's threshold for one model. The Shapiro–Wilk W of a natural client's
//! nearest-query distances depends on the data: skewed features give skewed distances
//! (breast_cancer's natural rows reach W 0.82), so a fixed threshold either blocks
//! natural clients of one model or lets through copiers of another. PRADA sets it per
//! model from benign traffic; so does this, from the model's reference rows: `clients`
//! natural clients are simulated, each sending the reference rows in its own random
//! order, one per call, through the same steps the gateway's tracker takes (the growing
//! set of each class the model answers, repeats left out, the outliers beyond three
//! standard deviations left out). Each is tested at every call from `min_distances` on,
//! as the gateway tests it; its lowest W is kept. The threshold is the lowest of all,
//! less the gap between it and the median client's lowest (at least [`MARGIN`]).
//!
//! Why the gap and not a fixed margin: clients replaying one reference share its rows, so
//! they vary less than clients sending new rows of the same data do, the more so when
//! the data are heavy-tailed (a new sample holds rarer values than the reference did).
//! Measured on 6 normal or log-normal features (σ 0.5, 1 and 1.5), four references of
//! 400 rows each, 100 simulated clients, against 200 clients of 300 fresh rows: below the
//! lowest simulated W fell up to 18 % of the fresh clients (up to 12 % below the lowest
//! less 0.02); below the calibrated threshold, 2.5 % for one reference of the twelve
//! log-normal ones and at most 0.5 % for the others. The fixed 0.80 blocked none on
//! normal or σ 0.5 features, 25 % at σ 1 and 90 % at σ 1.5; on normal features the
//! calibrated threshold comes out at 0.87 to 0.91, above it. The test
//! `the_threshold_calibrated_on_skewed_data_spares_its_natural_clients` checks it.
//!
//! The probing sign is measured on the same clients (the largest share of probing steps
//! in any window), so a fit can say when natural rows sent in order would look like
//! probing; its threshold is not changed by it.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Client, Settings, Tracker};

/// How far under the lowest natural W the threshold is set, at least.
pub const MARGIN: f64 = 0.02;

/// The highest threshold a calibration sets: above it a natural client whose traffic is
/// less varied than the reference (rows from one region, one season) would be blocked.
pub const MAX_THRESHOLD: f64 = 0.95;

/// The lowest threshold a calibration sets (natural clients of the model reach W so low
/// that the distances tell them from nothing): the sign is then all but off, and the
/// fit says so.
pub const MIN_THRESHOLD: f64 = 0.01;

/// Natural clients simulated at most (each costs rows × points × features).
pub const MAX_CLIENTS: usize = 10_000;

/// Reference rows the clients are drawn from at most (a seeded sample beyond).
pub const MAX_POOL_ROWS: usize = 50_000;

/// Rows each simulated client sends at most.
const MAX_ROWS_PER_CLIENT: usize = 2000;

/// A calibration of PRADA's threshold, as the detector file keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibrated {
    /// The W below which a client's distances are not natural.
    pub threshold: f64,
    /// The natural clients simulated, each sending `rows_per_client` distinct reference
    /// rows in its own order.
    pub clients: usize,
    pub rows_per_client: usize,
    /// The settings it holds for: the distances before the first test, and the last this
    /// many tested.
    pub min_distances: usize,
    pub history: usize,
    /// The lowest W any simulated client reached, and the median of each one's lowest.
    pub lowest_w: f64,
    pub median_lowest_w: f64,
    /// The largest share of probing steps a simulated client reached in a window of
    /// `probe_window`.
    pub probe_window: usize,
    pub highest_probing_share: f64,
    pub seed: u64,
}

impl Calibrated {
    /// Checks what a file could get wrong; the error says what.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.threshold > 0.0 && self.threshold <= MAX_THRESHOLD) {
            return Err(format!(
                "the threshold {} is not above 0 and at most {MAX_THRESHOLD}",
                self.threshold
            ));
        }
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !unit(self.lowest_w) || !unit(self.median_lowest_w) || !unit(self.highest_probing_share)
        {
            return Err("a W or a share is not between 0 and 1".into());
        }
        let settings = Settings {
            min_distances: self.min_distances,
            history: self.history,
            probe_window: self.probe_window,
            ..Settings::default()
        };
        settings
            .validate()
            .map_err(|(key, m)| format!("{key} {m}"))?;
        if self.clients == 0 {
            return Err("it simulated no client".into());
        }
        Ok(())
    }
}

/// Each feature's multiplier in the tracker's distances: one over its range in the
/// reference, 1 where the range is empty or not finite.
pub fn scale_of(ranges: &[[f64; 2]]) -> Vec<f32> {
    ranges
        .iter()
        .map(|[lo, hi]| {
            let span = hi - lo;
            if span.is_finite() && span > 0.0 {
                (1.0 / span) as f32
            } else {
                1.0
            }
        })
        .collect()
}

/// Calibrates PRADA's threshold on `classes.len()` reference rows (`rows`, row-major, of
/// `scale.len()` features) and the class the model answers for each. The error says why
/// no calibration can be made (too few distinct rows for one test).
pub fn calibrate(
    settings: &Settings,
    scale: &[f32],
    rows: &[f64],
    classes: &[u32],
    clients: usize,
    seed: u64,
) -> Result<Calibrated, String> {
    let width = scale.len();
    if width == 0 || rows.len() != classes.len() * width {
        return Err(format!(
            "{} values are not {} rows of {width} features",
            rows.len(),
            classes.len()
        ));
    }
    if !(1..=MAX_CLIENTS).contains(&clients) {
        return Err(format!(
            "{clients} clients: from 1 to {MAX_CLIENTS} are simulated"
        ));
    }
    // The gateway's tracker of these settings: its test of the distances is the one made.
    let tracker =
        Tracker::new(settings.clone(), scale.to_vec()).map_err(|(key, m)| format!("{key} {m}"))?;
    // The rows as the tracker sees them: scaled, finite, each once.
    let mut seen = HashSet::new();
    let mut pool: Vec<(Vec<f32>, u32)> = Vec::new();
    for (row, &class) in rows.chunks_exact(width).zip(classes) {
        if row.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let scaled: Vec<f32> = row.iter().zip(scale).map(|(v, k)| *v as f32 * k).collect();
        if seen.insert(scaled.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()) {
            pool.push((scaled, class));
        }
    }
    let per_client = pool.len().min(MAX_ROWS_PER_CLIENT);
    let runs: Vec<(Option<f64>, f64)> = (0..clients)
        .into_par_iter()
        .map(|i| {
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(i as u64));
            let mut order: Vec<usize> = (0..pool.len()).collect();
            rng.shuffle(&mut order);
            replay(&tracker, &pool, order.get(..per_client).unwrap_or(&order))
        })
        .collect();
    let mut lowest: Vec<f64> = runs.iter().filter_map(|(w, _)| *w).collect();
    if lowest.len() < clients {
        return Err(format!(
            "{} distinct reference rows give a natural client too few nearest-query distances for one test (it needs {}): give more reference rows, or a smaller min_distances",
            pool.len(),
            settings.min_distances
        ));
    }
    lowest.sort_by(f64::total_cmp);
    let lowest_w = lowest.first().copied().unwrap_or(0.0);
    let median_lowest_w = lowest.get(lowest.len() / 2).copied().unwrap_or(0.0);
    let highest_probing_share = runs.iter().map(|(_, p)| *p).fold(0.0, f64::max);
    Ok(Calibrated {
        threshold: (lowest_w - (median_lowest_w - lowest_w).max(MARGIN))
            .clamp(MIN_THRESHOLD, MAX_THRESHOLD),
        clients,
        rows_per_client: per_client,
        min_distances: settings.min_distances,
        history: settings.history,
        lowest_w,
        median_lowest_w,
        probe_window: settings.probe_window,
        highest_probing_share,
        seed,
    })
}

/// One natural client sending `order`'s rows of `pool`: its lowest W over the tests the
/// gateway makes (none when it never has `min_distances` distances), and its largest
/// share of probing steps in a full window.
fn replay(tracker: &Tracker, pool: &[(Vec<f32>, u32)], order: &[usize]) -> (Option<f64>, f64) {
    let settings = tracker.settings();
    let mut client = Client::default();
    let mut lowest: Option<f64> = None;
    let mut probing: f64 = 0.0;
    for &i in order {
        let Some((row, class)) = pool.get(i) else {
            continue;
        };
        client.take(row, *class, settings);
        if client.steps.len() >= settings.probe_window {
            probing = probing.max(client.probing as f64 / client.steps.len() as f64);
        }
        // The gateway tests only when a distance came in since the last test.
        if client.distances.len() >= settings.min_distances && !client.distances_natural {
            let (w, _) = tracker.w_of(&client.distances);
            lowest = Some(lowest.map_or(w, |l| l.min(w)));
            client.distances_natural = true;
        }
    }
    (lowest, probing)
}
