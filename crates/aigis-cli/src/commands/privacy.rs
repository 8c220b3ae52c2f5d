//! `aigis privacy epsilon` and `aigis privacy noise`: the accounting of a DP-SGD run.

use aigis_train::privacy::{self, Guarantee, Mechanism};
use anyhow::{Result, bail};

use crate::cli::{Cli, PrivacyCommand, PrivacyRunArgs};
use crate::output;

pub(crate) fn run(cli: &Cli, cmd: &PrivacyCommand) -> Result<()> {
    match cmd {
        PrivacyCommand::Epsilon(args) => {
            let (q, steps) = run_of(&args.run)?;
            let mechanism = Mechanism {
                sampling_rate: q,
                noise_multiplier: args.noise_multiplier,
                steps,
            };
            let g = privacy::epsilon(&mechanism, args.run.delta, &args.run.orders)?;
            show(cli, &mechanism, &g, &args.run.orders, "epsilon")
        }
        PrivacyCommand::Noise(args) => {
            let (q, steps) = run_of(&args.run)?;
            let sigma =
                privacy::noise_for(q, steps, args.epsilon, args.run.delta, &args.run.orders)?;
            let mechanism = Mechanism {
                sampling_rate: q,
                noise_multiplier: sigma,
                steps,
            };
            let g = privacy::epsilon(&mechanism, args.run.delta, &args.run.orders)?;
            show(cli, &mechanism, &g, &args.run.orders, "noise")
        }
    }
}

/// The sampling rate and the steps, from whichever options gave them.
fn run_of(args: &PrivacyRunArgs) -> Result<(f64, u64)> {
    let q = match (args.sampling_rate, args.batch_size, args.dataset_size) {
        (Some(q), _, _) => q,
        (None, Some(b), Some(n)) => {
            if n == 0 || b == 0 || b > n {
                bail!(
                    "--batch-size {b} of --dataset-size {n}: the batch must be between 1 and \
                     the dataset's size"
                );
            }
            b as f64 / n as f64
        }
        _ => bail!("give the sampling rate: --sampling-rate, or --batch-size and --dataset-size"),
    };
    // The sampling rate itself is checked by the accountant.
    let steps = match (args.steps, args.epochs) {
        (Some(t), _) => t,
        (None, Some(e)) => {
            if !(e > 0.0 && e.is_finite() && q > 0.0 && q <= 1.0) {
                bail!(
                    "--epochs {e} at sampling rate {q}: both must be positive (the rate at \
                     most 1)"
                );
            }
            let steps = (e / q).ceil();
            if steps > 1e15 {
                bail!("--epochs {e} at sampling rate {q} is more steps than can be counted");
            }
            steps as u64
        }
        (None, None) => bail!("give the run's length: --steps or --epochs"),
    };
    Ok((q, steps))
}

fn show(cli: &Cli, m: &Mechanism, g: &Guarantee, orders: &[f64], asked: &str) -> Result<()> {
    if cli.json {
        let (orders, rdp) = privacy::rdp(m, orders)?;
        let rdp: Vec<serde_json::Value> = orders
            .iter()
            .zip(&rdp)
            .map(|(a, r)| serde_json::json!({ "order": a, "rdp": r }))
            .collect();
        return output::json(&serde_json::json!({
            "accountant": "rdp",
            "sampling": "poisson",
            "sampling_rate": m.sampling_rate,
            "noise_multiplier": m.noise_multiplier,
            "steps": m.steps,
            "epsilon": g.epsilon,
            "delta": g.delta,
            "order": g.order,
            "order_at_edge": g.order_at_edge,
            "rdp": rdp,
        }));
    }
    if asked == "noise" {
        println!(
            "noise multiplier {:.6} (the least that keeps ε ≤ the target; it spends ε = {:.4} at δ = {})",
            m.noise_multiplier, g.epsilon, g.delta
        );
    } else {
        println!(
            "ε = {:.4} at δ = {} (RDP, best order {})",
            g.epsilon, g.delta, g.order
        );
    }
    println!(
        "  {} steps at sampling rate {:.6}, noise multiplier {}",
        m.steps, m.sampling_rate, m.noise_multiplier
    );
    println!(
        "  assumes Poisson sampling: each step takes each example independently with that probability"
    );
    if g.order_at_edge {
        output::note(
            cli,
            &format!(
                "the best order, {}, is at the edge of those tried: the true RDP bound may be smaller",
                g.order
            ),
        );
    }
    Ok(())
}
