//! The federated part of `aigis demo`: three clinics, each its own project with its own
//! key and its own patients, train one model with the demo's project as the coordinator,
//! over loopback TLS authenticated by the projects' keys, by secure aggregation. Every
//! round is recorded in the coordinator's ledger, and the model's lineage (the rounds
//! chained, each masked update signed by its clinic) is checked.

use std::fmt::Write as _;
use std::path::Path;

use aigis_federate::client;
use aigis_federate::coordinator::Party;
use anyhow::{Context as _, Result};
use clap::Parser as _;
use serde_json::json;

use super::Log;
use crate::cli::{Cli, Command, FederateCommand};
use crate::commands::federate;

/// Patients a clinic holds.
const ROWS: usize = 300;

/// Clinic `c`'s patients: the readmission table's four measurements, each clinic seeing
/// mostly one kind of patient (its readmitted share 0.2, 0.5 or 0.8).
fn patients(c: usize) -> Result<String> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D ^ (c as u64 + 1);
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let share = [0.2, 0.5, 0.8].get(c).copied().unwrap_or(0.5);
    let mut csv = String::from("pulse,pressure,glucose,age_decade,readmitted\n");
    for _ in 0..ROWS {
        let y = usize::from(uniform() < share);
        let centre = if y == 1 { 6.0 } else { 4.0 };
        let row: Vec<String> = (0..4)
            .map(|_| format!("{:.3}", (centre + 3.0 * (uniform() - 0.5)).clamp(0.0, 10.0)))
            .collect();
        writeln!(csv, "{},{y}", row.join(","))?;
    }
    Ok(csv)
}

pub(crate) fn run(cli: &Cli, log: &mut Log<'_>, dir: &Path) -> Result<()> {
    let names = ["clinic-north", "clinic-south", "clinic-east"];
    let mut parties = Vec::new();
    let mut joins = Vec::new();
    for (c, name) in names.iter().enumerate() {
        let home = dir.join("federation").join(name);
        std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
        let (project, _) = crate::commands::init::init(&home, Some(name))
            .with_context(|| format!("creating the project of {name}"))?;
        let key = crate::context::signing_key(&project)?;
        let table = home.join("patients.csv");
        std::fs::write(&table, patients(c)?).context("writing a clinic's patients")?;
        let rows = crate::commands::train::read_labelled(
            cli,
            &table,
            "readmitted",
            &crate::cli::ReadArgs {
                format: None,
                delimiter: None,
                max_record_bytes: 1 << 20,
            },
        )?;
        parties.push(Party {
            name: (*name).to_owned(),
            key: key.public(),
        });
        joins.push((key, rows));
    }
    let output = dir.join("clinic-federated.onnx");
    let argv = [
        "aigis",
        "--quiet",
        "--project",
        &dir.display().to_string(),
        "federate",
        "serve",
        "--client",
        "unused",
        "--bounds",
        "0:10",
        "--classes",
        "0,1",
        "--model",
        "softmax",
        "--rounds",
        "5",
        "--local-epochs",
        "2",
        "--secure-aggregation",
        "--clip-norm",
        "5",
        "--federation",
        "clinics",
        "--round-timeout",
        "30s",
        "--join-timeout",
        "30s",
        "-o",
        &output.display().to_string(),
    ];
    let serve_cli = Cli::try_parse_from(argv).context("the demo's federate command")?;
    let Command::Federate(FederateCommand::Serve(args)) = &serve_cli.command else {
        anyhow::bail!("the demo's federate command parsed as another");
    };
    let coordinator_key = {
        let project = crate::context::project(&serve_cli)?;
        crate::context::signing_key(&project)?.public()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("listening on loopback")?;
        let address = listener.local_addr()?.to_string();
        let mut tasks = Vec::new();
        for (key, rows) in joins {
            let settings = client::Settings {
                address: address.clone(),
                coordinator: coordinator_key,
                features: rows.names,
                x: rows.data,
                rows: rows.rows,
                labels: rows.values,
                dp: None,
                require_secure: true,
                connect_timeout: std::time::Duration::from_secs(30),
                seed: 0,
            };
            tasks.push(tokio::spawn(async move {
                client::join(&key, settings, &mut |_| {}).await
            }));
        }
        let report =
            federate::serve_on(&serve_cli, args, parties.clone(), listener, &mut |_| Ok(()))
                .await?;
        for t in tasks {
            t.await.context("a clinic's task")??;
        }
        Ok::<_, anyhow::Error>(report)
    })?;
    let at = |p: &str| report.pointer(p).cloned().unwrap_or_default();
    let rounds = report
        .get("rounds")
        .and_then(|r| r.as_array())
        .map_or(0, Vec::len);
    log.step(
        "federate",
        format!(
            "three clinics, each its own project and key, trained clinic-federated.onnx over loopback TLS authenticated by their keys: {} rounds of secure aggregation (the coordinator unmasked only each round's sum), each round signed evidence; evidence #{}",
            rounds,
            at("/evidence")
        ),
        json!({"rounds": rounds, "evidence": at("/evidence")}),
    );
    // The lineage: from the first model to the one written, every masked update signed by
    // its clinic's key.
    let project = crate::context::project(&serve_cli)?;
    let model = aigis_crypto::sha256_file(&output).context("reading the federated model")?;
    let keys: Vec<(String, aigis_crypto::PublicKey)> =
        parties.iter().map(|p| (p.name.clone(), p.key)).collect();
    let lineage = federate::lineage(&project, model, "clinic-federated.onnx", &keys)?;
    log.expect(
        lineage.problems.is_empty(),
        "federate verify",
        format!(
            "lineage of clinic-federated.onnx verified: {} rounds chained from the first model, {} masked updates signed by the clinics' keys{}",
            lineage.rounds,
            lineage.updates_verified,
            lineage
                .problems
                .first()
                .map(|p| format!(" (problem: {p})"))
                .unwrap_or_default()
        ),
        json!({"rounds": lineage.rounds, "updates_verified": lineage.updates_verified}),
    )
}
