//! `aigis model watermark keygen|embed|verify`: a keyed watermark in an ONNX model's
//! weights (the algorithm is in `aigis_model::watermark`).

use std::path::Path;

use aigis_crypto::keyfile::KdfParams;
use aigis_crypto::symmetric;
use aigis_evidence::{
    PathDigest, Predicate, TensorSelection, Tool, WatermarkEmbed, WatermarkStrength,
    WatermarkVerify,
};
use aigis_model::watermark::{
    self, Detection, EmbedOptions, EmbedReport, Selection, Strength, WatermarkKey,
};
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{
    Cli, ModelWatermarkCommand, ModelWatermarkEmbedArgs, ModelWatermarkKeygenArgs,
    ModelWatermarkVerifyArgs, WatermarkTensorArgs,
};
use crate::commands::{ExitStatus, done};
use crate::{context, output};

/// ONNX models are protobuf messages, which cannot exceed 2 GiB.
const MAX_MODEL: u64 = 2 << 30;

pub fn run(cli: &Cli, cmd: &ModelWatermarkCommand) -> Result<ExitStatus> {
    match cmd {
        ModelWatermarkCommand::Keygen(args) => done(keygen(cli, args)),
        ModelWatermarkCommand::Embed(args) => done(embed(cli, args)),
        ModelWatermarkCommand::Verify(args) => verify(cli, args),
    }
}

fn keygen(cli: &Cli, args: &ModelWatermarkKeygenArgs) -> Result<()> {
    if args.out.exists() {
        anyhow::bail!(
            "`{}` already exists; a watermark key is never replaced (its marks could no longer be shown)",
            args.out.display()
        );
    }
    let key = WatermarkKey::generate()?;
    let id = key.key_id();
    let pass = context::passphrase();
    symmetric::save_watermark_key(
        &args.out,
        &hex::decode(&id)?,
        &key.to_bytes(),
        pass.as_deref().map(String::as_str),
        KdfParams::default(),
    )
    .with_context(|| format!("writing the watermark key `{}`", args.out.display()))?;
    output::note(
        cli,
        &format!(
            "created watermark key {id} in `{}`{} (keep it: only it shows the mark)",
            args.out.display(),
            if pass.is_some() {
                ", sealed with AIGIS_KEY_PASSPHRASE"
            } else {
                ", not sealed (set AIGIS_KEY_PASSPHRASE to seal it)"
            }
        ),
    );
    if cli.json {
        return output::json(&json!({
            "key_id": id, "path": args.out, "encrypted": pass.is_some(),
        }));
    }
    outln!("{id}");
    Ok(())
}

/// The key in the key file at `path` (with AIGIS_KEY_PASSPHRASE when sealed), checked
/// against the key id the file records.
fn load_key(path: &Path) -> Result<WatermarkKey> {
    let pass = context::passphrase();
    let (id, secret) = symmetric::load_watermark_key(path, pass.as_deref().map(String::as_str))?;
    let key = WatermarkKey::from_bytes(secret.as_slice())?;
    if hex::encode(&id) != key.key_id() {
        anyhow::bail!(
            "the watermark key file `{}` records key id `{}` but holds key `{}`: it was modified",
            path.display(),
            hex::encode(&id),
            key.key_id()
        );
    }
    Ok(key)
}

fn selection(args: &WatermarkTensorArgs) -> Selection {
    if args.tensors.is_empty() {
        Selection::Auto {
            min_elements: args.min_elements,
        }
    } else {
        Selection::Named(args.tensors.clone())
    }
}

/// The arguments that make `verify` pick the same tensors.
fn selection_args(args: &WatermarkTensorArgs) -> String {
    if args.tensors.is_empty() {
        if args.min_elements == watermark::DEFAULT_MIN_ELEMENTS {
            String::new()
        } else {
            format!(" --min-elements {}", args.min_elements)
        }
    } else {
        args.tensors
            .iter()
            .map(|t| format!(" --tensor {t}"))
            .collect()
    }
}

fn read_model(path: &Path) -> Result<Vec<u8>> {
    context::read_input(path, "ONNX model", MAX_MODEL)
}

/// The selection as recorded in evidence.
fn selection_json(args: &WatermarkTensorArgs) -> TensorSelection {
    if args.tensors.is_empty() {
        TensorSelection::MinElements(args.min_elements)
    } else {
        TensorSelection::Tensors(args.tensors.clone())
    }
}

/// Records evidence when there is a project; a note otherwise.
fn record<P: Predicate>(
    cli: &Cli,
    subjects: Vec<(String, aigis_core::Digest)>,
    predicate: &P,
) -> Result<Option<u64>> {
    match context::project(cli) {
        Ok(project) => Ok(Some(project.record(
            &context::signing_key(&project)?,
            subjects,
            predicate,
        )?)),
        Err(e) => {
            output::not_recorded(cli, &e);
            Ok(None)
        }
    }
}

fn pct(f: f64) -> String {
    format!("{:.2}%", f * 100.0)
}

fn embed(cli: &Cli, args: &ModelWatermarkEmbedArgs) -> Result<()> {
    let key = load_key(&args.key)?;
    let model = read_model(&args.model)?;
    let options = EmbedOptions {
        selection: selection(&args.tensors),
        strength: match args.strength {
            Some(s) => Strength::Relative(s),
            None => Strength::TargetScore(args.target_score),
        },
        threshold: args.threshold,
    };
    let (marked, report) = watermark::embed(&model, &key, &options)
        .with_context(|| format!("watermarking `{}`", args.model.display()))?;
    context::write_output(&args.out, &marked)?;
    let input = aigis_core::Digest::of(&model);
    let out_digest = aigis_core::Digest::of(&marked);
    drop((model, marked));

    let index = record(
        cli,
        vec![
            (args.model.display().to_string(), input),
            (args.out.display().to_string(), out_digest),
        ],
        &WatermarkEmbed {
            input: PathDigest {
                path: args.model.clone(),
                sha256: input.hex(),
            },
            output: PathDigest {
                path: args.out.clone(),
                sha256: out_digest.hex(),
            },
            key_id: key.key_id(),
            selection: selection_json(&args.tensors),
            strength: match options.strength {
                Strength::Relative(s) => WatermarkStrength::Relative(s),
                Strength::TargetScore(z) => WatermarkStrength::TargetScore(z),
            },
            threshold: args.threshold,
            report: context::convert(&report, "watermark report")?,
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        return output::json(&json!({
            "input": args.model, "output": args.out, "key_id": key.key_id(),
            "selection": selection_json(&args.tensors),
            "tensors": report.tensors, "z": report.z, "p_value": report.p_value,
            "max_change": report.max_change, "mean_change": report.mean_change,
            "evidence": index,
        }));
    }
    print_embed(args, &key, &report);
    if let Some(i) = index {
        outln!("recorded as evidence #{i} in the ledger");
    }
    Ok(())
}

fn print_embed(args: &ModelWatermarkEmbedArgs, key: &WatermarkKey, report: &EmbedReport) {
    outln!(
        "watermarked `{}` -> `{}` with key {}",
        args.model.display(),
        args.out.display(),
        key.key_id()
    );
    let width = report
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    outln!(
        "  {:<width$}  {:>10}  {:>8}  {:>10}  {:>11}  {:>7}",
        "tensor",
        "weights",
        "strength",
        "max change",
        "mean change",
        "score"
    );
    for t in &report.tensors {
        outln!(
            "  {:<width$}  {:>10}  {:>8.4}  {:>10}  {:>11}  {:>7.2}",
            t.name,
            t.elements,
            t.strength,
            pct(t.max_change),
            pct(t.mean_change),
            t.z
        );
    }
    let weights: u64 = report.tensors.iter().map(|t| t.elements).sum();
    outln!(
        "{weights} weights changed by at most {} (mean {}) of their tensor's RMS",
        pct(report.max_change),
        pct(report.mean_change)
    );
    outln!(
        "score z = {:.2} (p = {:.2e}) with the key; verify with:\n  aigis model watermark verify {} --watermark-key {}{}",
        report.z,
        report.p_value,
        args.out.display(),
        args.key.display(),
        selection_args(&args.tensors)
    );
}

fn verify(cli: &Cli, args: &ModelWatermarkVerifyArgs) -> Result<ExitStatus> {
    if !(args.threshold.is_finite() && args.threshold > 0.0) {
        anyhow::bail!(
            "--threshold must be a positive number, not {}",
            args.threshold
        );
    }
    let key = load_key(&args.key)?;
    let model = read_model(&args.model)?;
    let sel = selection(&args.tensors);
    let detection = watermark::detect(&model, &key, &sel)
        .with_context(|| format!("checking `{}` for a watermark", args.model.display()))?;
    let present = detection.present(args.threshold);
    let digest = aigis_core::Digest::of(&model);
    drop(model);
    let index = record(
        cli,
        vec![(args.model.display().to_string(), digest)],
        &WatermarkVerify {
            key_id: key.key_id(),
            selection: selection_json(&args.tensors),
            threshold: args.threshold,
            present,
            detection: context::convert(&detection, "watermark detection")?,
            tool: Tool::current(),
        },
    )?;
    if cli.json {
        output::json(&json!({
            "model": args.model, "key_id": key.key_id(), "threshold": args.threshold,
            "tensors": detection.tensors, "z": detection.z, "p_value": detection.p_value,
            "present": present, "evidence": index,
        }))?;
    } else {
        print_verify(args, &key, &detection, present);
        if let Some(i) = index {
            outln!("recorded as evidence #{i} in the ledger");
        }
    }
    Ok(ExitStatus::passed(present))
}

fn print_verify(args: &ModelWatermarkVerifyArgs, key: &WatermarkKey, d: &Detection, present: bool) {
    let width = d
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    outln!(
        "  {:<width$}  {:>10}  {:>9}  {:>7}",
        "tensor",
        "weights",
        "stored as",
        "score"
    );
    for t in &d.tensors {
        outln!(
            "  {:<width$}  {:>10}  {:>9}  {:>7.2}",
            t.name,
            t.elements,
            t.stored_as,
            t.z
        );
    }
    outln!(
        "score z = {:.2}, p = {:.2e} (threshold {:.2})",
        d.z,
        d.p_value,
        args.threshold
    );
    if present {
        outln!(
            "result: watermark PRESENT (key {}) in `{}`",
            key.key_id(),
            args.model.display()
        );
    } else {
        outln!(
            "result: watermark ABSENT (key {}) in `{}`",
            key.key_id(),
            args.model.display()
        );
    }
}
