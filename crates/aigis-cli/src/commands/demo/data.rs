//! The data-guard part of `aigis demo`: a clean reference table and an incoming batch
//! with planted problems, profiled, scanned and encrypted, every planted problem caught.

use std::path::Path;

use aigis_data::scan::{self, Progress, ScanOptions, ScanReport};
use anyhow::{Context as _, Result};
use serde_json::json;

use super::Log;

/// Rows of the incoming batch with a planted problem (1-based data rows).
const EMAIL_ROW: u64 = 17;
const CARD_ROW: u64 = 42;
const RAGGED_ROW: u64 = 77;
const CATEGORY_ROW: u64 = 90;
const FLIPPED_ROWS: [u64; 3] = [120, 220, 320];
const OUTLIER_ROWS: [u64; 2] = [150, 250];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Roughly normal (sum of four uniforms), mean 0, sd about 1.
    fn normal(&mut self) -> f64 {
        (0..4)
            .map(|_| (self.next() % 10_000) as f64 / 10_000.0)
            .sum::<f64>()
            * 1.73
            - 3.46
    }
}

/// Class `c` (modulo 3): its label and the centre of its four features.
fn class_of(c: usize) -> (&'static str, [f64; 4]) {
    match c % 3 {
        0 => ("approve", [0.0, 0.0, 0.0, 0.0]),
        1 => ("review", [6.0, 6.0, 0.0, 0.0]),
        _ => ("decline", [0.0, 6.0, 6.0, 6.0]),
    }
}

/// A channel drawn from `r` (modulo 3).
fn channel_of(r: u64) -> &'static str {
    match r % 3 {
        0 => "web",
        1 => "app",
        _ => "branch",
    }
}

/// One row: four features, a channel, a free-text note and the label.
fn row(rng: &mut Rng, i: u64, class: usize, note: &str, channel: &str) -> String {
    let (label, centre) = class_of(class);
    let f: Vec<String> = centre
        .iter()
        .map(|c| format!("{:.3}", c + rng.normal()))
        .collect();
    format!("{i},{},{channel},{note},{label}\n", f.join(","))
}

const HEADER: &str = "id,f1,f2,f3,f4,channel,note,label\n";

fn write_reference(path: &Path) -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut csv = String::from(HEADER);
    for i in 1..=900u64 {
        let channel = channel_of(rng.next());
        csv.push_str(&row(&mut rng, i, (i % 3) as usize, "ok", channel));
    }
    std::fs::write(path, csv).with_context(|| format!("writing `{}`", path.display()))
}

fn write_incoming(path: &Path) -> Result<()> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut csv = String::from(HEADER);
    for i in 1..=360u64 {
        let class = (i % 3) as usize;
        let channel = if i == CATEGORY_ROW {
            "fax"
        } else {
            channel_of(rng.next())
        };
        let note = match i {
            EMAIL_ROW => "customer wrote from jane.doe@example.com",
            CARD_ROW => "card 4111 1111 1111 1111 on file",
            _ => "ok",
        };
        let mut line = row(&mut rng, i, class, note, channel);
        if FLIPPED_ROWS.contains(&i) {
            let (right, _) = class_of(class);
            let (wrong, _) = class_of(class + 1);
            line = line.replace(&format!(",{right}\n"), &format!(",{wrong}\n"));
        }
        if OUTLIER_ROWS.contains(&i) {
            line = format!("{i},80.0,-75.0,90.0,-60.0,web,ok,approve\n");
        }
        if i == RAGGED_ROW {
            line = format!("{i},1.0,2.0\n");
        }
        csv.push_str(&line);
    }
    std::fs::write(path, csv).with_context(|| format!("writing `{}`", path.display()))
}

fn has(report: &ScanReport, rule: &str, row: u64) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.rule == rule && f.row == Some(row))
}

pub(crate) fn run(
    cli: &crate::Cli,
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
) -> Result<()> {
    let reference = dir.join("reference.csv");
    let batch = dir.join("incoming/vendor-x/batch-1");
    std::fs::create_dir_all(&batch).context("creating the incoming folder")?;
    let incoming = batch.join("incoming.csv");
    write_reference(&reference)?;
    write_incoming(&incoming)?;
    let read = aigis_data::table::ReadOptions::default();
    let quiet = |_: Progress<'_>| {};
    let profile = scan::profile(&reference, None, &read, None, &quiet)?;
    let profile_json = serde_json::to_vec_pretty(&profile)?;
    std::fs::write(dir.join("reference.profile.json"), &profile_json)?;
    log.step(
        "data profile",
        format!(
            "profiled reference.csv: {} rows, columns {}",
            profile.rows,
            profile
                .columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.column_type.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        json!({"rows": profile.rows}),
    );

    // The batch arrives from an approved source, signed by the source's own key.
    let vendor = aigis_crypto::SigningKey::generate();
    let vkey = aigis_crypto::note::verifier_key("vendor-x", &vendor.public())?;
    let signed =
        aigis_data::manifest::build(&batch, &aigis_data::manifest::Options::default(), &|_| {})?;
    std::fs::write(
        dir.join("incoming/vendor-x/batch-1.aigis-manifest.json"),
        aigis_intake::manifest::signed_envelope(&vendor, &signed)?,
    )?;
    let config_path = project.root.join(aigis_ledger::project::CONFIG_FILE);
    let mut config = std::fs::read_to_string(&config_path)?;
    config.push_str(&format!(
        "\n[[data.sources]]\nname = \"vendor-x\"\npath = \"incoming/vendor-x\"\nkeys = [\"{vkey}\"]\n"
    ));
    std::fs::write(&config_path, config)?;
    let project = aigis_ledger::Project::load(&project.root)?;
    let ingest = crate::commands::data::ingest::ingest_in(
        cli,
        &project,
        &crate::cli::DataIngestArgs {
            src: batch.clone(),
            manifest: None,
            profile: Some(dir.join("reference.profile.json")),
            label: Some("label".into()),
            fail_on: crate::cli::FailOnSeverity::High,
            out: None,
        },
    )?;
    log.expect(
        !ingest.accepted,
        "data ingest",
        format!(
            "ingest of incoming/vendor-x/batch-1 from approved source vendor-x: signature ok, files unchanged, REFUSED: {} (provenance evidence #{})",
            ingest.refusals.join("; "),
            ingest.provenance_evidence
        ),
        json!({"outcome": ingest}),
    )?;
    let project = &project;

    let options = ScanOptions {
        profile: Some(profile),
        label: Some("label".into()),
        flag_rows_at: Some(aigis_core::Severity::Medium),
        ..ScanOptions::default()
    };
    let report = scan::scan(&incoming, &options, &quiet)?;
    let digest = aigis_crypto::sha256_file(&incoming)?;
    let fail_on = crate::report::FailOn(Some(aigis_core::Severity::High));
    let failed = fail_on.count(&report) > 0;
    let index = project.record(
        &crate::context::signing_key(project)?,
        vec![("incoming.csv".into(), digest)],
        &aigis_evidence::DataScan::One(Box::new(aigis_intake::scan::evidence(
            &report,
            Some(&aigis_core::Digest::of(&profile_json)),
            fail_on,
            failed,
        )?)),
    )?;
    let quarantine = crate::commands::data::quarantine::split(
        &incoming,
        None,
        &options.read,
        &report,
        &digest,
        "medium",
        &dir.join("quarantine"),
    )?;
    let poisoned = |kind: &str, row: u64| has(&report, &format!("poison.{kind}"), row);
    let caught = [
        ("an email", has(&report, "pii.email", EMAIL_ROW), EMAIL_ROW),
        (
            "a card number",
            has(&report, "pii.credit_card", CARD_ROW),
            CARD_ROW,
        ),
        (
            "a ragged row",
            has(&report, "read.ragged_row", RAGGED_ROW),
            RAGGED_ROW,
        ),
        (
            "an unknown channel",
            has(&report, "schema.category", CATEGORY_ROW),
            CATEGORY_ROW,
        ),
    ];
    let flips = FLIPPED_ROWS
        .iter()
        .filter(|&&r| poisoned("label_flip", r))
        .count();
    let outliers = OUTLIER_ROWS
        .iter()
        .filter(|&&r| poisoned("outlier", r))
        .count();
    let all = caught.iter().all(|(_, ok, _)| *ok)
        && flips == FLIPPED_ROWS.len()
        && outliers == OUTLIER_ROWS.len();
    let suspicious = report.poisoning.as_ref().map_or(0, |p| p.rows.len());
    log.expect(
        all && failed,
        "data scan",
        format!(
            "scanned incoming.csv ({} rows) against the profile: caught {}, {}/{} flipped labels (rows {:?}) and {}/{} outliers (rows {:?}); {} suspicious rows in all; FAILED at --fail-on high; evidence #{index}; {} rows quarantined in quarantine/ with their reasons, {} clean rows beside them",
            report.rows,
            caught
                .iter()
                .map(|(what, _, row)| format!("{what} (row {row})"))
                .collect::<Vec<_>>()
                .join(", "),
            flips,
            FLIPPED_ROWS.len(),
            FLIPPED_ROWS,
            outliers,
            OUTLIER_ROWS.len(),
            OUTLIER_ROWS,
            suspicious,
            quarantine.quarantined.rows,
            quarantine.clean.rows
        ),
        json!({"index": index, "counts": report.counts, "suspicious_rows": suspicious}),
    )?;

    // Two later weeks against the reference: one from the same process, one drifted.
    drift(log, dir, project, &reference)?;

    // The reference table leaves only encrypted, to a post-quantum recipient key.
    let identity = aigis_crypto::recipient::Identity::generate()?;
    let sealed = dir.join("reference.csv.aigis-enc");
    aigis_crypto::crypt::encrypt_file(
        &reference,
        &sealed,
        &[identity.recipient().clone()],
        aigis_crypto::crypt::DEFAULT_CHUNK_SIZE,
        &|_| {},
    )?;
    let restored = dir.join("reference.decrypted.csv");
    aigis_crypto::crypt::decrypt_file(
        &sealed,
        &restored,
        std::slice::from_ref(&identity),
        &|_| {},
    )?;
    let round_trip = std::fs::read(&restored)? == std::fs::read(&reference)?;
    let mut bytes = std::fs::read(&sealed)?;
    let last = bytes.len().saturating_sub(40);
    if let Some(b) = bytes.get_mut(last) {
        *b ^= 1;
    }
    let damaged = dir.join("reference.damaged.aigis-enc");
    std::fs::write(&damaged, &bytes)?;
    let refused_path = dir.join("reference.from-damaged.csv");
    let refused = aigis_crypto::crypt::decrypt_file(
        &damaged,
        &refused_path,
        std::slice::from_ref(&identity),
        &|_| {},
    );
    let refused_msg = refused
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    log.expect(
        round_trip && refused.is_err() && !refused_path.exists(),
        "data encrypt",
        format!(
            "encrypted reference.csv (X25519 + ML-KEM-768, chunked ChaCha20-Poly1305) and decrypted it back; one flipped bit is refused ({refused_msg}) and no plaintext is written"
        ),
        json!({"round_trip": round_trip}),
    )
}

/// A week of traffic like the reference's rows (`drifted`: f2 moved by one standard
/// deviation and the app channel three times as common).
fn write_week(path: &Path, seed: u64, drifted: bool) -> Result<()> {
    let mut rng = Rng(seed);
    let mut csv = String::from(HEADER);
    for i in 1..=600u64 {
        let r = rng.next();
        let channel = if drifted && r % 5 < 3 {
            "app"
        } else {
            channel_of(r)
        };
        let mut line = row(&mut rng, i, (i % 3) as usize, "ok", channel);
        if drifted {
            let mut cells: Vec<String> = line.trim_end().split(',').map(str::to_owned).collect();
            if let Some(f2) = cells.get_mut(2) {
                let moved = f2.parse::<f64>().unwrap_or(0.0) + 1.0;
                *f2 = format!("{moved:.3}");
            }
            line = cells.join(",") + "\n";
        }
        csv.push_str(&line);
    }
    std::fs::write(path, csv).with_context(|| format!("writing `{}`", path.display()))
}

/// `aigis monitor drift` on two weeks: the steady one passes, the drifted one is caught
/// on the two features that moved, and both comparisons are evidence.
fn drift(
    log: &mut Log<'_>,
    dir: &Path,
    project: &aigis_ledger::Project,
    reference: &Path,
) -> Result<()> {
    use aigis_monitor::drift::{Options, Status, Verdict};
    let options = Options {
        // The row ids and the free-text notes are not features.
        columns: Some(
            ["f1", "f2", "f3", "f4", "channel", "label"]
                .map(String::from)
                .into(),
        ),
        drift_share: 0.25,
        ..Options::default()
    };
    let steady_path = dir.join("week-1.csv");
    let drifted_path = dir.join("week-2.csv");
    write_week(&steady_path, 0x5851_f42d_4c95_7f2d, false)?;
    write_week(&drifted_path, 0x1405_7b7e_f767_814f, true)?;
    let steady = aigis_monitor::drift::drift(reference, &steady_path, &options)?;
    let index = crate::commands::monitor::drift::record(project, reference, &steady_path, &steady)?;
    log.expect(
        steady.verdict == Verdict::NoDrift,
        "monitor drift",
        format!(
            "week-1.csv against reference.csv: no drift ({} of {} features; KS and chi-square as scipy computes them; evidence #{index})",
            steady.drifted, steady.tested
        ),
        json!({"index": index, "verdict": steady.verdict, "drifted": steady.drifted}),
    )?;
    let drifted = aigis_monitor::drift::drift(reference, &drifted_path, &options)?;
    let index =
        crate::commands::monitor::drift::record(project, reference, &drifted_path, &drifted)?;
    let moved: Vec<&str> = drifted
        .features
        .iter()
        .filter(|f| f.status == Status::Drift)
        .map(|f| f.name.as_str())
        .collect();
    log.expect(
        drifted.verdict == Verdict::Drift && moved == ["f2", "channel"],
        "monitor drift",
        format!(
            "week-2.csv against reference.csv: DRIFT in {} (f2 moved by one standard deviation, the app channel tripled; evidence #{index})",
            moved.join(" and ")
        ),
        json!({"index": index, "verdict": drifted.verdict, "drifted": moved}),
    )
}
