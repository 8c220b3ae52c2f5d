//! Synthetic data for the unit tests: labelled Gaussian clusters.

use super::Features;
use super::duplicates::gauss;

/// `n × d` rows around `k` cluster centres 8σ apart, labelled by cluster.
pub(crate) fn gaussian_clusters(n: usize, d: usize, k: usize, seed: u64) -> (Features, Vec<u32>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let centres: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..d).map(|_| (rng.f64() - 0.5) * 16.0).collect())
        .collect();
    let mut data = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % k.max(1);
        labels.push(c as u32);
        for m in &centres[c] {
            data.push(m + gauss(&mut rng));
        }
    }
    let names = (0..d).map(|j| format!("f{j}")).collect();
    (
        Features {
            n_rows: n,
            n_cols: d,
            data,
            names,
        },
        labels,
    )
}
