use super::*;

/// The Gaussian mechanism's exact δ(ε) (Balle and Wang, 2018): `Φ(μ/2 − ε/μ) −
/// e^ε Φ(−μ/2 − ε/μ)`, `μ = √T / σ`; T steps without subsampling are one with σ/√T.
/// (In logarithms: `e^ε` overflows past 709.)
fn gaussian_delta(eps: f64, sigma: f64, steps: u64) -> f64 {
    let mu = (steps as f64).sqrt() / sigma;
    exp_diff(
        ln_lower(mu / 2.0 - eps / mu),
        eps + ln_lower(-mu / 2.0 - eps / mu),
    )
}

/// Its exact ε at `delta`, by bisection.
fn gaussian_epsilon(delta: f64, sigma: f64, steps: u64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e7);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if gaussian_delta(mid, sigma, steps) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[test]
fn without_subsampling_it_bounds_the_gaussian_mechanism_tightly() {
    // The last two: ε in the thousands, where e^ε is past a double's range (on a coarser
    // grid, still an upper bound, to keep the test quick).
    for &(sigma, steps, interval) in &[
        (1.0, 1u64, DEFAULT_INTERVAL),
        (2.0, 100, DEFAULT_INTERVAL),
        (5.0, 1000, DEFAULT_INTERVAL),
        (0.8, 10, DEFAULT_INTERVAL),
        (0.02, 1, 1e-2),
        (0.01, 3, 1e-2),
    ] {
        let run = Mechanism {
            sampling_rate: 1.0,
            noise_multiplier: sigma,
            steps,
        };
        for delta in [1e-5, 1e-8] {
            let (got, used) = epsilon(&run, delta, interval).unwrap();
            let exact = gaussian_epsilon(delta, sigma, steps);
            assert_eq!(used, interval);
            assert!(
                got >= exact - 1e-9 && got <= exact * 1.002 + interval,
                "σ {sigma}, {steps} steps, δ {delta}: {got} against the exact {exact}"
            );
        }
    }
}

/// `δ(ε) = ∫ (p(o) − e^ε q(o))₊ do` by the trapezoid rule: the closed forms' check.
fn delta_by_integral(step: &Step, eps: f64) -> f64 {
    let s = step.sigma;
    let normal = |o: f64, mean: f64| {
        (-(o - mean) * (o - mean) / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt())
    };
    let mixture = |o: f64| (1.0 - step.q) * normal(o, 0.0) + step.q * normal(o, 1.0);
    let (p, q): (&dyn Fn(f64) -> f64, &dyn Fn(f64) -> f64) = match step.pair {
        Pair::Remove => (&mixture, &|o| normal(o, 0.0)),
        Pair::Add => (&|o| normal(o, 0.0), &mixture),
    };
    let h = s / 2000.0;
    let (from, to) = (-30.0 * s, 30.0 * s + 1.0);
    let n = ((to - from) / h) as usize;
    (0..=n)
        .map(|i| {
            let o = from + i as f64 * h;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            w * (p(o) - eps.exp() * q(o)).max(0.0)
        })
        .sum::<f64>()
        * h
}

#[test]
fn each_pairs_hockey_stick_curve_is_its_integral() {
    for &(q, sigma) in &[(0.01, 1.0), (0.3, 0.7), (1.0, 1.5)] {
        for pair in [Pair::Remove, Pair::Add] {
            let step = Step { q, sigma, pair };
            for eps in [-0.5, 0.0, 0.005, 0.1, 0.7, 2.0] {
                let (got, want) = (step.delta(eps), delta_by_integral(&step, eps));
                assert!(
                    (got - want).abs() <= 1e-9 + 1e-6 * want,
                    "q {q} σ {sigma} {pair:?} ε {eps}: {got} against {want}"
                );
            }
        }
    }
}

#[test]
fn the_connected_dots_keep_the_curve_at_every_grid_point_and_all_the_mass() {
    let step = Step {
        q: 0.05,
        sigma: 0.9,
        pair: Pair::Remove,
    };
    let p = discretize(&step, 1e-3, 1e-15).unwrap();
    let total: f64 = p.mass.iter().sum::<f64>() + p.infinity;
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    for k in (0..p.mass.len()).step_by(97) {
        let eps = (p.start + k as i64) as f64 * p.interval;
        let discrete: f64 = p.infinity
            + p.mass
                .iter()
                .enumerate()
                .map(|(j, m)| {
                    let l = (p.start + j as i64) as f64 * p.interval;
                    m * (1.0 - (eps - l).exp()).max(0.0)
                })
                .sum::<f64>();
        assert!(
            (discrete - step.delta(eps)).abs() < 1e-9,
            "ε {eps}: {discrete} against {}",
            step.delta(eps)
        );
    }
}

#[test]
fn the_mnist_run_is_tighter_than_rdp_and_as_dp_accounting_says() {
    let run = Mechanism {
        sampling_rate: 256.0 / 60_000.0,
        noise_multiplier: 1.1,
        steps: 14_062,
    };
    let (pld, _) = epsilon(&run, 1e-5, DEFAULT_INTERVAL).unwrap();
    let rdp = super::super::epsilon(&run, 1e-5, &[]).unwrap().epsilon;
    // dp_accounting 0.6's PLDAccountant: 2.381686.
    assert!((pld - 2.381686).abs() < 0.01, "{pld}");
    assert!(pld < rdp, "{pld} ≥ {rdp}");
}

#[test]
fn more_steps_spend_more_and_a_coarser_grid_never_less() {
    let base = Mechanism {
        sampling_rate: 0.02,
        noise_multiplier: 1.0,
        steps: 500,
    };
    let e = |m: &Mechanism, i: f64| epsilon(m, 1e-6, i).unwrap().0;
    let fine = e(&base, 1e-4);
    assert!(
        e(
            &Mechanism {
                steps: 1000,
                ..base
            },
            1e-4
        ) > fine
    );
    assert!(
        e(
            &Mechanism {
                noise_multiplier: 1.3,
                ..base
            },
            1e-4
        ) < fine
    );
    assert!(e(&base, 1e-2) >= fine - 1e-9);
}

#[test]
fn an_interval_out_of_range_is_named() {
    let run = Mechanism {
        sampling_rate: 0.1,
        noise_multiplier: 1.0,
        steps: 3,
    };
    for bad in [0.0, -1.0, f64::NAN] {
        let e = epsilon(&run, 1e-5, bad).unwrap_err().to_string();
        assert!(e.contains("interval"), "{e}");
    }
}

#[test]
fn a_loss_without_end_gives_no_bound_rather_than_a_small_one() {
    // With almost no noise, each step that takes the example gives it away: δ ≥
    // 1 − (1 − q)^T ≈ 0.05 at any ε, so no ε holds at δ = 1e-5.
    let run = Mechanism {
        sampling_rate: 0.01,
        noise_multiplier: 1e-8,
        steps: 5,
    };
    let e = epsilon(&run, 1e-5, DEFAULT_INTERVAL).unwrap_err();
    assert!(matches!(e, Error::NoBound(_)), "{e}");
}

#[test]
fn each_pairs_curve_stays_a_number_far_out() {
    for pair in [Pair::Remove, Pair::Add] {
        let step = Step {
            q: 1.0,
            sigma: 0.01,
            pair,
        };
        let mut last = 1.0;
        for eps in [0.0, 100.0, 1000.0, 4000.0, 5000.0, 6000.0, 1e5] {
            let d = step.delta(eps);
            assert!(
                (0.0..=last).contains(&d),
                "{pair:?} ε {eps}: {d} after {last}"
            );
            last = d;
        }
        // The loss is N(5000, 100²): δ at 5000 is far from 0.
        assert!(step.delta(5000.0) > 0.1, "{pair:?}");
    }
}
