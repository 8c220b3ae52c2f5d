use super::*;

/// Softmax scores of a linear model with weights `w` (one row per class).
fn linear(w: Vec<Vec<f64>>) -> impl Fn(&[f64], usize) -> Result<(Vec<f64>, usize), String> + Sync {
    move |x: &[f64], n: usize| {
        let d = w[0].len();
        let k = w.len();
        let mut out = Vec::with_capacity(n * k);
        for row in x.chunks(d).take(n) {
            let z: Vec<f64> = w
                .iter()
                .map(|wk| wk.iter().zip(row).map(|(a, b)| a * b).sum())
                .collect();
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let t: f64 = e.iter().sum();
            out.extend(e.iter().map(|v| v / t));
        }
        Ok((out, k))
    }
}

fn rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n * d).map(|_| rng.f64()).collect()
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |m| m.0)
}

#[test]
fn the_schedule_halves_the_share_as_art_does() {
    assert_eq!(share(0.8, 0, 100), 0.8);
    // ART: bisect_left([0.001, 0.005, 0.02, …], 0.01) = 2 → p_init / 4.
    assert_eq!(share(0.8, 1, 100), 0.2);
    assert_eq!(share(0.8, 10, 100), 0.8 / 16.0);
    assert_eq!(share(0.8, 11, 100), 0.8 / 32.0);
    assert_eq!(share(0.8, 99, 100), 0.8 / 512.0);
}

#[test]
fn rows_lie_as_images_by_their_inputs_shape() {
    let s = Shape::of(None, 64);
    assert_eq!((s.channels, s.height, s.width), (1, 8, 8));
    let s = Shape::of(Some(&[10]), 10);
    assert_eq!((s.channels, s.height, s.width), (1, 1, 10));
    let s = Shape::of(Some(&[3, 32, 32]), 3072);
    assert_eq!(
        (s.channels, s.height, s.width, s.channels_last),
        (3, 32, 32, false)
    );
    let s = Shape::of(Some(&[28, 28, 1]), 784);
    assert_eq!(
        (s.channels, s.height, s.width, s.channels_last),
        (1, 28, 28, true)
    );
    assert_eq!(s.at(0, 1, 2), 28 + 2);
    let s = Shape::of(Some(&[28, 28]), 784);
    assert_eq!((s.channels, s.height, s.width), (1, 28, 28));
    // Windows: a square of about p of the image, or a run of features.
    assert_eq!(Shape::of(None, 64).window(0.8), (7, 7));
    assert_eq!(Shape::of(None, 64).window(0.0001), (1, 1));
    assert_eq!(Shape::of(None, 10).window(0.5), (1, 5));
}

/// On a linear model: every fooled row's point is within ε of its row and in range, the
/// model itself says it is fooled, the attack fools most rows at a generous ε and none at
/// a tiny one, queries stay within the budget, and the seed fixes the result.
#[test]
fn it_fools_a_linear_model_within_eps_and_budget() {
    let d = 16;
    let w = vec![
        (0..d).map(|j| (j as f64 * 0.7).sin()).collect::<Vec<_>>(),
        (0..d).map(|j| (j as f64 * 1.3).cos()).collect::<Vec<_>>(),
        vec![0.0; d],
    ];
    let model = linear(w);
    let n = 60;
    let x = rows(n, d, 7);
    let (clean, k) = model(&x, n).unwrap();
    let classes: Vec<usize> = clean.chunks(k).map(argmax).collect();
    let run = |eps: f64, max_queries: Option<usize>, seed: u64| {
        let settings = Settings {
            clip: Some((0.0, 1.0)),
            iterations: 300,
            max_queries,
            seed,
            ..Settings::new(eps, Shape::of(None, d))
        };
        attack(&model, &x, n, d, &classes, &settings).unwrap()
    };
    let found = run(0.3, None, 0);
    let mut fooled = 0;
    for (r, row) in found.iter().enumerate() {
        let orig = &x[r * d..(r + 1) * d];
        for (a, o) in row.adversarial.iter().zip(orig) {
            assert!((a - o).abs() <= 0.3 + 1e-12 && (0.0..=1.0).contains(a));
        }
        let (s, _) = model(&row.adversarial, 1).unwrap();
        assert_eq!(row.fooled, argmax(&s) != classes[r], "row {r}");
        fooled += usize::from(row.fooled);
        assert!(row.queries <= 1 + 1 + 300);
    }
    assert!(fooled >= n * 8 / 10, "{fooled} of {n}");
    assert_eq!(run(1e-6, None, 0).iter().filter(|r| r.fooled).count(), 0);
    let capped = run(0.3, Some(5), 0);
    assert!(capped.iter().all(|r| r.queries <= 5));
    assert!(capped.iter().filter(|r| r.fooled).count() < fooled);
    let again = run(0.3, None, 0);
    assert!(
        found
            .iter()
            .zip(&again)
            .all(|(a, b)| a.adversarial == b.adversarial)
    );
    let other = run(0.3, None, 1);
    assert!(
        found
            .iter()
            .zip(&other)
            .any(|(a, b)| a.adversarial != b.adversarial)
    );
}

#[test]
fn targeted_rows_go_to_the_target() {
    let d = 9;
    let w = vec![vec![1.0; d], vec![-1.0; d], vec![0.2; d]];
    let model = linear(w);
    let n = 20;
    let x = rows(n, d, 3);
    let classes = vec![0; n];
    let settings = Settings {
        target: Some(1),
        clip: Some((-1.0, 1.0)),
        iterations: 200,
        ..Settings::new(1.0, Shape::of(None, d))
    };
    let found = attack(&model, &x, n, d, &classes, &settings).unwrap();
    for row in &found {
        let (s, _) = model(&row.adversarial, 1).unwrap();
        assert_eq!(row.fooled, argmax(&s) == 1);
    }
    assert!(found.iter().all(|r| r.fooled));
}

#[test]
fn bad_settings_and_a_failing_model_are_errors() {
    let model = linear(vec![vec![1.0; 4], vec![0.0; 4]]);
    let x = rows(2, 4, 1);
    let shape = Shape::of(None, 4);
    for bad in [
        Settings::new(0.0, shape),
        Settings::new(f64::NAN, shape),
        Settings {
            iterations: 0,
            ..Settings::new(0.1, shape)
        },
        Settings {
            p_init: 0.0,
            ..Settings::new(0.1, shape)
        },
        Settings::new(0.1, Shape::of(None, 5)),
    ] {
        assert!(matches!(
            attack(&model, &x, 2, 4, &[0, 0], &bad),
            Err(Error::Options(_))
        ));
    }
    let failing = |_: &[f64], _: usize| -> Result<(Vec<f64>, usize), String> { Err("down".into()) };
    assert!(matches!(
        attack(&failing, &x, 2, 4, &[0, 0], &Settings::new(0.1, shape)),
        Err(Error::Model(_))
    ));
}

/// The L2 window: unit length, its first half positive and its second negative (rows,
/// or along a one-row window), largest at each lobe's centre; the same shape turned
/// when the coin says so.
#[test]
fn the_l2_window_is_two_opposite_lobes_of_unit_length() {
    let mut rng = fastrand::Rng::with_seed(3);
    for (wh, ww) in [(5, 5), (7, 7), (3, 3), (1, 7), (1, 1), (2, 2), (1, 2)] {
        let mut seen_turned = false;
        for _ in 0..20 {
            let v = l2_window(wh, ww, &mut rng);
            assert_eq!(v.len(), wh * ww);
            let n: f64 = v.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-12, "{wh}x{ww}: {n}");
            assert!((v.iter().sum::<f64>()).abs() < 1.0 + 1e-12);
            if wh > 1 {
                // Rows of the first half positive (or, turned, columns).
                let top: f64 = v[..(wh / 2) * ww].iter().sum();
                let left: f64 = (0..wh)
                    .flat_map(|h| (0..ww / 2).map(move |w| h * ww + w))
                    .map(|i| v[i])
                    .sum();
                assert!(top > 0.0 || left > 0.0, "{wh}x{ww}: {v:?}");
                seen_turned |= top.abs() < 1e-12 || left > 0.0 && top <= 0.0;
            }
        }
        if wh > 2 {
            assert!(seen_turned, "{wh}x{ww}: never turned in 20 throws");
        }
    }
    // The lobe's centre is its largest number, its corners the smallest.
    let l = lobe(5, 5);
    let max = l.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(l[12], max);
    assert!(l[0] < l[6] && l[6] < l[12]);
}

/// L2 on a linear model, as a one-row input and as a 3-channel 6×6 image: every point
/// within ε (L2) of its row and in range, the model itself says which rows are fooled,
/// a generous ε fools most and a tiny one none, and the seed fixes the result.
#[test]
fn the_l2_attack_fools_a_linear_model_within_eps() {
    for shape in [
        Shape::of(None, 20),
        Shape {
            channels: 3,
            height: 6,
            width: 6,
            channels_last: false,
        },
        Shape {
            channels: 3,
            height: 6,
            width: 6,
            channels_last: true,
        },
    ] {
        let d = shape.size();
        let w = vec![
            (0..d).map(|j| (j as f64 * 0.7).sin()).collect::<Vec<_>>(),
            (0..d).map(|j| (j as f64 * 1.3).cos()).collect::<Vec<_>>(),
            vec![0.0; d],
        ];
        let model = linear(w);
        let n = 40;
        let x = rows(n, d, 11);
        let (clean, k) = model(&x, n).unwrap();
        let classes: Vec<usize> = clean.chunks(k).map(argmax).collect();
        let run = |eps: f64, seed: u64| {
            let settings = Settings {
                norm: Norm::L2,
                clip: Some((0.0, 1.0)),
                iterations: 300,
                seed,
                ..Settings::new(eps, shape)
            };
            attack(&model, &x, n, d, &classes, &settings).unwrap()
        };
        let found = run(1.5, 0);
        let mut fooled = 0;
        for (r, row) in found.iter().enumerate() {
            let orig = &x[r * d..(r + 1) * d];
            let l2: f64 = row
                .adversarial
                .iter()
                .zip(orig)
                .map(|(a, o)| (a - o) * (a - o))
                .sum::<f64>()
                .sqrt();
            assert!(l2 <= 1.5 + 1e-9, "{shape:?} row {r}: {l2}");
            assert!(row.adversarial.iter().all(|a| (0.0..=1.0).contains(a)));
            let (s, _) = model(&row.adversarial, 1).unwrap();
            assert_eq!(row.fooled, argmax(&s) != classes[r], "row {r}");
            fooled += usize::from(row.fooled);
            assert!(row.queries <= 1 + 1 + 300);
        }
        assert!(fooled >= n * 8 / 10, "{shape:?}: {fooled} of {n}");
        assert_eq!(run(1e-6, 0).iter().filter(|r| r.fooled).count(), 0);
        let again = run(1.5, 0);
        assert!(
            found
                .iter()
                .zip(&again)
                .all(|(a, b)| a.adversarial == b.adversarial)
        );
    }
}

/// Without a range to clip to, every L2 candidate is at exactly ε from the row, the
/// start and each later move alike, however the change was spread.
#[test]
fn an_l2_candidate_keeps_the_change_at_eps() {
    let shape = Shape::of(None, 64);
    let settings = Settings {
        norm: Norm::L2,
        ..Settings::new(0.8, shape)
    };
    let mut rng = fastrand::Rng::with_seed(5);
    let clean: Vec<f64> = (0..64).map(|i| (i as f64 * 0.37).sin()).collect();
    let free = (f64::NEG_INFINITY, f64::INFINITY);
    let mut point = l2_candidate(&settings, &clean, &clean, 0, &mut rng, free);
    for iteration in 0..=100 {
        let l2: f64 = point
            .iter()
            .zip(&clean)
            .map(|(a, o)| (a - o) * (a - o))
            .sum::<f64>()
            .sqrt();
        assert!((l2 - 0.8).abs() < 1e-9, "iteration {iteration}: {l2}");
        assert_ne!(point, clean);
        point = l2_candidate(&settings, &clean, &point, iteration + 1, &mut rng, free);
    }
}
