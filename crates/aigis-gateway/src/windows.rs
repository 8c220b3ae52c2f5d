//! The monitors' windows as evidence: each served model's drift windows and KPI windows
//! are recorded as signed `monitor-window` statements (see
//! [`aigis_evidence::MonitorWindow`] for when), which `aigis monitor report` reads. The
//! gateway keeps only sketches and counts, so the ledger is where a window's verdict
//! outlives the windows kept in memory.

use std::sync::Arc;

use crate::drift::Drift;
use crate::feedback::Feedback;
use crate::models::Served;

impl crate::Gateway {
    /// Records what is due, on the blocking pool: the shadow periods (see
    /// [`crate::shadow::Shadow::record_period`]) and the monitors' windows; with `now`
    /// (the gateway stops) everything not yet recorded. Without an audit nothing is.
    pub async fn record_due(self: &Arc<Self>, now: bool) {
        if self.audit.is_none() {
            return;
        }
        let gw = Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || {
            let live = gw.live();
            gw.record_periods(live.models.values(), now);
            for m in live.models.values() {
                gw.record_windows(m, m.drift.as_deref(), m.feedback.as_deref(), now);
            }
        })
        .await;
        if done.is_err() {
            tracing::error!("recording the shadow periods and monitor windows failed");
        }
    }

    /// Whether any served model has something to record.
    pub(crate) fn records(&self) -> bool {
        self.audit.is_some()
            && self
                .live()
                .models
                .values()
                .any(|m| m.shadow.is_some() || m.drift.is_some() || m.feedback.is_some())
    }

    /// Records the windows of `m`'s `drift` and `feedback` that are due (all of them with
    /// `all`) as `monitor-window` evidence. A failure is logged, and the windows not
    /// recorded are tried again the next time.
    pub(crate) fn record_windows(
        &self,
        m: &Served,
        drift: Option<&Drift>,
        feedback: Option<&Feedback>,
        all: bool,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        let now = crate::unix_ms();
        let record = |kind: &str,
                      (start, end): (&str, &str),
                      complete: bool,
                      drift: Option<aigis_evidence::WindowDrift>,
                      kpis: Option<aigis_evidence::WindowKpis>|
         -> Result<(), String> {
            let window = aigis_evidence::MonitorWindow {
                model: m.name.clone(),
                served_version: m.version.clone(),
                served_sha256: m.digest.hex(),
                instance: Some(self.instance.clone()),
                kind: kind.to_owned(),
                start: start.to_owned(),
                end: end.to_owned(),
                complete,
                drift,
                kpis,
                tool: aigis_evidence::Tool::current(),
            };
            let statement =
                aigis_evidence::Predicate::statement(&window, vec![("served".into(), m.digest)])
                    .map_err(|e| e.to_string())?;
            audit.evidence(&statement).map(|_| ())
        };
        let drift = drift.map(|d| {
            d.record_windows(now, all, |evidence, w, complete| {
                record("drift", (&w.start, &w.end), complete, Some(evidence), None)
            })
        });
        let kpis = feedback.map(|f| {
            f.record_windows(now, all, |w, complete| {
                record(
                    "kpis",
                    (&w.start, &w.end),
                    complete,
                    None,
                    Some(w.kpis.clone()),
                )
            })
        });
        for (kind, result) in [("drift", drift), ("kpis", kpis)] {
            match result {
                None | Some(Ok(0)) => {}
                Some(Ok(n)) => {
                    tracing::info!(model = %m.name, kind, windows = n, "monitor windows recorded");
                }
                Some(Err(e)) => {
                    tracing::warn!(model = %m.name, kind, error = %e, "a monitor window could not be recorded; it is tried again");
                }
            }
        }
    }
}
