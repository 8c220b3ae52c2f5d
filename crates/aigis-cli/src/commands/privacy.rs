//! `aigis privacy epsilon` and `aigis privacy noise`: the accounting of a DP-SGD run, by
//! its privacy loss distribution, by Rényi DP, or both.

use aigis_train::privacy::{self, Guarantee, Mechanism, pld};
use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::cli::{Accountant, Cli, PrivacyCommand, PrivacyRunArgs};
use crate::output;

/// What each accountant said of one run.
struct Accounts {
    mechanism: Mechanism,
    rdp: Option<Guarantee>,
    /// ε and the grid's interval used.
    pld: Option<(f64, f64)>,
}

impl Accounts {
    /// With `both`, an accountant that finds no bound is left out with a note, as long as
    /// the other finds one (each is an upper bound on its own).
    fn of(cli: &Cli, mechanism: Mechanism, args: &PrivacyRunArgs) -> Result<Self> {
        Self::with(
            cli,
            mechanism,
            args.accountant,
            args.delta,
            &args.orders,
            args.pld_interval,
        )
    }

    fn with(
        cli: &Cli,
        mechanism: Mechanism,
        accountant: Accountant,
        delta: f64,
        orders: &[f64],
        pld_interval: f64,
    ) -> Result<Self> {
        let both = accountant == Accountant::Both;
        let mut rdp = None;
        let mut pld = None;
        let mut unbounded = Vec::new();
        if accountant != Accountant::Pld {
            match privacy::epsilon(&mechanism, delta, orders) {
                Ok(g) => rdp = Some(g),
                Err(e @ privacy::Error::NoBound(_)) if both => unbounded.push(("RDP", e)),
                Err(e) => return Err(e.into()),
            }
        }
        if accountant != Accountant::Rdp {
            match pld::epsilon(&mechanism, delta, pld_interval) {
                Ok(found) => pld = Some(found),
                Err(e @ privacy::Error::NoBound(_)) if both => unbounded.push(("PLD", e)),
                Err(e) => return Err(e.into()),
            }
        }
        if rdp.is_none()
            && pld.is_none()
            && let Some((_, e)) = unbounded.pop()
        {
            return Err(e.into());
        }
        for (name, why) in unbounded {
            output::note(cli, &format!("{name} gives no bound: {why}"));
        }
        Ok(Self {
            mechanism,
            rdp,
            pld,
        })
    }

    /// The smaller ε (both are upper bounds) and the accountant that gave it.
    fn best(&self) -> (f64, &'static str) {
        match (&self.pld, &self.rdp) {
            (Some((p, _)), Some(r)) if r.epsilon < *p => (r.epsilon, "rdp"),
            (Some((p, _)), _) => (*p, "pld"),
            (None, Some(r)) => (r.epsilon, "rdp"),
            (None, None) => (f64::NAN, "none"),
        }
    }
}

/// What a DP-SGD run spent, by both accountants (`aigis train --dp`).
pub(crate) struct Spent {
    /// The smaller ε (both are upper bounds).
    pub epsilon: f64,
    /// `pld` or `rdp`: which gave it.
    pub accountant: &'static str,
    pub rdp: Option<f64>,
    pub pld: Option<f64>,
}

/// The ε `mechanism` spends at `delta`, by both accountants at their defaults.
pub(crate) fn spent(cli: &Cli, mechanism: Mechanism, delta: f64) -> Result<Spent> {
    let a = Accounts::with(
        cli,
        mechanism,
        Accountant::Both,
        delta,
        &[],
        pld::DEFAULT_INTERVAL,
    )?;
    let (epsilon, accountant) = a.best();
    Ok(Spent {
        epsilon,
        accountant,
        rdp: a.rdp.map(|g| g.epsilon),
        pld: a.pld.map(|(e, _)| e),
    })
}

/// The least noise multiplier (rounded up to 1e-6) that keeps a run of `steps` steps at
/// `q` within `epsilon` at `delta`, by the smaller of the two accountants' answers.
pub(crate) fn least_noise(cli: &Cli, q: f64, steps: u64, epsilon: f64, delta: f64) -> Result<f64> {
    let by_rdp = privacy::noise_for(q, steps, epsilon, delta, &[])?;
    let bar = output::progress(cli, 0, "searching the noise by PLD");
    let found = pld::noise_for(q, steps, epsilon, delta, pld::DEFAULT_INTERVAL, by_rdp);
    bar.finish_and_clear();
    Ok((found?.min(by_rdp) * 1e6).ceil() / 1e6)
}

pub(crate) fn run(cli: &Cli, cmd: &PrivacyCommand) -> Result<()> {
    match cmd {
        PrivacyCommand::Epsilon(args) => {
            let (q, steps) = run_of(&args.run)?;
            let mechanism = Mechanism {
                sampling_rate: q,
                noise_multiplier: args.noise_multiplier,
                steps,
            };
            let accounts = Accounts::of(cli, mechanism, &args.run)?;
            show(cli, &accounts, &args.run, None)
        }
        PrivacyCommand::Noise(args) => {
            let (q, steps) = run_of(&args.run)?;
            let r = &args.run;
            // RDP first (fast): PLD's answer is at most RDP's, so its search starts there.
            let by_rdp = privacy::noise_for(q, steps, args.epsilon, r.delta, &r.orders)?;
            let sigma = match r.accountant {
                Accountant::Rdp => by_rdp,
                _ => {
                    let bar = output::progress(cli, 0, "searching the noise by PLD");
                    let found =
                        pld::noise_for(q, steps, args.epsilon, r.delta, r.pld_interval, by_rdp);
                    bar.finish_and_clear();
                    found?.min(by_rdp)
                }
            };
            let mechanism = Mechanism {
                sampling_rate: q,
                noise_multiplier: sigma,
                steps,
            };
            let accounts = Accounts::of(cli, mechanism, r)?;
            show(cli, &accounts, r, Some((args.epsilon, by_rdp)))
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

/// `noise`: the target ε and RDP's noise multiplier, when the noise was asked for.
fn show(cli: &Cli, a: &Accounts, args: &PrivacyRunArgs, noise: Option<(f64, f64)>) -> Result<()> {
    let m = &a.mechanism;
    let (epsilon, by) = a.best();
    if cli.json {
        let rdp = match &a.rdp {
            Some(g) => {
                let (orders, values) = privacy::rdp(m, &args.orders)?;
                let curve: Vec<Value> = orders
                    .iter()
                    .zip(&values)
                    .map(|(o, r)| json!({ "order": o, "rdp": r }))
                    .collect();
                json!({
                    "epsilon": g.epsilon,
                    "order": g.order,
                    "order_at_edge": g.order_at_edge,
                    "rdp": curve,
                })
            }
            None => Value::Null,
        };
        let pld = match a.pld {
            Some((e, interval)) => json!({ "epsilon": e, "interval": interval }),
            None => Value::Null,
        };
        let mut out = json!({
            "epsilon": epsilon,
            "delta": args.delta,
            "accountant": by,
            "sampling": "poisson",
            "sampling_rate": m.sampling_rate,
            "noise_multiplier": m.noise_multiplier,
            "steps": m.steps,
            "rdp": rdp,
            "pld": pld,
        });
        if let Some((target, by_rdp)) = noise {
            output::insert(&mut out, "target_epsilon", target);
            output::insert(&mut out, "noise_multiplier_by_rdp", by_rdp);
        }
        return output::json(&out);
    }
    // A noise multiplier found is shown rounded up (one rounded down could spend more).
    let sigma = if noise.is_some() {
        format!("{}", (m.noise_multiplier * 1e6).ceil() / 1e6)
    } else {
        m.noise_multiplier.to_string()
    };
    match noise {
        Some((target, by_rdp)) => {
            outln!(
                "noise multiplier {sigma}: the least that keeps ε ≤ {target} at δ = {:e} ({})",
                args.delta,
                by.to_uppercase()
            );
            if args.accountant == Accountant::Both {
                outln!("  RDP alone needs {}", (by_rdp * 1e6).ceil() / 1e6);
            }
        }
        None => outln!(
            "ε = {epsilon:.4} at δ = {:e} ({})",
            args.delta,
            by.to_uppercase()
        ),
    }
    if let Some((e, interval)) = a.pld {
        outln!("  PLD: ε = {e:.4} (grid interval {interval})");
    }
    if let Some(g) = &a.rdp {
        outln!("  RDP: ε = {:.4} (best order {})", g.epsilon, g.order);
    }
    outln!(
        "  {} steps at sampling rate {:.6}, noise multiplier {sigma}",
        m.steps,
        m.sampling_rate
    );
    outln!(
        "  assumes Poisson sampling: each step takes each example independently with that probability"
    );
    if let Some(g) = a.rdp.filter(|g| g.order_at_edge) {
        output::note(
            cli,
            &format!(
                "RDP's best order, {}, is at the edge of those tried: its bound may be loose",
                g.order
            ),
        );
    }
    if let Some((_, interval)) = a.pld.filter(|(_, i)| *i > args.pld_interval) {
        output::note(
            cli,
            &format!(
                "the PLD grid was coarsened to {interval} to fit the run's loss (its ε is still an upper bound)"
            ),
        );
    }
    Ok(())
}
