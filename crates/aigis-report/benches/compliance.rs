//! `aigis report compliance` over a large ledger, beside reading that ledger once.
//!
//! Full run (release):  cargo bench -p aigis-report --bench compliance
//! Smoke run (debug, small, what CI does): cargo test -p aigis-report --bench compliance
//!
//! The ledger holds AIGIS_BENCH_ENTRIES (default 1,000,000) signed entries: gateway calls
//! for the most part, as a served model's ledger is, and every kind of evidence the
//! frameworks read spread through it (a few hundred of each).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::time::Instant;

use aigis_crypto::keyfile::KdfParams;
use aigis_evidence::Predicate as _;
use aigis_ledger::{Project, statement_entry, statement_entry_untimed};
use serde_json::json;

const T0: i64 = 1_800_000_000_000;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: i64 = if full {
        std::env::var("AIGIS_BENCH_ENTRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    } else {
        5_000
    };
    let dir = tempfile::tempdir().unwrap();
    let (project, _) = Project::init(
        &dir.path().join("p"),
        Some("bench"),
        None,
        KdfParams::default(),
    )
    .unwrap();
    let key = project.signing_key(None).unwrap();
    let subject = vec![(
        "model:m.onnx".to_owned(),
        "ab".repeat(32).parse::<aigis_core::Digest>().unwrap(),
    )];
    // One signed entry per kind, appended again and again (the same bytes make the same
    // leaf; the report's cost is in finding, checking and proving, not in their variety).
    let call: aigis_evidence::GatewayCall = serde_json::from_value(json!({
        "time": "2027-01-15T08:00:00Z", "route": "POST /v2/models/m/infer", "principal": "app",
        "authenticated_by": "api_key", "model": "m", "model_version": "1",
        "decision": "allowed", "status": 200, "code": null, "guards": ["auth", "authz", "rate"],
        "rows": 1, "request_sha256": "00".repeat(32), "response_sha256": "11".repeat(32),
        "duration_us": 850, "flags": [], "tool": "aigis bench",
    }))
    .unwrap();
    let redteam: aigis_evidence::RedTeam = serde_json::from_value(json!({
        "output": "label", "rows": 10, "clean_accuracy": 0.9, "seed": 1, "attacks": [],
        "thresholds": [], "breaches": [], "passed": true, "tool": "aigis bench",
    }))
    .unwrap();
    let statement = aigis_evidence::ControlStatement {
        framework: "nist-ai-rmf".into(),
        control: "GOVERN 1.1".into(),
        statement: "in place".into(),
        documents: vec![],
        tool: aigis_evidence::Tool::current(),
    };
    let started = Instant::now();
    let ledger = project.open_ledger().unwrap();
    // A gateway call's record has no time signature, as `aigis serve` writes it.
    let call_entry = statement_entry_untimed(&call.statement(subject.clone()).unwrap(), &key, T0);
    let others = [
        statement_entry(&redteam.statement(subject.clone()).unwrap(), &key, T0),
        statement_entry(&statement.statement(subject.clone()).unwrap(), &key, T0),
    ];
    let mut batch = Vec::new();
    for i in 0..n {
        let mut e = if i % 2000 == 1 {
            others[(i as usize / 2000) % others.len()].clone()
        } else {
            call_entry.clone()
        };
        e.recorded_at_ms = T0 + i;
        if e.time.is_some() {
            e.time = Some(aigis_ledger::time::sign(
                &key,
                &e.leaf_hash,
                e.recorded_at_ms,
            ));
        }
        batch.push(e);
        if batch.len() == 10_000 {
            ledger.append_all(std::mem::take(&mut batch)).unwrap();
        }
    }
    ledger.append_all(batch).unwrap();
    let size = ledger.tree_size().unwrap();
    println!(
        "# aigis report compliance benchmark ({}): {size} entries, made in {:.1} s; {} cores",
        if full { "full" } else { "smoke" },
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Baseline: every entry read from SQLite once, a page at a time (what a report that
    // scanned the ledger would do before any checking).
    let read = || {
        let started = Instant::now();
        let mut after = None;
        let mut bytes = 0usize;
        loop {
            let page = ledger
                .store()
                .query(&aigis_ledger::Query {
                    after_index: after,
                    limit: Some(5000),
                    ..aigis_ledger::Query::default()
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.index);
            bytes += page.iter().map(|e| e.body.len()).sum::<usize>();
        }
        assert!(bytes > 0);
        started.elapsed().as_secs_f64()
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median((0..3).map(|_| read()).collect());
    println!("| reading every entry from SQLite (baseline) | {base:.3} s |");
    for id in aigis_report::framework::built_in_ids() {
        let (f, text) = aigis_report::Framework::built_in(id).unwrap();
        let mut times = Vec::new();
        let mut cited = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let r = aigis_report::compliance::build(&project, &key, &f, text, T0 + n).unwrap();
            let signed = aigis_report::sign(&r, &key).unwrap();
            times.push(started.elapsed().as_secs_f64());
            cited = r.entries.len();
            assert!(!signed.is_empty());
        }
        let t = median(times);
        println!(
            "| {id}: {} controls, {cited} entries cited, report built and signed | {t:.3} s | {:.3}× |",
            f.controls.len(),
            t / base
        );
    }
}
