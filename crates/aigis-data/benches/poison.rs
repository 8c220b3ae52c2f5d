//! Time of `poison::detect` on 1,000,000 × 30 rows (goal: ≤ 20 s on two cores).
//!
//! ```sh
//! cargo bench -p aigis-data --bench poison             # 1,000,000 × 30
//! AIGIS_BENCH_POISON_ROWS=200000 cargo bench -p aigis-data --bench poison
//! cargo test  -p aigis-data --bench poison             # 3,000 × 30 smoke run
//! ```
//!
//! The data: 10 labelled Gaussian clusters (unit variance, centres 8σ apart) with planted
//! poisons — 2 % flipped labels, 0.5 % backdoor rows (columns 3, 17 and 25 set to 14, about
//! 4 robust σ out, the label set to 7), 0.1 % outliers (every column pushed 25σ out) and 0.1 % exact
//! copies. Beyond `knn_max_rows` the label model is the cross-validated linear
//! discriminant. Both runs report recall per planted kind and the time per detector; the
//! smoke run asserts that most planted rows are found.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::time::Instant;

use aigis_data::poison::{self, Features, Options, PoisonKind};

const D: usize = 30;
const CLASSES: u32 = 10;

struct Planted {
    flips: Vec<usize>,
    backdoors: Vec<usize>,
    outliers: Vec<usize>,
    copies: Vec<usize>,
    /// The row each copy was copied from (the detector flags the later of the two).
    sources: Vec<usize>,
}

fn gauss(rng: &mut fastrand::Rng) -> f64 {
    let (u, v) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn generate(n: usize, seed: u64) -> (Features, Vec<u32>, Planted) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let centres: Vec<f64> = (0..CLASSES as usize * D)
        .map(|_| (rng.f64() - 0.5) * 8.0)
        .collect();
    let mut labels: Vec<u32> = (0..n).map(|_| rng.u32(..CLASSES)).collect();
    let mut data = Vec::with_capacity(n * D);
    for &c in &labels {
        let centre = &centres[c as usize * D..(c as usize + 1) * D];
        data.extend(centre.iter().map(|m| m + gauss(&mut rng)));
    }
    // Disjoint planted sets from one shuffle.
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let take = |from: &mut &[usize], frac: f64| {
        let k = ((n as f64 * frac).round() as usize).max(4);
        let (a, b) = from.split_at(k.min(from.len()));
        *from = b;
        let mut v = a.to_vec();
        v.sort_unstable();
        v
    };
    let mut rest: &[usize] = &order;
    let planted = Planted {
        flips: take(&mut rest, 0.02),
        backdoors: take(&mut rest, 0.005),
        outliers: take(&mut rest, 0.001),
        copies: take(&mut rest, 0.001),
        sources: Vec::new(),
    };
    for &i in &planted.flips {
        labels[i] = (labels[i] + 1 + rng.u32(..CLASSES - 1)) % CLASSES;
    }
    for &i in &planted.backdoors {
        for j in [3, 17, 25] {
            data[i * D + j] = 14.0;
        }
        labels[i] = 7;
    }
    for &i in &planted.outliers {
        for j in 0..D {
            data[i * D + j] += if rng.bool() { 25.0 } else { -25.0 };
        }
    }
    let mut planted = planted;
    for &i in &planted.copies {
        let src = rest[i % rest.len()];
        planted.sources.push(src);
        let row: Vec<f64> = data[src * D..(src + 1) * D].to_vec();
        data[i * D..(i + 1) * D].copy_from_slice(&row);
        labels[i] = labels[src];
    }
    let names = (0..D).map(|j| format!("f{j}")).collect();
    (
        Features {
            n_rows: n,
            n_cols: D,
            data,
            names,
        },
        labels,
        planted,
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full {
        std::env::var("AIGIS_BENCH_POISON_ROWS")
            .ok()
            .map(|v| {
                v.parse::<usize>()
                    .expect("AIGIS_BENCH_POISON_ROWS is a number of rows")
            })
            .unwrap_or(1_000_000)
    } else {
        3_000
    };
    let started = Instant::now();
    let (features, labels, planted) = generate(n, 42);
    println!(
        "poison bench ({} run): {n} × {D} rows generated in {:.1} s",
        if full { "full" } else { "smoke" },
        started.elapsed().as_secs_f64()
    );
    let opts = Options::default();
    let started = Instant::now();
    let report = poison::detect(&features, Some(&labels), &opts).expect("detect");
    let total = started.elapsed().as_secs_f64();

    println!("\n| detector | seconds |\n|---|---:|");
    for t in &report.timings {
        println!("| {} | {:.2} |", t.detector, t.seconds);
    }
    println!(
        "| **total** (`poison::detect`, label model: {}) | **{total:.2}** |",
        report.thresholds.label_model
    );

    let kinds = |row: usize| -> Vec<PoisonKind> {
        report
            .rows
            .iter()
            .find(|r| r.row == row)
            .map(|r| r.reasons.iter().map(|x| x.kind).collect())
            .unwrap_or_default()
    };
    let flagged: std::collections::HashSet<usize> = report.rows.iter().map(|r| r.row).collect();
    let planted_all: std::collections::HashSet<usize> = planted
        .flips
        .iter()
        .chain(&planted.backdoors)
        .chain(&planted.outliers)
        .chain(&planted.copies)
        .chain(&planted.sources)
        .copied()
        .collect();
    println!(
        "\n| planted | rows | found (any reason) | found as that kind |\n|---|---:|---:|---:|"
    );
    let mut recalls = Vec::new();
    for (name, rows, kind) in [
        ("label flips", &planted.flips, PoisonKind::LabelFlip),
        ("backdoor rows", &planted.backdoors, PoisonKind::Backdoor),
        ("outliers", &planted.outliers, PoisonKind::Outlier),
        ("exact copies", &planted.copies, PoisonKind::Duplicate),
    ] {
        let any = rows.iter().filter(|&&r| flagged.contains(&r)).count();
        // A copy counts as found when either row of the pair is flagged as a duplicate.
        let exact = rows
            .iter()
            .enumerate()
            .filter(|&(k, &r)| {
                kinds(r).contains(&kind)
                    || (kind == PoisonKind::Duplicate
                        && planted
                            .sources
                            .get(k)
                            .is_some_and(|&s| kinds(s).contains(&kind)))
            })
            .count();
        println!("| {name} | {} | {any} | {exact} |", rows.len());
        recalls.push((name, exact as f64 / rows.len() as f64));
    }
    let false_pos = flagged.difference(&planted_all).count();
    println!(
        "\nflagged {} rows, {false_pos} of them not planted ({:.2} % of clean rows)",
        flagged.len(),
        100.0 * false_pos as f64 / (n - planted_all.len()) as f64
    );
    for (name, recall) in recalls {
        assert!(recall >= 0.8, "{name}: recall {recall:.2} below 0.8");
    }
    assert!(
        false_pos as f64 <= 0.01 * n as f64,
        "too many false positives: {false_pos}"
    );
    if full {
        sklearn_baseline(
            n,
            report
                .timings
                .iter()
                .find(|t| t.detector == "outliers")
                .map(|t| t.seconds),
        );
    }
}

/// The same-size baseline, when scikit-learn is installed: its `IsolationForest` with the
/// same settings (100 trees of 256 rows) fitted and scoring every row of an n × 30
/// Gaussian matrix, against aigis's outlier step.
fn sklearn_baseline(n: usize, ours: Option<f64>) {
    let script = format!(
        "import time, numpy as np\n\
         from sklearn.ensemble import IsolationForest\n\
         x = np.random.default_rng(0).normal(size=({n}, {D}))\n\
         t = time.perf_counter()\n\
         IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=-1).fit(x).score_samples(x)\n\
         print(time.perf_counter() - t)\n"
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let secs: f64 = String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .unwrap_or(f64::NAN);
            println!(
                "\nscikit-learn IsolationForest (100 trees × 256 rows, n_jobs=-1), fit + score of {n} × {D}: {secs:.2} s"
            );
            if let Some(ours) = ours {
                println!(
                    "aigis outlier step: {ours:.2} s, {:.1}× faster",
                    secs / ours
                );
            }
        }
        _ => println!("\n(scikit-learn not installed: no IsolationForest baseline)"),
    }
}
