use super::*;

fn up(values: &[f64], rows: u64) -> Update {
    Update {
        values: values.to_vec(),
        rows,
    }
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
}

#[test]
fn the_mean_weighs_by_rows() -> Result<(), String> {
    let a = aggregate(&[up(&[1.0, 0.0], 1), up(&[4.0, 3.0], 2)], Rule::Mean, None)?;
    assert!(close(&a.values, &[3.0, 2.0]), "{:?}", a.values);
    assert_eq!(a.selected, vec![0, 1]);
    Ok(())
}

#[test]
fn median_and_trimmed_mean_per_coordinate() -> Result<(), String> {
    let ups = [
        up(&[1.0, 10.0], 1),
        up(&[2.0, -5.0], 100),
        up(&[3.0, 0.0], 1),
        up(&[100.0, 1.0], 1),
    ];
    let m = aggregate(&ups, Rule::Median, None)?;
    assert!(close(&m.values, &[2.5, 0.5]), "{:?}", m.values);
    let odd = aggregate(&ups[..3], Rule::Median, None)?;
    assert!(close(&odd.values, &[2.0, 0.0]), "{:?}", odd.values);
    // scipy.stats.trim_mean([1, 2, 3, 100], 0.25) = 2.5; of [10, -5, 0, 1]: 0.5.
    let t = aggregate(&ups, Rule::TrimmedMean { trim: 0.25 }, None)?;
    assert!(close(&t.values, &[2.5, 0.5]), "{:?}", t.values);
    // ⌊0.2 · 4⌋ = 0: nothing is cut, the plain (unweighted) mean.
    let none = aggregate(&ups, Rule::TrimmedMean { trim: 0.2 }, None)?;
    assert!(close(&none.values, &[26.5, 1.5]), "{:?}", none.values);
    Ok(())
}

#[test]
fn krum_picks_the_update_nearest_its_neighbours() -> Result<(), String> {
    // Five honest updates near (1, 1) and two attackers far off, f = 2: n = 7 > 2f + 2.
    let mut ups: Vec<Update> = [[1.0, 1.0], [1.1, 0.9], [0.9, 1.1], [1.05, 1.0], [1.0, 0.95]]
        .iter()
        .map(|v| up(v, 10))
        .collect();
    ups.push(up(&[-50.0, -50.0], 10));
    ups.push(up(&[-50.5, -49.5], 10));
    let k = aggregate(&ups, Rule::Krum { byzantine: 2 }, None)?;
    assert_eq!(k.selected.len(), 1);
    assert!(k.selected.iter().all(|&i| i < 5), "{:?}", k.selected);
    let m = aggregate(
        &ups,
        Rule::MultiKrum {
            byzantine: 2,
            select: 5,
        },
        None,
    )?;
    assert_eq!(m.selected, vec![0, 1, 2, 3, 4]);
    assert!(close(&m.values, &[1.01, 0.99]), "{:?}", m.values);
    // Scores by hand, the sum of the n − f − 2 = 3 least squared distances: (1.05, 1) and
    // (1, 0.95) have 0.0025 + 0.005 + 0.0125 = 0.02 (the first by 1e-17 here), (1, 1)
    // 0.025, the attackers about 5000.
    let order = krum_order(&ups.iter().map(|u| u.values.clone()).collect::<Vec<_>>(), 2);
    assert_eq!(order, vec![3, 4, 0, 1, 2, 5, 6]);
    assert_eq!(k.selected, vec![3]);
    assert!(close(&k.values, &[1.05, 1.0]));
    Ok(())
}

#[test]
fn robust_rules_stay_with_the_honest_majority_the_mean_does_not() -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(7);
    let honest: Vec<Update> = (0..8)
        .map(|_| {
            up(
                &(0..20)
                    .map(|_| 1.0 + 0.1 * (rng.f64() - 0.5))
                    .collect::<Vec<_>>(),
                50,
            )
        })
        .collect();
    for attack in [-1e3, 1e6, f64::MAX / 1e10] {
        let mut ups = honest.clone();
        ups.push(up(&[attack; 20], 50));
        ups.push(up(&[attack; 20], 50));
        for rule in [
            Rule::Median,
            Rule::TrimmedMean { trim: 0.2 },
            Rule::Krum { byzantine: 2 },
            Rule::MultiKrum {
                byzantine: 2,
                select: 4,
            },
        ] {
            let a = aggregate(&ups, rule, None)?;
            assert!(
                a.values.iter().all(|v| (0.9..=1.1).contains(v)),
                "{rule} against {attack}: {:?}",
                a.values
            );
        }
        let mean = aggregate(&ups, Rule::Mean, None)?;
        assert!(
            mean.values.iter().all(|v| (v - 1.0).abs() > 100.0),
            "{attack}"
        );
        // The norm bound caps what the mean can be moved.
        let bounded = aggregate(&ups, Rule::Mean, Some(10.0))?;
        assert_eq!(bounded.clipped, vec![8, 9]);
        assert!(
            bounded.values.iter().all(|v| v.abs() < 3.0),
            "{:?}",
            bounded.values
        );
    }
    Ok(())
}

#[test]
fn clipping_keeps_direction_and_bounds_the_norm() {
    let mut v = vec![3.0, 4.0];
    assert!(clip_norm(&mut v, 1.0));
    assert!(close(&v, &[0.6, 0.8]));
    assert!(!clip_norm(&mut v, 2.0));
    let mut zero = vec![0.0; 3];
    assert!(!clip_norm(&mut zero, 1.0));
}

#[test]
fn bad_rounds_are_refused_by_name() {
    let two = [up(&[1.0], 1), up(&[2.0], 1)];
    let cases: Vec<(Vec<Update>, Rule, Option<f64>, &str)> = vec![
        (vec![], Rule::Mean, None, "0 update(s)"),
        (
            two.to_vec(),
            Rule::Krum { byzantine: 0 },
            None,
            "needs at least 3",
        ),
        (
            vec![up(&[1.0], 1), up(&[1.0, 2.0], 1)],
            Rule::Median,
            None,
            "update 2 has 2 values",
        ),
        (
            vec![up(&[f64::NAN], 1)],
            Rule::Median,
            None,
            "non-finite value at 1",
        ),
        (
            two.to_vec(),
            Rule::TrimmedMean { trim: 0.5 },
            None,
            "below 0.5",
        ),
        (two.to_vec(), Rule::Mean, Some(0.0), "norm bound of 0"),
        (vec![up(&[1.0], 0)], Rule::Mean, None, "no rows"),
        (
            two.to_vec(),
            Rule::MultiKrum {
                byzantine: 0,
                select: 0,
            },
            None,
            "selecting 0",
        ),
    ];
    for (ups, rule, clip, want) in cases {
        match aggregate(&ups, rule, clip) {
            Ok(a) => panic!("{rule} on {ups:?} gave {a:?}"),
            Err(e) => assert!(e.contains(want), "{e} (wanted {want})"),
        }
    }
}
