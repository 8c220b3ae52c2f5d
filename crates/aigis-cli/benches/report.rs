//! `aigis monitor report`'s reading of a ledger, beside what it cannot do without: reading
//! the same entries from SQLite, and checking their signatures.
//!
//! Full run (release):  cargo bench -p aigis-cli --bench report
//! Smoke run (debug, tiny sizes, what CI does): cargo test -p aigis-cli --bench report
//!
//! The ledger holds AIGIS_BENCH_CALLS (default 200,000) signed `gateway-call` records over
//! a day, a tenth with a detector's flag, and a drift and a KPI window per hour.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::time::Instant;

use aigis_crypto::SigningKey;
use aigis_crypto::dsse::Envelope;
use aigis_evidence::Predicate as _;
use aigis_ledger::{SqliteStore, Store as _, statement_entry};
use serde_json::json;

const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap());
    humantime::format_rfc3339_millis(t).to_string()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let calls: i64 = if full {
        std::env::var("AIGIS_BENCH_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000)
    } else {
        2_000
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.db"), true).unwrap();
    let key = SigningKey::generate();
    let served = vec![(
        "served".to_owned(),
        "ab".repeat(32).parse::<aigis_core::Digest>().unwrap(),
    )];
    let started = Instant::now();
    let step = 86_400_000 / calls;
    let mut batch = Vec::new();
    for i in 0..calls {
        let at = T0 + i * step;
        let flags = if i % 10 == 0 {
            json!([{"detector": "ood", "action": "flag", "score": 1.5, "reasons": ["row 0: isolation score 1.5 is above 1.2"], "rows": 1}])
        } else {
            json!([])
        };
        let call: aigis_evidence::GatewayCall = serde_json::from_value(json!({
            "time": time(at), "route": "POST /v2/models/digits/infer", "principal": "app",
            "authenticated_by": "api_key", "model": "digits", "model_version": "4238f3a90acf",
            "decision": "allowed", "status": 200, "code": null, "guards": ["auth", "authz", "rate", "validate", "inspect"],
            "rows": 4, "request_sha256": format!("{:064x}", i), "response_sha256": format!("{:064x}", i + 1),
            "duration_us": 850, "flags": flags, "tool": "aigis 0.1.0",
        }))
        .unwrap();
        batch.push(statement_entry(
            &call.statement(served.clone()).unwrap(),
            &key,
            at,
        ));
        if batch.len() == 1000 {
            store.append(&batch).unwrap();
            batch.clear();
        }
    }
    for h in 0..24 {
        let start = T0 + h * HOUR;
        let features: Vec<serde_json::Value> = (0..64)
            .map(|f| json!({"name": format!("p{f}"), "status": "stable", "statistic": 0.01, "error": 0.003, "p_value_low": 0.4, "p_value_high": 0.6}))
            .collect();
        for (kind, body) in [
            (
                "drift",
                json!({"rows": calls / 24, "verdict": "stable", "alpha": 0.05, "drift_share": 0.5, "drifted": 0, "inconclusive": 0, "tested": 64, "features": features}),
            ),
            (
                "kpis",
                json!({"version": "4238f3a90acf", "predictions": calls / 24, "labeled": calls / 48, "accuracy": 0.97, "precision": 0.97, "recall": 0.97, "ece": 0.02, "mean_confidence": 0.96}),
            ),
        ] {
            let mut w = json!({"model": "digits", "served_version": "4238f3a90acf", "served_sha256": "ab".repeat(32),
                "kind": kind, "start": time(start), "end": time(start + HOUR), "complete": true,
                "drift": null, "kpis": null, "tool": "aigis 0.1.0"});
            w[kind] = body;
            let w: aigis_evidence::MonitorWindow = serde_json::from_value(w).unwrap();
            batch.push(statement_entry(
                &w.statement(served.clone()).unwrap(),
                &key,
                start + HOUR,
            ));
        }
    }
    store.append(&batch).unwrap();
    let entries = store.tree_size().unwrap();
    println!(
        "# aigis monitor report benchmark ({}): {entries} signed entries ({calls} calls over a day, 48 windows), made in {:.1} s; {} cores",
        if full { "full" } else { "smoke" },
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let keys = [key.public()];
    let range = (T0, T0 + 24 * HOUR);
    // Baseline 1: the same entries read from SQLite, a page at a time.
    let read = || {
        let started = Instant::now();
        let mut after = None;
        let mut bodies = Vec::new();
        loop {
            let page = store
                .query(&aigis_ledger::Query {
                    after_index: after,
                    limit: Some(5000),
                    ..aigis_ledger::Query::default()
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.index);
            bodies.extend(page.into_iter().map(|e| e.body));
        }
        (started.elapsed().as_secs_f64(), bodies)
    };
    let (read_s, bodies) = read();
    // Baseline 2: each entry's DSSE signature checked, and nothing else.
    let started = Instant::now();
    for body in &bodies {
        Envelope::from_json(body).unwrap().verify(&keys).unwrap();
    }
    let verify_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report =
        aigis_cli::monitor_report(&store, &keys, range, HOUR, &Default::default()).unwrap();
    let report_s = started.elapsed().as_secs_f64();
    let counted: u64 = report.evidence.values().sum();
    assert_eq!(counted, entries, "every entry read");
    assert!(report.unreadable.is_empty());
    println!();
    println!("| measure | time | entries/s | ratio to reading + checking signatures |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, s: f64| {
        println!(
            "| {what} | {s:.2} s | {:.0} | {:.2}× |",
            entries as f64 / s,
            s / (read_s + verify_s)
        );
    };
    row("reading the entries from SQLite", read_s);
    row("checking each entry's signature (one thread)", verify_s);
    row("`monitor report`: read, check, parse, add up", report_s);
}
