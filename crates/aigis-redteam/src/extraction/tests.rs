use super::*;

/// Three classes by which of two linear scores is larger, or neither above zero.
fn teacher(x: &[f64], d: usize) -> Vec<usize> {
    x.chunks(d)
        .map(|r| {
            let a: f64 = r.iter().take(d / 2).sum::<f64>() - 0.25 * d as f64;
            let b: f64 = r.iter().skip(d / 2).sum::<f64>() - 0.25 * d as f64;
            if a.max(b) < 0.0 {
                2
            } else if a > b {
                0
            } else {
                1
            }
        })
        .collect()
}

fn uniform(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n * d).map(|_| rng.f64()).collect()
}

#[test]
fn queries_keep_to_their_ranges_and_sources() {
    let ranges = vec![(0.0, 1.0), (-5.0, 5.0)];
    let q = queries(&Source::Random, 500, 2, &ranges, &[], 1).unwrap();
    assert_eq!(q.len(), 1000);
    assert!(
        q.chunks(2)
            .all(|r| (0.0..=1.0).contains(&r[0]) && (-5.0..=5.0).contains(&r[1]))
    );
    // A profile follows the data's mean and deviation.
    let data: Vec<f64> = (0..2000)
        .flat_map(|i| [0.5, if i % 2 == 0 { 1.0 } else { 3.0 }])
        .collect();
    let q = queries(&Source::Profile, 4000, 2, &ranges, &data, 2).unwrap();
    let mean1 = q.iter().skip(1).step_by(2).sum::<f64>() / 4000.0;
    assert!((mean1 - 2.0).abs() < 0.1, "{mean1}");
    assert!(
        q.iter().step_by(2).all(|&v| (v - 0.5).abs() < 1e-12),
        "a constant feature stays"
    );
    // The attacker's rows in order; no more queries than rows.
    let pool = Source::Pool(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        queries(&pool, 2, 2, &ranges, &[], 0).unwrap(),
        [1.0, 2.0, 3.0, 4.0]
    );
    assert!(queries(&pool, 4, 2, &ranges, &[], 0).is_err());
    assert!(queries(&Source::Profile, 3, 2, &ranges, &[1.0, 2.0], 0).is_err());
}

/// More queries, a more faithful copy: the curve rises, ends near the teacher, and the
/// same seed gives the same curve.
#[test]
fn fidelity_grows_with_the_queries() {
    let d = 8;
    let q = uniform(3000, d, 1);
    let answers = teacher(&q, d);
    let test = uniform(500, d, 2);
    let truth = teacher(&test, d);
    let run = |hidden: usize| {
        let s = Surrogate {
            hidden,
            ..Surrogate::default()
        };
        curve(&[30, 300, 3000], &q, &answers, 3, &test, &truth, &truth, &s).unwrap()
    };
    let points = run(32);
    assert_eq!(
        points.iter().map(|p| p.queries).collect::<Vec<_>>(),
        [30, 300, 3000]
    );
    assert!(points[0].fidelity < points[2].fidelity, "{points:?}");
    assert!(points[2].fidelity > 0.93, "{points:?}");
    assert_eq!(
        points[2].fidelity, points[2].accuracy,
        "the truth is the teacher here"
    );
    assert_eq!(run(32), points);
    // Without a hidden layer: a linear copy of a piecewise-linear teacher, still close.
    let linear = run(0);
    assert!(linear[2].fidelity > 0.85, "{linear:?}");
}

#[test]
fn bad_training_input_is_refused() {
    let s = Surrogate::default();
    assert!(train(&[0.0, 1.0], 2, &[0, 5], 3, &s).is_err());
    assert!(train(&[0.0, f64::NAN], 2, &[0, 1], 2, &s).is_err());
    assert!(train(&[], 0, &[], 2, &s).is_err());
    assert!(train(&[0.0, 1.0], 2, &[0, 1], 1, &s).is_err());
}
