use super::*;

fn linear(w: Vec<f64>, b: f64) -> impl Fn(&[f64], usize) -> Result<Vec<f64>, String> {
    move |rows: &[f64], n: usize| {
        let m = w.len();
        Ok((0..n)
            .map(|i| b + (0..m).map(|j| w[j] * rows[i * m + j]).sum::<f64>())
            .collect())
    }
}

fn normal_rows(n: usize, m: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n * m)
        .map(|_| (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0)
        .collect()
}

/// On a linear model each value is w_i (x_i − E_B[x_i]), the closed form.
fn closed_form(w: &[f64], x: &[f64], bg: &Background) -> Vec<f64> {
    let m = w.len();
    (0..m)
        .map(|j| {
            let mean: f64 = (0..bg.weights.len())
                .map(|b| bg.weights[b] * bg.rows[b * m + j])
                .sum();
            w[j] * (x[j] - mean)
        })
        .collect()
}

#[test]
fn on_a_linear_model_the_values_are_the_closed_form_exact_or_sampled() {
    for m in [5, 20] {
        let w: Vec<f64> = (0..m).map(|j| (j as f64 - 2.5) * 0.7).collect();
        let f = linear(w.clone(), 3.0);
        let data = normal_rows(200, m, 1);
        let bg = Background::summarize(&data, 200, m, 10, 0).unwrap();
        let x: Vec<f64> = normal_rows(1, m, 2);
        let s = kernel_shap(&f, &x, &bg, None, 0).unwrap();
        assert_eq!(s.exact, m <= EXACT_FEATURES);
        let want = closed_form(&w, &x, &bg);
        for (got, want) in s.values.iter().zip(&want) {
            assert!((got - want).abs() < 1e-9, "m {m}: {got} != {want}");
        }
        let sum: f64 = s.values.iter().sum();
        assert!((sum - (s.value - s.base_value)).abs() < 1e-9);
    }
}

#[test]
fn an_interaction_is_shared_equally() {
    // f = x0 x1 + 2 x2, background the origin: x0 and x1 each get half the product.
    let f = |rows: &[f64], n: usize| -> Result<Vec<f64>, String> {
        Ok((0..n)
            .map(|i| rows[i * 4] * rows[i * 4 + 1] + 2.0 * rows[i * 4 + 2])
            .collect())
    };
    let bg = Background::all(&[0.0; 4], 1, 4).unwrap();
    let s = kernel_shap(&f, &[3.0, 4.0, 1.0, 9.0], &bg, None, 0).unwrap();
    let want = [6.0, 6.0, 2.0, 0.0];
    for (got, want) in s.values.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{:?}", s.values);
    }
    assert_eq!((s.base_value, s.value), (0.0, 14.0));
    assert_eq!(s.coalitions, 16);
}

#[test]
fn sampled_values_approach_the_exact_ones() {
    // Pairwise products of 12 features: not additive, so the sample matters.
    let m = 12;
    let f = move |rows: &[f64], n: usize| -> Result<Vec<f64>, String> {
        Ok((0..n)
            .map(|i| {
                let r = &rows[i * m..(i + 1) * m];
                (0..m - 1).map(|j| r[j] * r[j + 1]).sum::<f64>() + r[0].powi(2)
            })
            .collect())
    };
    let data = normal_rows(100, m, 3);
    let bg = Background::summarize(&data, 100, m, 8, 1).unwrap();
    let x = normal_rows(1, m, 4);
    let truth = exact(&f, &x, &bg).unwrap();
    let s = kernel_shap(&f, &x, &bg, Some(20_000), 5).unwrap();
    assert!(!s.exact);
    let scale = truth.values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    for (got, want) in s.values.iter().zip(&truth.values) {
        assert!(
            (got - want).abs() < 0.05 * scale,
            "{got} vs {want} (scale {scale})"
        );
    }
    let sum: f64 = s.values.iter().sum();
    assert!((sum - (truth.value - truth.base_value)).abs() < 1e-9);
    // Too few coalitions is an error, not a guess.
    let err = kernel_shap(&f, &x, &bg, Some(5), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 24"), "{err}");
}

#[test]
fn the_background_is_summarized_as_weighted_centres() {
    // Two tight clusters of 30 and 10 rows.
    let mut data = Vec::new();
    for i in 0..40 {
        let c = if i < 30 { 0.0 } else { 10.0 };
        data.extend([c + (i % 3) as f64 * 0.01, c]);
    }
    let bg = Background::summarize(&data, 40, 2, 2, 0).unwrap();
    assert_eq!(bg.weights.len(), 2);
    let mut w = bg.weights.clone();
    w.sort_by(f64::total_cmp);
    assert_eq!(w, [0.25, 0.75]);
    // As many rows as centres or fewer: the rows themselves.
    let small = Background::summarize(&data[..6], 3, 2, 5, 0).unwrap();
    assert_eq!(small.rows, data[..6]);
    assert!(Background::all(&[f64::NAN, 1.0], 1, 2).is_err());
}

#[test]
fn a_model_that_answers_nan_is_refused() {
    let f = |_: &[f64], n: usize| -> Result<Vec<f64>, String> { Ok(vec![f64::NAN; n]) };
    let bg = Background::all(&[0.0, 0.0], 1, 2).unwrap();
    let err = kernel_shap(&f, &[1.0, 2.0], &bg, None, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a finite number"), "{err}");
}

struct FirstFeature;

impl Scorer for FirstFeature {
    /// Accuracy of "class 1 when feature 0 > 0" against the truth "feature 0 > 0" as
    /// the rows were made (row i's truth: i is even).
    fn score(&self, rows: &[f64], n: usize) -> Result<f64, String> {
        let right = (0..n)
            .filter(|&i| (rows[i * 2] > 0.0) == (i % 2 == 0))
            .count();
        Ok(right as f64 / n as f64)
    }
}

#[test]
fn a_feature_the_model_ignores_has_no_importance() {
    let n = 200;
    let data: Vec<f64> = (0..n)
        .flat_map(|i| [if i % 2 == 0 { 1.0 } else { -1.0 }, i as f64])
        .collect();
    let (base, imp) = permutation_importance(&FirstFeature, &data, n, 2, 5, 0).unwrap();
    assert_eq!(base, 1.0);
    assert_eq!(
        imp[1],
        Importance {
            mean: 0.0,
            std: 0.0
        }
    );
    assert!(imp[0].mean > 0.3 && imp[0].std > 0.0, "{:?}", imp[0]);
}

#[test]
fn the_solver_solves_and_refuses_a_singular_system() {
    let x = solve(vec![4.0, 1.0, 1.0, 3.0], vec![1.0, 2.0], 2).unwrap();
    assert!((x[0] - 1.0 / 11.0).abs() < 1e-12 && (x[1] - 7.0 / 11.0).abs() < 1e-12);
    assert_eq!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 2), None);
}

#[test]
fn subsets_are_every_k_subset_once() {
    let all: Vec<Vec<usize>> = Subsets::new(5, 2).collect();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0], [0, 1]);
    assert_eq!(all[9], [3, 4]);
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 10);
    assert_eq!(
        Subsets::new(3, 0).collect::<Vec<_>>(),
        [Vec::<usize>::new()]
    );
    assert_eq!(Subsets::new(3, 3).count(), 1);
    assert!((binomial(30, 2) - 435.0).abs() < 1e-9);
}
