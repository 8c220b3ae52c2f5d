//! The training part of `aigis demo`: a clinic's table under a privacy budget, a model
//! trained on it by DP-SGD (its ε charged to the budget, recorded as `training`
//! evidence), and a second run that would overspend the budget refused.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use serde_json::json;

use super::Log;
use crate::cli::{Cli, Command};

/// Patients in the clinic's table.
const ROWS: usize = 1200;

/// The demo's `aigis train` run in the project at `dir`, parsed as the command line
/// would parse it, and executed without printing: its `--json` report.
fn train(dir: &Path, extra: &[&str]) -> Result<serde_json::Value> {
    let mut argv = vec![
        "aigis".to_owned(),
        "--quiet".to_owned(),
        "--project".to_owned(),
        dir.display().to_string(),
        "train".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let cli = Cli::try_parse_from(&argv).context("the demo's train command")?;
    let Command::Train(args) = &cli.command else {
        anyhow::bail!("the demo's train command parsed as another");
    };
    crate::commands::train::execute(&cli, args, false)
}

pub(crate) fn run(log: &mut Log<'_>, dir: &Path) -> Result<()> {
    // Four measurements in 0..10 (public ranges: the instruments'), and whether the
    // patient was readmitted. A deterministic draw, so the demo prints the same table.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut csv = String::from("pulse,pressure,glucose,age_decade,readmitted\n");
    for i in 0..ROWS {
        let y = i % 2;
        let centre = if y == 1 { 6.0 } else { 4.0 };
        let row: Vec<String> = (0..4)
            .map(|_| format!("{:.3}", (centre + 3.0 * (uniform() - 0.5)).clamp(0.0, 10.0)))
            .collect();
        writeln!(csv, "{},{y}", row.join(","))?;
    }
    std::fs::write(dir.join("patients.csv"), csv).context("writing patients.csv")?;
    let config = dir.join("aigis.toml");
    let mut toml = std::fs::read_to_string(&config).context("reading aigis.toml")?;
    toml.push_str(
        "\n[[train.budget]]\ndataset = \"clinic\"\npaths = [\"patients.csv\"]\nepsilon = 4\ndelta = 1e-5\n",
    );
    std::fs::write(&config, toml).context("writing aigis.toml")?;

    let table = dir.join("patients.csv").display().to_string();
    let run = |out: &str| {
        train(
            dir,
            &[
                &table,
                "--label",
                "readmitted",
                "--dp",
                "--epsilon",
                "3",
                "--delta",
                "1e-6",
                "--bounds",
                "0:10",
                "--classes",
                "0,1",
                "--hidden",
                "16",
                "-o",
                &dir.join(out).display().to_string(),
            ],
        )
    };
    let first = run("clinic-dp.onnx")?;
    let at = |p: &str| first.pointer(p).cloned().unwrap_or_default();
    log.step(
        "train",
        format!(
            "trained clinic-dp.onnx on patients.csv by DP-SGD: ε = {:.3} at δ = 1e-6 ({}; noise multiplier {}, {} Poisson steps), training accuracy {:.3}; charged to the privacy budget `clinic` (ε ≤ 4); evidence #{}",
            at("/dp/epsilon").as_f64().unwrap_or(f64::NAN),
            at("/dp/accountant").as_str().unwrap_or("?").to_uppercase(),
            at("/dp/noise_multiplier"),
            at("/dp/steps"),
            at("/training_accuracy").as_f64().unwrap_or(f64::NAN),
            at("/evidence")
        ),
        json!({"epsilon": at("/dp/epsilon"), "evidence": at("/evidence"), "budget": at("/budget")}),
    );
    // A second run at ε = 3 would pass the budget's 4: refused, and no model written.
    let second = run("clinic-dp-2.onnx");
    let refused = matches!(&second, Err(e) if crate::is_check_failure(e))
        && !dir.join("clinic-dp-2.onnx").exists();
    let why = second.err().map(|e| e.to_string()).unwrap_or_default();
    log.expect(
        refused,
        "train",
        format!(
            "a second run at ε = 3 refused: {}",
            why.split(": ").next().unwrap_or(&why)
        ),
        json!({"refused": refused}),
    )
}
