use super::*;

fn model(features: usize, hidden: usize, classes: usize, seed: u64) -> Mlp {
    let sizes: Vec<usize> = if hidden > 0 {
        vec![features, hidden, classes]
    } else {
        vec![features, classes]
    };
    Mlp {
        bounds: None,
        mean: Array1::zeros(features),
        scale: Array1::ones(features),
        layers: glorot(&sizes, &mut fastrand::Rng::with_seed(seed)),
        epochs: 0,
        validation_accuracy: None,
    }
}

fn rows(n: usize, features: usize, seed: u64) -> Array2<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    Array2::from_shape_simple_fn((n, features), || 4.0 * rng.f64() - 2.0)
}

fn onehot(y: &[usize], classes: usize) -> Array2<f64> {
    let mut o = Array2::zeros((y.len(), classes));
    for (i, &c) in y.iter().enumerate() {
        o[(i, c)] = 1.0;
    }
    o
}

/// One row's loss, `−log p(y)`.
fn loss(m: &Mlp, x: &Array2<f64>, y: usize) -> f64 {
    -m.forward(x).pop().unwrap()[(0, y)].ln()
}

fn flat(g: &[(Array2<f64>, Array1<f64>)]) -> Vec<f64> {
    g.iter()
        .flat_map(|(w, b)| w.iter().chain(b).copied().collect::<Vec<_>>())
        .collect()
}

#[test]
fn a_rows_gradient_is_its_losss_against_central_differences() {
    for hidden in [0, 7] {
        let m = model(5, hidden, 3, 1);
        let x = rows(1, 5, 2);
        let y = 2;
        let g = clipped_sum(&m, &x, &onehot(&[y], 3), f64::INFINITY);
        let h = 1e-6;
        for (l, (gw, gb)) in g.iter().enumerate() {
            for ((i, j), &want) in gw.indexed_iter() {
                let (mut up, mut down) = (m.clone(), m.clone());
                up.layers[l].0[(i, j)] += h;
                down.layers[l].0[(i, j)] -= h;
                let numeric = (loss(&up, &x, y) - loss(&down, &x, y)) / (2.0 * h);
                assert!(
                    (numeric - want).abs() < 1e-6,
                    "w{l}[{i},{j}]: {numeric} {want}"
                );
            }
            for (j, &want) in gb.iter().enumerate() {
                let (mut up, mut down) = (m.clone(), m.clone());
                up.layers[l].1[j] += h;
                down.layers[l].1[j] -= h;
                let numeric = (loss(&up, &x, y) - loss(&down, &x, y)) / (2.0 * h);
                assert!((numeric - want).abs() < 1e-6, "b{l}[{j}]: {numeric} {want}");
            }
        }
    }
}

#[test]
fn the_batch_sum_is_each_rows_gradient_clipped_then_added() {
    // Against the definition: each row's gradient formed whole, its norm taken, scaled.
    for (hidden, c) in [(0, 0.3), (6, 0.5), (6, 2.0), (6, 1e9)] {
        let m = model(4, hidden, 3, 3);
        let x = rows(12, 4, 4);
        let y: Vec<usize> = (0..12).map(|i| i % 3).collect();
        let got = flat(&clipped_sum(&m, &x, &onehot(&y, 3), c));
        let mut want = vec![0.0; got.len()];
        let mut clipped = 0;
        for r in 0..12 {
            let xr = x.select(Axis(0), &[r]);
            let g = flat(&clipped_sum(&m, &xr, &onehot(&y[r..=r], 3), f64::INFINITY));
            let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let f = if norm > c { c / norm } else { 1.0 };
            clipped += usize::from(norm > c);
            for (w, v) in want.iter_mut().zip(&g) {
                *w += f * v;
            }
            // And the clipped row's norm is at most C.
            let one = flat(&clipped_sum(&m, &xr, &onehot(&y[r..=r], 3), c));
            let n = one.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(n <= c * (1.0 + 1e-12), "row {r}: {n} > {c}");
        }
        if c < 1.0 {
            assert!(
                clipped > 0,
                "C = {c} clipped no row: the test tests nothing"
            );
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-10, "hidden {hidden}, C {c}: {g} {w}");
        }
    }
}

#[test]
fn poisson_batches_have_the_sampling_rates_mean_and_variance() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (n, q, draws) = (500, 0.04, 4000);
    let mut batch = Vec::new();
    let mut sizes = Vec::with_capacity(draws);
    let mut seen = vec![0u32; n];
    for _ in 0..draws {
        poisson_batch(n, q, &mut rng, &mut batch);
        sizes.push(batch.len() as f64);
        for &i in &batch {
            seen[i] += 1;
        }
    }
    let mean = sizes.iter().sum::<f64>() / draws as f64;
    let var = sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (draws - 1) as f64;
    let (m0, v0) = (n as f64 * q, n as f64 * q * (1.0 - q));
    // The mean's standard error is √(v0/draws) ≈ 0.07; the variance's about 2.5 % of it.
    assert!((mean - m0).abs() < 0.35, "mean {mean} against {m0}");
    assert!((var / v0 - 1.0).abs() < 0.15, "variance {var} against {v0}");
    // Every row is drawn at the same rate (no row favoured): 160 expected, sd ≈ 12.4.
    let (lo, hi) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
    assert!(*lo > 100 && *hi < 220, "{lo}..{hi}");
    // A fixed-size batch would have no variance; q = 1 is every row.
    poisson_batch(n, 1.0, &mut rng, &mut batch);
    assert_eq!(batch.len(), n);
}

#[test]
fn the_noise_has_the_stated_deviation_and_no_offset() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let n = 200_000;
    let mut g = vec![3.0; n];
    noisy_mean(&mut g, 1.5, 2.0, &mut rng);
    let mean = g.iter().sum::<f64>() / n as f64;
    let sd = (g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    assert!((mean - 1.5).abs() < 0.01, "{mean}");
    assert!((sd - 0.75).abs() < 0.01, "{sd}");
    // Gaussian tails: about 0.27 % beyond three deviations.
    let beyond = g.iter().filter(|v| (*v - 1.5).abs() > 3.0 * 0.75).count() as f64 / n as f64;
    assert!((beyond - 0.0027).abs() < 0.001, "{beyond}");
}

/// Two well-separated classes in 4 features within [-3, 3], and labels.
fn separable(n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = Vec::with_capacity(n * 4);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 2;
        let centre = if c == 0 { -1.0 } else { 1.0 };
        for _ in 0..4 {
            x.push(centre + 0.6 * (2.0 * rng.f64() - 1.0));
        }
        y.push(c);
    }
    (x, y)
}

fn settings(sigma: f64) -> Settings {
    Settings {
        hidden: 8,
        learning_rate: 0.01,
        alpha: 1e-4,
        sampling_rate: 0.05,
        steps: 400,
        noise_multiplier: sigma,
        max_grad_norm: 1.0,
        seed: 0,
    }
}

fn bounds() -> Bounds {
    Bounds {
        low: vec![-3.0; 4],
        high: vec![3.0; 4],
    }
}

fn accuracy(m: &Mlp, x: &[f64], y: &[usize]) -> f64 {
    let p = m.predict(x, y.len()).unwrap();
    p.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64
}

#[test]
fn dp_sgd_learns_under_moderate_noise_and_not_under_overwhelming_noise() {
    let (x, y) = separable(1000, 7);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut steps = 0;
    let m = train(
        &x,
        1000,
        &y,
        2,
        &bounds(),
        &settings(1.0),
        &mut rng,
        &mut |s| steps = s,
    )
    .unwrap();
    assert_eq!(steps, 400);
    assert_eq!(m.epochs, 20);
    assert!(accuracy(&m, &x, &y) > 0.95, "{}", accuracy(&m, &x, &y));
    // With σ = 10⁵ the gradient is lost in the noise: the model is no better than a coin
    // on most seeds; averaged over a few, far from the moderate run.
    let mut total = 0.0;
    for seed in 0..6 {
        let mut rng = ChaCha20Rng::seed_from_u64(100 + seed);
        let m = train(
            &x,
            1000,
            &y,
            2,
            &bounds(),
            &settings(1e5),
            &mut rng,
            &mut |_| {},
        )
        .unwrap();
        total += accuracy(&m, &x, &y);
    }
    assert!(total / 6.0 < 0.8, "{}", total / 6.0);
}

#[test]
fn the_same_randomness_gives_the_same_model_and_another_does_not() {
    let (x, y) = separable(200, 9);
    let run = |seed: u64| {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let m = train(
            &x,
            200,
            &y,
            2,
            &bounds(),
            &settings(1.0),
            &mut rng,
            &mut |_| {},
        )
        .unwrap();
        m.to_onnx("aigis", "test").unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn rows_are_clamped_into_the_bounds_and_the_model_keeps_them() {
    let (mut x, y) = separable(200, 10);
    x[0] = 1e6;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let m = train(
        &x,
        200,
        &y,
        2,
        &bounds(),
        &settings(1.0),
        &mut rng,
        &mut |_| {},
    )
    .unwrap();
    let a = m.probabilities(&[1e6, 0.0, 0.0, 0.0], 1).unwrap();
    let b = m.probabilities(&[3.0, 0.0, 0.0, 0.0], 1).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_settings_are_named() {
    let (x, y) = separable(20, 12);
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let cases: Vec<(Settings, Bounds, &str)> = vec![
        (
            Settings {
                noise_multiplier: 0.0,
                ..settings(1.0)
            },
            bounds(),
            "noise multiplier",
        ),
        (
            Settings {
                sampling_rate: 1.5,
                ..settings(1.0)
            },
            bounds(),
            "sampling rate",
        ),
        (
            Settings {
                sampling_rate: f64::NAN,
                ..settings(1.0)
            },
            bounds(),
            "sampling rate",
        ),
        (
            Settings {
                max_grad_norm: -1.0,
                ..settings(1.0)
            },
            bounds(),
            "clipping norm",
        ),
        (
            Settings {
                steps: 0,
                ..settings(1.0)
            },
            bounds(),
            "0 steps",
        ),
        (
            Settings {
                learning_rate: 0.0,
                ..settings(1.0)
            },
            bounds(),
            "learning rate",
        ),
        (
            settings(1.0),
            Bounds {
                low: vec![0.0; 4],
                high: vec![1.0, 1.0, 0.0, 1.0],
            },
            "feature 3",
        ),
        (
            settings(1.0),
            Bounds {
                low: vec![0.0; 3],
                high: vec![1.0; 3],
            },
            "3 low",
        ),
        (
            settings(1.0),
            Bounds {
                low: vec![-1e308; 4],
                high: vec![1e308; 4],
            },
            "distance finite",
        ),
    ];
    for (s, b, want) in cases {
        let e = train(&x, 20, &y, 2, &b, &s, &mut rng, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains(want), "{e} ({want})");
    }
}

#[test]
fn a_diverging_run_is_an_error_not_a_model() {
    let (x, y) = separable(100, 14);
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let s = Settings {
        learning_rate: 1e308,
        ..settings(1.0)
    };
    let e = train(&x, 100, &y, 2, &bounds(), &s, &mut rng, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("diverged"), "{e}");
}
