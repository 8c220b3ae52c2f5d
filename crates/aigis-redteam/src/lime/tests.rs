use super::*;

#[test]
fn percentiles_and_bins_are_numpys() {
    let v: Vec<f64> = (1..=10).map(f64::from).collect();
    // numpy.percentile(range(1, 11), [25, 50, 75]) = 3.25, 5.5, 7.75
    assert_eq!(percentile(&v, 25.0), 3.25);
    assert_eq!(percentile(&v, 50.0), 5.5);
    assert_eq!(percentile(&v, 75.0), 7.75);
    let bins = Bins::fit(&v, 10, 1).unwrap();
    let fb = &bins.features[0];
    assert_eq!(fb.cuts, [3.25, 5.5, 7.75]);
    // searchsorted, side left: a value on a cut belongs to the bin below it.
    assert_eq!(
        [1.0, 3.25, 3.3, 7.75, 8.0].map(|x| fb.bin(x)),
        [0, 0, 1, 2, 3]
    );
    assert_eq!(fb.share, [0.3, 0.2, 0.2, 0.3]);
    let names = bins.describe(&[4.0], &["age".into()]);
    assert_eq!(names, ["3.25 < age <= 5.50"]);
    // A constant column has one cut and two bins, the upper one empty.
    let c = Bins::fit(&[2.0; 5], 5, 1).unwrap();
    assert_eq!(c.features[0].cuts, [2.0]);
}

#[test]
fn ridge_recovers_a_weighted_linear_fit() {
    // y = 1 + 2 a - 3 b exactly: the fit without a penalty finds it, R² 1.
    let x: Vec<f64> = (0..20)
        .flat_map(|i| [f64::from(i % 2), f64::from((i / 2) % 3)])
        .collect();
    let y: Vec<f64> = x.chunks(2).map(|r| 1.0 + 2.0 * r[0] - 3.0 * r[1]).collect();
    let w: Vec<f64> = (0..20).map(|i| 0.5 + f64::from(i) / 20.0).collect();
    let (beta, intercept, r2) = ridge(&x, &[0, 1], 2, &y, &w, 0.0);
    assert!(
        (beta[0] - 2.0).abs() < 1e-9 && (beta[1] + 3.0).abs() < 1e-9,
        "{beta:?}"
    );
    assert!((intercept - 1.0).abs() < 1e-9 && (r2 - 1.0).abs() < 1e-12);
    // A penalty shrinks the coefficients.
    let (shrunk, _, _) = ridge(&x, &[0, 1], 2, &y, &w, 10.0);
    assert!(shrunk[0].abs() < 2.0 && shrunk[1].abs() < 3.0);
}

/// On a model that depends on two of four features, those two carry the weight, with
/// the sign of their effect in the row's bin, and the seed fixes the draws.
#[test]
fn the_features_the_model_uses_carry_the_weight() {
    let mut rng = fastrand::Rng::with_seed(5);
    let bg: Vec<f64> = (0..400).map(|_| rng.f64()).collect();
    let bins = Bins::fit(&bg, 100, 4).unwrap();
    let model = |x: &[f64], n: usize| -> Result<Vec<f64>, String> {
        Ok(x.chunks(4)
            .take(n)
            .map(|r| 3.0 * r[0] - 2.0 * r[2])
            .collect())
    };
    // A row in the top quartile of feature 0 and the top of feature 2.
    let row = [0.95, 0.5, 0.9, 0.1];
    let s = Settings {
        features: 4,
        ..Settings::default()
    };
    let e = explain(&model, &row, &bins, &s).unwrap();
    let top: Vec<usize> = e.weights.iter().take(2).map(|w| w.0).collect();
    assert!(top.contains(&0) && top.contains(&2), "{e:?}");
    let w = |j: usize| e.weights.iter().find(|w| w.0 == j).unwrap().1;
    assert!(w(0) > 0.5 && w(2) < -0.3, "{e:?}");
    assert!(w(1).abs() < 0.1 && w(3).abs() < 0.1, "{e:?}");
    assert_eq!(e.value, 3.0 * 0.95 - 2.0 * 0.9);
    let again = explain(&model, &row, &bins, &s).unwrap();
    assert_eq!(again.weights, e.weights);
    // Beyond six features, the largest coefficients are kept.
    let wide = explain(
        &model,
        &row,
        &bins,
        &Settings {
            features: 2,
            ..Settings::default()
        },
    )
    .unwrap();
    assert_eq!(wide.weights.len(), 2);
    let many = explain(
        &model,
        &row,
        &bins,
        &Settings {
            features: 7,
            ..Settings::default()
        },
    )
    .unwrap();
    assert_eq!(many.weights.len(), 4);
}
