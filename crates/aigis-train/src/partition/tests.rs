use super::*;

#[test]
fn the_certificate_is_half_the_lead_with_ties_to_the_smaller_class() {
    assert_eq!(certificate(&[7, 2, 1]), (0, 2)); // lead 5: two rows
    assert_eq!(certificate(&[2, 7, 1]), (1, 2)); // 7 - (2 + 1) = 4
    assert_eq!(certificate(&[3, 3]), (0, 0)); // a tie: the smaller wins, nothing to spare
    assert_eq!(certificate(&[3, 4]), (1, 0)); // 4 - (3 + 1) = 0
    assert_eq!(certificate(&[10, 0, 0]), (0, 5));
    assert_eq!(certificate(&[0, 0, 9]), (2, 4)); // 9 - (0 + 1) = 8
    // The certificate is tight: moving ρ + 1 votes from the winner to the rival flips it.
    for votes in [[7u64, 2, 1], [2, 7, 1], [5, 5, 0], [1, 6, 3]] {
        let (top, rho) = certificate(&votes);
        let (rival, _) = votes
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != top)
            .map(|(c, &v)| (c, v + u64::from(c < top)))
            .max_by_key(|&(_, v)| v)
            .unwrap();
        let mut moved = votes;
        moved[top] -= rho;
        moved[rival] += rho;
        assert_eq!(
            certificate(&moved).0,
            top,
            "{votes:?}: ρ moves must not flip it"
        );
        if moved[top] > 0 {
            moved[top] -= 1;
            moved[rival] += 1;
            assert_ne!(
                certificate(&moved).0,
                top,
                "{votes:?}: ρ + 1 moves must flip it"
            );
        }
    }
}

#[test]
fn a_rows_partition_is_its_own_and_the_partitions_are_even() {
    let k = 10;
    let mut counts = vec![0; k];
    for i in 0..5000 {
        let p = partition_of(&[i as f64, 0.5], 1.0, k);
        assert_eq!(p, partition_of(&[i as f64, 0.5], 1.0, k));
        counts[p] += 1;
    }
    // 500 expected each, standard deviation about 21.
    assert!(
        counts.iter().all(|&c| (400..600).contains(&c)),
        "{counts:?}"
    );
    // The label is part of the row; -0 is 0.
    assert_eq!(
        partition_of(&[-0.0], 1.0, 1000),
        partition_of(&[0.0], 1.0, 1000)
    );
}

#[test]
fn one_row_added_changes_one_member_only() {
    let mut rng = fastrand::Rng::with_seed(1);
    let rows = 300;
    let x: Vec<f64> = (0..rows * 3).map(|_| rng.f64()).collect();
    let y: Vec<usize> = (0..rows).map(|i| i % 2).collect();
    let values: Vec<f64> = y.iter().map(|&c| c as f64).collect();
    let s = Settings {
        hidden: 4,
        max_epochs: 20,
        ..Settings::default()
    };
    let (a, sizes) = train(&x, rows, &y, &values, 2, 5, &s, &mut |_| {}).unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), rows);
    let mut x2 = x.clone();
    x2.extend([0.25, 0.5, 0.75]);
    let mut y2 = y.clone();
    y2.push(1);
    let mut v2 = values.clone();
    v2.push(1.0);
    let (b, _) = train(&x2, rows + 1, &y2, &v2, 2, 5, &s, &mut |_| {}).unwrap();
    let changed = a
        .iter()
        .zip(&b)
        .filter(|(m, n)| m.to_onnx("t", "t").unwrap() != n.to_onnx("t", "t").unwrap())
        .count();
    assert_eq!(changed, 1);
    assert!(train(&x, rows, &y, &values, 2, 1, &s, &mut |_| {}).is_err());
    let e = train(&x[..6], 2, &y[..2], &values[..2], 2, 50, &s, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("has no row"), "{e}");
}
