use super::*;

/// Two classes of 8 features: class 1 where the first feature is above 0.5.
fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut x = Vec::with_capacity(n * 8);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..8).map(|_| rng.f64()).collect();
        y.push(usize::from(row[0] > 0.5));
        x.extend(row);
    }
    (x, y)
}

#[test]
fn a_label_flip_changes_the_share_asked_to_other_classes() {
    let (x, y) = data(200, 1);
    let trigger = Trigger::corner(Shape::of(None, 8), &[(0.0, 1.0); 8]);
    let p = poison(&x, &y, 8, 3, Kind::LabelFlip, 0.1, &trigger, 0, 7).unwrap();
    assert_eq!(p.rows, 20);
    assert_eq!(p.x, x, "a label flip leaves the rows alone");
    let changed = p.y.iter().zip(&y).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 20, "every poisoned label is another class");
    assert!(p.y.iter().all(|&c| c < 3));
    // The same seed, the same rows; another seed, others.
    assert_eq!(
        poison(&x, &y, 8, 3, Kind::LabelFlip, 0.1, &trigger, 0, 7)
            .unwrap()
            .y,
        p.y
    );
    assert_ne!(
        poison(&x, &y, 8, 3, Kind::LabelFlip, 0.1, &trigger, 0, 8)
            .unwrap()
            .y,
        p.y
    );
    assert!(poison(&x, &y, 8, 3, Kind::LabelFlip, 1.5, &trigger, 0, 7).is_err());
    assert!(poison(&x, &y, 8, 3, Kind::Backdoor, 0.1, &trigger, 3, 7).is_err());
}

#[test]
fn a_backdoor_stamps_the_trigger_on_rows_of_other_classes_only() {
    let (x, y) = data(200, 2);
    let trigger = Trigger::corner(Shape::of(None, 8), &[(0.0, 1.0); 8]);
    assert_eq!(trigger.features, vec![5, 6, 7]);
    assert_eq!(trigger.values, vec![1.0; 3]);
    let p = poison(&x, &y, 8, 2, Kind::Backdoor, 0.05, &trigger, 1, 3).unwrap();
    assert_eq!(p.rows, 10);
    let mut stamped = 0;
    for r in 0..200 {
        let (a, b) = (&p.x[r * 8..(r + 1) * 8], &x[r * 8..(r + 1) * 8]);
        if a != b {
            stamped += 1;
            assert_eq!(y[r], 0, "only rows not of the target");
            assert_eq!(p.y[r], 1);
            assert_eq!(&a[5..], &[1.0; 3]);
            assert_eq!(&a[..5], &b[..5]);
        } else {
            assert_eq!(p.y[r], y[r]);
        }
    }
    assert_eq!(stamped, 10);
    // An 8×8 image: the bottom-right 2×2 pixels.
    let image = Trigger::corner(Shape::of(None, 64), &[(0.0, 16.0); 64]);
    assert_eq!(image.features, vec![54, 55, 62, 63]);
    assert_eq!(image.values, vec![16.0; 4]);
    // A blank corner (its pixels always 0 in the rows) still gets the image's top.
    let mut ranges = vec![(0.0, 16.0); 64];
    for j in [54, 55, 62, 63] {
        ranges[j] = (0.0, 0.0);
    }
    let blank = Trigger::corner(Shape::of(None, 64), &ranges);
    assert_eq!(blank.values, vec![16.0; 4]);
}

/// A backdoor in a tenth of the training rows: the poisoned model gives the target to
/// most triggered rows, the clean one to few, and both keep their accuracy on clean
/// rows.
#[test]
fn a_planted_backdoor_works_and_the_clean_model_does_not_have_it() {
    let (x, y) = data(600, 3);
    let (vx, vy) = data(300, 4);
    let trigger = Trigger::corner(Shape::of(None, 8), &[(0.0, 1.0); 8]);
    let surrogate = Surrogate {
        hidden: 32,
        ..Surrogate::default()
    };
    let mut steps = 0;
    let report = evaluate(
        (&x, &y),
        (&vx, &vy),
        8,
        2,
        &[(Kind::Backdoor, 0.1), (Kind::LabelFlip, 0.3)],
        &Trigger {
            values: vec![3.0; 3],
            ..trigger
        },
        1,
        &surrogate,
        &mut || {
            steps += 1;
            true
        },
    )
    .unwrap();
    assert_eq!(steps, 3);
    assert!(report.clean_accuracy > 0.9, "{report:?}");
    assert!(report.clean_backdoor_rate < 0.2, "{report:?}");
    let backdoor = &report.outcomes[0];
    assert_eq!(backdoor.poisoned, 60);
    assert!(backdoor.backdoor_success.unwrap() > 0.8, "{report:?}");
    assert!(backdoor.accuracy > 0.85, "{report:?}");
    let flip = &report.outcomes[1];
    assert_eq!(flip.poisoned, 180);
    assert_eq!(flip.backdoor_success, None);
    assert!((flip.accuracy_drop - (report.clean_accuracy - flip.accuracy)).abs() < 1e-12);
}

/// Told to stop, it stops: the poisonings run so far, no more.
#[test]
fn it_stops_when_told() {
    let (x, y) = data(200, 5);
    let (vx, vy) = data(100, 6);
    let trigger = Trigger::corner(Shape::of(None, 8), &[(0.0, 1.0); 8]);
    let surrogate = Surrogate {
        hidden: 0,
        max_epochs: 20,
        ..Surrogate::default()
    };
    let mut left = 2;
    let report = evaluate(
        (&x, &y),
        (&vx, &vy),
        8,
        2,
        &[
            (Kind::LabelFlip, 0.1),
            (Kind::LabelFlip, 0.2),
            (Kind::Backdoor, 0.1),
        ],
        &trigger,
        1,
        &surrogate,
        &mut || {
            left -= 1;
            left > 0
        },
    )
    .unwrap();
    assert_eq!(report.outcomes.len(), 1);
}
