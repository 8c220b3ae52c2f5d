//! The red team in `aigis demo`: FGSM and PGD against the served digits model, with the
//! exact gradients of its ONNX graph, recorded as `redteam` evidence.

use std::fmt::Write as _;
use std::path::Path;

use aigis_ledger::Project;
use aigis_model::signing::{self, SignOptions, SignerKey};
use aigis_redteam::evasion::Norm;
use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::Log;
use super::serve::{DIGITS, DIGITS_ROWS};
use crate::cli::{AttackKind, Cli, GradientsArg};
use crate::commands::redteam::{Findings, Plan, evade, verdict};
use crate::commands::target::{Target, record_model_data};

pub(crate) fn run(cli: &Cli, log: &mut Log<'_>, dir: &Path, project: &Project) -> Result<()> {
    let folder = dir.join("redteam");
    std::fs::create_dir_all(&folder).context("creating redteam/")?;
    let model = folder.join("digits.onnx");
    std::fs::write(&model, DIGITS).context("writing the digits model")?;
    // The 40 test digits, labelled with the model's own answers (onnxruntime's, stored
    // with them): every row is right when clean, and an attack's success is a change.
    let fixture: Value = serde_json::from_str(DIGITS_ROWS).context("reading the digits")?;
    let x: Vec<f64> = serde_json::from_value(
        fixture
            .pointer("/inputs/X/data")
            .cloned()
            .unwrap_or_default(),
    )
    .context("reading the digits' pixels")?;
    let labels: Vec<usize> = serde_json::from_value(
        fixture
            .pointer("/outputs/output_label/data")
            .cloned()
            .unwrap_or_default(),
    )
    .context("reading the digits' labels")?;
    let mut csv: String = (0..64).map(|j| format!("p{j},")).collect();
    csv.push_str("label\n");
    for (row, label) in x.chunks(64).zip(&labels) {
        for v in row {
            write!(csv, "{v},")?;
        }
        writeln!(csv, "{label}")?;
    }
    let data = folder.join("digits.csv");
    std::fs::write(&data, csv).context("writing redteam/digits.csv")?;

    let target = Target::open(&model, None, 64)?;
    let plan = Plan {
        attacks: vec![AttackKind::Fgsm, AttackKind::Pgd],
        eps: vec![0.05, 0.1],
        norm: Norm::Inf,
        steps: 40,
        step: None,
        restarts: 0,
        target: None,
        clip: Some((0.0, 1.0)),
        gradients: GradientsArg::Exact,
        seed: 0,
        time_budget: None,
        started: std::time::Instant::now(),
        iterations: 0,
        square_iterations: 0,
        p_init: 0.8,
        max_queries: None,
    };
    let evasion = evade(cli, &target, &x, &labels, &plan)?;
    let report = verdict(
        &target.output_name,
        Findings {
            evasion: Some(evasion),
            ..Findings::default()
        },
        &plan,
        &[],
        target.queries(),
    );
    let index = record_model_data(project, &target, &data, &report)?;
    let pgd = report
        .attacks
        .iter()
        .filter(|a| a.attack == "pgd")
        .map(|a| {
            format!(
                "ε {}: {:.0}% fooled",
                a.eps,
                100.0 * a.success_rate.unwrap_or(0.0)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    log.step(
        "redteam",
        format!(
            "evidence #{index}: red team of the served digits model, FGSM and PGD (40 steps) with the exact gradients of its ONNX graph, pixels kept in [0, 1]: PGD {pgd}"
        ),
        json!({"index": index, "report": report}),
    );

    // The model card: the digits model signed and registered, its card read from the
    // ledger (the red team above included: it names the same file).
    let key = crate::context::signing_key(project)?;
    let signer = SignerKey::from(crate::context::signing_key(project)?);
    let signed = signing::sign_model(&model, &signer, &SignOptions::default(), &|_| {})?;
    std::fs::write(folder.join("digits.onnx.sig"), signed.bundle.to_json())
        .context("writing the digits model's signature")?;
    let scanner = crate::context::scanner(Some(project))?;
    let bar = crate::output::Bar::new(cli);
    let flow = aigis_registry::Workflow::new(project, &key, &scanner, &bar);
    let registered = flow.register(&model, "digits", None)?;
    let reg = aigis_registry::open(project)?;
    let card = aigis_registry::card::card(project, &reg, &registered.record)?;
    let path = dir.join("MODEL_CARD-digits.md");
    std::fs::write(&path, crate::commands::model::card::markdown(&card)?)
        .context("writing the model card")?;
    let statements: usize = card.sections.iter().map(|s| s.statements.len()).sum();
    log.step(
        "model card",
        format!(
            "model card of digits version {} at {}: {statements} statements, each citing its ledger entry (scan, signature, registration, the red team); {} kinds of evidence missing, said plainly (fairness, explanations, training data)",
            card.version,
            path.display(),
            card.missing.len()
        ),
        json!({"card": card}),
    );
    Ok(())
}
