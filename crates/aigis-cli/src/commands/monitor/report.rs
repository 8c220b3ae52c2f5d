//! `aigis monitor report --from … --to …`: what the gateway saw over a time range, read
//! from the signed evidence in the project's ledger and nothing else (the gateway keeps
//! no rows, and its windows in memory are gone once it stops).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aigis_evidence::{
    CallDecision, GatewayAlert, GatewayCall, MonitorWindow, Predicate, ShadowPeriod, WindowDrift,
    WindowKpis,
};
use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use crate::cli::{Cli, MonitorReportArgs};
use crate::commands::ExitStatus;
use crate::{context, output};

/// Entries read from the ledger at a time.
const PAGE: u64 = 5_000;
/// A window is at most 31 days long, so one that overlaps the range was recorded at most
/// this long before it starts.
const LONGEST_WINDOW_MS: i64 = 31 * 86_400_000;

/// The report, as `--json` prints it and the HTML page draws it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    #[serde(skip)]
    pub range_ms: (i64, i64),
    /// The width of the call buckets.
    pub bucket_s: u64,
    pub models: Vec<ModelReport>,
    /// Signed entries read, by predicate.
    pub evidence: BTreeMap<&'static str, u64>,
    /// Calls refused before a model was chosen (no model to file them under).
    pub calls_without_model: u64,
    /// Entries left out: not signed by a project key, or not readable as their predicate.
    pub unreadable: Vec<String>,
}

/// What one served model did in the range.
#[derive(Debug, Default, Serialize)]
pub struct ModelReport {
    pub model: String,
    /// The versions seen in the range: in calls, windows and periods.
    pub versions: BTreeSet<String>,
    /// The gateways that recorded its windows, shadow periods and alerts (replicas keep
    /// theirs apart).
    pub instances: BTreeSet<String>,
    /// Drift windows, oldest first.
    pub drift: Vec<DriftRow>,
    /// KPI windows, oldest first, then by version.
    pub kpis: Vec<KpiRow>,
    /// The calls per time bucket (only buckets with a call).
    pub calls: Vec<Bucket>,
    /// Every detector that flagged a call.
    pub detectors: BTreeSet<String>,
    pub shadow: Vec<ShadowRow>,
    pub alerts: Vec<AlertRow>,
}

/// One window as recorded: where it is, and what it holds (`T`).
#[derive(Debug, Serialize)]
pub struct WindowRow<T> {
    pub evidence: u64,
    pub start: String,
    pub end: String,
    #[serde(skip)]
    pub start_ms: i64,
    pub complete: bool,
    /// The gateway that recorded it, when its evidence names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(flatten)]
    pub window: T,
}

impl<T> WindowRow<T> {
    /// Its start, with the gateway that recorded it when `several` record the model.
    pub fn label(&self, several: bool) -> String {
        match (&self.instance, several) {
            (Some(i), true) => format!("{} ({i})", self.start),
            _ => self.start.clone(),
        }
    }
}

/// A drift window: the test, and the version served when it was recorded.
#[derive(Debug, Serialize)]
pub struct DriftWindow {
    pub served_version: String,
    #[serde(flatten)]
    pub drift: WindowDrift,
}

pub type DriftRow = WindowRow<DriftWindow>;
pub type KpiRow = WindowRow<WindowKpis>;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Bucket {
    pub start: String,
    #[serde(skip)]
    pub start_ms: i64,
    pub calls: u64,
    pub refused: u64,
    /// Rows of the calls that reached the model.
    pub rows: u64,
    /// Calls a detector flagged (or blocked).
    pub flagged_calls: u64,
    /// Rows flagged, by detector (a detector that judges whole calls counts the call's
    /// rows).
    pub flagged_rows: BTreeMap<String, u64>,
    /// Each detector's flagged rows over `rows` (none when no row reached the model).
    pub flag_rate: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
pub struct ShadowRow {
    pub evidence: u64,
    #[serde(flatten)]
    pub period: ShadowPeriod,
}

#[derive(Debug, Serialize)]
pub struct AlertRow {
    pub evidence: u64,
    #[serde(flatten)]
    pub alert: GatewayAlert,
}

pub(crate) fn report(cli: &Cli, args: &MonitorReportArgs) -> Result<ExitStatus> {
    let project = context::project(cli)?;
    let from = output::parse_time(&args.from)?;
    let to = match &args.to {
        Some(t) => output::parse_time(t)?,
        None => aigis_ledger::now_ms(),
    };
    if to <= from {
        return Err(crate::hinted(
            format!(
                "the range is empty: --to {} is not after --from {}",
                output::time_ms(to),
                output::time_ms(from)
            ),
            "give --from the earlier time (an age such as `7d` counts back from now)",
        ));
    }
    let bucket_ms = match &args.bucket {
        Some(b) => {
            let d = humantime::parse_duration(b).map_err(|e| {
                crate::hinted(
                    format!("--bucket `{b}` is not a duration: {e}"),
                    "use a duration such as 30s, 5m or 1h",
                )
            })?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if ms < 1000 {
                return Err(crate::hinted(
                    format!("--bucket `{b}` is shorter than a second"),
                    "use a duration of a second or more",
                ));
            }
            ms
        }
        None => auto_bucket(to - from),
    };
    let ledger = project.open_ledger()?;
    let keys = project.keyring()?.public_keys();
    output::note(cli, "reading the gateway's evidence from the ledger…");
    let only: BTreeSet<String> = args.model.iter().cloned().collect();
    let report = gather(ledger.store(), &keys, (from, to), bucket_ms, &only)?;
    // A model asked for by name that left nothing in the range is most likely a wrong
    // name: say which models did.
    let missing: Vec<&String> = only
        .iter()
        .filter(|m| !report.models.iter().any(|r| &r.model == *m))
        .collect();
    if !missing.is_empty() {
        let all = gather(
            ledger.store(),
            &keys,
            (from, to),
            bucket_ms,
            &BTreeSet::new(),
        )?;
        let seen: Vec<&str> = all.models.iter().map(|m| m.model.as_str()).collect();
        return Err(crate::hinted(
            format!(
                "no gateway evidence of the model {} from {} to {}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                output::time_ms(from),
                output::time_ms(to)
            ),
            if seen.is_empty() {
                "no model left gateway evidence in this range: widen it with --from".to_owned()
            } else {
                format!("models with evidence in this range: {}", seen.join(", "))
            },
        ));
    }
    let out: Option<PathBuf> = match (&args.out, cli.json) {
        (Some(p), _) => Some(p.clone()),
        (None, false) => Some(PathBuf::from("monitor-report.html")),
        (None, true) => None,
    };
    if let Some(path) = &out {
        let page = crate::report::monitor::page(&report);
        context::write_output(path, page.as_bytes())?;
    }
    if cli.json {
        let mut value = serde_json::to_value(&report)?;
        output::insert(
            &mut value,
            "html",
            out.as_ref().map(|p| p.display().to_string()),
        );
        output::json(&value)?;
    } else {
        print_text(&report);
        if let Some(path) = &out {
            output::note(cli, &format!("wrote {}", path.display()));
        }
    }
    Ok(ExitStatus::Success)
}

/// About 48 buckets over `span_ms`, rounded up to a usual width.
fn auto_bucket(span_ms: i64) -> i64 {
    const WIDTHS_S: [i64; 14] = [
        1,
        5,
        10,
        30,
        60,
        300,
        600,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
    ];
    let want = span_ms / 48;
    WIDTHS_S
        .iter()
        .map(|s| s * 1000)
        .find(|w| *w >= want)
        .unwrap_or(((want + 86_399_999) / 86_400_000) * 86_400_000)
}

/// Every signed entry of predicate `P` recorded in `[since, until)`, a page at a time:
/// `each` gets its index, the time it was recorded and the predicate. An entry that is not
/// signed by one of `keys`, or is not a `P`, goes to `unreadable`.
fn read_all<P: Predicate + Send>(
    store: &dyn aigis_ledger::Store,
    keys: &[aigis_crypto::PublicKey],
    (since, until): (Option<i64>, Option<i64>),
    report: &mut Report,
    mut each: impl FnMut(&mut Report, u64, P),
) -> Result<()> {
    let mut after = None;
    loop {
        let page = store.query(&aigis_ledger::Query {
            predicate_type: Some(P::TYPE.to_owned()),
            since_ms: since,
            until_ms: until,
            after_index: after,
            limit: Some(PAGE),
            ..aigis_ledger::Query::default()
        })?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.index);
        // The signatures are checked and the statements read on every core; what they
        // say is added up in order.
        let read: Vec<(u64, Result<P, String>)> = page
            .par_iter()
            .map(|entry| {
                let index = entry.index;
                let read = aigis_ledger::signed_statement(keys, index, &entry.body).and_then(
                    |(statement, _)| {
                        P::from_statement(&statement).map_err(|e| {
                            format!("evidence #{index} is not a readable {}: {e}", P::NAME)
                        })
                    },
                );
                (index, read)
            })
            .collect();
        for (index, read) in read {
            match read {
                Ok(p) => {
                    *report.evidence.entry(P::NAME).or_default() += 1;
                    each(report, index, p);
                }
                Err(e) => report.unreadable.push(e),
            }
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn ms_of(t: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(t).ok()?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    i64::try_from(ms).ok()
}

/// The start and end of entry `index`'s window or period, in ms; an unreadable one is
/// named in the report.
fn span(
    report: &mut Report,
    index: u64,
    (from, to): (&str, &str),
    what: &str,
) -> Option<(i64, i64)> {
    let span = ms_of(from).zip(ms_of(to));
    if span.is_none() {
        report
            .unreadable
            .push(format!("evidence #{index} has an unreadable {what}"));
    }
    span
}

/// Reads the range's evidence from `store` into a report.
pub fn gather(
    store: &dyn aigis_ledger::Store,
    keys: &[aigis_crypto::PublicKey],
    (from, to): (i64, i64),
    bucket_ms: i64,
    only: &BTreeSet<String>,
) -> Result<Report> {
    let mut report = Report {
        from: output::time_ms(from),
        to: output::time_ms(to),
        range_ms: (from, to),
        bucket_s: u64::try_from(bucket_ms / 1000).unwrap_or(1),
        models: Vec::new(),
        evidence: BTreeMap::new(),
        calls_without_model: 0,
        unreadable: Vec::new(),
    };
    let wanted = |model: &str| only.is_empty() || only.contains(model);
    // The latest record of each window: drift by (model, gateway, served file, start),
    // KPIs by (model, gateway, start, version). Replicas record windows of the same start.
    type Key = (String, Option<String>, String, i64);
    let mut drift: BTreeMap<Key, DriftRow> = BTreeMap::new();
    let mut kpis: BTreeMap<Key, KpiRow> = BTreeMap::new();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    read_all::<MonitorWindow>(
        store,
        keys,
        (Some(from - LONGEST_WINDOW_MS), None),
        &mut report,
        |report, index, w| {
            let Some((start, end)) = span(report, index, (&w.start, &w.end), "window") else {
                return;
            };
            if end <= from || start >= to || !wanted(&w.model) {
                return;
            }
            versions
                .entry(w.model.clone())
                .or_default()
                .insert(w.served_version.clone());
            match (w.drift, w.kpis) {
                (Some(d), None) if w.kind == "drift" => {
                    let row = DriftRow {
                        evidence: index,
                        start: w.start,
                        end: w.end,
                        start_ms: start,
                        complete: w.complete,
                        instance: w.instance.clone(),
                        window: DriftWindow {
                            served_version: w.served_version,
                            drift: d,
                        },
                    };
                    // The window's last state by what it says, not by where it is in
                    // the log (an old record appended again must not hide a later one):
                    // ended over open, then more rows.
                    let rank = |r: &DriftRow| (r.complete, r.window.drift.rows, r.evidence);
                    let key = (w.model.clone(), w.instance, w.served_sha256.clone(), start);
                    if drift.get(&key).is_none_or(|old| rank(old) < rank(&row)) {
                        drift.insert(key, row);
                    }
                }
                (None, Some(k)) if w.kind == "kpis" => {
                    let key = (
                        w.model.clone(),
                        w.instance.clone(),
                        k.version.clone(),
                        start,
                    );
                    let row = KpiRow {
                        evidence: index,
                        start: w.start,
                        end: w.end,
                        start_ms: start,
                        complete: w.complete,
                        instance: w.instance,
                        window: k,
                    };
                    // Labels only accumulate: the record with the most is the latest.
                    let rank = |r: &KpiRow| {
                        (
                            r.window.labeled,
                            r.window.predictions,
                            r.complete,
                            r.evidence,
                        )
                    };
                    if kpis.get(&key).is_none_or(|old| rank(old) < rank(&row)) {
                        kpis.insert(key, row);
                    }
                }
                _ => report.unreadable.push(format!(
                    "evidence #{index} is a `{}` window without its own statistics",
                    w.kind
                )),
            }
        },
    )?;
    let mut buckets: BTreeMap<(String, i64), Bucket> = BTreeMap::new();
    let mut detectors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    read_all::<GatewayCall>(
        store,
        keys,
        (Some(from), Some(to)),
        &mut report,
        |report, index, call| {
            let Some(at) = ms_of(&call.time) else {
                report
                    .unreadable
                    .push(format!("evidence #{index} has an unreadable time"));
                return;
            };
            let Some(name) = &call.model else {
                report.calls_without_model += 1;
                return;
            };
            if !wanted(name) || at < from || at >= to {
                return;
            }
            if let Some(v) = &call.model_version {
                versions.entry(name.clone()).or_default().insert(v.clone());
            }
            let start = at - (at - from).rem_euclid(bucket_ms);
            let b = buckets
                .entry((name.clone(), start))
                .or_insert_with(|| Bucket {
                    start: output::time_ms(start),
                    start_ms: start,
                    ..Bucket::default()
                });
            b.calls += 1;
            let rows = call.rows.unwrap_or(0);
            match call.decision {
                CallDecision::Allowed => b.rows += rows,
                CallDecision::Refused => b.refused += 1,
            }
            if !call.flags.is_empty() {
                b.flagged_calls += 1;
                if call.decision == CallDecision::Refused {
                    // A blocked call's rows reached the detectors, not the answer.
                    b.rows += rows;
                }
            }
            for flag in &call.flags {
                *b.flagged_rows.entry(flag.detector.clone()).or_default() +=
                    flag.rows.unwrap_or(rows);
                detectors
                    .entry(name.clone())
                    .or_default()
                    .insert(flag.detector.clone());
            }
        },
    )?;
    let mut shadow: Vec<(String, ShadowRow)> = Vec::new();
    read_all::<ShadowPeriod>(
        store,
        keys,
        (Some(from), None),
        &mut report,
        |report, index, p| {
            let Some((start, end)) = span(report, index, (&p.from, &p.to), "period") else {
                return;
            };
            if end < from || start >= to || !wanted(&p.model) {
                return;
            }
            shadow.push((
                p.model.clone(),
                ShadowRow {
                    evidence: index,
                    period: p,
                },
            ));
        },
    )?;
    let mut alerts: Vec<(String, AlertRow)> = Vec::new();
    read_all::<GatewayAlert>(
        store,
        keys,
        (Some(from), Some(to)),
        &mut report,
        |_, index, alert| {
            let Some(name) = alert.model.clone() else {
                // About the gateway as a whole: shown with every model.
                alerts.push((
                    String::new(),
                    AlertRow {
                        evidence: index,
                        alert,
                    },
                ));
                return;
            };
            if wanted(&name) {
                alerts.push((
                    name,
                    AlertRow {
                        evidence: index,
                        alert,
                    },
                ));
            }
        },
    )?;

    // Into one report per model.
    let mut models: BTreeMap<String, ModelReport> = BTreeMap::new();
    fn of<'a>(models: &'a mut BTreeMap<String, ModelReport>, name: &str) -> &'a mut ModelReport {
        models
            .entry(name.to_owned())
            .or_insert_with(|| ModelReport {
                model: name.to_owned(),
                ..ModelReport::default()
            })
    }
    for ((name, instance, ..), row) in drift {
        let m = of(&mut models, &name);
        m.instances.extend(instance);
        m.drift.push(row);
    }
    for ((name, instance, ..), row) in kpis {
        let m = of(&mut models, &name);
        m.instances.extend(instance);
        m.kpis.push(row);
    }
    for ((name, _), mut b) in buckets {
        if b.rows > 0 {
            b.flag_rate = b
                .flagged_rows
                .iter()
                .map(|(d, n)| (d.clone(), *n as f64 / b.rows as f64))
                .collect();
        }
        of(&mut models, &name).calls.push(b);
    }
    for (name, p) in shadow {
        let m = of(&mut models, &name);
        m.instances.extend(p.period.instance.clone());
        m.shadow.push(p);
    }
    for (name, set) in versions {
        of(&mut models, &name).versions = set;
    }
    for (name, set) in detectors {
        of(&mut models, &name).detectors = set;
    }
    let general: Vec<AlertRow> = alerts
        .iter()
        .filter(|(n, _)| n.is_empty())
        .map(|(_, a)| AlertRow {
            evidence: a.evidence,
            alert: a.alert.clone(),
        })
        .collect();
    for (name, a) in alerts.into_iter().filter(|(n, _)| !n.is_empty()) {
        let m = of(&mut models, &name);
        m.instances.extend(a.alert.instance.clone());
        m.alerts.push(a);
    }
    let mut models: Vec<ModelReport> = models.into_values().collect();
    for m in &mut models {
        m.drift.sort_by_key(|r| (r.start_ms, r.evidence));
        m.shadow.sort_by_key(|r| r.evidence);
        m.alerts.extend(general.iter().map(|a| AlertRow {
            evidence: a.evidence,
            alert: a.alert.clone(),
        }));
        m.alerts.sort_by_key(|a| a.evidence);
    }
    report.models = models;
    Ok(report)
}

fn print_text(report: &Report) {
    outln!("{} to {}", report.from, report.to);
    if report.models.is_empty() {
        outln!("no gateway evidence in this range");
    }
    for m in &report.models {
        outln!();
        outln!("{} (versions {})", m.model, join(&m.versions));
        let calls: u64 = m.calls.iter().map(|b| b.calls).sum();
        let refused: u64 = m.calls.iter().map(|b| b.refused).sum();
        let flagged: u64 = m.calls.iter().map(|b| b.flagged_calls).sum();
        outln!("  calls      {calls} ({refused} refused, {flagged} flagged)");
        let drifted = m
            .drift
            .iter()
            .filter(|r| r.window.drift.verdict == "drift")
            .count();
        match m.drift.last() {
            Some(last) => outln!(
                "  drift      {} windows, {drifted} drifted; the last ({}): {}, {} of {} features",
                m.drift.len(),
                last.start,
                last.window.drift.verdict,
                last.window.drift.drifted,
                last.window.drift.tested
            ),
            None => outln!("  drift      no window recorded"),
        }
        match m.kpis.iter().rev().find(|k| k.window.labeled > 0) {
            Some(k) => outln!(
                "  kpis       {} windows; the last labelled ({}, version {}): accuracy {}, {} of {} rows labelled",
                m.kpis.len(),
                k.start,
                k.window.version,
                k.window
                    .accuracy
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:.4}")),
                k.window.labeled,
                k.window.predictions
            ),
            None => outln!("  kpis       no labelled window recorded"),
        }
        if !m.shadow.is_empty() {
            let rows: u64 = m.shadow.iter().map(|s| s.period.rows).sum();
            let differ: u64 = m.shadow.iter().map(|s| s.period.disagreements).sum();
            outln!(
                "  shadow     {} periods, {differ} of {rows} rows disagreed",
                m.shadow.len()
            );
        }
        let firing = m
            .alerts
            .iter()
            .filter(|a| a.alert.state == "firing")
            .count();
        outln!("  alerts     {} ({firing} firing)", m.alerts.len());
    }
    if !report.unreadable.is_empty() {
        outln!();
        outln!(
            "{} entries left out (not signed by a project key, or unreadable):",
            report.unreadable.len()
        );
        for u in &report.unreadable {
            outln!("  {u}");
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none seen".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigis_ledger::Store as _;
    use serde_json::json;

    const T0: i64 = 1_800_000_000_000;

    fn window(kind: &str, start: i64, len: i64, body: serde_json::Value) -> MonitorWindow {
        let mut w = json!({
            "model": "digits", "served_version": "4238f3a90acf",
            "served_sha256": "ab".repeat(32), "kind": kind,
            "start": output::time_ms(start), "end": output::time_ms(start + len),
            "complete": true, "drift": null, "kpis": null, "tool": "aigis 0.1.0",
        });
        w[kind] = body;
        serde_json::from_value(w).unwrap()
    }

    fn drift(verdict: &str, drifted: u64) -> serde_json::Value {
        json!({"rows": 100, "verdict": verdict, "alpha": 0.05, "drift_share": 0.5,
               "drifted": drifted, "inconclusive": 0, "tested": 2, "features": [
                 {"name": "<b>x</b>", "status": if drifted > 0 { "drift" } else { "stable" },
                  "statistic": 0.3, "error": 0.01, "p_value_low": 0.001, "p_value_high": 0.002},
                 {"name": "y", "status": "stable", "statistic": 0.05, "error": 0.01,
                  "p_value_low": 0.5, "p_value_high": 0.6}]})
    }

    fn call(at: i64, model: Option<&str>, allowed: bool, flags: serde_json::Value) -> GatewayCall {
        serde_json::from_value(json!({
            "time": output::time_ms(at), "route": "POST /v2/models/digits/infer",
            "principal": "app", "model": model, "model_version": "4238f3a90acf",
            "decision": if allowed { "allowed" } else { "refused" },
            "status": if allowed { 200 } else { 403 }, "code": null, "guards": [],
            "rows": 10, "request_sha256": "00".repeat(32), "response_sha256": "00".repeat(32),
            "duration_us": 100, "flags": flags, "tool": "aigis 0.1.0",
        }))
        .unwrap()
    }

    /// The report reads only signed entries of the range, keeps a window's latest
    /// record, counts flags per detector and bucket, and names what it left out.
    #[test]
    fn the_report_reads_the_signed_evidence_of_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = aigis_ledger::SqliteStore::open(&dir.path().join("l.db"), true).unwrap();
        let (key, stranger) = (
            aigis_crypto::SigningKey::generate(),
            aigis_crypto::SigningKey::generate(),
        );
        let served = [(
            "served".to_owned(),
            "ab".repeat(32).parse::<aigis_core::Digest>().unwrap(),
        )];
        let append =
            |p: &dyn Fn() -> aigis_core::Statement, by: &aigis_crypto::SigningKey, at: i64| {
                store
                    .append(&[aigis_ledger::statement_entry(&p(), by, at)])
                    .unwrap()
            };
        let hour = 3_600_000;
        let w1 = window("drift", T0, hour, drift("stable", 0));
        let w2 = window("drift", T0 + hour, hour, drift("drift", 1));
        let early = window("drift", T0 - 5 * hour, hour, drift("drift", 1));
        let forged = window("drift", T0 + 2 * hour, hour, drift("drift", 2));
        let kpis = |labeled: u64, accuracy: f64| {
            window(
                "kpis",
                T0,
                hour,
                json!({"version": "4238f3a90acf", "predictions": 50,
                "labeled": labeled, "accuracy": accuracy, "precision": accuracy,
                "recall": accuracy, "ece": 0.1, "mean_confidence": 0.9}),
            )
        };
        let (k1, k2) = (kpis(10, 0.5), kpis(40, 0.75));
        for (w, by, at) in [
            (&early, &key, T0 - 4 * hour),
            (&w1, &key, T0 + hour),
            (&k1, &key, T0 + hour),
            (&w2, &key, T0 + 2 * hour),
            (&k2, &key, T0 + 2 * hour),
            (&forged, &stranger, T0 + 3 * hour),
            // The first KPI record appended again, later: it does not hide the second.
            (&k1, &key, T0 + 3 * hour),
        ] {
            append(&|| w.statement(served.to_vec()).unwrap(), by, at);
        }
        let ood = json!([{"detector": "ood", "action": "flag", "score": 2.0,
                          "reasons": ["row 0"], "rows": 3}]);
        let calls = [
            call(T0 + 10, Some("digits"), true, json!([])),
            call(T0 + 20, Some("digits"), true, ood.clone()),
            call(T0 + hour + 5, Some("digits"), false, json!([])),
            call(T0 + hour + 6, None, false, json!([])),
            call(T0 + 10 * hour, Some("digits"), true, ood),
        ];
        for c in &calls {
            let at = ms_of(&c.time).unwrap();
            append(&|| c.statement(served.to_vec()).unwrap(), &key, at);
        }

        let r = gather(
            &store,
            &[key.public()],
            (T0, T0 + 3 * hour),
            hour,
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(r.models.len(), 1);
        let m = &r.models[0];
        // The early window is out of the range, the forged one is not signed by a
        // project key: named, not counted.
        let verdicts: Vec<&str> = m
            .drift
            .iter()
            .map(|w| w.window.drift.verdict.as_str())
            .collect();
        assert_eq!(verdicts, ["stable", "drift"]);
        assert_eq!(r.unreadable.len(), 1, "{:?}", r.unreadable);
        assert!(
            r.unreadable[0].contains("not signed by a project key"),
            "{:?}",
            r.unreadable
        );
        // The KPI window recorded twice: its latest counts.
        assert_eq!(m.kpis.len(), 1);
        assert_eq!(
            (m.kpis[0].window.labeled, m.kpis[0].window.accuracy),
            (40, Some(0.75))
        );
        // Calls per hour: the one outside the range and the one without a model apart.
        assert_eq!(m.calls.len(), 2);
        assert_eq!(
            (m.calls[0].calls, m.calls[0].rows, m.calls[0].flagged_calls),
            (2, 20, 1)
        );
        assert_eq!(m.calls[0].flagged_rows.get("ood"), Some(&3));
        assert_eq!(m.calls[0].flag_rate.get("ood"), Some(&0.15));
        assert_eq!(
            (m.calls[1].calls, m.calls[1].refused, m.calls[1].rows),
            (1, 1, 0)
        );
        assert_eq!(r.calls_without_model, 1);
        assert_eq!(r.evidence.get("gateway-call"), Some(&4));

        // The page escapes what the evidence says.
        let page = crate::report::monitor::page(&r);
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;") && !page.contains("<b>x</b>"));
        assert_eq!(
            page.matches("<svg").count(),
            5,
            "drift share, heat map, KPIs, calls, flags"
        );

        // Only the models asked for.
        let none = gather(
            &store,
            &[key.public()],
            (T0, T0 + 3 * hour),
            hour,
            &["wine".to_owned()].into(),
        )
        .unwrap();
        assert!(none.models.is_empty());
    }

    /// Two replicas serving the same model file record windows of the same start: both
    /// are shown, each under its gateway, and a replica's own replay still ranks by what
    /// its records say.
    #[test]
    fn replicas_keep_their_windows_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = aigis_ledger::SqliteStore::open(&dir.path().join("l.db"), true).unwrap();
        let key = aigis_crypto::SigningKey::generate();
        let served = [(
            "served".to_owned(),
            "ab".repeat(32).parse::<aigis_core::Digest>().unwrap(),
        )];
        let hour = 3_600_000;
        let on = |instance: &str, mut w: MonitorWindow, rows: u64| {
            w.instance = Some(instance.to_owned());
            if let Some(d) = w.drift.as_mut() {
                d.rows = rows;
            }
            w
        };
        let records = [
            on("eu-1", window("drift", T0, hour, drift("stable", 0)), 100),
            on("eu-2", window("drift", T0, hour, drift("drift", 1)), 40),
            // eu-1's window again, open and with fewer rows, appended later.
            {
                let mut w = on("eu-1", window("drift", T0, hour, drift("drift", 2)), 10);
                w.complete = false;
                w
            },
        ];
        for (i, w) in records.iter().enumerate() {
            store
                .append(&[aigis_ledger::statement_entry(
                    &w.statement(served.to_vec()).unwrap(),
                    &key,
                    T0 + hour + i as i64,
                )])
                .unwrap();
        }
        // A third replica's shadow period and an alert of the second: each names its
        // gateway.
        let period: ShadowPeriod = serde_json::from_value(json!({
            "model": "digits", "served_version": "4238f3a90acf", "served_sha256": "ab".repeat(32),
            "candidate_version": "c0ffee000000", "candidate_sha256": "cd".repeat(32),
            "candidate_signed_by": null, "instance": "eu-3",
            "from": output::time_ms(T0), "to": output::time_ms(T0 + 60_000),
            "calls": 5, "rows": 5, "disagreements": 1, "failures": 0, "skipped": 0,
            "candidate_latency_us": null, "served_latency_us": null, "tool": "aigis 0.1.0",
        }))
        .unwrap();
        let alert: GatewayAlert = serde_json::from_value(json!({
            "time": output::time_ms(T0 + 1_000), "instance": "eu-2", "kind": "drift",
            "model": "digits", "state": "firing", "value": 0.5, "threshold": 0.5,
            "message": "drift", "delivered": null, "tool": "aigis 0.1.0",
        }))
        .unwrap();
        for (i, statement) in [
            period.statement(served.to_vec()).unwrap(),
            alert.statement(served.to_vec()).unwrap(),
        ]
        .iter()
        .enumerate()
        {
            store
                .append(&[aigis_ledger::statement_entry(
                    statement,
                    &key,
                    T0 + 1_000 + i as i64,
                )])
                .unwrap();
        }
        let r = gather(
            &store,
            &[key.public()],
            (T0, T0 + hour),
            hour,
            &BTreeSet::new(),
        )
        .unwrap();
        let m = &r.models[0];
        assert_eq!(
            m.instances.iter().map(String::as_str).collect::<Vec<_>>(),
            ["eu-1", "eu-2", "eu-3"]
        );
        assert_eq!(m.shadow[0].period.instance.as_deref(), Some("eu-3"));
        assert_eq!(m.alerts[0].alert.instance.as_deref(), Some("eu-2"));
        let shown: Vec<(Option<&str>, &str, u64)> = m
            .drift
            .iter()
            .map(|w| {
                (
                    w.instance.as_deref(),
                    w.window.drift.verdict.as_str(),
                    w.window.drift.rows,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [(Some("eu-1"), "stable", 100), (Some("eu-2"), "drift", 40)]
        );
        let page = crate::report::monitor::page(&r);
        assert!(
            page.contains("Recorded by 3 gateways: eu-1, eu-2, eu-3 (")
                && page.contains("(eu-2)</td>")
                && page.contains(&format!("{} (eu-3)</td>", output::time_ms(T0)))
                && page.contains(&format!("{} (eu-2)</td>", output::time_ms(T0 + 1_000))),
            "{page}"
        );
    }

    #[test]
    fn buckets_are_about_48_to_a_range_in_usual_widths() {
        assert_eq!(auto_bucket(48_000), 1000);
        assert_eq!(auto_bucket(3_600_000), 300_000);
        assert_eq!(auto_bucket(7 * 86_400_000), 6 * 3_600_000);
        assert_eq!(auto_bucket(365 * 86_400_000), 8 * 86_400_000);
    }
}
