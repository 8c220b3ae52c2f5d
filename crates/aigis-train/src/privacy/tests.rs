use super::*;

/// `ln A_α` by the trapezoid rule over `z`, straight from its definition
/// `∫ μ₀(z) (μ(z)/μ₀(z))^α dz`: the series' and sums' independent check.
fn log_a_by_integral(q: f64, sigma: f64, alpha: f64) -> f64 {
    let ln_ratio = |z: f64| {
        let u = (2.0 * z - 1.0) / (2.0 * sigma * sigma);
        if u > 0.0 {
            u + (q + (1.0 - q) * (-u).exp()).ln()
        } else {
            (q * u.exp_m1()).ln_1p()
        }
    };
    let ln_mu0 = |z: f64| {
        -z * z / (2.0 * sigma * sigma) - (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln()
    };
    let (from, to) = (-40.0 * sigma, 40.0 * sigma + 4.0 * alpha);
    let h = sigma / 400.0;
    let n = ((to - from) / h) as usize;
    let mut total = f64::NEG_INFINITY;
    for i in 0..=n {
        let z = from + i as f64 * h;
        let w: f64 = if i == 0 || i == n { 0.5 } else { 1.0 };
        total = log_add(total, w.ln() + ln_mu0(z) + alpha * ln_ratio(z));
    }
    total + h.ln()
}

#[test]
fn the_sums_and_series_equal_the_integral() {
    for &(q, sigma) in &[
        (0.01, 1.0),
        (256.0 / 60_000.0, 1.1),
        (0.1, 0.8),
        (0.5, 2.0),
        (0.02, 4.0),
    ] {
        for &alpha in &[1.5, 2.0, 2.7, 3.0, 8.1, 17.0, 32.5] {
            let want = log_a_by_integral(q, sigma, alpha);
            let got = if alpha.fract() == 0.0 {
                log_a_integer(q, sigma, alpha as u64)
            } else {
                log_a_fractional(q, sigma, alpha).unwrap()
            };
            let err = (got - want).abs() / want.abs().max(1e-12);
            assert!(
                err < 1e-6,
                "q {q} σ {sigma} α {alpha}: {got} against the integral's {want}"
            );
        }
    }
}

#[test]
fn the_series_at_an_integer_order_equals_the_finite_sum() {
    for &(q, sigma) in &[(0.01, 1.0), (0.3, 0.7), (0.004, 1.1)] {
        for alpha in [2u64, 3, 7, 20] {
            let sum = log_a_integer(q, sigma, alpha);
            let series = log_a_fractional(q, sigma, alpha as f64).unwrap();
            assert!(
                (sum - series).abs() <= 1e-9 * sum.abs().max(1e-12),
                "q {q} σ {sigma} α {alpha}: {sum} and {series}"
            );
        }
    }
}

#[test]
fn without_subsampling_it_is_the_gaussian_mechanism() {
    let r = step_rdp(1.0, 2.0, 5.5).unwrap();
    assert!((r - 5.5 / 8.0).abs() < 1e-15);
    // ε of T steps of the Gaussian mechanism is that of one with σ / √T.
    let many = Mechanism {
        sampling_rate: 1.0,
        noise_multiplier: 2.0,
        steps: 4,
    };
    let one = Mechanism {
        sampling_rate: 1.0,
        noise_multiplier: 1.0,
        steps: 1,
    };
    let (a, b) = (
        epsilon(&many, 1e-5, &[]).unwrap(),
        epsilon(&one, 1e-5, &[]).unwrap(),
    );
    assert!((a.epsilon - b.epsilon).abs() < 1e-12);
}

#[test]
fn more_steps_spend_more_and_more_noise_less() {
    let base = Mechanism {
        sampling_rate: 0.01,
        noise_multiplier: 1.0,
        steps: 1000,
    };
    let e = |m: Mechanism| epsilon(&m, 1e-5, &[]).unwrap().epsilon;
    let e0 = e(base);
    assert!(
        e(Mechanism {
            steps: 2000,
            ..base
        }) > e0
    );
    assert!(
        e(Mechanism {
            noise_multiplier: 1.5,
            ..base
        }) < e0
    );
    assert!(
        e(Mechanism {
            sampling_rate: 0.02,
            ..base
        }) > e0
    );
    // A larger δ buys a smaller ε.
    assert!(epsilon(&base, 1e-3, &[]).unwrap().epsilon < e0);
}

#[test]
fn the_noise_found_is_the_least_that_meets_the_target() {
    for &(q, steps, target) in &[
        (0.01, 1000u64, 1.0),
        (256.0 / 60_000.0, 14_062, 3.0),
        (0.1, 50, 8.0),
    ] {
        let sigma = noise_for(q, steps, target, 1e-5, &[]).unwrap();
        let at = |s: f64| {
            epsilon(
                &Mechanism {
                    sampling_rate: q,
                    noise_multiplier: s,
                    steps,
                },
                1e-5,
                &[],
            )
            .unwrap()
            .epsilon
        };
        assert!(at(sigma) <= target, "σ {sigma}: ε {} > {target}", at(sigma));
        assert!(
            at(sigma * (1.0 - 1e-4)) > target,
            "σ {sigma} is not the least"
        );
    }
}

#[test]
fn settings_out_of_range_are_named() {
    let ok = Mechanism {
        sampling_rate: 0.01,
        noise_multiplier: 1.0,
        steps: 10,
    };
    for (m, word) in [
        (
            Mechanism {
                sampling_rate: 0.0,
                ..ok
            },
            "sampling rate",
        ),
        (
            Mechanism {
                sampling_rate: 1.5,
                ..ok
            },
            "sampling rate",
        ),
        (
            Mechanism {
                sampling_rate: f64::NAN,
                ..ok
            },
            "sampling rate",
        ),
        (
            Mechanism {
                noise_multiplier: 0.0,
                ..ok
            },
            "noise multiplier",
        ),
        (
            Mechanism {
                noise_multiplier: f64::INFINITY,
                ..ok
            },
            "noise multiplier",
        ),
        (Mechanism { steps: 0, ..ok }, "no step"),
        (
            Mechanism {
                steps: MAX_STEPS + 1,
                ..ok
            },
            "at most",
        ),
        (
            Mechanism {
                noise_multiplier: 1e-300,
                ..ok
            },
            "takes",
        ),
        (
            Mechanism {
                noise_multiplier: 1e300,
                ..ok
            },
            "takes",
        ),
    ] {
        let e = epsilon(&m, 1e-5, &[]).unwrap_err().to_string();
        assert!(e.contains(word), "{e}");
    }
    for d in [0.0, 1.0, -1e-5, f64::NAN] {
        let e = epsilon(&ok, d, &[]).unwrap_err().to_string();
        assert!(e.contains("δ"), "{e}");
    }
    assert!(
        noise_for(0.01, 10, 0.0, 1e-5, &[])
            .unwrap_err()
            .to_string()
            .contains("target ε")
    );
    assert!(
        step_rdp(0.01, 1.0, 1.0)
            .unwrap_err()
            .to_string()
            .contains("order")
    );
}

#[test]
fn the_best_order_is_reported_and_an_edge_one_flagged() {
    let run = Mechanism {
        sampling_rate: 256.0 / 60_000.0,
        noise_multiplier: 1.1,
        steps: 14_062,
    };
    let g = epsilon(&run, 1e-5, &[]).unwrap();
    assert!((g.order - 8.1).abs() < 1e-12 && !g.order_at_edge, "{g:?}");
    // Very little noise: the best order is the smallest tried.
    let loud = Mechanism {
        sampling_rate: 1.0,
        noise_multiplier: 0.05,
        steps: 1,
    };
    let g = epsilon(&loud, 1e-5, &[2.0, 4.0, 8.0]).unwrap();
    assert!(g.order_at_edge && g.order == 2.0, "{g:?}");
    assert_eq!(
        g.epsilon,
        2.0 / (2.0 * 0.05 * 0.05) + (0.5f64).ln() - (2e-5f64).ln()
    );
}
