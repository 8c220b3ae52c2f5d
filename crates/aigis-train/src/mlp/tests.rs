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
