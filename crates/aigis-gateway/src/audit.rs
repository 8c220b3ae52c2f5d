//! The audit of every call: each call to a model route becomes a signed `gateway-call`
//! statement in the project's ledger before its answer leaves the gateway. The ledger's
//! group commit lets concurrent calls share one disk flush. When the record cannot be
//! written, the call is not answered (503, `audit_unavailable`): nothing a client has been
//! told went unrecorded.

use aigis_core::Digest;
use aigis_evidence::{GatewayAdmin, GatewayCall};

/// Where calls and administrative changes are recorded.
pub trait Audit: Send + Sync + std::fmt::Debug {
    /// Records `call` about `subjects` durably; returns its ledger index.
    fn record(&self, call: &GatewayCall, subjects: Vec<(String, Digest)>) -> Result<u64, String>;
    /// Records an administrative `change` about `subjects` durably; returns its index.
    fn admin(&self, change: &GatewayAdmin, subjects: Vec<(String, Digest)>) -> Result<u64, String>;
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
    fn append<P: aigis_evidence::Predicate>(
        &self,
        predicate: &P,
        subjects: Vec<(String, Digest)>,
    ) -> Result<u64, String> {
        let statement = predicate.statement(subjects).map_err(|e| e.to_string())?;
        self.ledger
            .append_statement(&statement, &self.key)
            .map(|(index, _)| index)
            .map_err(|e| e.to_string())
    }
}

impl Audit for LedgerAudit {
    fn record(&self, call: &GatewayCall, subjects: Vec<(String, Digest)>) -> Result<u64, String> {
        self.append(call, subjects)
    }

    fn admin(&self, change: &GatewayAdmin, subjects: Vec<(String, Digest)>) -> Result<u64, String> {
        self.append(change, subjects)
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
        ["v2", "models", name, rest @ ("ready" | "infer")] => {
            (format!("/v2/models/{{name}}/{rest}"), Some(*name))
        }
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
