//! The Kolmogorov distributions, the chi-square tail and the Shapiro–Wilk W against
//! scipy's answers on a grid that crosses every region of the algorithm choice (`tests/data/scipy_grid.json`,
//! written by `scripts/monitor_vs_scipy.py --write-grid`, which CI also reruns to check
//! that the file still equals what scipy computes).

use aigis_monitor::kolmogorov::{kolmogorov_sf, smirnov_sf};
use aigis_monitor::stats::chi2_sf;
use serde_json::Value;

fn grid() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scipy_grid.json");
    serde_json::from_slice(&std::fs::read(path).expect("the grid file")).expect("grid JSON")
}

/// Within `rel` of scipy's value, or within 1e-13 of it when it is tiny: p-values that
/// small are reported as such, not compared digit for digit.
fn agrees(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= (rel * want.abs()).max(1e-13)
}

#[test]
fn kolmogorov_tails_match_scipy_on_the_grid() {
    let grid = grid();
    let points = grid["kolmogorov"].as_array().expect("points");
    assert!(points.len() > 300, "{} points", points.len());
    let mut bad = Vec::new();
    for p in points {
        let n = p["n"].as_u64().expect("n");
        let x = p["x"].as_f64().expect("x");
        for (name, got, want) in [
            (
                "kstwo.sf",
                kolmogorov_sf(n, x),
                p["kstwo_sf"].as_f64().expect("sf"),
            ),
            (
                "smirnov",
                smirnov_sf(n, x),
                p["smirnov"].as_f64().expect("smirnov"),
            ),
        ] {
            if !agrees(got, want, 1e-9) {
                bad.push(format!(
                    "{name}(n {n}, x {x}): aigis {got:e}, scipy {want:e}"
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        points.len() * 2,
        bad.join("\n")
    );
}

#[test]
fn chi_square_tails_match_scipy_on_the_grid() {
    let grid = grid();
    let mut bad = Vec::new();
    for p in grid["chi2"].as_array().expect("points") {
        let dof = p["dof"].as_u64().expect("dof");
        let x = p["x"].as_f64().expect("x");
        let want = p["sf"].as_f64().expect("sf");
        let got = chi2_sf(x, dof);
        if !agrees(got, want, 1e-9) {
            bad.push(format!(
                "chi2.sf({x}, {dof}): aigis {got:e}, scipy {want:e}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// splitmix64, drawn as `scripts/monitor_vs_scipy.py` draws it for the grid's `shapiro`
/// samples.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) * 2f64.powi(-53)
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn draw(&mut self, kind: &str) -> f64 {
        match kind {
            "uniform" => self.uniform(),
            "exponential" => -self.uniform().ln(),
            "normal" => self.normal(),
            "lognormal" => self.normal().exp(),
            "rounded" => (3.0 * self.normal() + 0.5).floor(),
            other => panic!("unknown kind {other}"),
        }
    }
}

#[test]
fn shapiro_wilk_matches_scipy_on_the_grid() {
    let grid = grid();
    let points = grid["shapiro"].as_array().expect("points");
    assert!(points.len() >= 75, "{} points", points.len());
    let mut bad = Vec::new();
    for p in points {
        let n = p["n"].as_u64().expect("n") as usize;
        let kind = p["kind"].as_str().expect("kind");
        let mut rng = SplitMix(p["seed"].as_u64().expect("seed"));
        let x: Vec<f64> = (0..n).map(|_| rng.draw(kind)).collect();
        let want = p["w"].as_f64().expect("w");
        let got = aigis_monitor::extraction::shapiro_wilk(&x).expect("a W");
        // scipy's swilk scales and sums in another order: heavy tails at a few
        // thousand values part in the ninth digit.
        if !agrees(got, want, 1e-8) {
            bad.push(format!("{kind} n={n}: aigis {got}, scipy {want}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {}:\n{}",
        bad.len(),
        points.len(),
        bad.join("\n")
    );
}
