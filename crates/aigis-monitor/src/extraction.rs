//! Extraction detection per principal: a client copying a model through its API queries
//! it in ways benign clients do not. Three signs are tracked for each principal, from the
//! rows it sends and the classes the model answers, without keeping its requests beyond a
//! bounded set of points:
//!
//! - **distances** (after PRADA, Juuti et al., 2019): for each query, the distance to the
//!   nearest earlier query of the same predicted class in a growing set of that client's
//!   queries. Natural inputs give distances close to normally distributed; synthetic ones
//!   (random points, perturbations of a few seeds, grids) do not. Once `min_distances`
//!   distances are in, their Shapiro–Wilk W (outliers beyond three standard deviations
//!   left out, as PRADA does) below `threshold` makes the client suspected.
//! - **probing**: a step from one query to the next that changes at most a tenth of the
//!   features (a one-feature sweep, a grid walked in order), that continues along the
//!   line of the step before (a line search, the binary search of a boundary walk), or
//!   that is 0.3 to 0.7 times as long as the step before and roughly along its line
//!   (|cos| ≥ 0.6): a binary search whose midpoints are rounded to whole numbers (as a
//!   copier of a model with integer features must, or the profile refuses them) leaves
//!   the exact line by the rounding, and still halves its step each time. When such steps
//!   are `probe_share` or more of the last `probe_window`, the client is suspected.
//! - **inputs**: the share of its rows the per-request detectors flagged (out of
//!   distribution, squeezing), against the rate they flag clean rows (the 99.9 % upper
//!   confidence bound of the rate measured on their calibration rows,
//!   [`clean_rate_bound`]: a rate measured on few rows is not taken at its word): when a
//!   binomial test gives less than `flag_alpha` that clean rows would be flagged this
//!   often, the client is suspected. Random and synthetic queries that PRADA's
//!   distances cannot tell from natural ones (points drawn from a smooth box) are far from
//!   the training data, and this is how they show. With the calibration rows counted by
//!   the class the model answers ([`Settings::flag_by_class`]), the client must also be
//!   flagged more often than clean rows of the same classes ([`stratified_tail`]): a
//!   natural client of one sub-population, whose rows the detectors flag more often than
//!   the whole data's (digits 4 on digits: 12 % against 4 %), is then compared with that
//!   sub-population, while a copier flagged as often in classes whose clean rows are
//!   rarely flagged is still caught.
//! - **atypical**: the share of its rows among the most atypical tenth of clean rows by a
//!   detector's score (above the cuts [`crate::detect::Atypical`] sets on the
//!   calibration rows), tested as the inputs sign is against the 99.9 % upper bound of
//!   the share of calibration rows above them, and never against less than
//!   [`ATYPICAL_FLOOR`]: a client is suspected when significantly more than half its rows
//!   are atypical. Synthetic queries can stay under the thresholds set for a 1 %
//!   false-positive rate and yet be nearly all in that tenth (on digits, images of
//!   independent pixels drawn from real digits: 99–100 % of them); natural clients of one
//!   class, one sub-population of the data, had at most 26 % of their rows there on
//!   digits, breast_cancer and wine (measured with `bench/extraction_eval.py`'s data).
//!   Traffic of a world that drifted far from the training data, every client of it, can
//!   be atypical too: that is drift, which `[serve.models.drift]` names.
//! - **budget**: more rows than the budget.
//!
//! A row the principal sent before (among its last `history` distinct rows) is counted
//! towards the budget only: a repeat tells the client nothing new, and what the
//! detectors made of it was counted the first time (a natural client replaying a few
//! rows the detectors flag would otherwise pile up evidence from the same rows).
//!
//! A suspicion is kept for as long as the tracker keeps the principal: it is never
//! evicted while suspected. Distances are Euclidean over the features each multiplied by
//! its scale (one over the reference's range, when one is known), so that one feature of
//! large values does not decide them.
//!
//! Memory is bounded: at most `max_principals` principals (the one seen longest ago and
//! not suspected is dropped for a new one; when every one is suspected, a new principal is
//! itself suspected, as `untracked`: a verdict that cannot be reached is not a pass), and
//! at most `max_points` points per principal, four bytes a feature. The worst case is
//! `max_principals × max_points × features × 4` bytes.
//!
//! What it cannot see: a copier that spreads its queries over many principals, or that
//! mixes its synthetic queries with enough natural ones, keeps each principal's traffic
//! looking benign (PRADA's own limits); the query budget and the rate limits bound what
//! each principal gets.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, PoisonError};

mod calibrate;
pub use calibrate::{
    Calibrated, MARGIN, MAX_CLIENTS, MAX_POOL_ROWS, MAX_THRESHOLD, MIN_THRESHOLD, calibrate,
    scale_of,
};

/// The detector's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Shapiro–Wilk W below which a client's distances are not natural.
    pub threshold: f64,
    /// Distances needed before the test is made.
    pub min_distances: usize,
    /// The distances tested: the last this many.
    pub history: usize,
    /// Steps looked at for probing.
    pub probe_window: usize,
    /// The share of probing steps in the window that makes a client suspected.
    pub probe_share: f64,
    /// Rows a principal may send before it is suspected.
    pub budget: Option<u64>,
    /// The rate at which the per-request detectors flag clean rows (their calibrated
    /// false-positive rate); `None` leaves the inputs sign out.
    pub flag_rate: Option<f64>,
    /// The binomial tail below which a client's flagged (or atypical) rows are too many.
    pub flag_alpha: f64,
    /// The share of clean rows above the detectors' atypical cuts (at least
    /// [`ATYPICAL_FLOOR`], [`atypical_rate`]); `None` leaves the atypical sign out.
    pub atypical_rate: Option<f64>,
    /// The clean rows the detectors flagged per class the model answers (a detector
    /// file's calibration rows): the inputs sign then compares a client's flagged rows
    /// with them class by class ([`stratified_tail`]), so a client that asks about one
    /// sub-population only is not taken for a copier because the detectors flag more
    /// of that sub-population's rows than of the whole data's. `None`: the whole
    /// data's rate alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_by_class: Option<Vec<ClassFlags>>,
    /// Principals tracked at once.
    pub max_principals: usize,
    /// Points kept per principal.
    pub max_points: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            min_distances: 100,
            history: 1000,
            probe_window: 64,
            probe_share: 0.5,
            budget: None,
            flag_rate: None,
            flag_alpha: 1e-6,
            atypical_rate: None,
            flag_by_class: None,
            max_principals: 1024,
            max_points: 1024,
        }
    }
}

/// The default W threshold (measured in `bench/extraction_eval.py`: see BENCHMARKS.md).
pub const DEFAULT_THRESHOLD: f64 = 0.80;

impl Settings {
    /// Refuses settings that cannot work; the error names the setting.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(("threshold", "must be between 0 and 1".into()));
        }
        if !(3..=5000).contains(&self.min_distances) {
            return Err(("min_distances", "must be between 3 and 5000".into()));
        }
        if self.history < self.min_distances || self.history > 5000 {
            return Err((
                "history",
                "must be at least min_distances and at most 5000 (where Shapiro–Wilk holds)".into(),
            ));
        }
        if !(2..=100_000).contains(&self.probe_window) {
            return Err(("probe_window", "must be between 2 and 100000".into()));
        }
        if !(self.probe_share > 0.0 && self.probe_share <= 1.0) {
            return Err(("probe_share", "must be above 0 and at most 1".into()));
        }
        if self.flag_rate.is_some_and(|r| !(r > 0.0 && r < 1.0)) {
            return Err(("flag_rate", "must be between 0 and 1".into()));
        }
        if self.atypical_rate.is_some_and(|r| !(r > 0.0 && r < 1.0)) {
            return Err(("atypical_rate", "must be between 0 and 1".into()));
        }
        if let Some(by_class) = &self.flag_by_class {
            check_class_flags(by_class).map_err(|m| ("flag_by_class", m))?;
        }
        if !(self.flag_alpha > 0.0 && self.flag_alpha < 0.5) {
            return Err(("flag_alpha", "must be above 0 and below 0.5".into()));
        }
        if self.budget == Some(0) {
            return Err(("budget", "must be at least 1 row".into()));
        }
        if self.max_principals == 0 {
            return Err(("max_principals", "must be at least 1".into()));
        }
        if self.max_points < 2 {
            return Err(("max_points", "must be at least 2".into()));
        }
        Ok(())
    }
}

/// Why a principal is suspected.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "sign", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reason {
    /// Its distances are not natural: their Shapiro–Wilk W is below the threshold.
    Distances {
        w: f64,
        distances: usize,
        threshold: f64,
    },
    /// Its steps probe: this share of the last `window` steps did.
    Probing { share: f64, window: usize },
    /// The detectors flagged `flagged` of its `rows`, at most `rate` of clean rows.
    Inputs {
        flagged: u64,
        rows: u64,
        rate: f64,
        p_value: f64,
    },
    /// `atypical` of its `rows` were above the detectors' atypical cuts, at most `rate`
    /// of clean rows.
    Atypical {
        atypical: u64,
        rows: u64,
        rate: f64,
        p_value: f64,
    },
    /// It sent more rows than the budget.
    Budget { budget: u64 },
    /// It could not be tracked: every tracked principal is suspected.
    Untracked,
}

impl Reason {
    /// Its name in evidence and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Distances { .. } => "distances",
            Reason::Probing { .. } => "probing",
            Reason::Inputs { .. } => "inputs",
            Reason::Atypical { .. } => "atypical",
            Reason::Budget { .. } => "budget",
            Reason::Untracked => "untracked",
        }
    }

    /// One line for the audit record (no value of a query).
    pub fn describe(&self) -> String {
        match self {
            Reason::Distances {
                w,
                distances,
                threshold,
            } => format!(
                "distances: the Shapiro–Wilk W of its last {distances} nearest-query distances is {w:.4}, below {threshold}"
            ),
            Reason::Probing { share, window } => format!(
                "probing: {:.0}% of its last {window} steps changed few features, followed a line or halved along one",
                share * 100.0
            ),
            Reason::Inputs {
                flagged,
                rows,
                rate,
                p_value,
            } => format!(
                "inputs: the detectors flagged {flagged} of its {rows} rows (clean rows: {:.1}%; binomial p = {p_value:.1e})",
                rate * 100.0
            ),
            Reason::Atypical {
                atypical,
                rows,
                rate,
                p_value,
            } => format!(
                "atypical: {atypical} of its {rows} rows were among the most atypical tenth of clean rows by a detector's score (clean rows: at most {:.1}%; binomial p = {p_value:.1e})",
                rate * 100.0
            ),
            Reason::Budget { budget } => format!("budget: more than {budget} rows"),
            Reason::Untracked => {
                "untracked: every principal the detector can track is suspected".into()
            }
        }
    }

    /// The score: how far past its limit the sign is (1 − W for distances, the share for
    /// probing, 1 otherwise).
    pub fn score(&self) -> f64 {
        match self {
            Reason::Distances { w, .. } => 1.0 - w,
            Reason::Probing { share, .. } => *share,
            Reason::Inputs { flagged, rows, .. } => *flagged as f64 / (*rows).max(1) as f64,
            Reason::Atypical { atypical, rows, .. } => *atypical as f64 / (*rows).max(1) as f64,
            Reason::Budget { .. } | Reason::Untracked => 1.0,
        }
    }
}

/// A principal under suspicion.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suspicion {
    pub reason: Reason,
    /// Its rows when it became suspected.
    pub after_rows: u64,
}

/// What one call told the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The principal's suspicion, if any (new or older).
    pub suspicion: Option<Suspicion>,
    /// Whether this call made it.
    pub new: bool,
    /// Its rows so far.
    pub rows: u64,
}

/// The per-principal state of one model's extraction detector.
#[derive(Debug)]
pub struct Tracker {
    settings: Settings,
    /// Each feature's multiplier.
    scale: Vec<f32>,
    clients: Mutex<Clients>,
    /// Keys the hashes of rows (repeats are told by them) with this process's own random
    /// keys, so no one can make distinct rows look repeated.
    hasher: RandomState,
    /// The Shapiro–Wilk coefficients of the sizes tested last (the outliers left out vary
    /// the size by a few from call to call).
    coefficients: Mutex<VecDeque<(usize, Arc<Vec<f64>>)>>,
}

/// Sizes whose coefficients are kept.
const COEFFICIENT_SIZES: usize = 16;

#[derive(Debug, Default)]
struct Clients {
    /// Each principal, with when it was last seen.
    map: HashMap<String, (u64, Arc<Mutex<Client>>)>,
    tick: u64,
}

#[derive(Debug, Default)]
struct Client {
    rows: u64,
    /// Rows the per-request detectors flagged, rows above their atypical cuts, and rows
    /// they looked at.
    flagged: u64,
    atypical: u64,
    inspected: u64,
    /// With [`Settings::flag_by_class`]: the rows counted in each of its classes and how
    /// many were flagged (the last slot: classes it does not have), and how many of the
    /// inspected rows were counted there (all of them, unless a call did not say).
    by_class: Vec<[u64; 2]>,
    attributed: u64,
    /// The inspected rows when the class-by-class test last found the flagged rows
    /// natural: it is made again once they grow by a hundredth.
    stratified_at: std::cell::Cell<u64>,
    /// The growing set of each predicted class.
    classes: HashMap<u32, Growing>,
    points: usize,
    /// The last `history` nearest distances.
    distances: VecDeque<f64>,
    /// Whether `distances`, as they are, were tested and found natural: a call that adds
    /// no distance (repeated rows) does not test them again.
    distances_natural: bool,
    previous: Option<Vec<f32>>,
    step: Option<Vec<f32>>,
    /// Whether each of the last `probe_window` steps probed, and how many did.
    steps: VecDeque<bool>,
    probing: usize,
    suspicion: Option<Suspicion>,
    /// The hashes of the last `history` distinct rows, to leave repeats out.
    seen: HashSet<u64>,
    seen_order: VecDeque<u64>,
}

/// One class's growing set (PRADA's `G_c`), with the distances that grew it.
#[derive(Debug, Default)]
struct Growing {
    points: Vec<f32>,
    threshold: f64,
    count: f64,
    sum: f64,
    sum_sq: f64,
}

impl Tracker {
    /// A tracker for rows of `scale.len()` features, each multiplied by its scale.
    pub fn new(settings: Settings, scale: Vec<f32>) -> Result<Self, (&'static str, String)> {
        settings.validate()?;
        if scale.is_empty() || scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err((
                "scale",
                "each feature needs a finite, positive scale".into(),
            ));
        }
        Ok(Self {
            settings,
            scale,
            clients: Mutex::new(Clients::default()),
            hasher: RandomState::new(),
            coefficients: Mutex::new(VecDeque::new()),
        })
    }

    /// The features of a row.
    pub fn width(&self) -> usize {
        self.scale.len()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Each feature's multiplier.
    pub fn scale(&self) -> &[f32] {
        &self.scale
    }

    /// The principal's suspicion, if it is suspected (it is not tracked for this).
    pub fn suspected(&self, principal: &str) -> Option<Suspicion> {
        let client = {
            let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            clients.map.get(principal).map(|(_, c)| Arc::clone(c))?
        };
        let client = client.lock().unwrap_or_else(PoisonError::into_inner);
        client.suspicion.clone()
    }

    /// The rows a principal sent and the points kept for it, when it is tracked.
    pub fn held(&self, principal: &str) -> Option<(u64, usize)> {
        let client = {
            let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            clients.map.get(principal).map(|(_, c)| Arc::clone(c))?
        };
        let client = client.lock().unwrap_or_else(PoisonError::into_inner);
        Some((client.rows, client.points))
    }

    /// Principals tracked now.
    pub fn principals(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Takes one call of `principal`: `rows` is `classes.len()` rows of [`Tracker::width`]
    /// features, row-major, and `classes` the model's answer for each; `looked`, when
    /// the per-request detectors looked at the rows, what they found. A row with a value
    /// that is not a finite number counts towards the budget only.
    pub fn observe(
        &self,
        principal: &str,
        rows: &[f64],
        classes: &[u32],
        looked: Option<Looked>,
    ) -> Observed {
        let Some(client) = self.client(principal) else {
            return Observed {
                suspicion: Some(Suspicion {
                    reason: Reason::Untracked,
                    after_rows: 0,
                }),
                new: true,
                rows: 0,
            };
        };
        let mut client = client.lock().unwrap_or_else(PoisonError::into_inner);
        let was = client.suspicion.is_some();
        let width = self.width();
        let mut scaled = vec![0f32; width];
        // Which rows are new to the client: a repeat is counted towards the budget only,
        // by every sign (the detectors' verdict on it was counted the first time).
        let mut fresh = Vec::with_capacity(classes.len());
        for (row, &class) in rows.chunks_exact(width).zip(classes) {
            client.rows = client.rows.saturating_add(1);
            if row.iter().any(|v| !v.is_finite()) {
                // Not a point to track, but what the detectors made of it counts.
                fresh.push(true);
                continue;
            }
            for ((s, v), k) in scaled.iter_mut().zip(row).zip(&self.scale) {
                *s = *v as f32 * k;
            }
            let hash = self
                .hasher
                .hash_one(scaled.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            // A repeated query tells the client nothing new: not a step, not a distance.
            if !client.seen.insert(hash) {
                fresh.push(false);
                continue;
            }
            fresh.push(true);
            client.seen_order.push_back(hash);
            while client.seen_order.len() > self.settings.history {
                if let Some(old) = client.seen_order.pop_front() {
                    client.seen.remove(&old);
                }
            }
            client.take(&scaled, class, &self.settings);
        }
        if let Some(l) = looked {
            client.count_looked(&l, &fresh, self.settings.flag_by_class.as_deref());
        }
        if client.suspicion.is_none() {
            let reason = self.judge(&mut client);
            if let Some(reason) = reason {
                let after_rows = client.rows;
                client.suspicion = Some(Suspicion { reason, after_rows });
            }
        }
        Observed {
            suspicion: client.suspicion.clone(),
            new: !was && client.suspicion.is_some(),
            rows: client.rows,
        }
    }

    /// The principals suspected now, and why, by name (what a later start of the
    /// gateway restores with [`Tracker::restore`]).
    pub fn suspects(&self) -> Vec<(String, Suspicion)> {
        let clients: Vec<(String, Arc<Mutex<Client>>)> = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .iter()
            .map(|(name, (_, c))| (name.clone(), Arc::clone(c)))
            .collect();
        let mut out: Vec<(String, Suspicion)> = clients
            .into_iter()
            .filter_map(|(name, c)| {
                let s = c
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .suspicion
                    .clone()?;
                Some((name, s))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Makes `principal` suspected for `suspicion` (an earlier run's) unless it is
    /// already; `false` when it cannot be tracked (every tracked principal is
    /// suspected).
    pub fn restore(&self, principal: &str, suspicion: Suspicion) -> bool {
        let Some(client) = self.client(principal) else {
            return false;
        };
        let mut client = client.lock().unwrap_or_else(PoisonError::into_inner);
        if client.suspicion.is_none() {
            client.rows = client.rows.max(suspicion.after_rows);
            client.suspicion = Some(suspicion);
        }
        true
    }

    /// Forgets `principal`: its suspicion and its history (it starts over).
    pub fn forget(&self, principal: &str) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .remove(principal);
    }

    /// The principal's state, made for it when new; `None` when it cannot be tracked.
    fn client(&self, principal: &str) -> Option<Arc<Mutex<Client>>> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.tick += 1;
        let tick = clients.tick;
        if let Some((seen, c)) = clients.map.get_mut(principal) {
            *seen = tick;
            return Some(Arc::clone(c));
        }
        if clients.map.len() >= self.settings.max_principals {
            // The one seen longest ago that is not suspected makes room; a client busy in
            // another call is not dropped.
            let oldest = clients
                .map
                .iter()
                .filter(|(_, (_, c))| c.try_lock().map(|c| c.suspicion.is_none()).unwrap_or(false))
                .min_by_key(|(_, (seen, _))| *seen)
                .map(|(name, _)| name.clone())?;
            clients.map.remove(&oldest);
        }
        let client = Arc::new(Mutex::new(Client::default()));
        clients
            .map
            .insert(principal.to_owned(), (tick, Arc::clone(&client)));
        Some(client)
    }

    /// The Shapiro–Wilk coefficients of `n` values, from the cache when there.
    fn coefficients_of(&self, n: usize) -> Arc<Vec<f64>> {
        let mut cache = self
            .coefficients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, a)) = cache.iter().find(|(m, _)| *m == n) {
            return Arc::clone(a);
        }
        let a = Arc::new(coefficients(n));
        if cache.len() >= COEFFICIENT_SIZES {
            cache.pop_front();
        }
        cache.push_back((n, Arc::clone(&a)));
        a
    }

    /// The Shapiro–Wilk W of a client's distances, those beyond three standard
    /// deviations left out (as PRADA does), and how many were kept. Distances that are all
    /// the same (a grid's) are as unnatural as they come: W 0.
    fn w_of(&self, distances: &VecDeque<f64>) -> (f64, usize) {
        let kept = within_three_sd(distances.iter().copied());
        let w = w_statistic(&kept, &self.coefficients_of(kept.len())).unwrap_or(0.0);
        (w, kept.len())
    }

    /// Whether flagged rows the whole data's rate finds too many (with `p_value`) are too
    /// many class by class as well, with that test's p-value: with
    /// [`Settings::flag_by_class`], and every inspected row counted in a class, a client
    /// is compared with clean rows of the classes it asks about ([`stratified_tail`];
    /// rows of a class the clean rows do not have, with all of them). Otherwise the
    /// whole data's test stands.
    fn by_class_too(&self, client: &Client, p_value: f64) -> Option<f64> {
        let Some(by_class) = &self.settings.flag_by_class else {
            return Some(p_value);
        };
        if client.attributed != client.inspected || client.by_class.len() != by_class.len() + 1 {
            return Some(p_value);
        }
        // Tested again once the rows grow by a hundredth: the test's cost grows with the
        // clean rows, and a client whose flagged rows were natural a call ago still is.
        let at = client.stratified_at.get();
        if at > 0 && client.inspected < at + (at / 100).max(1) {
            return None;
        }
        let (all_rows, all_flagged) = by_class
            .iter()
            .fold((0u64, 0u64), |(r, f), c| (r + c.rows, f + c.flagged));
        let strata: Vec<Stratum> = client
            .by_class
            .iter()
            .enumerate()
            .map(|(i, [rows, flagged])| {
                let (clean_rows, clean_flagged) = by_class
                    .get(i)
                    .map_or((all_rows, all_flagged), |c| (c.rows, c.flagged));
                Stratum {
                    rows: *rows,
                    flagged: *flagged,
                    clean_rows,
                    clean_flagged,
                }
            })
            .collect();
        let p = stratified_tail(&strata);
        if p < self.settings.flag_alpha {
            Some(p)
        } else {
            client.stratified_at.set(client.inspected);
            None
        }
    }

    /// The sign that makes the client suspected now, if any.
    fn judge(&self, client: &mut Client) -> Option<Reason> {
        let s = &self.settings;
        if let Some(budget) = s.budget
            && client.rows > budget
        {
            return Some(Reason::Budget { budget });
        }
        // Rows counted far above the share clean rows reach: a one-sided binomial test.
        let too_many = |count: u64, rate: Option<f64>| {
            let rate = rate?;
            let n = client.inspected;
            if n < MIN_INSPECTED || count as f64 <= rate * n as f64 {
                return None;
            }
            let p_value = binomial_tail(count, n, rate);
            (p_value < s.flag_alpha).then_some((rate, p_value))
        };
        if let Some((rate, p_value)) = too_many(client.flagged, s.flag_rate)
            && let Some(p_value) = self.by_class_too(client, p_value)
        {
            return Some(Reason::Inputs {
                flagged: client.flagged,
                rows: client.inspected,
                rate,
                p_value,
            });
        }
        if let Some((rate, p_value)) = too_many(client.atypical, s.atypical_rate) {
            return Some(Reason::Atypical {
                atypical: client.atypical,
                rows: client.inspected,
                rate,
                p_value,
            });
        }
        if client.steps.len() >= s.probe_window {
            let share = client.probing as f64 / client.steps.len() as f64;
            if share >= s.probe_share {
                return Some(Reason::Probing {
                    share,
                    window: client.steps.len(),
                });
            }
        }
        if client.distances.len() >= s.min_distances && !client.distances_natural {
            let (w, kept) = self.w_of(&client.distances);
            if w < s.threshold {
                return Some(Reason::Distances {
                    w,
                    distances: kept,
                    threshold: s.threshold,
                });
            }
            client.distances_natural = true;
        }
        None
    }
}

impl Client {
    /// Counts what the detectors found in a call's rows, of which `fresh` are those new
    /// to the client (the others, repeats, were counted when first sent). With the rows'
    /// flags, exactly; with counts only, at most as many as there are new rows.
    fn count_looked(&mut self, l: &Looked, fresh: &[bool], by_class: Option<&[ClassFlags]>) {
        let n = fresh.len();
        let new = fresh.iter().filter(|f| **f).count();
        if new == 0 {
            return;
        }
        let flags = l.flags.as_ref().filter(|f| f.len() == n);
        let flagged = match flags {
            Some(f) => f.iter().zip(fresh).filter(|(f, new)| **f && **new).count(),
            None => l.flagged.min(new),
        };
        let atypical = match l.atypical_flags.as_ref().filter(|f| f.len() == n) {
            Some(f) => f.iter().zip(fresh).filter(|(a, new)| **a && **new).count(),
            None => l.atypical.min(new),
        };
        self.flagged = self.flagged.saturating_add(flagged as u64);
        self.atypical = self.atypical.saturating_add(atypical as u64);
        self.inspected = self.inspected.saturating_add(new as u64);
        if let (Some(by_class), Some(flags), Some(strata)) =
            (by_class, flags, l.strata.as_ref().filter(|s| s.len() == n))
        {
            if self.by_class.len() != by_class.len() + 1 {
                self.by_class = vec![[0, 0]; by_class.len() + 1];
            }
            for ((&flag, stratum), _) in flags.iter().zip(strata).zip(fresh).filter(|(_, f)| **f) {
                let slot = by_class
                    .binary_search_by_key(stratum, |c| c.class)
                    .unwrap_or(by_class.len());
                if let Some(count) = self.by_class.get_mut(slot) {
                    count[0] = count[0].saturating_add(1);
                    count[1] = count[1].saturating_add(u64::from(flag));
                }
            }
            self.attributed = self.attributed.saturating_add(new as u64);
        }
    }
    /// One scaled row and its class.
    fn take(&mut self, row: &[f32], class: u32, s: &Settings) {
        // Probing: the step from the previous row.
        if let Some(previous) = &self.previous {
            let step: Vec<f32> = row.iter().zip(previous).map(|(a, b)| a - b).collect();
            let changed = step.iter().filter(|d| **d != 0.0).count();
            if changed > 0 {
                let d = row.len();
                let few = d >= 4 && changed <= (d / 10).max(1);
                let line = d >= 3
                    && self
                        .step
                        .as_deref()
                        .is_some_and(|before| collinear(before, &step) || halving(before, &step));
                self.steps.push_back(few || line);
                self.probing += usize::from(few || line);
                while self.steps.len() > s.probe_window {
                    if self.steps.pop_front() == Some(true) {
                        self.probing -= 1;
                    }
                }
                self.step = Some(step);
            }
        }
        match &mut self.previous {
            Some(p) => p.copy_from_slice(row),
            None => self.previous = Some(row.to_vec()),
        }
        // Distances: the nearest earlier query of the same class.
        let room = self.points < s.max_points;
        let set = self.classes.entry(class).or_default();
        if set.points.is_empty() {
            if room {
                set.points.extend_from_slice(row);
                self.points += 1;
            }
            return;
        }
        let nearest = set
            .points
            .chunks_exact(row.len())
            .map(|p| {
                p.iter()
                    .zip(row)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
            })
            .fold(f32::INFINITY, f32::min);
        let nearest = f64::from(nearest).sqrt();
        // The same point as one kept (a repeat beyond the rows remembered) is no
        // distance.
        if nearest == 0.0 {
            return;
        }
        self.distances.push_back(nearest);
        self.distances_natural = false;
        while self.distances.len() > s.history {
            self.distances.pop_front();
        }
        if nearest > set.threshold && room {
            set.points.extend_from_slice(row);
            self.points += 1;
            set.count += 1.0;
            set.sum += nearest;
            set.sum_sq += nearest * nearest;
            let mean = set.sum / set.count;
            let sd = (set.sum_sq / set.count - mean * mean).max(0.0).sqrt();
            set.threshold = set.threshold.max(mean - sd);
        }
    }
}

/// What the per-request detectors found in one call's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Looked {
    /// Rows they flagged.
    pub flagged: usize,
    /// Rows above their atypical cuts ([`crate::detect::Atypical`]).
    pub atypical: usize,
    /// Which rows they flagged, one per row of the call, when they said.
    pub flags: Option<Vec<bool>>,
    /// Which rows were above their atypical cuts, one per row, when they said.
    pub atypical_flags: Option<Vec<bool>>,
    /// The class each row is counted in for [`Settings::flag_by_class`] (the index of
    /// the model's largest probability, as the detector file's calibration classed its
    /// rows), one per row, when the model gave probabilities.
    pub strata: Option<Vec<u32>>,
}

/// Of a detector file's clean calibration rows, those the model answers `class` for
/// (the index of its largest probability), and how many of them the file's detectors
/// flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassFlags {
    pub class: u32,
    pub rows: u64,
    pub flagged: u64,
}

/// The most classes [`Settings::flag_by_class`] may hold.
pub const MAX_CLASSES: usize = 10_000;

/// Refuses per-class counts that cannot be: none, more than [`MAX_CLASSES`], classes
/// not in ascending order (or one twice), a class without rows, more flagged rows than
/// rows.
pub fn check_class_flags(by_class: &[ClassFlags]) -> Result<(), String> {
    if by_class.is_empty() || by_class.len() > MAX_CLASSES {
        return Err(format!(
            "must hold between 1 and {MAX_CLASSES} classes, not {}",
            by_class.len()
        ));
    }
    for pair in by_class.windows(2) {
        if let [a, b] = pair
            && a.class >= b.class
        {
            return Err(format!(
                "classes must be in ascending order, each once: class {} comes after {}",
                b.class, a.class
            ));
        }
    }
    for c in by_class {
        if c.rows == 0 || c.flagged > c.rows || c.rows > u64::from(u32::MAX) {
            return Err(format!(
                "class {} has {} flagged of {} rows",
                c.class, c.flagged, c.rows
            ));
        }
    }
    Ok(())
}

/// Rows the detectors must have looked at before the inputs and atypical signs are
/// tested.
const MIN_INSPECTED: u64 = 20;

/// The least share of a natural client's rows the atypical sign assumes can be atypical,
/// however few the calibration rows found there: a natural client of one sub-population
/// can have more of its rows in the clean rows' most atypical tenth than the whole
/// data has (up to 26 % measured, see the module's docs).
pub const ATYPICAL_FLOOR: f64 = 0.5;

/// The share of clean rows above the atypical cuts the atypical sign tests against:
/// the 99.9 % upper bound of `above` of `n` calibration rows ([`clean_rate_bound`]), and
/// at least [`ATYPICAL_FLOOR`]; `None` when the calibration rows cannot bound it below a
/// half (too few of them).
pub fn atypical_rate(above: u64, n: u64) -> Option<f64> {
    clean_rate_bound(above, n).map(|b| b.max(ATYPICAL_FLOOR))
}

/// The share of clean rows the detectors flag, as the 99.9 % upper confidence bound
/// (Clopper–Pearson) of `flagged` of the `n` calibration rows; `None` without rows, or
/// when the bound is a half or more (a detector that flags that much tells nothing).
pub fn clean_rate_bound(flagged: u64, n: u64) -> Option<f64> {
    use statrs::distribution::{Beta, ContinuousCDF};
    if n == 0 || flagged >= n {
        return None;
    }
    let bound = Beta::new((flagged + 1) as f64, (n - flagged) as f64)
        .ok()?
        .inverse_cdf(0.999);
    (bound.is_finite() && bound > 0.0 && bound < 0.5).then_some(bound)
}

/// One class of a stratified comparison: a client's rows of that class and how many
/// were flagged, beside the clean rows of that class and how many were flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stratum {
    pub rows: u64,
    pub flagged: u64,
    pub clean_rows: u64,
    pub clean_flagged: u64,
}

/// The one-sided p-value that a client's rows, class by class, are flagged no more often
/// than clean rows of the same class: the exact conditional test of a stratified 2×2
/// table (as the exact Cochran–Mantel–Haenszel test makes it). Given each class's
/// margins (its client and clean rows, its flagged rows of both), the clean rows'
/// share of the flagged ones is hypergeometric when both come from one rate, whatever
/// that class's rate is; the p-value is P(clean flagged, summed over the classes, ≤ what
/// was seen). It is computed by convolving each class's distribution; terms below
/// e⁻⁶⁰ of a class's largest are left out (their sum is below 1e-20 of the total). A
/// count far from the tail, and classes too spread to convolve, take the normal
/// approximation of the sum instead ([`SCREEN_VARIANCE`], [`WIDE_VARIANCE`]).
///
/// Written here: statrs has the hypergeometric distribution of one table, not the sum
/// over several.
pub fn stratified_tail(strata: &[Stratum]) -> f64 {
    // The distribution of the summed clean flagged count: `start` and the probabilities
    // from there.
    let mut start = 0u64;
    let mut dist = vec![1.0f64];
    let mut seen = 0u64;
    let wide = strata.iter().any(|s| {
        let flagged = s.flagged.saturating_add(s.clean_flagged);
        hypergeometric_moments(s.rows.saturating_add(s.clean_rows), flagged, s.clean_rows).1
            > WIDE_VARIANCE
    });
    if wide {
        return stratified_tail_normal(strata).0;
    }
    // Far from significance, the sum's normal approximation answers at once: with a
    // variance of 25 or more and the count seen no more than 3 standard deviations below
    // its mean, the p-value is near the approximation's 1e-3 or more, nowhere near the
    // 1e-6 the tracker tests at. The exact sum is for the tail.
    let (normal, z, variance) = stratified_tail_normal(strata);
    if variance >= SCREEN_VARIANCE && z >= -3.0 {
        return normal;
    }
    for s in strata {
        let flagged = s.flagged.saturating_add(s.clean_flagged);
        let total = s.rows.saturating_add(s.clean_rows);
        if flagged == 0 || flagged == total || s.rows == 0 || s.clean_rows == 0 {
            // Nothing can move between the two: the class says nothing.
            continue;
        }
        seen = seen.saturating_add(s.clean_flagged);
        let (lo, pmf) = hypergeometric_bulk(total, flagged, s.clean_rows);
        let mut next = vec![0.0; dist.len() + pmf.len() - 1];
        for (i, a) in dist.iter().enumerate() {
            if let Some(row) = next.get_mut(i..) {
                row.iter_mut().zip(&pmf).for_each(|(x, b)| *x += a * b);
            }
        }
        // Terms of the sum far below its largest are left out as well.
        let top = next.iter().copied().fold(0.0, f64::max);
        let first_kept = next.iter().position(|p| *p >= top * 1e-26).unwrap_or(0);
        let last_kept = next.iter().rposition(|p| *p >= top * 1e-26).unwrap_or(0);
        start += lo + first_kept as u64;
        dist = next
            .get(first_kept..=last_kept)
            .unwrap_or_default()
            .to_vec();
    }
    let total: f64 = dist.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return 1.0;
    }
    let upto = seen
        .checked_sub(start)
        .map_or(0, |k| (k + 1).min(dist.len() as u64));
    let tail: f64 = dist.iter().take(upto as usize).sum();
    (tail / total).min(1.0)
}

/// A class's variance above which [`stratified_tail`] takes the normal approximation:
/// exact convolution would cost the square of the bulk's width (a standard deviation of
/// 100 gives about 2,200 terms), and a count this spread is close to normal (its
/// skewness is below a hundredth).
const WIDE_VARIANCE: f64 = 10_000.0;

/// The mean and variance of a hypergeometric count: `draws` of `total` rows, `marked`
/// of them marked.
fn hypergeometric_moments(total: u64, marked: u64, draws: u64) -> (f64, f64) {
    if total < 2 {
        return (0.0, 0.0);
    }
    let (n, k, m) = (total as f64, marked as f64, draws as f64);
    let mean = m * k / n;
    (mean, mean * (n - k) / n * (n - m) / (n - 1.0))
}

/// The sum's variance from which [`stratified_tail`] lets its normal approximation
/// answer a count far from the tail (a standard deviation of 5).
const SCREEN_VARIANCE: f64 = 25.0;

/// [`stratified_tail`] by the normal approximation of the sum (with continuity
/// correction), for classes too spread to convolve; with the standardized count and the
/// sum's variance.
fn stratified_tail_normal(strata: &[Stratum]) -> (f64, f64, f64) {
    let (mut mean, mut variance, mut seen) = (0.0, 0.0, 0.0);
    for s in strata {
        let flagged = s.flagged.saturating_add(s.clean_flagged);
        let total = s.rows.saturating_add(s.clean_rows);
        let (m, v) = hypergeometric_moments(total, flagged, s.clean_rows);
        mean += m;
        variance += v;
        seen += s.clean_flagged as f64;
    }
    if variance.is_nan() || variance <= 0.0 {
        return (1.0, f64::INFINITY, 0.0);
    }
    use statrs::distribution::{ContinuousCDF, Normal};
    let z = (seen + 0.5 - mean) / variance.sqrt();
    (Normal::standard().cdf(z).clamp(0.0, 1.0), z, variance)
}

/// The probabilities of a hypergeometric count (`draws` of `total` rows, `marked` of
/// them marked) that are at least e⁻⁶⁰ of the largest, and the count the first is for.
/// Walked out from the mode by the ratio of neighbouring terms, so that the work is the
/// width of the bulk (a few standard deviations), whatever the counts.
fn hypergeometric_bulk(total: u64, marked: u64, draws: u64) -> (u64, Vec<f64>) {
    use statrs::function::factorial::ln_binomial;
    let lo = marked.saturating_sub(total - draws);
    let hi = marked.min(draws);
    let mode = (((draws as f64 + 1.0) * (marked as f64 + 1.0) / (total as f64 + 2.0)).floor()
        as u64)
        .clamp(lo, hi);
    let log_at = |b: u64| {
        ln_binomial(marked, b) + ln_binomial(total - marked, draws - b) - ln_binomial(total, draws)
    };
    let top = log_at(mode);
    // p(b + 1) / p(b), as a logarithm.
    let step_up = |b: u64| {
        ((marked - b) as f64).ln() + ((draws - b) as f64).ln()
            - ((b + 1) as f64).ln()
            - ((total - marked + b + 1 - draws) as f64).ln()
    };
    let mut right = Vec::new();
    let (mut b, mut lp) = (mode, top);
    while b < hi {
        lp += step_up(b);
        b += 1;
        if lp < top - 60.0 {
            break;
        }
        right.push(lp);
    }
    let mut left = Vec::new();
    let (mut b, mut lp) = (mode, top);
    while b > lo {
        lp -= step_up(b - 1);
        b -= 1;
        if lp < top - 60.0 {
            break;
        }
        left.push(lp);
    }
    let first = mode - left.len() as u64;
    let pmf = left
        .iter()
        .rev()
        .chain(std::iter::once(&top))
        .chain(&right)
        .map(|lp| lp.exp())
        .collect();
    (first, pmf)
}

/// P(X ≥ k) for X ~ Binomial(n, p): the regularized incomplete beta I_p(k, n − k + 1).
fn binomial_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    statrs::function::beta::beta_reg(k as f64, (n - k + 1) as f64, p)
}

/// `a·b`, `|a|²` and `|b|²`.
fn dots(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

/// Whether two steps lie on one line (|cos| ≥ 0.99).
fn collinear(a: &[f32], b: &[f32]) -> bool {
    let (ab, aa, bb) = dots(a, b);
    aa > 0.0 && bb > 0.0 && ab.abs() >= 0.99 * (aa * bb).sqrt()
}

/// Whether `b` halves the step `a` roughly along its line, as a rounded binary search
/// does: `|b|` is 0.3 to 0.7 times `|a|`, and |cos| ≥ 0.6. Measured with
/// `bench/extraction_eval.py`'s boundary walk on digits (integer pixels): most of its
/// steps; natural rows replayed in a random order: at most a fifth of any 64 steps on
/// breast_cancer, wine and digits.
fn halving(a: &[f32], b: &[f32]) -> bool {
    let (ab, aa, bb) = dots(a, b);
    if !(aa > 0.0 && bb > 0.0) {
        return false;
    }
    let ratio = (bb / aa).sqrt();
    (0.3..=0.7).contains(&ratio) && ab.abs() >= 0.6 * (aa * bb).sqrt()
}

/// The values within three (population) standard deviations of their mean, sorted.
fn within_three_sd(values: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let (n, sum, sum_sq) = values.clone().fold((0f64, 0f64, 0f64), |(n, s, q), v| {
        (n + 1.0, s + v, q + v * v)
    });
    let mean = sum / n.max(1.0);
    let sd = (sum_sq / n.max(1.0) - mean * mean).max(0.0).sqrt();
    let mut kept: Vec<f64> = values.filter(|v| (v - mean).abs() <= 3.0 * sd).collect();
    kept.sort_by(f64::total_cmp);
    kept
}

/// The Shapiro–Wilk W statistic of `x` (as `scipy.stats.shapiro` gives it), for 3 to
/// 5000 values; `None` for another size, a value that is not finite, or values that are
/// all equal.
pub fn shapiro_wilk(x: &[f64]) -> Option<f64> {
    if !(3..=5000).contains(&x.len()) || x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    w_statistic(&sorted, &coefficients(sorted.len()))
}

/// W of sorted values with the coefficients of their number.
fn w_statistic(sorted: &[f64], a: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n < 3 {
        return None;
    }
    let (first, last) = (sorted.first()?, sorted.last()?);
    if last - first <= 0.0 {
        return None;
    }
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let ss: f64 = sorted.iter().map(|v| (v - mean) * (v - mean)).sum();
    let numerator: f64 = a
        .iter()
        .zip(sorted.iter().rev())
        .zip(sorted.iter())
        .map(|((a, hi), lo)| a * (hi - lo))
        .sum();
    Some((numerator * numerator / ss).min(1.0))
}

/// The Shapiro–Wilk coefficients of `n` values, by Royston's approximation (Applied
/// Statistics algorithm AS R94, 1995, the one scipy uses): the upper half, largest
/// first. Written here because no Rust crate has the test.
fn coefficients(n: usize) -> Vec<f64> {
    const C1: [f64; 6] = [0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056];
    const C2: [f64; 6] = [0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
    let half = n / 2;
    if n == 3 {
        return vec![std::f64::consts::FRAC_1_SQRT_2];
    }
    let nf = n as f64;
    // The expected normal order statistics' approximation: m_i for the upper half,
    // largest first.
    let m: Vec<f64> = (0..half)
        .map(|i| -normal_quantile((i as f64 + 1.0 - 0.375) / (nf + 0.25)))
        .collect();
    let summ2 = 2.0 * m.iter().map(|v| v * v).sum::<f64>();
    let ssumm2 = summ2.sqrt();
    let u = 1.0 / nf.sqrt();
    let poly = |c: &[f64; 6]| c.iter().rev().fold(0.0, |acc, k| acc * u + k);
    let m0 = m.first().copied().unwrap_or(0.0);
    let a0 = poly(&C1) + m0 / ssumm2;
    let mut a = Vec::with_capacity(half);
    if n > 5 {
        let m1 = m.get(1).copied().unwrap_or(0.0);
        let a1 = poly(&C2) + m1 / ssumm2;
        let fac = ((summ2 - 2.0 * m0 * m0 - 2.0 * m1 * m1) / (1.0 - 2.0 * a0 * a0 - 2.0 * a1 * a1))
            .sqrt();
        a.push(a0);
        a.push(a1);
        a.extend(m.iter().skip(2).map(|v| v / fac));
    } else {
        let fac = ((summ2 - 2.0 * m0 * m0) / (1.0 - 2.0 * a0 * a0)).sqrt();
        a.push(a0);
        a.extend(m.iter().skip(1).map(|v| v / fac));
    }
    a
}

/// The standard normal quantile.
fn normal_quantile(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(p)
}

#[cfg(test)]
mod tests;
