//! The audit of every call: each call to a model route becomes a signed `gateway-call`
//! statement in the project's ledger before its answer leaves the gateway. The ledger's
//! group commit lets concurrent calls share one disk flush. When the record cannot be
//! written, the call is not answered (503, `audit_unavailable`): nothing a client has been
//! told went unrecorded.

use aigis_core::Digest;
use aigis_core::Statement;
use aigis_evidence::GatewayCall;

/// A record on its way: resolves to its ledger index once it is recorded.
pub type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send>>;

/// Where calls and administrative changes are recorded.
pub trait Audit: Send + Sync + std::fmt::Debug {
    /// Records `call` about `subjects` durably; returns its ledger index.
    fn record(&self, call: &GatewayCall, subjects: Vec<(String, Digest)>) -> Result<u64, String>;
    /// Records a statement the gateway makes besides its calls (an administrative change,
    /// an alert, a shadow period) durably, at once; returns its index.
    fn evidence(&self, statement: &Statement) -> Result<u64, String>;

    /// Records `calls` in order, as `record` does each. On a failure, says how many of
    /// the first were recorded before it (so only the rest are tried again) and why.
    fn record_all(
        &self,
        calls: &[(GatewayCall, Vec<(String, Digest)>)],
    ) -> Result<(), (usize, String)> {
        for (done, (call, subjects)) in calls.iter().enumerate() {
            self.record(call, subjects.clone()).map_err(|e| (done, e))?;
        }
        Ok(())
    }

    /// `record` for an async caller: the wait for the record does not hold a thread.
    /// By default `record` runs on tokio's blocking pool.
    fn submit(self: Arc<Self>, call: GatewayCall, subjects: Vec<(String, Digest)>) -> Pending
    where
        Self: 'static,
    {
        let recorded = tokio::task::spawn_blocking(move || self.record(&call, subjects));
        Box::pin(async move {
            recorded
                .await
                .map_err(|_| "the audit record's writer failed".to_owned())?
        })
    }
}

/// The project's ledger, signing with the project's key.
pub struct LedgerAudit {
    ledger: aigis_ledger::Ledger,
    key: aigis_crypto::SigningKey,
}

impl std::fmt::Debug for LedgerAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerAudit")
            .field("key_id", &self.key.public().key_id())
            .finish()
    }
}

impl LedgerAudit {
    pub fn new(ledger: aigis_ledger::Ledger, key: aigis_crypto::SigningKey) -> Self {
        LedgerAudit { ledger, key }
    }
}

impl LedgerAudit {
    /// The signed ledger entry of `predicate` about `subjects`. A call's record has no
    /// time signature (a second signature a request): no decision reads its age.
    fn entry<P: aigis_evidence::Predicate>(
        &self,
        predicate: &P,
        subjects: Vec<(String, Digest)>,
    ) -> Result<aigis_ledger::NewEntry, String> {
        let statement = predicate.statement(subjects).map_err(|e| e.to_string())?;
        Ok(aigis_ledger::statement_entry_untimed(
            &statement,
            &self.key,
            aigis_ledger::now_ms(),
        ))
    }
}

impl Audit for LedgerAudit {
    fn record(&self, call: &GatewayCall, subjects: Vec<(String, Digest)>) -> Result<u64, String> {
        let entry = self.entry(call, subjects)?;
        self.ledger.append(entry).map_err(|e| e.to_string())
    }

    fn evidence(&self, statement: &Statement) -> Result<u64, String> {
        let entry = aigis_ledger::statement_entry(statement, &self.key, aigis_ledger::now_ms());
        self.ledger.append(entry).map_err(|e| e.to_string())
    }

    /// One transaction for the whole batch, so all of it or none is recorded.
    fn record_all(
        &self,
        calls: &[(GatewayCall, Vec<(String, Digest)>)],
    ) -> Result<(), (usize, String)> {
        let entries = calls
            .iter()
            .map(|(call, subjects)| self.entry(call, subjects.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (0, e))?;
        self.ledger
            .append_all(entries)
            .map(|_| ())
            .map_err(|e| (0, e.to_string()))
    }

    /// The record is built and signed on the caller's thread and handed to the ledger's
    /// writer; the caller awaits its group commit without holding a thread.
    fn submit(self: Arc<Self>, call: GatewayCall, subjects: Vec<(String, Digest)>) -> Pending {
        let entry = match self.entry(&call, subjects) {
            Ok(entry) => entry,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ledger.submit(
            vec![entry],
            Box::new(move |r| {
                let _ = tx.send(r.map_err(|e| e.to_string()));
            }),
        );
        Box::pin(async move {
            rx.await
                .map_err(|_| "the ledger writer has stopped".to_owned())?
        })
    }
}

/// `[serve.audit]`: how calls are recorded.
///
/// ```toml
/// [serve.audit]
/// mode = "buffered"              # "sync" (the default): each answer waits for its record
/// buffer = 10000                 # records that may wait for the ledger; a call beyond is refused
/// spool = "gateway-audit.spool"  # where waiting records go when the ledger cannot take them at a stop
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    #[serde(default)]
    pub mode: AuditMode,
    #[serde(default = "default_buffer")]
    pub buffer: usize,
    #[serde(default = "default_spool")]
    pub spool: std::path::PathBuf,
}

/// Whether an answer waits for its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditMode {
    /// The answer leaves once its record is in the ledger (fail closed).
    #[default]
    Sync,
    /// The answer leaves once its record is queued; a writer puts records in the ledger
    /// in order, retrying while it fails. A full queue refuses calls (503).
    Buffered,
}

fn default_buffer() -> usize {
    10_000
}

fn default_spool() -> std::path::PathBuf {
    std::path::PathBuf::from("gateway-audit.spool")
}

/// A record waiting for the ledger (and a line of the spool file).
#[derive(serde::Serialize, serde::Deserialize)]
struct Waiting {
    call: GatewayCall,
    subjects: Vec<(String, Digest)>,
}

/// The buffered mode: records go to a bounded queue, and a writer thread puts them in the
/// inner audit in order, retrying (every 200 ms) while it fails, so a slow or failing
/// ledger holds up no answer until the queue is full, and then calls are refused. At a
/// stop, [`Buffered::drain`] waits for the queue to empty; what the ledger still cannot
/// take is written to the spool file, which the next start puts in the ledger before it
/// serves ([`Buffered::new`]). Nothing answered is lost but by a crash of the process,
/// which loses at most the queue.
pub struct Buffered {
    inner: Arc<dyn Audit>,
    sender: std::sync::Mutex<Option<std::sync::mpsc::SyncSender<Waiting>>>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set at a stop's deadline: the writer spools what is left instead of retrying.
    give_up: Arc<std::sync::atomic::AtomicBool>,
    waiting: prometheus_client::metrics::gauge::Gauge,
    capacity: i64,
    spool: std::path::PathBuf,
}

impl std::fmt::Debug for Buffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffered")
            .field("waiting", &self.waiting.get())
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

use std::sync::Arc;

impl Buffered {
    /// Puts the records of a spool file left by an earlier stop in `inner` (refusing to
    /// start while it cannot), then starts the writer. `waiting` counts queued records.
    pub fn new(
        inner: Arc<dyn Audit>,
        capacity: usize,
        spool: std::path::PathBuf,
        waiting: prometheus_client::metrics::gauge::Gauge,
    ) -> Result<Self, String> {
        if spool.exists() {
            let text = std::fs::read_to_string(&spool)
                .map_err(|e| format!("`{}`: cannot read: {e}", spool.display()))?;
            let mut records = Vec::new();
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let w: Waiting = serde_json::from_str(line).map_err(|e| {
                    format!(
                        "`{}`: line {}: not a spooled record: {e}",
                        spool.display(),
                        n + 1
                    )
                })?;
                records.push((w.call, w.subjects));
            }
            let mut replayed = 0usize;
            for chunk in records.chunks(WRITE_BATCH) {
                inner.record_all(chunk).map_err(|(done, e)| {
                    format!(
                        "`{}`: {} spooled records put in the ledger, then it failed: {e}",
                        spool.display(),
                        replayed + done
                    )
                })?;
                replayed += chunk.len();
            }
            std::fs::remove_file(&spool)
                .map_err(|e| format!("`{}`: cannot remove: {e}", spool.display()))?;
            tracing::info!(
                records = replayed,
                "spooled audit records put in the ledger"
            );
        }
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Waiting>(capacity.max(1));
        let give_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let inner = inner.clone();
            let give_up = give_up.clone();
            let waiting = waiting.clone();
            let spool = spool.clone();
            std::thread::Builder::new()
                .name("aigis-audit".into())
                .spawn(move || write_in_order(&*inner, &receiver, &give_up, &waiting, &spool))
                .map_err(|e| format!("cannot start the audit writer: {e}"))?
        };
        Ok(Buffered {
            inner,
            sender: std::sync::Mutex::new(Some(sender)),
            writer: std::sync::Mutex::new(Some(writer)),
            give_up,
            waiting,
            capacity: i64::try_from(capacity.max(1)).unwrap_or(i64::MAX),
            spool,
        })
    }

    /// Stops taking records and waits up to `deadline` for the queue to reach the ledger;
    /// then spools what is left. Returns how many records were spooled.
    pub fn drain(&self, deadline: std::time::Duration) -> usize {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return 0;
        };
        let until = std::time::Instant::now() + deadline;
        while !writer.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let left = usize::try_from(self.waiting.get()).unwrap_or_default();
        self.give_up
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = writer.join();
        if left > 0 {
            tracing::warn!(records = left, spool = %self.spool.display(), "the ledger did not take every queued record: spooled for the next start");
        }
        left
    }
}

/// The most records the writer hands the ledger at once.
const WRITE_BATCH: usize = 1024;

/// The writer thread: what is waiting (up to 1024 records) into `inner` at once, in order,
/// the batch retried until it is taken or the stop's deadline passes; then the rest goes
/// to the spool.
fn write_in_order(
    inner: &dyn Audit,
    receiver: &std::sync::mpsc::Receiver<Waiting>,
    give_up: &std::sync::atomic::AtomicBool,
    waiting: &prometheus_client::metrics::gauge::Gauge,
    spool: &std::path::Path,
) {
    let mut failing = false;
    while let Ok(first) = receiver.recv() {
        let mut batch: Vec<(GatewayCall, Vec<(String, Digest)>)> = std::iter::once(first)
            .chain(receiver.try_iter().take(WRITE_BATCH - 1))
            .map(|w| (w.call, w.subjects))
            .collect();
        let recorded = |n: usize| waiting.dec_by(i64::try_from(n).unwrap_or(i64::MAX));
        loop {
            if give_up.load(std::sync::atomic::Ordering::SeqCst) {
                let rest: Vec<Waiting> = batch
                    .into_iter()
                    .map(|(call, subjects)| Waiting { call, subjects })
                    .chain(receiver.try_iter())
                    .collect();
                spool_all(spool, &rest);
                return;
            }
            match inner.record_all(&batch) {
                Ok(()) => {
                    if failing {
                        tracing::info!("the ledger takes records again");
                        failing = false;
                    }
                    recorded(batch.len());
                    break;
                }
                Err((done, e)) => {
                    // What was recorded is not tried again.
                    let done = done.min(batch.len());
                    batch.drain(..done);
                    recorded(done);
                    if !failing {
                        tracing::error!(error = %e, "the ledger refuses records; they wait in the queue");
                        failing = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        }
    }
}

/// Appends `records` to the spool file, flushed to disk.
fn spool_all(spool: &std::path::Path, records: &[Waiting]) {
    use std::io::Write as _;
    let mut text = Vec::new();
    for w in records {
        if serde_json::to_writer(&mut text, w).is_ok() {
            text.push(b'\n');
        }
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spool)
        .and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        });
    if let Err(e) = written {
        tracing::error!(error = %e, spool = %spool.display(), records = records.len(), "audit records could not be spooled and are lost");
    }
}

impl Audit for Buffered {
    fn record(&self, call: &GatewayCall, subjects: Vec<(String, Digest)>) -> Result<u64, String> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| "the gateway is stopping".to_owned())?;
        // Counted before it is queued, so the writer never takes it below zero; the count
        // (which includes the record the writer holds) is what bounds the queue.
        if self.waiting.inc() >= self.capacity {
            self.waiting.dec();
            return Err("the audit queue is full: the ledger does not keep up".into());
        }
        let queued = sender.try_send(Waiting {
            call: call.clone(),
            subjects,
        });
        if queued.is_err() {
            self.waiting.dec();
        }
        match queued {
            // Queued, not yet in the ledger: no index to give.
            Ok(()) => Ok(0),
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                Err("the audit queue is full: the ledger does not keep up".into())
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                Err("the audit writer stopped".into())
            }
        }
    }

    /// Recorded at once, never queued: an administrative change takes effect only once
    /// recorded.
    fn evidence(&self, statement: &Statement) -> Result<u64, String> {
        self.inner.evidence(statement)
    }

    /// Queuing never waits, so no thread is needed.
    fn submit(self: Arc<Self>, call: GatewayCall, subjects: Vec<(String, Digest)>) -> Pending {
        Box::pin(std::future::ready(self.record(&call, subjects)))
    }
}

/// What a handler did, for the record: attached to its response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trail {
    pub principal: Option<String>,
    /// How it authenticated.
    pub authenticated_by: Option<&'static str>,
    /// The served model's version and file digest, once it was found.
    pub model: Option<(String, Digest)>,
    pub guards: Vec<&'static str>,
    /// How long each guard took, in the order they ran.
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// When the guard running now started.
    running: Option<std::time::Instant>,
    pub rows: Option<u64>,
    /// What the inspection's detectors flagged.
    pub flags: Vec<crate::inspect::Flag>,
}

impl Trail {
    /// Starts `guard`, ending the one before.
    pub fn enter(&mut self, guard: &'static str) {
        self.close();
        self.guards.push(guard);
        self.running = Some(std::time::Instant::now());
    }

    /// Ends the guard running now, if any.
    pub fn close(&mut self) {
        if let (Some(started), Some(guard)) = (self.running.take(), self.guards.last()) {
            self.timings.push((guard, started.elapsed()));
        }
    }

    /// The time the model call took, when it ran.
    pub fn model_time(&self) -> std::time::Duration {
        self.timings
            .iter()
            .filter(|(g, _)| *g == "model_call")
            .map(|(_, d)| *d)
            .sum()
    }
}

/// The route template and the model name of a path.
pub(crate) fn route_of(method: &str, path: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (template, model) = match parts.as_slice() {
        ["v2"] => ("/v2".to_owned(), None),
        ["v2", "models", name] => ("/v2/models/{name}".to_owned(), Some(*name)),
        [
            "v2",
            "models",
            name,
            rest @ ("ready" | "infer" | "feedback" | "kpis"),
        ] => (format!("/v2/models/{{name}}/{rest}"), Some(*name)),
        ["admin", "v1", "models", name, "swap"] => {
            ("/admin/v1/models/{name}/swap".to_owned(), Some(*name))
        }
        ["admin", "v1", rest @ ("models" | "keys" | "reload")] => {
            (format!("/admin/v1/{rest}"), None)
        }
        ["admin", "v1", "keys", rest @ ("rotate" | "revoke")] => {
            (format!("/admin/v1/keys/{rest}"), None)
        }
        _ => {
            // Any other path, cut short: it is the caller's text.
            let mut p: String = path.chars().take(200).collect();
            if p.len() < path.len() {
                p.push('…');
            }
            (p, None)
        }
    };
    let model = model.map(|m| m.chars().take(128).collect());
    (format!("{method} {template}"), model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_by_their_template() {
        assert_eq!(
            route_of("POST", "/v2/models/digits/infer"),
            ("POST /v2/models/{name}/infer".into(), Some("digits".into()))
        );
        assert_eq!(route_of("GET", "/v2"), ("GET /v2".into(), None));
        assert_eq!(
            route_of("GET", "/v2/models/x"),
            ("GET /v2/models/{name}".into(), Some("x".into()))
        );
        let (route, model) = route_of("GET", &format!("/{}", "a".repeat(500)));
        assert!(route.chars().count() < 220 && model.is_none());
    }
}
