use super::*;

/// Three noisy classes in five features; `flip` of the labels replaced at random.
fn data(n: usize, flip: f64, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = Vec::with_capacity(n * 5);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        for j in 0..5 {
            let centre = if j == c { 1.5 } else { 0.0 };
            x.push(centre + 2.0 * rng.f64() - 1.0);
        }
        y.push(if rng.f64() < flip { rng.usize(0..3) } else { c });
    }
    (x, y)
}

#[test]
fn the_validation_rows_are_a_stratified_share() {
    let mut y: Vec<usize> = (0..300).map(|i| i % 3).collect();
    y.push(3); // a class of one row is never held out
    let held = validation_rows(&y, 4, 0.1, &mut fastrand::Rng::with_seed(1));
    assert!(held.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    for c in 0..3 {
        assert_eq!(held.iter().filter(|&&i| y[i] == c).count(), 10, "class {c}");
    }
    assert!(!held.contains(&300));
    // Another seed, other rows.
    assert_ne!(
        held,
        validation_rows(&y, 4, 0.1, &mut fastrand::Rng::with_seed(2))
    );
    // At least one row of a class of two, never all of it.
    assert_eq!(
        validation_rows(&[0, 0, 1, 1], 2, 0.01, &mut fastrand::Rng::with_seed(3)).len(),
        2
    );
    assert_eq!(
        validation_rows(&[0, 0, 1, 1], 2, 0.99, &mut fastrand::Rng::with_seed(3)).len(),
        2
    );
}

#[test]
fn early_stopping_keeps_the_best_epoch_on_the_held_out_rows() {
    // Noisy labels: the network overfits the training rows after a while, so the epoch
    // kept is not the last.
    let (x, y) = data(600, 0.3, 4);
    let s = Settings {
        hidden: 64,
        learning_rate: 0.01,
        validation_fraction: Some(0.2),
        seed: 5,
        ..Settings::default()
    };
    let m = train(&x, 600, &y, 3, &s).unwrap();
    let kept = m.validation_accuracy.unwrap();
    // The model returned is the one whose held-out accuracy is reported.
    let held = validation_rows(&y, 3, 0.2, &mut fastrand::Rng::with_seed(!5));
    let xs = m.standardize(&x, 600).unwrap();
    assert_eq!(accuracy_on(&m, &xs, &y, &held), kept);
    assert!(kept > 0.5, "{kept}");
    // It stopped: ten epochs without improvement, well before the limit.
    assert!(m.epochs < 200, "{}", m.epochs);
    // Without a split, the same seed trains the same network as it always has (the
    // split's generator is its own).
    let plain = Settings {
        validation_fraction: None,
        ..s.clone()
    };
    let a = train(&x, 600, &y, 3, &plain).unwrap();
    let b = train(&x, 600, &y, 3, &plain).unwrap();
    assert_eq!(a.to_onnx("t", "t").unwrap(), b.to_onnx("t", "t").unwrap());
    assert_eq!(a.validation_accuracy, None);
}

#[test]
fn a_split_that_cannot_be_made_is_refused() {
    let (x, y) = data(30, 0.0, 6);
    for f in [0.0, 1.0, -0.5, f64::NAN] {
        let s = Settings {
            validation_fraction: Some(f),
            ..Settings::default()
        };
        let e = train(&x, 30, &y, 3, &s).unwrap_err().to_string();
        assert!(e.contains("validation fraction"), "{e}");
    }
    // Every class a single row: nothing can be held out.
    let s = Settings {
        validation_fraction: Some(0.5),
        ..Settings::default()
    };
    let e = train(&x[..15], 3, &[0, 1, 2], 3, &s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds out no row"), "{e}");
}

#[test]
fn a_rows_input_gradient_is_its_losss_against_central_differences() {
    let (x, y) = data(60, 0.0, 9);
    let m = train(
        &x,
        60,
        &y,
        3,
        &Settings {
            hidden: 6,
            max_epochs: 5,
            ..Settings::default()
        },
    )
    .unwrap();
    let xs = m.standardize(&x[..5], 1).unwrap();
    let mut yb = Array2::zeros((1, 3));
    yb[(0, y[0])] = 1.0;
    let g = input_gradient(&m, &xs, &yb);
    let loss = |v: &Array2<f64>| -m.forward(v).pop().unwrap()[(0, y[0])].ln();
    for j in 0..5 {
        let (mut up, mut down) = (xs.clone(), xs.clone());
        up[(0, j)] += 1e-6;
        down[(0, j)] -= 1e-6;
        let numeric = (loss(&up) - loss(&down)) / 2e-6;
        assert!(
            (numeric - g[(0, j)]).abs() < 1e-6,
            "{j}: {numeric} {}",
            g[(0, j)]
        );
    }
}

/// The trainer's backward pass (dense, written for speed) and the red team's
/// (`aigis_runtime::grad`, which differentiates any ONNX graph) are two implementations of
/// one derivative: on the model's own ONNX export, each row's input gradient is the same.
#[test]
fn the_trainers_input_gradient_is_the_red_teams_on_the_exported_model() {
    let (x, y) = data(80, 0.0, 4);
    for hidden in [0, 7] {
        let m = train(
            &x,
            80,
            &y,
            3,
            &Settings {
                hidden,
                max_epochs: 20,
                ..Settings::default()
            },
        )
        .unwrap();
        let proto = aigis_runtime::onnx::read_proto(&m.to_onnx("aigis", "test").unwrap()).unwrap();
        let graph = aigis_runtime::grad::Graph::from_onnx(&proto, None, "probabilities").unwrap();
        let rows = 10;
        let (theirs, _) = graph
            .loss_gradient(&x[..rows * 5], rows, &y[..rows])
            .unwrap();
        let xs = m.standardize(&x[..rows * 5], rows).unwrap();
        let mut yb = Array2::zeros((rows, 3));
        for (i, &c) in y[..rows].iter().enumerate() {
            yb[(i, c)] = 1.0;
        }
        // The trainer's gradient is in standardized units: the raw input's is it over
        // each feature's scale.
        let ours = input_gradient(&m, &xs, &yb) / &m.scale;
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
            .fold(0.0, f64::max);
        assert!(worst < 1e-4, "hidden {hidden}: relative difference {worst}");
    }
}

#[test]
fn pgd_examples_stay_in_the_ball_and_the_range_and_raise_the_loss() {
    let (x, y) = data(300, 0.0, 10);
    let m = train(
        &x,
        300,
        &y,
        3,
        &Settings {
            hidden: 16,
            ..Settings::default()
        },
    )
    .unwrap();
    let xs = m.standardize(&x, 300).unwrap();
    let mut yb = Array2::zeros((300, 3));
    for (i, &c) in y.iter().enumerate() {
        yb[(i, c)] = 1.0;
    }
    let a = Adversarial {
        eps: 0.3,
        steps: 10,
        step_size: 0.075,
        clip: Some((-1.2, 2.6)),
        trades: None,
    };
    let adv = pgd(&m, &xs, &yb, &a, &mut fastrand::Rng::with_seed(11));
    let raw = &adv * &m.scale + &m.mean;
    for (i, (r, o)) in raw.iter().zip(&x).enumerate() {
        assert!((r - o).abs() <= 0.3 + 1e-9, "{i}: {r} from {o}");
        assert!((-1.2 - 1e-9..=2.6 + 1e-9).contains(r), "{i}: {r}");
    }
    let mean_loss = |v: &Array2<f64>| {
        let p = m.forward(v).pop().unwrap();
        y.iter()
            .enumerate()
            .map(|(i, &c)| -p[(i, c)].ln())
            .sum::<f64>()
            / 300.0
    };
    assert!(
        mean_loss(&adv) > 2.0 * mean_loss(&xs),
        "{} {}",
        mean_loss(&adv),
        mean_loss(&xs)
    );
}

/// Tsipras et al.'s two kinds of feature: one robust (the classes ±1 apart, noise ±0.5)
/// and forty weak ones (±0.15, noise ±1) that together predict well but that an L∞
/// perturbation of 0.3 turns against the label.
fn robust_and_weak(n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = Vec::with_capacity(n * 41);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 2;
        let sign = if c == 0 { -1.0 } else { 1.0 };
        x.push(sign + rng.f64() - 0.5);
        for _ in 0..40 {
            x.push(0.15 * sign + 2.0 * rng.f64() - 1.0);
        }
        y.push(c);
    }
    (x, y)
}

#[test]
fn adversarial_training_holds_up_under_the_attack_it_trained_against() {
    let (x, y) = robust_and_weak(800, 12);
    let (test, truth) = robust_and_weak(400, 13);
    let a = Adversarial {
        eps: 0.3,
        steps: 10,
        step_size: 0.075,
        clip: None,
        trades: None,
    };
    let settings = |adversarial: Option<Adversarial>| Settings {
        hidden: 16,
        seed: 1,
        adversarial,
        ..Settings::default()
    };
    let plain = train(&x, 800, &y, 2, &settings(None)).unwrap();
    let robust = train(&x, 800, &y, 2, &settings(Some(a.clone()))).unwrap();
    // Measured by a stronger attack than trained against: 40 steps.
    let accuracy_under = |m: &Mlp, eps: f64| {
        let xs = m.standardize(&test, 400).unwrap();
        let mut yb = Array2::zeros((400, 2));
        for (i, &c) in truth.iter().enumerate() {
            yb[(i, c)] = 1.0;
        }
        let attack = Adversarial {
            steps: 40,
            eps,
            ..a.clone()
        };
        let adv = pgd(m, &xs, &yb, &attack, &mut fastrand::Rng::with_seed(14));
        accuracy_on(m, &adv, &truth, &(0..400).collect::<Vec<_>>())
    };
    let (p, r) = (accuracy_under(&plain, 0.3), accuracy_under(&robust, 0.3));
    assert!(
        p < 0.5 && r > 0.9,
        "robust accuracy: plain {p}, adversarially trained {r}"
    );
    // Both still classify clean rows.
    assert!(accuracy_under(&plain, 1e-12) > 0.95 && accuracy_under(&robust, 1e-12) > 0.9);
    let bad = Settings {
        adversarial: Some(Adversarial { eps: 0.0, ..a }),
        ..Settings::default()
    };
    assert!(
        train(&x, 800, &y, 2, &bad)
            .unwrap_err()
            .to_string()
            .contains("eps")
    );
}

#[test]
fn the_trades_gradient_is_its_losss_against_central_differences() {
    let (x, y) = data(8, 0.0, 15);
    let m = train(
        &x,
        8,
        &y,
        3,
        &Settings {
            hidden: 5,
            max_epochs: 3,
            ..Settings::default()
        },
    )
    .unwrap();
    let xb = m.standardize(&x, 8).unwrap();
    let mut rng = fastrand::Rng::with_seed(16);
    let xa = xb.mapv(|v| v + 0.3 * (2.0 * rng.f64() - 1.0));
    let mut yb = Array2::zeros((8, 3));
    for (i, &c) in y.iter().enumerate() {
        yb[(i, c)] = 1.0;
    }
    let (_, grads) = trades_gradients(&m, &xb, &m.forward(&xb), &xa, &yb, 6.0);
    let h = 1e-6;
    for (l, (gw, gb)) in grads.iter().enumerate() {
        for ((i, j), &want) in gw.indexed_iter() {
            let (mut up, mut down) = (m.clone(), m.clone());
            up.layers[l].0[(i, j)] += h;
            down.layers[l].0[(i, j)] -= h;
            let numeric = (trades_gradients(&up, &xb, &up.forward(&xb), &xa, &yb, 6.0).0
                - trades_gradients(&down, &xb, &down.forward(&xb), &xa, &yb, 6.0).0)
                / (2.0 * h);
            assert!(
                (numeric - want).abs() < 1e-6,
                "w{l}[{i},{j}]: {numeric} {want}"
            );
        }
        for (j, &want) in gb.iter().enumerate() {
            let (mut up, mut down) = (m.clone(), m.clone());
            up.layers[l].1[j] += h;
            down.layers[l].1[j] -= h;
            let numeric = (trades_gradients(&up, &xb, &up.forward(&xb), &xa, &yb, 6.0).0
                - trades_gradients(&down, &xb, &down.forward(&xb), &xa, &yb, 6.0).0)
                / (2.0 * h);
            assert!((numeric - want).abs() < 1e-6, "b{l}[{j}]: {numeric} {want}");
        }
    }
}

#[test]
fn trades_holds_up_under_attack_too() {
    let (x, y) = robust_and_weak(800, 12);
    let (test, truth) = robust_and_weak(400, 13);
    let a = Adversarial {
        eps: 0.3,
        steps: 10,
        step_size: 0.075,
        clip: None,
        trades: Some(6.0),
    };
    let m = train(
        &x,
        800,
        &y,
        2,
        &Settings {
            hidden: 16,
            seed: 1,
            adversarial: Some(a.clone()),
            ..Settings::default()
        },
    )
    .unwrap();
    let xs = m.standardize(&test, 400).unwrap();
    let mut yb = Array2::zeros((400, 2));
    for (i, &c) in truth.iter().enumerate() {
        yb[(i, c)] = 1.0;
    }
    let attack = Adversarial {
        steps: 40,
        trades: None,
        ..a
    };
    let adv = pgd(&m, &xs, &yb, &attack, &mut fastrand::Rng::with_seed(14));
    let rows: Vec<usize> = (0..400).collect();
    let (clean, robust) = (
        accuracy_on(&m, &xs, &truth, &rows),
        accuracy_on(&m, &adv, &truth, &rows),
    );
    assert!(
        clean > 0.9 && robust > 0.85,
        "TRADES: clean {clean}, robust {robust}"
    );
}

#[test]
fn a_distilled_student_mimics_its_teacher_and_masks_its_gradient_at_temperature_1() {
    let (x, y) = data(600, 0.0, 17);
    let s = Settings {
        hidden: 16,
        learning_rate: 0.01,
        ..Settings::default()
    };
    let t = 20.0;
    let student = distill(&x, 600, &y, 3, &s, t).unwrap();
    let teacher = fit(
        &x,
        600,
        &y,
        None,
        3,
        &Settings {
            temperature: t,
            ..s.clone()
        },
    )
    .unwrap();
    let xs = student.standardize(&x, 600).unwrap();
    // At the training temperature the student answers as its teacher did.
    let (ps, pt) = (
        student.forward_at(&xs, t).pop().unwrap(),
        teacher
            .forward_at(&teacher.standardize(&x, 600).unwrap(), t)
            .pop()
            .unwrap(),
    );
    let gap = (&ps - &pt).mapv(f64::abs).mean().unwrap();
    assert!(gap < 0.02, "student against teacher at T: {gap}");
    let rows: Vec<usize> = (0..600).collect();
    assert!(accuracy_on(&student, &xs, &y, &rows) > 0.9);
    // At temperature 1 (deployed) its softmax saturates, and the loss's gradient with
    // respect to the input all but vanishes next to a plainly trained network's.
    let sharp = student.forward(&xs).pop().unwrap();
    let top = sharp.map_axis(Axis(1), |r| r.fold(0.0f64, |a, &b| a.max(b)));
    assert!(top.mean().unwrap() > 0.99, "{}", top.mean().unwrap());
    let plain = train(&x, 600, &y, 3, &s).unwrap();
    let mut yb = Array2::zeros((600, 3));
    for (i, &c) in y.iter().enumerate() {
        yb[(i, c)] = 1.0;
    }
    // The median row's gradient norm (a misclassified row's is large in both).
    let median_norm = |m: &Mlp| {
        let g = input_gradient(m, &m.standardize(&x, 600).unwrap(), &yb);
        let mut n: Vec<f64> = g.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
        n.sort_by(f64::total_cmp);
        n[300]
    };
    let (st, pl) = (median_norm(&student), median_norm(&plain));
    assert!(
        st < 1e-6 * pl,
        "median gradient norms: student {st}, plain {pl}"
    );
    assert!(distill(&x, 600, &y, 3, &s, 0.0).is_err());
}
