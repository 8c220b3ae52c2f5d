//! The robust aggregation rules against poisoning clients, in simulation (the rules are
//! what is measured; `aigis federate` runs the same code between processes). Run by
//! `bench/federated_bench.py`, which writes the tables:
//!
//! ```text
//! cargo run -p aigis-train --example federated_poisoning -- train.csv test.csv \
//!     --low 0 --high 16 --clients 10 --malicious 2 --rounds 20 --seeds 3
//! ```
//!
//! Each table is numeric CSV with a header, the label last (class indices). The clients
//! split the training rows at random; the first `--malicious` are the attackers. Attacks:
//! - `sign-flip`: the update the client's rows give, times −10;
//! - `scaled`: that update times 50;
//! - `label-flip`: the update of its rows with each class c relabelled C − 1 − c, times
//!   10 (boosted so the attackers outweigh the honest);
//! - `backdoor`: its rows and as many copies with a trigger (the last four features set to
//!   their upper bound) labelled with the target class, the update scaled by clients /
//!   malicious (model replacement, Bagdasaryan et al. 2020). The target is the class a
//!   model federated without attackers gives triggered rows least (so that the trigger
//!   does not already mean it); the success is the share of held-out rows of other
//!   classes that the trigger turns into the target, measured under every attack (under
//!   `none` it is the trigger's natural rate).
//!
//! Prints one JSON line a (rule, attack): the held-out accuracy and the backdoor's
//! success, averaged over the seeds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark driver: a bad input ends it"
)]

use aigis_train::aggregate::{Rule, Update, aggregate};
use aigis_train::dpsgd::Bounds;
use aigis_train::federated::{Architecture, Local, local_update};

struct Table {
    x: Vec<f64>,
    y: Vec<usize>,
    features: usize,
}

fn read(path: &str) -> Table {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let features = lines.next().unwrap().split(',').count() - 1;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in lines.filter(|l| !l.is_empty()) {
        let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
        x.extend_from_slice(&v[..features]);
        y.push(v[features] as usize);
    }
    Table { x, y, features }
}

const TRIGGER: usize = 4;

fn triggered(row: &[f64], high: &[f64]) -> Vec<f64> {
    let mut r = row.to_vec();
    let n = r.len();
    let from = n.saturating_sub(TRIGGER);
    r[from..].copy_from_slice(&high[from..n]);
    r
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .map_or(default.to_owned(), |i| args[i + 1].clone())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let train = read(&args[1]);
    let test = read(&args[2]);
    let f = train.features;
    let low: f64 = arg(&args, "--low", "nan").parse().unwrap();
    let high: f64 = arg(&args, "--high", "nan").parse().unwrap();
    let (low, high) = if low.is_nan() {
        // Per feature: the training rows' range, widened by a tenth (the bench's stand-in
        // for a schema's public bounds).
        let mut lo = vec![f64::INFINITY; f];
        let mut hi = vec![f64::NEG_INFINITY; f];
        for r in train.x.chunks(f) {
            for j in 0..f {
                lo[j] = lo[j].min(r[j]);
                hi[j] = hi[j].max(r[j]);
            }
        }
        let widen: Vec<f64> = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| ((h - l) * 0.1).max(1e-3))
            .collect();
        (
            lo.iter().zip(&widen).map(|(l, w)| l - w).collect(),
            hi.iter().zip(&widen).map(|(h, w)| h + w).collect(),
        )
    } else {
        (vec![low; f], vec![high; f])
    };
    let clients: usize = arg(&args, "--clients", "10").parse().unwrap();
    let malicious: usize = arg(&args, "--malicious", "2").parse().unwrap();
    let rounds: u64 = arg(&args, "--rounds", "20").parse().unwrap();
    let seeds: u64 = arg(&args, "--seeds", "3").parse().unwrap();
    let hidden: usize = arg(&args, "--hidden", "32").parse().unwrap();
    let classes = train.y.iter().chain(&test.y).max().unwrap() + 1;
    let arch = Architecture {
        hidden,
        classes,
        bounds: Bounds {
            low: low.clone(),
            high: high.clone(),
        },
    };
    let local = Local {
        epochs: 1,
        learning_rate: 0.1,
        batch_size: 32,
        alpha: 1e-4,
    };
    // The norm bound: twice the median norm of the honest first-round updates.
    let clip = {
        let global = arch.init(0).unwrap();
        let mut norms: Vec<f64> = split(train.y.len(), clients, 0)
            .iter()
            .map(|rows| {
                let (x, y) = take(&train, rows);
                let d = local_update(&arch, &global, &x, rows.len(), &y, &local, 0).unwrap();
                d.iter().map(|v| v * v).sum::<f64>().sqrt()
            })
            .collect();
        norms.sort_by(f64::total_cmp);
        2.0 * norms[norms.len() / 2]
    };
    let f_tol = malicious.max(1);
    let rules: Vec<(String, Rule, Option<f64>)> = vec![
        ("mean".into(), Rule::Mean, None),
        ("mean + norm bound".into(), Rule::Mean, Some(clip)),
        ("median".into(), Rule::Median, None),
        (
            "trimmed mean 0.2".into(),
            Rule::TrimmedMean { trim: 0.2 },
            None,
        ),
        (
            format!("krum f={f_tol}"),
            Rule::Krum { byzantine: f_tol },
            None,
        ),
        (
            format!("multi-krum f={f_tol}"),
            Rule::MultiKrum {
                byzantine: f_tol,
                select: clients - f_tol,
            },
            None,
        ),
    ];
    // The backdoor's target: the class a clean federation gives triggered rows least.
    let target = {
        let (global, _) = federate(
            &arch,
            &train,
            &local,
            clients,
            0,
            rounds,
            0,
            "none",
            Rule::Mean,
            None,
            &high,
            0,
        );
        let model = arch.model(&global).unwrap();
        let tx: Vec<f64> = test.x.chunks(f).flat_map(|r| triggered(r, &high)).collect();
        let p = model.predict(&tx, test.y.len()).unwrap();
        (0..classes)
            .min_by_key(|c| p.iter().filter(|v| *v == c).count())
            .unwrap()
    };
    let attacks = ["none", "sign-flip", "scaled", "label-flip", "backdoor"];
    for attack in attacks {
        for (name, rule, bound) in &rules {
            let (mut acc, mut asr) = (0.0, 0.0);
            let started = std::time::Instant::now();
            for seed in 0..seeds {
                let (a, s) = run(
                    &arch, &train, &test, &local, clients, malicious, rounds, seed, attack, *rule,
                    *bound, &high, target,
                );
                acc += a;
                asr += s;
            }
            let n = seeds as f64;
            println!(
                "{}",
                serde_json_line(&[
                    ("rule", format!("\"{name}\"")),
                    ("attack", format!("\"{attack}\"")),
                    ("accuracy", format!("{:.4}", acc / n)),
                    ("attack_success", format!("{:.4}", asr / n)),
                    ("norm_bound", format!("{clip:.4}")),
                    ("target", format!("{target}")),
                    (
                        "seconds",
                        format!("{:.3}", started.elapsed().as_secs_f64() / n)
                    ),
                ])
            );
        }
    }
}

fn serde_json_line(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// The rows of each client: a seeded shuffle, dealt in turn.
fn split(rows: usize, clients: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..rows).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    let mut parts = vec![Vec::new(); clients];
    for (i, r) in order.into_iter().enumerate() {
        parts[i % clients].push(r);
    }
    parts
}

fn take(t: &Table, rows: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let f = t.features;
    (
        rows.iter()
            .flat_map(|&r| t.x[r * f..(r + 1) * f].to_vec())
            .collect(),
        rows.iter().map(|&r| t.y[r]).collect(),
    )
}

#[allow(clippy::too_many_arguments, reason = "a simulation's settings")]
fn federate(
    arch: &Architecture,
    train: &Table,
    local: &Local,
    clients: usize,
    malicious: usize,
    rounds: u64,
    seed: u64,
    attack: &str,
    rule: Rule,
    bound: Option<f64>,
    high: &[f64],
    target: usize,
) -> (Vec<f64>, bool) {
    let parts = split(train.y.len(), clients, seed);
    let mut global = arch.init(seed).unwrap();
    let f = train.features;
    for round in 0..rounds {
        let mut updates = Vec::with_capacity(clients);
        for (c, rows) in parts.iter().enumerate() {
            let (mut x, mut y) = take(train, rows);
            let bad = c < malicious && attack != "none";
            let mut n = rows.len();
            if bad && attack == "label-flip" {
                y.iter_mut().for_each(|v| *v = arch.classes - 1 - *v);
            }
            if bad && attack == "backdoor" {
                for r in 0..rows.len() {
                    let t = triggered(&x[r * f..(r + 1) * f], high);
                    x.extend(t);
                    y.push(target);
                }
                n *= 2;
            }
            let s = seed * 1000 + round * 100 + c as u64;
            let mut d = local_update(arch, &global, &x, n, &y, local, s).unwrap();
            if bad {
                let k = match attack {
                    "sign-flip" => -10.0,
                    "scaled" => 50.0,
                    "label-flip" => 10.0,
                    "backdoor" => clients as f64 / malicious as f64,
                    _ => 1.0,
                };
                d.iter_mut().for_each(|v| *v *= k);
            }
            updates.push(Update {
                values: d,
                rows: rows.len() as u64,
            });
        }
        let agg = aggregate(&updates, rule, bound).unwrap();
        global
            .iter_mut()
            .zip(&agg.values)
            .for_each(|(g, d)| *g += d);
        if global.iter().any(|v| !v.is_finite()) {
            return (global, false);
        }
    }
    (global, true)
}

#[allow(clippy::too_many_arguments, reason = "a simulation's settings")]
fn run(
    arch: &Architecture,
    train: &Table,
    test: &Table,
    local: &Local,
    clients: usize,
    malicious: usize,
    rounds: u64,
    seed: u64,
    attack: &str,
    rule: Rule,
    bound: Option<f64>,
    high: &[f64],
    target: usize,
) -> (f64, f64) {
    let (global, finite) = federate(
        arch, train, local, clients, malicious, rounds, seed, attack, rule, bound, high, target,
    );
    let model = match arch.model(&global) {
        Ok(m) if finite => m,
        // Diverged (a parameter is not a number): a useless model.
        _ => return (0.0, 1.0),
    };
    let f = train.features;
    let rows = test.y.len();
    let p = model.predict(&test.x, rows).unwrap();
    let acc = p.iter().zip(&test.y).filter(|(a, b)| a == b).count() as f64 / rows as f64;
    let others: Vec<usize> = (0..rows).filter(|&r| test.y[r] != target).collect();
    let tx: Vec<f64> = others
        .iter()
        .flat_map(|&r| triggered(&test.x[r * f..(r + 1) * f], high))
        .collect();
    let pt = model.predict(&tx, others.len()).unwrap();
    let asr = pt.iter().filter(|&&c| c == target).count() as f64 / others.len() as f64;
    (acc, asr)
}
