//! The drift statistics on any numbers: the first byte splits the input into a reference
//! and a current sample of 8-byte floats (little-endian, any bit pattern: NaN and the
//! infinities are dropped as `aigis monitor drift` drops them), and the two samples are
//! also read as categories (each byte a category).
//!
//! Checks that nothing panics and that every p-value is a probability: the two-sample
//! KS test (exact or asymptotic, by the samples' sizes), the range of both tails, the
//! Kolmogorov distributions at the statistic and at a size taken from the input, the
//! Wasserstein distance and PSI (finite, not negative), and the chi-square test.
#![no_main]

use std::collections::BTreeMap;

use aigis_monitor::kolmogorov::{kolmogorov_sf, smirnov_sf};
use aigis_monitor::ks::ks_2samp;
use aigis_monitor::stats::{chi2_homogeneity, psi_categorical, psi_numeric, wasserstein};
use libfuzzer_sys::fuzz_target;

fn floats(bytes: &[u8]) -> Vec<f64> {
    let mut v: Vec<f64> = bytes
        .chunks_exact(8)
        .filter_map(|c| <[u8; 8]>::try_from(c).ok())
        .map(f64::from_le_bytes)
        .filter(|x| x.is_finite())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn probability(p: f64, what: &str) {
    assert!((0.0..=1.0).contains(&p), "{what}: {p}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (usize::from(split) * 8).min(rest.len());
    let (a, b) = rest.split_at(at);
    let (r, c) = (floats(a), floats(b));
    if !r.is_empty() && !c.is_empty() {
        let ks = ks_2samp(&r, &c);
        probability(ks.p_value, "ks p-value");
        probability(ks.statistic, "ks statistic");
        let w = wasserstein(&r, &c);
        assert!(w >= 0.0 && !w.is_nan(), "wasserstein {w}");
        let psi = psi_numeric(&r, &c, 10);
        assert!(psi >= -1e-12 && psi.is_finite(), "psi {psi}");
        let n = u64::from(split) * 977 + r.len() as u64;
        probability(kolmogorov_sf(n.max(1), ks.statistic), "kolmogorov_sf");
        probability(smirnov_sf(n.max(1), ks.statistic), "smirnov_sf");
        if let Some(&x) = c.first() {
            probability(kolmogorov_sf(n.max(1), x.abs().fract()), "kolmogorov_sf(x)");
        }
    }
    let counts = |bytes: &[u8]| {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for b in bytes {
            *m.entry(format!("{}", b % 7)).or_default() += 1;
        }
        m
    };
    let (rc, cc) = (counts(a), counts(b));
    if !rc.is_empty() && !cc.is_empty() {
        let chi = chi2_homogeneity(&rc, &cc);
        probability(chi.p_value, "chi2 p-value");
        let psi = psi_categorical(&rc, &cc);
        assert!(psi >= -1e-12 && psi.is_finite(), "categorical psi {psi}");
    }
});
