//! `aigis detect fit REFERENCE` and `aigis detect --detector FILE INPUTS`: the
//! per-request detectors of `aigis_monitor::detect`, offline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigis_core::Digest;
use aigis_evidence::{DetectorFit, DetectorThreshold, ExtractionThreshold, Tool};
use aigis_gateway::detect::RuntimeModel;
use aigis_monitor::detect::{
    self, Columns, Detector, ExtractionOptions, FitOptions, Image, Model, RowResult,
    SqueezeOptions, Squeezer,
};
use aigis_runtime::OnnxRuntime;
use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{Cli, DetectArgs, DetectCommand, DetectFitArgs, DetectScoreArgs};
use crate::commands::ExitStatus;
use crate::commands::data::scan::read_options;
use crate::commands::model::sign;
use crate::{context, output};

/// The largest model file read.
const MAX_MODEL_BYTES: u64 = 4 << 30;

pub(crate) fn run(cli: &Cli, args: &DetectArgs) -> Result<ExitStatus> {
    match &args.fit {
        Some(DetectCommand::Fit(fit_args)) => fit(cli, fit_args).map(|()| ExitStatus::Success),
        None => score(cli, &args.score),
    }
}

/// The ONNX classifier at `path`, asked for its class probabilities, and its SHA-256.
fn open_model(path: &Path) -> Result<(RuntimeModel, String)> {
    let bytes = context::read_input(path, "model", MAX_MODEL_BYTES)?;
    let sha256 = Digest::of(&bytes).hex();
    let runtime = OnnxRuntime::from_bytes(&bytes)
        .with_context(|| format!("loading the model `{}`", path.display()))?;
    let model = RuntimeModel::new(Arc::new(runtime), None)
        .map_err(|e| anyhow::anyhow!("the model `{}`: {e}", path.display()))?;
    Ok((model, sha256))
}

fn default_out(reference: &Path) -> PathBuf {
    let stem = reference
        .file_stem()
        .map_or_else(|| "reference".into(), |s| s.to_string_lossy().into_owned());
    reference.with_file_name(format!("{stem}.detector.json"))
}

fn parse_range(text: &str) -> Result<(f64, f64)> {
    let bad = || anyhow::anyhow!("--range `{text}` is not LO,HI (two numbers, LO below HI)");
    let (lo, hi) = text.split_once(',').ok_or_else(bad)?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(bad());
    }
    Ok((lo, hi))
}

fn fit(cli: &Cli, args: &DetectFitArgs) -> Result<()> {
    let (format, read) = read_options(&args.read)?;
    let columns = Columns {
        names: args.columns.as_deref(),
        label: args.label.as_deref(),
        text_is_missing: false,
    };
    let image: Option<Image> = args
        .image
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("--image: {e}"))?;
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let squeezers: Vec<Squeezer> = match &args.squeeze {
        Some(list) => list
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, String>>()
            .map_err(|e| anyhow::anyhow!("--squeeze: {e}"))?,
        // A 2×2 median keeps a 28×28 digit and wrecks an 8×8 one (on scikit-learn's
        // digits it moves clean predictions as much as attacked ones): smoothing only
        // from 16×16 up.
        None => match image {
            Some(img) if img.height >= 16 && img.width >= 16 => vec![
                Squeezer::Bits(3),
                Squeezer::Median {
                    height: 2,
                    width: 2,
                },
            ],
            Some(_) => vec![Squeezer::Bits(3)],
            None => vec![Squeezer::Bins(16)],
        },
    };
    output::note(cli, "reading the reference…");
    let reference = detect::read_matrix(&args.reference, &columns, format, &read)
        .with_context(|| format!("reading the reference `{}`", args.reference.display()))?;
    let calibration = args
        .calibration
        .as_deref()
        .map(|path| {
            let names = reference.names.clone();
            let is_array = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
            let cols = Columns {
                names: (!is_array).then_some(names.as_slice()),
                ..Columns::default()
            };
            detect::read_matrix(path, &cols, format, &read)
                .map(|mut m| {
                    // An array's columns are the reference's, by position.
                    if is_array && m.cols == names.len() {
                        m.names = names.clone();
                    }
                    m
                })
                .with_context(|| format!("reading the calibration rows `{}`", path.display()))
        })
        .transpose()?;
    let model = args.model.as_deref().map(open_model).transpose()?;
    let opts = FitOptions {
        fpr: args.fpr,
        calibration_share: args.calibration_share,
        seed: args.seed,
        trees: args.trees,
        subsample: args.subsample,
        ood: !args.no_ood,
        mahalanobis: match (args.mahalanobis, args.no_mahalanobis) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        squeeze: model
            .as_ref()
            .filter(|_| !args.no_squeeze)
            .map(|(_, sha256)| SqueezeOptions {
                squeezers,
                image,
                range,
                model_sha256: sha256.clone(),
            }),
        model_sha256: model.as_ref().map(|(_, sha256)| sha256.clone()),
    };
    output::note(cli, "fitting and calibrating…");
    let mut detector = detect::fit(
        &reference,
        calibration.as_ref(),
        model.as_ref().map(|(m, _)| m as &dyn Model),
        &opts,
    )
    .with_context(|| format!("fitting on `{}`", args.reference.display()))?;
    if let Some((m, sha256)) = model.as_ref().filter(|_| !args.no_extraction) {
        let defaults = aigis_monitor::extraction::Settings::default();
        let ex = ExtractionOptions {
            settings: aigis_monitor::extraction::Settings {
                min_distances: args
                    .extraction_min_distances
                    .unwrap_or(defaults.min_distances),
                history: args.extraction_history.unwrap_or(defaults.history),
                ..defaults
            },
            clients: args.extraction_clients.unwrap_or(100),
            model_sha256: sha256.clone(),
        };
        let required = args.extraction_clients.is_some()
            || args.extraction_min_distances.is_some()
            || args.extraction_history.is_some();
        output::note(cli, "calibrating the extraction detector's threshold…");
        match detect::calibrate_extraction(&detector, &reference, m, &ex, args.seed) {
            Ok(e) => detector.extraction = Some(e),
            Err(e) if required => {
                return Err(anyhow::Error::new(e).context(format!(
                    "calibrating the extraction detector on `{}`",
                    args.reference.display()
                )));
            }
            Err(e) => output::note(
                cli,
                &format!(
                    "extraction: not calibrated ({e}); the gateway uses its configured or default threshold"
                ),
            ),
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.reference));
    let bytes = serde_json::to_vec(&detector)?;
    context::write_output(&out, &bytes)?;
    let project = context::project_if_any(cli)?;
    let signed = match &project {
        Some(p) => {
            let (signature, _) = sign::sign_file(cli, p, &out)?;
            let mut subjects = vec![
                subject("detector", &out)?,
                subject("reference", &args.reference)?,
            ];
            if let Some(c) = &args.calibration {
                subjects.push(subject("calibration", c)?);
            }
            if let Some(m) = &args.model {
                subjects.push(subject("model", m)?);
            }
            let index = record_fit(p, &detector, &signature, subjects)?;
            Some((signature, index))
        }
        None => None,
    };
    if cli.json {
        let mut value = summary(&detector);
        output::insert(&mut value, "detector", out.display().to_string());
        output::insert(
            &mut value,
            "signature",
            signed.as_ref().map(|(s, _)| s.display().to_string()),
        );
        output::insert(&mut value, "evidence", signed.as_ref().map(|(_, i)| *i));
        return output::json(&value);
    }
    outln!("{}", out.display());
    for line in describe(&detector) {
        output::note(cli, &line);
    }
    match &signed {
        Some((sig, index)) => output::note(
            cli,
            &format!("signed: {} (evidence #{index})", sig.display()),
        ),
        None => output::note(
            cli,
            "not signed: outside a project there is no key (score it with --unsigned, or fit it in a project)",
        ),
    }
    Ok(())
}

/// `role:<path>` and the file's SHA-256, a subject of the evidence.
fn subject(role: &str, path: &Path) -> Result<(String, Digest)> {
    Ok((
        format!("{role}:{}", path.display()),
        aigis_crypto::sha256_file(path)?,
    ))
}

/// Records `detector-fit` evidence of `detector` (signed by `signature`) with `subjects`;
/// its index.
pub(crate) fn record_fit(
    project: &aigis_ledger::Project,
    detector: &Detector,
    signature: &Path,
    subjects: Vec<(String, Digest)>,
) -> Result<u64> {
    let flagged = |name: &str| {
        detector
            .calibration
            .flagged
            .get(name)
            .copied()
            .unwrap_or(0.0)
    };
    let mut detectors = Vec::new();
    if let Some(ood) = &detector.ood {
        detectors.push(DetectorThreshold {
            name: "ood".into(),
            threshold: ood.threshold,
            calibration_flagged: flagged("ood"),
            squeezers: Vec::new(),
        });
    }
    if let Some(m) = &detector.mahalanobis {
        detectors.push(DetectorThreshold {
            name: "mahalanobis".into(),
            threshold: m.threshold,
            calibration_flagged: flagged("mahalanobis"),
            squeezers: Vec::new(),
        });
    }
    if let Some(sq) = &detector.squeeze {
        detectors.push(DetectorThreshold {
            name: "squeeze".into(),
            threshold: sq.threshold,
            calibration_flagged: flagged("squeeze"),
            squeezers: sq.squeezers.iter().map(ToString::to_string).collect(),
        });
    }
    let predicate = DetectorFit {
        signature: signature.display().to_string(),
        features: detector.features.len() as u64,
        fit_rows: detector.calibration.fit_rows as u64,
        calibration_rows: detector.calibration.calibration_rows as u64,
        calibration: detector.calibration.source.clone(),
        seed: detector.calibration.seed,
        fpr: detector.fpr,
        detectors,
        calibration_flagged: flagged("any"),
        extraction: detector.extraction.as_ref().map(|e| ExtractionThreshold {
            threshold: e.prada.threshold,
            clients: e.prada.clients as u64,
            rows_per_client: e.prada.rows_per_client as u64,
            lowest_w: e.prada.lowest_w,
            median_lowest_w: e.prada.median_lowest_w,
            min_distances: e.prada.min_distances as u64,
            history: e.prada.history as u64,
        }),
        tool: Tool::current(),
    };
    Ok(project.record(&context::signing_key(project)?, subjects, &predicate)?)
}

/// What the file holds, for `--json`.
fn summary(d: &Detector) -> serde_json::Value {
    let mut detectors = Vec::new();
    if let Some(ood) = &d.ood {
        detectors.push(json!({"name": "ood", "threshold": ood.threshold, "fpr": d.fpr}));
    }
    if let Some(m) = &d.mahalanobis {
        detectors.push(json!({
            "name": "mahalanobis",
            "threshold": m.threshold,
            "fpr": d.fpr,
            "shrinkage": m.shrinkage,
        }));
    }
    if let Some(sq) = &d.squeeze {
        detectors.push(json!({
            "name": "squeeze",
            "threshold": sq.threshold,
            "fpr": d.fpr,
            "squeezers": sq.squeezers,
            "model_sha256": sq.model_sha256,
        }));
    }
    json!({
        "features": d.features.len(),
        "calibration": d.calibration,
        "detectors": detectors,
        "extraction": d.extraction,
    })
}

/// What the file holds, as lines.
fn describe(d: &Detector) -> Vec<String> {
    let mut out = vec![format!(
        "{} features; thresholds set on {} clean rows ({}) for {}% false positives, the detectors together",
        d.features.len(),
        d.calibration.calibration_rows,
        if d.calibration.source == "file" {
            "the calibration file"
        } else {
            "held out"
        },
        d.fpr * 100.0
    )];
    if let Some(ood) = &d.ood {
        out.push(format!(
            "ood: isolation forest grown on {} rows, threshold {:.4}",
            d.calibration.fit_rows, ood.threshold
        ));
    }
    if let Some(m) = &d.mahalanobis {
        out.push(format!(
            "mahalanobis: shrunk covariance (Ledoit–Wolf shrinkage {:.4}), threshold {:.4} (squared distance)",
            m.shrinkage, m.threshold
        ));
    }
    if let Some(sq) = &d.squeeze {
        let names: Vec<String> = sq.squeezers.iter().map(ToString::to_string).collect();
        out.push(format!(
            "squeeze: {}, threshold {:.4} (L1), model sha256:{}",
            names.join(", "),
            sq.threshold,
            sq.model_sha256
        ));
    }
    if let Some(a) = &d.calibration.atypical {
        let cuts: Vec<String> = a
            .cuts
            .iter()
            .map(|(name, cut)| format!("{name} {cut:.4}"))
            .collect();
        out.push(format!(
            "atypical: the most atypical tenth of clean rows scores above {} ({} of the {} calibration rows above one or more): what the extraction detector's atypical sign counts",
            cuts.join(", "),
            a.above,
            d.calibration.calibration_rows
        ));
    }
    if let Some(b) = &d.calibration.by_class {
        // The class whose clean rows are flagged most often: what a client asking about
        // that class alone may reach without being taken for a copier.
        let worst = b
            .classes
            .iter()
            .max_by(|x, y| {
                (x.flagged as f64 / x.rows as f64).total_cmp(&(y.flagged as f64 / y.rows as f64))
            })
            .map(|c| format!("most: class {}, {} of {} rows", c.class, c.flagged, c.rows))
            .unwrap_or_default();
        out.push(format!(
            "inputs: the calibration rows flagged per class of the model ({} classes; {worst}): the extraction detector's inputs sign compares a client with them class by class",
            b.classes.len()
        ));
    }
    if let Some(ex) = &d.extraction {
        let p = &ex.prada;
        out.push(format!(
            "extraction: PRADA threshold {:.4} (W; the lowest of {} simulated natural clients {:.4}, their median lowest {:.4}), model sha256:{}",
            p.threshold, p.clients, p.lowest_w, p.median_lowest_w, ex.model_sha256
        ));
        if p.threshold < 0.5 {
            out.push(format!(
                "extraction: natural clients of this model reach W {:.2}: the distances sign will rarely tell a copier from them",
                p.lowest_w
            ));
        }
        if p.highest_probing_share >= aigis_monitor::extraction::Settings::default().probe_share {
            out.push(format!(
                "extraction: a simulated natural client reached {:.0}% probing steps in {} (the default probe_share is {:.0}%): natural rows of this model can look like probing",
                p.highest_probing_share * 100.0,
                p.probe_window,
                aigis_monitor::extraction::Settings::default().probe_share * 100.0
            ));
        }
    }
    out
}

fn score(cli: &Cli, args: &DetectScoreArgs) -> Result<ExitStatus> {
    let (Some(path), Some(inputs)) = (&args.detector, &args.inputs) else {
        anyhow::bail!("give the detector file and the inputs: aigis detect --detector FILE INPUTS");
    };
    let (format, read) = read_options(&args.read)?;
    let bytes = context::read_input(path, "detector file", detect::MAX_DETECTOR_BYTES)?;
    let signed_by = if args.unsigned {
        None
    } else {
        let project = context::project_if_any(cli)?.ok_or_else(|| {
            crate::hinted(
                format!(
                    "there is no project here, so no keyring to check the signature of `{}`",
                    path.display()
                ),
                "run it in the project that fitted it, or pass --unsigned to use the file unchecked",
            )
        })?;
        Some(sign::verify_file(&project, path, &bytes)?)
    };
    let detector = Detector::from_json(&bytes)
        .with_context(|| format!("reading the detector `{}`", path.display()))?;
    let model = match (&detector.squeeze, &args.model) {
        (Some(sq), Some(model_path)) => {
            let (model, sha256) = open_model(model_path)?;
            if sha256 != sq.model_sha256 {
                anyhow::bail!(
                    "the detector was calibrated with the model sha256:{}, and `{}` is sha256:{sha256}: fit it again for this model",
                    sq.model_sha256,
                    model_path.display()
                );
            }
            Some(model)
        }
        (Some(_), None) => anyhow::bail!(
            "`{}` squeezes features: it needs the model it was calibrated with (--model)",
            path.display()
        ),
        (None, _) => None,
    };
    let is_array = inputs
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let columns = Columns {
        names: (!is_array).then_some(detector.features.as_slice()),
        label: None,
        text_is_missing: true,
    };
    let rows = detect::read_matrix(inputs, &columns, format, &read)
        .with_context(|| format!("reading the inputs `{}`", inputs.display()))?;
    let results = detector
        .score(&rows, model.as_ref().map(|m| m as &dyn Model))
        .with_context(|| format!("scoring `{}`", inputs.display()))?;
    let flagged = results.iter().filter(|r| r.flagged).count();
    // The share of the rows among the most atypical tenth of clean rows, beside the
    // share of the calibration rows there: a batch far above it is unlike the reference
    // even when few of its rows are flagged.
    let atypical = detector.atypical_rows(&results, None).and_then(|k| {
        let a = detector.calibration.atypical.as_ref()?;
        let n = results.len().max(1) as f64;
        let clean = a.above as f64 / detector.calibration.calibration_rows.max(1) as f64;
        Some((k, k as f64 / n, clean))
    });
    if cli.json {
        let mut value = summary(&detector);
        output::insert(&mut value, "detector", path.display().to_string());
        output::insert(&mut value, "signed_by", signed_by);
        output::insert(&mut value, "rows", results.len());
        output::insert(&mut value, "flagged", flagged);
        if let Some((k, share, clean)) = atypical {
            output::insert(
                &mut value,
                "atypical",
                json!({"rows": k, "share": share, "calibration_share": clean}),
            );
        }
        output::insert(&mut value, "results", serde_json::to_value(&results)?);
        output::json(&value)?;
    } else {
        print_text(
            cli,
            &detector,
            &results,
            flagged,
            args.show,
            signed_by.as_deref(),
        );
        if let Some((k, share, clean)) = atypical {
            outln!(
                "{k} of {} rows ({:.1}%) are among the most atypical tenth of clean rows by {} ({:.1}% of the calibration rows were)",
                results.len(),
                share * 100.0,
                detector
                    .calibration
                    .atypical
                    .as_ref()
                    .map(|a| a.cuts.keys().cloned().collect::<Vec<_>>().join(" or "))
                    .unwrap_or_default(),
                clean * 100.0
            );
        }
    }
    Ok(ExitStatus::passed(flagged == 0))
}

fn print_text(
    cli: &Cli,
    detector: &Detector,
    results: &[RowResult],
    flagged: usize,
    show: usize,
    signed_by: Option<&str>,
) {
    let names = detector.names().join(" + ");
    outln!(
        "{flagged} of {} rows flagged by {names} (thresholds for {}% false positives together)",
        results.len(),
        detector.fpr * 100.0
    );
    for r in results.iter().filter(|r| r.flagged).take(show) {
        outln!("row {}: {}", r.row, r.flags.join(", "));
        for reason in &r.reasons {
            outln!("    {reason}");
        }
    }
    if flagged > show {
        outln!("… and {} more (all in --json)", flagged - show);
    }
    match signed_by {
        Some(key) => output::note(
            cli,
            &format!("the detector file's signature verified (key {key})"),
        ),
        None => output::note(
            cli,
            "the detector file's signature was not checked (--unsigned)",
        ),
    }
}
