//! `aigis demo`: the main job end to end on a throwaway project. It grows with each stage
//! of aigis: evidence in a tamper-evident ledger, signed dataset manifests, the data
//! guard (profile, scan for schema, personal data and poisoning, encryption), the
//! artifact stage (model scanning, signing, the registry and its promotion gate), and the
//! gateway (a signed model served; calls allowed and refused).

use std::path::{Path, PathBuf};

use aigis_core::{Digest, Statement};
use aigis_crypto::dsse::Envelope;
use aigis_evidence::{Approval, ArtifactDigest, DatasetSummary, Predicate as _};
use aigis_ledger::{InclusionProof, VerifyOptions};
use anyhow::{Context as _, Result};
use serde_json::json;

mod data;
mod fairness;
mod federate;
mod gate;
mod model;
mod redteam;
mod report;
mod serve;
mod train;
use crate::cli::{Cli, DemoArgs};
use crate::output;

pub fn run(cli: &Cli, args: &DemoArgs) -> Result<()> {
    let (dir, _guard) = workdir(args)?;
    let mut log = Log {
        cli,
        steps: Vec::new(),
    };

    // 1. A project.
    let (project, report) = crate::commands::init::init(&dir, Some("demo"))?;
    let vkey = report.verifier_key.clone();
    log.step(
        "init",
        format!(
            "created a project in {} with a new Ed25519 key",
            dir.display()
        ),
        json!({"origin": report.origin, "verifier_key": vkey}),
    );

    // 2. Evidence about real files: a dataset and a model artifact made here.
    let (data, rows) = write_dataset(&dir.join("transactions.csv"))?;
    let model = dir.join("model.bin");
    std::fs::write(&model, synthetic_bytes(4096, 7)).context("writing model.bin")?;
    let model_digest = aigis_crypto::sha256_file(&model)?;
    let key = crate::context::signing_key(&project)?;
    let ledger = project.open_ledger()?;
    let statements = [
        DatasetSummary {
            rows,
            columns: ["amount", "merchant", "hour", "label"].map(String::from).into(),
            format: "csv".into(),
        }
        .statement(vec![("transactions.csv".into(), data)])?,
        ArtifactDigest {
            bytes: 4096,
            note: "stand-in bytes for the ledger walk-through; the model stage below uses real model files".into(),
        }
        .statement(vec![("model.bin".into(), model_digest)])?,
        Approval {
            approved_by: "aigis demo".into(),
            decision: "promote".into(),
            model: model_digest,
            dataset: data,
        }
        .statement(vec![
            ("transactions.csv".into(), data),
            ("model.bin".into(), model_digest),
        ])?,
    ];
    for s in &statements {
        let (index, _) = ledger.append_statement(s, &key)?;
        log.step(
            "attest",
            format!(
                "evidence #{index}: {} about {}",
                short_type(&s.predicate_type),
                names(s)
            ),
            json!({"index": index, "predicate_type": s.predicate_type}),
        );
    }

    // A signed manifest of the dataset: per-file and per-chunk digests (4 KiB chunks here).
    let data_opts = aigis_data::manifest::Options {
        chunk_size: 4096,
        exclude: vec![],
    };
    let signed_manifest =
        aigis_data::manifest::build(&dir.join("transactions.csv"), &data_opts, &|_| {})?;
    let index = aigis_intake::manifest::sign_and_record(
        &ledger,
        &key,
        &signed_manifest,
        &dir.join("transactions.csv.aigis-manifest.json"),
    )?;
    log.step(
        "data sign",
        format!(
            "evidence #{index}: signed manifest of transactions.csv ({} chunks of 4 KiB)",
            signed_manifest.files.first().map_or(0, |f| f.chunks.len())
        ),
        json!({"index": index, "root": signed_manifest.root}),
    );

    // The data guard: profile, scan with planted problems, encryption.
    crate::commands::demo::data::run(cli, &mut log, &dir, &project)?;

    // The artifact stage: scan, sign, register, and the promotion gate.
    crate::commands::demo::model::run(cli, &mut log, &dir, &project)?;

    // The gateway: a signed model served, and calls it must allow and refuse.
    crate::commands::demo::serve::run(cli, &mut log, &dir, &project)?;

    // The red team: how easily the served model is fooled.
    crate::commands::demo::redteam::run(cli, &mut log, &dir, &project)?;

    // Fairness: a planted disparity in a loan desk's decisions, caught.
    crate::commands::demo::fairness::run(cli, &mut log, &dir, &project)?;

    // Training: a model trained by DP-SGD under a table's privacy budget.
    crate::commands::demo::train::run(&mut log, &dir)?;

    // Federated learning: three clinics' projects train one model, securely aggregated.
    crate::commands::demo::federate::run(cli, &mut log, &dir)?;

    // The gate: a stricter policy than the built-in one asked about the digits model,
    // and its refusal explained.
    crate::commands::demo::gate::run(cli, &mut log, &project)?;

    // The auditor: a compliance report judged from the ledger, checked offline.
    crate::commands::demo::report::run(&mut log, &dir, &project)?;

    // 3. A signed checkpoint.
    let cp = ledger.checkpoint(project.origin(), &key)?;
    log.step(
        "checkpoint",
        format!("signed a C2SP checkpoint of {} entries", cp.tree_size),
        json!({"size": cp.tree_size}),
    );

    // 4. An inclusion proof, checked offline with nothing but the verifier key.
    let proof = ledger.prove_inclusion(1, &cp)?;
    let entry = ledger.store().entry(1)?.context("entry 1 vanished")?;
    let proof_path = dir.join("entry-1.tlog-proof");
    std::fs::write(&proof_path, proof.to_text()).context("writing the proof")?;
    let offline = InclusionProof::parse(&std::fs::read(&proof_path)?)?.verify(
        &entry.body,
        vec![aigis_crypto::note::parse_verifier_key(&vkey)?],
        None,
    );
    log.expect(
        offline.is_ok(),
        "prove",
        "entry 1's inclusion proof verifies offline against the verifier key alone".into(),
        json!({"proof": proof_path}),
    )?;

    // 5. A full verification passes.
    let verify = |ledger: &aigis_ledger::Ledger| -> Result<aigis_ledger::VerifyReport> {
        let ring = project.keyring()?;
        let opts = VerifyOptions {
            origin: Some(project.origin().to_owned()),
            verifiers: Box::new(move || ring.note_verifiers()),
            entry_keys: None,
            external_checkpoints: vec![],
        };
        Ok(aigis_ledger::verify(ledger.store(), &opts, &mut |_, _| {})?)
    };
    let before = verify(&ledger)?;
    log.expect(
        before.ok(),
        "verify",
        format!(
            "ledger verify: ok, {} entries, root {}",
            before.entries_checked,
            before.root.as_deref().unwrap_or("-")
        ),
        json!({"ok": before.ok()}),
    )?;
    drop(ledger);

    // 6. Someone with write access to the database quietly edits a recorded fact.
    tamper(&project.ledger_path(), 1)?;
    log.step(
        "tamper",
        "edited entry 1 directly in the SQLite database (the model's recorded size)".into(),
        json!({"index": 1}),
    );

    // 7. Verification catches it and names the entry.
    let ledger = project.open_ledger()?;
    let after = verify(&ledger)?;
    let caught = !after.ok() && after.first_bad_index() == Some(1);
    let why = after
        .problems
        .first()
        .map(|p| p.message.clone())
        .unwrap_or_default();
    log.expect(caught, "verify", format!("ledger verify: FAILED at index {} ({why})", after.first_bad_index().map_or("-".into(), |i| i.to_string())), json!({"ok": after.ok(), "first_bad_index": after.first_bad_index(), "problems": after.problems}))?;

    // 8. And the altered entry no longer matches the proof handed out before.
    let altered = ledger.store().entry(1)?.context("entry 1 vanished")?;
    let rejected = proof
        .verify(
            &altered.body,
            vec![aigis_crypto::note::parse_verifier_key(&vkey)?],
            None,
        )
        .is_err();
    log.expect(
        rejected,
        "prove",
        "the inclusion proof handed out before the edit rejects the altered entry".into(),
        json!({}),
    )?;

    // One changed row of the dataset is located to its chunk by the signed manifest.
    let csv = dir.join("transactions.csv");
    let text = std::fs::read_to_string(&csv)?;
    let row = text.lines().nth(250).unwrap_or_default().to_owned();
    // Same length, one digit of the amount: only the chunk holding the row changes.
    let edited = match row.split_at_checked(1) {
        Some(("9", rest)) => format!("8{rest}"),
        Some((_, rest)) => format!("9{rest}"),
        None => row.clone(),
    };
    std::fs::write(&csv, text.replacen(&row, &edited, 1))?;
    let now = aigis_data::manifest::build(&csv, &data_opts, &|_| {})?;
    let changes = aigis_data::manifest::compare(&signed_manifest, &now);
    log.expect(
        changes.len() == 1,
        "data verify",
        format!(
            "changed row 250 of transactions.csv; the signed manifest says: {}",
            changes
                .first()
                .map_or("nothing changed".into(), ToString::to_string)
        ),
        json!({"changes": changes}),
    )?;

    if cli.json {
        output::json(
            &json!({"dir": dir, "kept": args.keep, "steps": log.steps, "tamper_caught": caught}),
        )?;
    } else if args.keep {
        outln!(
            "\nthe project is in {}; try `aigis --project {} ledger verify`",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

pub(crate) struct Log<'a> {
    cli: &'a Cli,
    steps: Vec<serde_json::Value>,
}

impl Log<'_> {
    pub(crate) fn step(&mut self, name: &str, text: String, data: serde_json::Value) {
        if !self.cli.json {
            outln!("{:>2}. {text}", self.steps.len() + 1);
        }
        self.steps
            .push(json!({"step": name, "ok": true, "text": text, "data": data}));
    }

    /// A step whose outcome is the point of the demo: if it goes the other way, the demo fails.
    pub(crate) fn expect(
        &mut self,
        ok: bool,
        name: &str,
        text: String,
        data: serde_json::Value,
    ) -> Result<()> {
        if ok {
            self.step(name, text, data);
            return Ok(());
        }
        Err(crate::failed(format!(
            "demo step `{name}` did not behave as it must: {text}"
        )))
    }
}

/// The demo's folder: `--dir` (which must be new or empty) or a temporary one.
fn workdir(args: &DemoArgs) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(dir) = &args.dir {
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            anyhow::bail!(
                "`{}` is not empty; the demo needs a new or empty folder",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
        return Ok((dir.clone(), None));
    }
    let tmp = tempfile::Builder::new().prefix("aigis-demo-").tempdir()?;
    if args.keep {
        return Ok((tmp.keep(), None));
    }
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

/// A synthetic card-transaction table: deterministic, so every run hashes the same.
fn write_dataset(path: &Path) -> Result<(Digest, u64)> {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut csv = String::from("amount,merchant,hour,label\n");
    let rows = 500;
    for _ in 0..rows {
        let amount = next() % 50_000;
        csv.push_str(&format!(
            "{}.{:02},m{:03},{},{}\n",
            amount / 100,
            amount % 100,
            next() % 200,
            next() % 24,
            u8::from(next() % 50 == 0)
        ));
    }
    std::fs::write(path, &csv).with_context(|| format!("writing `{}`", path.display()))?;
    Ok((Digest::of(csv.as_bytes()), rows))
}

fn synthetic_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Plays the attacker: rewrites the statement inside entry `index` in the database.
fn tamper(db: &Path, index: i64) -> Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    let body: Vec<u8> =
        conn.query_row("SELECT body FROM entries WHERE idx = ?1", [index], |r| {
            r.get(0)
        })?;
    let mut envelope = Envelope::from_json(&body)?;
    let mut statement: serde_json::Value = serde_json::from_slice(&envelope.payload)?;
    if let Some(predicate) = statement.get_mut("predicate") {
        crate::output::insert(predicate, "bytes", 1024);
    }
    envelope.payload = serde_json::to_vec(&statement)?;
    conn.execute(
        "UPDATE entries SET body = ?1 WHERE idx = ?2",
        rusqlite::params![envelope.to_json(), index],
    )?;
    Ok(())
}

fn short_type(t: &str) -> &str {
    t.trim_end_matches('/').rsplit('/').nth(1).unwrap_or(t)
}

fn names(s: &Statement) -> String {
    s.subject
        .iter()
        .filter_map(|d| d.name.clone())
        .collect::<Vec<_>>()
        .join(" + ")
}
