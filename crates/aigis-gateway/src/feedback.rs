//! Delayed ground truth: the labels of answered calls, sent later by request id, and the
//! model's accuracy, precision, recall and calibration per window and version.
//!
//! ```toml
//! [[serve.models]]
//! name = "digits"
//! path = "models/digits.onnx"
//! [serve.models.feedback]
//! # window_s = 3600        # KPI windows (tumbling), by the time of the prediction
//! # windows = 48           # windows kept
//! # max_pending = 100000   # predictions awaiting their labels (the oldest dropped first)
//! # labelers = ["labels"]  # principals that may label any principal's calls
//! ```
//!
//! With feedback on, every answered call has an id: the request's own `id` (up to 128
//! bytes), or one the gateway makes (`aigis-` and 32 hex digits) and returns as the
//! answer's `id`. Its predictions are kept (the label of each row, and the top class
//! probability when the model gives probabilities) until a label arrives, for at most
//! `windows × window_s` and `max_pending` calls. A second call of the same principal with
//! an id still awaiting its labels is answered but not kept: the first one's labels stay
//! its own.
//!
//! Who may label a call: ids are the principal's own. A principal labels its own calls;
//! a call of another principal only when its id was made by the gateway (128 random bits,
//! handed to the caller alone: knowing it is the capability), or when the poster is one of
//! `labelers` (a labelling system). So no principal can pre-empt or label the calls of
//! another by choosing the same id. An item may name the call's `principal` (needed by a
//! labeler when several principals' calls have the id; it is then `ambiguous`); naming
//! another principal is refused (403) for anyone but a labeler.
//!
//! `POST /v2/models/{name}/feedback` with `{"feedback": [{"id": "…", "labels": [3, …]}]}`
//! (one label per row of that call, numbers or strings as the model's labels are) matches
//! each id once; `GET /v2/models/{name}/kpis` gives, per window and model version, the
//! predictions kept, the rows labelled, accuracy, macro precision and recall (over every
//! class seen in the labels or the predictions; a class never predicted has precision 0,
//! as scikit-learn's `zero_division` default gives), and calibration: the expected
//! calibration error over ten equal-width bins of the top probability, and the mean top
//! probability. Only the counts are kept, never the inputs.
//!
//! In a project, each window's KPIs are recorded as signed `monitor-window` evidence when
//! the window ends, and again (at most once per `window_s`) while its labels still come;
//! an ended window is kept until it is recorded once, past `windows` if need be.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use aigis_runtime::{Data, NamedTensor};
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// `[serve.models.feedback]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    #[serde(default = "window_s")]
    pub window_s: u64,
    #[serde(default = "windows")]
    pub windows: usize,
    #[serde(default = "max_pending")]
    pub max_pending: usize,
    /// Principals that may label any principal's calls.
    #[serde(default)]
    pub labelers: Vec<String>,
}

fn window_s() -> u64 {
    3600
}
fn windows() -> usize {
    48
}
fn max_pending() -> usize {
    100_000
}

/// The longest request id kept.
pub const MAX_ID: usize = 128;
/// Classes counted per window (precision and recall); labels beyond are counted in
/// accuracy only, and the window says so.
const MAX_CLASSES: usize = 1000;
/// Calibration bins.
const BINS: usize = 10;
/// Labels per feedback call.
pub const MAX_FEEDBACK_ROWS: usize = 100_000;

/// What a model answered for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    /// Each row's label, as text (`3`, `cat`).
    pub labels: Vec<String>,
    /// Each row's top class probability, when the model gives probabilities.
    pub confidence: Option<Vec<f64>>,
}

/// The labels and top probabilities a model gave `n` rows: its integer or text label
/// output (`[n]` or `[n, 1]`), else the index of the largest of its first float output
/// of shape `[n, k]`; the probabilities are that output's largest per row when its rows
/// sum to 1.
pub fn answers(outputs: &[NamedTensor], n: usize) -> Option<Answers> {
    let fits = |o: &NamedTensor| {
        let shape = o.tensor.shape();
        shape.first() == Some(&n) && shape.iter().skip(1).all(|d| *d == 1)
    };
    let label = outputs.iter().find_map(|o| {
        if !fits(o) {
            return None;
        }
        match o.tensor.data() {
            Data::Int64(v) => Some(v.iter().map(i64::to_string).collect::<Vec<_>>()),
            Data::Int32(v) => Some(v.iter().map(i32::to_string).collect()),
            Data::Bytes(v) => Some(v.clone()),
            _ => None,
        }
    });
    let scores = scores(outputs, n);
    let top = scores.as_ref().map(|(values, k)| top(values, *k));
    let probabilities = scores.as_ref().is_some_and(|(values, k)| {
        values.chunks_exact(*k).all(|row| {
            row.iter().all(|p| (0.0..=1.0).contains(p))
                && (row.iter().sum::<f64>() - 1.0).abs() < 1e-3
        })
    });
    let confidence = top
        .as_ref()
        .filter(|_| probabilities)
        .map(|t| t.iter().map(|(_, p)| *p).collect());
    let labels = match (label, &top) {
        (Some(l), _) => l,
        (None, Some(t)) => t.iter().map(|(i, _)| i.to_string()).collect(),
        (None, None) => return None,
    };
    Some(Answers { labels, confidence })
}

/// The model's first float output of shape `[n, k]` (k ≥ 2), as f64, with `k`.
pub(crate) fn scores(outputs: &[NamedTensor], n: usize) -> Option<(Vec<f64>, usize)> {
    outputs.iter().find_map(|o| {
        let shape = o.tensor.shape();
        let k = *shape.get(1)?;
        if shape.len() != 2 || shape.first() != Some(&n) || k < 2 {
            return None;
        }
        let values: Vec<f64> = match o.tensor.data() {
            Data::Fp32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::Fp64(v) => v.clone(),
            _ => return None,
        };
        Some((values, k))
    })
}

/// Each row's largest value of `k` and its index (the first, on ties).
pub(crate) fn top(values: &[f64], k: usize) -> Vec<(usize, f64)> {
    values
        .chunks_exact(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0usize, f64::NEG_INFINITY), |best, (i, v)| {
                    if *v > best.1 { (i, *v) } else { best }
                })
        })
        .collect()
}

/// One kept call.
#[derive(Debug)]
struct Prediction {
    /// The principal that made it.
    principal: String,
    /// Whether its id was made by the gateway.
    made: bool,
    version: String,
    at_ms: i64,
    answers: Answers,
}

/// One window's counts for one model version.
#[derive(Debug, Default, Clone)]
struct Tally {
    predictions: u64,
    labeled: u64,
    correct: u64,
    /// Per class: true positives, false positives, false negatives.
    classes: BTreeMap<String, [u64; 3]>,
    classes_truncated: bool,
    /// Per bin: rows, the sum of their top probability, rows right.
    bins: [(u64, f64, u64); BINS],
}

#[derive(Debug, Default)]
struct State {
    /// By id: the calls awaiting labels with that id, one per principal.
    pending: HashMap<String, Vec<Prediction>>,
    /// The calls in `pending`.
    pending_calls: usize,
    /// Calls by arrival (id, principal, time), to drop the oldest.
    order: VecDeque<(String, String, i64)>,
    /// By window start (ms) and version.
    windows: BTreeMap<(i64, String), Tally>,
    expired: u64,
    duplicate_ids: u64,
}

/// A model's feedback: the predictions awaiting labels and the windows' counts.
#[derive(Debug)]
pub struct Feedback {
    config: FeedbackConfig,
    state: Mutex<State>,
    /// The windows recorded as evidence: by window start and version, the counts
    /// recorded (predictions, labelled) and when. Held while windows are recorded, so two
    /// recorders never record one twice.
    recorded: Mutex<BTreeMap<WindowKey, Counts>>,
    /// Whether the windows are recorded as evidence, and the start of the last ended
    /// window by which every ended window was recorded once: `keep` keeps an ended window
    /// until then (see [`crate::drift::unrecorded_from`]).
    recording: AtomicBool,
    recorded_through: AtomicI64,
}

/// A KPI window: its start (ms) and the version that predicted.
type WindowKey = (i64, String);

/// A window's counts when it was recorded: predictions and rows labelled, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    predictions: u64,
    labeled: u64,
    at_ms: i64,
}

/// What a feedback call matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// Ids matched, their labels counted.
    pub matched: u64,
    /// Ids not awaiting labels (never seen, expired, or labelled already), or not the
    /// poster's to label.
    pub unknown: Vec<String>,
    /// Ids of several principals' calls the poster may label, the item naming none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambiguous: Vec<String>,
}

/// One item of a feedback call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub labels: Vec<serde_json::Value>,
    /// The principal that made the call (by default the poster's, or the one other
    /// principal's call with this id the poster may label).
    #[serde(default)]
    pub principal: Option<String>,
}

/// A feedback call's body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub feedback: Vec<Item>,
}

/// A window's KPIs: the version, counts and KPIs are the fields of the evidence the window
/// is recorded as (`monitor-window`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub start: String,
    pub end: String,
    #[serde(flatten)]
    pub kpis: aigis_evidence::WindowKpis,
}

/// `GET /v2/models/{name}/kpis`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub model: String,
    pub window_s: u64,
    /// Calls awaiting their labels.
    pub pending: usize,
    /// Calls dropped before their labels came (too old, or over `max_pending`).
    pub expired: u64,
    /// Calls not kept because their id was awaiting labels already.
    pub duplicate_ids: u64,
    pub windows: Vec<Window>,
}

impl Feedback {
    /// The feedback of `config`; the error is the key and the message.
    pub fn new(config: &FeedbackConfig) -> Result<Self, (String, String)> {
        if !(1..=31 * 86_400).contains(&config.window_s) {
            return Err((
                "window_s".into(),
                "must be between 1 and 2678400 (31 days)".into(),
            ));
        }
        if !(1..=10_000).contains(&config.windows) {
            return Err(("windows".into(), "must be between 1 and 10000".into()));
        }
        if !(1..=10_000_000).contains(&config.max_pending) {
            return Err((
                "max_pending".into(),
                "must be between 1 and 10000000".into(),
            ));
        }
        if config.labelers.iter().any(String::is_empty) {
            return Err(("labelers".into(), "a principal's name is empty".into()));
        }
        Ok(Self {
            config: config.clone(),
            state: Mutex::new(State::default()),
            recorded: Mutex::new(BTreeMap::new()),
            recording: AtomicBool::new(false),
            recorded_through: AtomicI64::new(i64::MIN),
        })
    }

    /// Whether a reload with `config` keeps this state.
    pub fn same(&self, config: &FeedbackConfig) -> bool {
        &self.config == config
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.config.window_s).unwrap_or(i64::MAX / 1000) * 1000
    }

    /// Keeps the answers of `principal`'s call `id` (`made` by the gateway, or the
    /// request's own), made at `at_ms` by `version`.
    pub fn keep(
        &self,
        principal: &str,
        id: &str,
        made: bool,
        version: &str,
        at_ms: i64,
        answers: Answers,
    ) {
        if id.len() > MAX_ID {
            return;
        }
        let window = self.window_ms();
        let start = at_ms - at_ms.rem_euclid(window);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state
            .pending
            .get(id)
            .is_some_and(|calls| calls.iter().any(|p| p.principal == principal))
        {
            state.duplicate_ids += 1;
            return;
        }
        self.expire(&mut state, at_ms);
        state
            .windows
            .entry((start, version.to_owned()))
            .or_default()
            .predictions += answers.labels.len() as u64;
        state
            .order
            .push_back((id.to_owned(), principal.to_owned(), at_ms));
        state
            .pending
            .entry(id.to_owned())
            .or_default()
            .push(Prediction {
                principal: principal.to_owned(),
                made,
                version: version.to_owned(),
                at_ms,
                answers,
            });
        state.pending_calls += 1;
        // The windows kept: the last `windows` starts.
        let keep_from = start - window * (i64::try_from(self.config.windows).unwrap_or(1) - 1);
        let keep_from = crate::drift::unrecorded_from(
            keep_from,
            window,
            &self.recording,
            &self.recorded_through,
        );
        state.windows.retain(|(s, _), _| *s >= keep_from);
    }

    /// Drops what is too old or too many.
    fn expire(&self, state: &mut State, now_ms: i64) {
        let ttl = self.window_ms() * i64::try_from(self.config.windows).unwrap_or(1);
        while let Some((id, principal, at_ms)) = state.order.front() {
            let kept = state.pending.get(id).and_then(|calls| {
                calls
                    .iter()
                    .position(|p| &p.principal == principal && p.at_ms == *at_ms)
            });
            match kept {
                // Labelled already: only its place in the queue was left.
                None => {}
                Some(_)
                    if state.pending_calls < self.config.max_pending && now_ms - *at_ms <= ttl =>
                {
                    break;
                }
                Some(i) => {
                    state.expired += 1;
                    let id = id.clone();
                    take(state, &id, i);
                }
            }
            state.order.pop_front();
        }
    }

    /// Counts the labels `poster` sent in `request`'s items; refused as a whole when an
    /// item does not fit the call it names (another number of rows, a label that is not a
    /// number or a string: 422) or names another principal's call and the poster is not
    /// a labeler (403).
    pub fn label(&self, poster: &str, request: &FeedbackRequest) -> Result<Matched, ApiError> {
        let labeler = self.config.labelers.iter().any(|l| l == poster);
        let rows: usize = request.feedback.iter().map(|i| i.labels.len()).sum();
        if rows > MAX_FEEDBACK_ROWS {
            return Err(ApiError::invalid(
                "feedback",
                format!("more than {MAX_FEEDBACK_ROWS} labels in one call"),
            ));
        }
        let mut parsed = Vec::with_capacity(request.feedback.len());
        for (i, item) in request.feedback.iter().enumerate() {
            let labels = item
                .labels
                .iter()
                .enumerate()
                .map(|(j, l)| match l {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                    _ => Err(ApiError::invalid(
                        format!("feedback[{i}].labels[{j}]"),
                        "a label is an integer or a string",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(p) = &item.principal
                && p != poster
                && !labeler
            {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "feedback[{i}] names another principal's call: only the principals in [serve.models.feedback] labelers may"
                    ),
                ));
            }
            parsed.push(labels);
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let found: Vec<Found> = request
            .feedback
            .iter()
            .map(|item| find(&state, poster, labeler, item))
            .collect();
        // Checked first, so that a refused call counts nothing.
        for (i, ((item, labels), found)) in
            request.feedback.iter().zip(&parsed).zip(&found).enumerate()
        {
            if let Found::Call(principal) = found
                && let Some(p) = state
                    .pending
                    .get(&item.id)
                    .and_then(|calls| calls.iter().find(|p| &p.principal == principal))
                && p.answers.labels.len() != labels.len()
            {
                return Err(ApiError::invalid(
                    format!("feedback[{i}].labels"),
                    format!(
                        "the call `{}` had {} rows, not {}",
                        item.id,
                        p.answers.labels.len(),
                        labels.len()
                    ),
                ));
            }
        }
        let window = self.window_ms();
        let mut out = Matched::default();
        for ((item, labels), found) in request.feedback.iter().zip(parsed).zip(found) {
            let principal = match found {
                Found::Call(p) => p,
                Found::Ambiguous => {
                    out.ambiguous.push(item.id.clone());
                    continue;
                }
                Found::Unknown => {
                    out.unknown.push(item.id.clone());
                    continue;
                }
            };
            // Two items for one call: the first counts.
            let Some(i) = state
                .pending
                .get(&item.id)
                .and_then(|calls| calls.iter().position(|p| p.principal == principal))
            else {
                out.unknown.push(item.id.clone());
                continue;
            };
            let Some(p) = take(&mut state, &item.id, i) else {
                continue;
            };
            out.matched += 1;
            let start = p.at_ms - p.at_ms.rem_euclid(window);
            let Some(tally) = state.windows.get_mut(&(start, p.version.clone())) else {
                continue;
            };
            for (row, truth) in labels.iter().enumerate() {
                let Some(predicted) = p.answers.labels.get(row) else {
                    continue;
                };
                let right = predicted == truth;
                tally.labeled += 1;
                tally.correct += u64::from(right);
                for (class, slot) in [(truth, if right { 0 } else { 2 }), (predicted, 1)] {
                    if right && slot == 1 {
                        continue;
                    }
                    if !tally.classes.contains_key(class) && tally.classes.len() >= MAX_CLASSES {
                        tally.classes_truncated = true;
                        continue;
                    }
                    if let Some(c) = tally
                        .classes
                        .entry(class.clone())
                        .or_default()
                        .get_mut(slot)
                    {
                        *c += 1;
                    }
                }
                if let Some(conf) = p.answers.confidence.as_ref().and_then(|c| c.get(row)) {
                    let bin = ((conf * BINS as f64).floor() as usize).min(BINS - 1);
                    if let Some(b) = tally.bins.get_mut(bin) {
                        b.0 += 1;
                        b.1 += conf;
                        b.2 += u64::from(right);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The KPIs now, oldest window first.
    pub fn kpis(&self, model: &str) -> Kpis {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.window_ms();
        let windows = state
            .windows
            .iter()
            .map(|((start, version), t)| window_of(*start, *start + window, version, t))
            .collect();
        Kpis {
            model: model.to_owned(),
            window_s: self.config.window_s,
            pending: state.pending_calls,
            expired: state.expired,
            duplicate_ids: state.duplicate_ids,
            windows,
        }
    }
}

impl Feedback {
    /// Records the KPI windows that are due, oldest first, with `record` (which gets the
    /// window and whether it had ended): a window when it ends, and again when its counts
    /// changed (delayed labels) and a window length has passed since its last record; with
    /// `all`, every window whose counts changed since its last record, the open one too
    /// (`all` is for a monitor that stops). Returns how many were recorded; a failed record
    /// stops there, and the rest are tried again the next time.
    pub(crate) fn record_windows(
        &self,
        now_ms: i64,
        all: bool,
        mut record: impl FnMut(&Window, bool) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        self.recording.store(true, Ordering::Relaxed);
        let window = self.window_ms();
        let windows: Vec<(WindowKey, (u64, u64), Window)> = {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            recorded.retain(|k, _| state.windows.contains_key(k));
            state
                .windows
                .iter()
                .map(|((start, version), t)| {
                    (
                        (*start, version.clone()),
                        (t.predictions, t.labeled),
                        window_of(*start, *start + window, version, t),
                    )
                })
                .collect()
        };
        let mut done = 0;
        // Every ended window is recorded once when the loop ends (a failure returns
        // first): they may go once `windows` newer ones are kept.
        let through = windows
            .iter()
            .map(|(key, _, _)| key.0)
            .filter(|start| start + window <= now_ms)
            .max();
        for (key, counts, w) in windows {
            let complete = key.0 + window <= now_ms;
            let due = match recorded.get(&key) {
                None => complete || all,
                Some(was) if (was.predictions, was.labeled) == counts => false,
                Some(was) => all || (complete && now_ms - was.at_ms >= window),
            };
            if !due {
                continue;
            }
            record(&w, complete)?;
            done += 1;
            recorded.insert(
                key,
                Counts {
                    predictions: counts.0,
                    labeled: counts.1,
                    at_ms: now_ms,
                },
            );
        }
        if let Some(through) = through {
            self.recorded_through.store(through, Ordering::Relaxed);
        }
        Ok(done)
    }
}

/// Which kept call a feedback item labels.
enum Found {
    /// The call of this principal.
    Call(String),
    Unknown,
    Ambiguous,
}

/// The call `poster` labels with `item`: the one its `principal` names (the poster's by
/// default); failing that, when it names none, the one call of another principal with
/// this id the poster may label (a labeler any, anyone one whose id the gateway made).
fn find(state: &State, poster: &str, labeler: bool, item: &Item) -> Found {
    let Some(calls) = state.pending.get(&item.id) else {
        return Found::Unknown;
    };
    let named = item.principal.as_deref().unwrap_or(poster);
    if calls.iter().any(|p| p.principal == named) {
        return Found::Call(named.to_owned());
    }
    if item.principal.is_some() {
        return Found::Unknown;
    }
    let mut others = calls.iter().filter(|p| labeler || p.made);
    match (others.next(), others.next()) {
        (Some(p), None) => Found::Call(p.principal.clone()),
        (Some(_), Some(_)) => Found::Ambiguous,
        (None, _) => Found::Unknown,
    }
}

/// Removes the `i`-th call kept under `id`, when there is one.
fn take(state: &mut State, id: &str, i: usize) -> Option<Prediction> {
    let calls = state.pending.get_mut(id)?;
    if i >= calls.len() {
        return None;
    }
    let p = calls.swap_remove(i);
    if calls.is_empty() {
        state.pending.remove(id);
    }
    state.pending_calls = state.pending_calls.saturating_sub(1);
    Some(p)
}

fn window_of(start: i64, end: i64, version: &str, t: &Tally) -> Window {
    let share = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    // Macro averages over every class seen in the labels or the predictions.
    let (mut precision, mut recall) = (0.0, 0.0);
    for [tp, fp, fn_] in t.classes.values() {
        precision += share(*tp, tp + fp).unwrap_or(0.0);
        recall += share(*tp, tp + fn_).unwrap_or(0.0);
    }
    let k = t.classes.len() as f64;
    let binned: u64 = t.bins.iter().map(|b| b.0).sum();
    let ece = (binned > 0).then(|| {
        t.bins
            .iter()
            .filter(|b| b.0 > 0)
            .map(|(n, conf, right)| {
                (*n as f64 / binned as f64) * (*right as f64 / *n as f64 - conf / *n as f64).abs()
            })
            .sum()
    });
    Window {
        start: rfc3339(start),
        end: rfc3339(end),
        kpis: aigis_evidence::WindowKpis {
            version: version.to_owned(),
            predictions: t.predictions,
            labeled: t.labeled,
            accuracy: share(t.correct, t.labeled),
            precision: (k > 0.0).then(|| precision / k),
            recall: (k > 0.0).then(|| recall / k),
            ece,
            mean_confidence: (binned > 0)
                .then(|| t.bins.iter().map(|b| b.1).sum::<f64>() / binned as f64),
            classes_truncated: t.classes_truncated,
        },
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A request id the gateway makes: `aigis-` and 32 hex digits from the OS's randomness
/// (unguessable, so no one sends labels for another's calls by guessing); `None` when
/// the OS gives none, and then the call is not kept.
pub fn new_id() -> Option<String> {
    random_hex(16).map(|hex| format!("aigis-{hex}"))
}

/// `n` bytes from the system's random numbers, in hex; `None` when there are none.
pub(crate) fn random_hex(n: usize) -> Option<String> {
    use rand_core::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand_core::OsRng.try_fill_bytes(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
