//! The artifact stage of `aigis demo`: a benign and a malicious model are scanned,
//! signed and registered; the promotion gate lets the benign one into production and
//! refuses the malicious one, although it is signed too.

use std::path::Path;

use aigis_model::signing::{self, SignOptions, SignerKey};
use aigis_scan::Verdict;
use anyhow::{Context as _, Result};
use serde_json::json;

use super::Log;

/// A scikit-learn pipeline (StandardScaler + LogisticRegression) saved with joblib, from
/// the test corpus (`scripts/make_model_corpus.py`).
const BENIGN: &[u8] =
    include_bytes!("../../../../../tests/data/models/benign_sklearn_pipeline.joblib");
/// A pickle that calls `os.system` when loaded (crafted by the same script; the command
/// is harmless, and the demo never loads it).
const MALICIOUS: &[u8] = include_bytes!("../../../../../tests/data/models/mal_os_system_p2.pkl");

pub(crate) fn run(
    cli: &crate::Cli,
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
) -> Result<()> {
    let good = dir.join("models/fraud-v1");
    let bad = dir.join("models/fraud-v2");
    for d in [&good, &bad] {
        std::fs::create_dir_all(d).context("creating the model folders")?;
    }
    std::fs::write(good.join("model.joblib"), BENIGN)?;
    std::fs::write(
        good.join("config.json"),
        b"{\"features\": 30, \"classes\": 2}\n",
    )?;
    std::fs::write(bad.join("model.joblib"), MALICIOUS)?;
    std::fs::write(
        bad.join("config.json"),
        b"{\"features\": 30, \"classes\": 2}\n",
    )?;

    // 1. Scan both: the pickles are emulated, never loaded.
    let scanner = crate::context::scanner(Some(project))?;
    let reports =
        crate::commands::model::scan::scan_paths(cli, &[good.clone(), bad.clone()], &scanner)?;
    let verdict_of = |folder: &Path| {
        reports
            .iter()
            .filter(|r| r.path.starts_with(folder))
            .map(|r| r.verdict)
            .max()
            .unwrap_or(Verdict::Safe)
    };
    let (gv, bv) = (verdict_of(&good), verdict_of(&bad));
    let why = reports
        .iter()
        .flat_map(|r| &r.findings)
        .find(|e| e.verdict == Verdict::Dangerous)
        .map(|e| e.message.clone())
        .unwrap_or_default();
    log.expect(
        gv == Verdict::Safe && bv == Verdict::Dangerous,
        "model scan",
        format!(
            "scanned models/fraud-v1 ({}) and models/fraud-v2 ({}: {why})",
            gv.as_str(),
            bv.as_str()
        ),
        json!({"benign": gv, "malicious": bv}),
    )?;

    // 2. Sign both with the project key (an OpenSSF model-signing bundle each): a
    //    signature proves who shipped the bytes, not that they are safe.
    let key = crate::context::signing_key(project)?;
    let signer = SignerKey::from(crate::context::signing_key(project)?);
    for d in [&good, &bad] {
        let opts = SignOptions {
            ignore_paths: vec!["model.sig".into()],
            ..SignOptions::default()
        };
        let signed = signing::sign_model(d, &signer, &opts, &|_| {})?;
        std::fs::write(d.join("model.sig"), signed.bundle.to_json())?;
    }
    log.step(
        "model sign",
        "signed both model folders with the project key (OpenSSF model-signing bundles, model.sig)"
            .into(),
        json!({}),
    );

    // 3. Register both: stored by content, with their scan and signature evidence.
    let scanner = crate::context::scanner(Some(project))?;
    let bar = crate::output::Bar::new(cli);
    let flow = aigis_registry::Workflow::new(project, &key, &scanner, &bar);
    let mut versions = Vec::new();
    for d in [&good, &bad] {
        let r = flow.register(d, "fraud", None)?;
        versions.push(r.record.version);
        log.expect(
            r.signature.as_ref().is_some_and(|c| c.passed),
            "model register",
            format!(
                "registered fraud version {} ({} files, scan {}, signature verified; evidence #{})",
                r.record.version,
                r.record.files.len(),
                r.worst.as_str(),
                r.evidence
            ),
            json!({"version": r.record.version, "digest": r.record.digest}),
        )?;
    }

    // 4. The gate: the benign version goes to production, the malicious one is refused.
    let [v1, v2] = versions[..] else {
        anyhow::bail!("the demo registered {} versions, not 2", versions.len());
    };
    let up = flow.promote("fraud", v1, "production")?;
    log.expect(
        up.passed,
        "model promote",
        format!(
            "promoted fraud version {v1} to production: the built-in gate policy read its stored bytes, scan and signature (evidence #{})",
            up.evidence.unwrap_or_default()
        ),
        json!({"version": v1, "checks": up.checks}),
    )?;
    let refused = flow.promote("fraud", v2, "production")?;
    let reasons: Vec<String> = refused
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    log.expect(
        !refused.passed
            && refused
                .checks
                .iter()
                .any(|c| c.check == "scan" && !c.passed),
        "model promote",
        format!(
            "REFUSED fraud version {v2} ({}); production keeps version {v1} (evidence #{})",
            reasons.join("; "),
            refused.evidence.unwrap_or_default()
        ),
        json!({"version": v2, "checks": refused.checks}),
    )?;
    Ok(())
}
