#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "a test fails by panicking"
)]
use super::*;

/// Rows of `d` features from `rng`'s normal draws.
fn gaussian(rng: &mut fastrand::Rng, d: usize) -> Vec<f64> {
    (0..d)
        .map(|_| {
            let (u1, u2) = (rng.f64().max(1e-300), rng.f64());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

fn tracker(settings: Settings, d: usize) -> Tracker {
    Tracker::new(settings, vec![1.0; d]).unwrap()
}

/// The class a toy model gives a row: which of four quadrants of its first two features.
fn class(row: &[f64]) -> u32 {
    u32::from(row[0] > 0.0) + 2 * u32::from(row[1] > 0.0)
}

/// Sends `rows` one per call; the rows after which the principal became suspected.
fn send(t: &Tracker, who: &str, rows: &[Vec<f64>]) -> Option<(u64, Reason)> {
    for row in rows {
        let seen = t.observe(who, row, &[class(row)], None);
        if seen.new {
            let s = seen.suspicion.unwrap();
            return Some((s.after_rows, s.reason));
        }
    }
    None
}

/// Jacobian-style augmentation (Papernot et al.): `rows` as seeds, then `rounds` in which
/// every point so far is pushed a step of 0.1 along a random sign per feature.
fn jacobian_rounds(
    rng: &mut fastrand::Rng,
    mut rows: Vec<Vec<f64>>,
    rounds: usize,
) -> Vec<Vec<f64>> {
    for _ in 0..rounds {
        let next: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v + if rng.bool() { 0.1 } else { -0.1 })
                    .collect()
            })
            .collect();
        rows.extend(next);
    }
    rows
}

#[test]
fn natural_queries_are_not_suspected() {
    let mut rng = fastrand::Rng::with_seed(1);
    let t = tracker(Settings::default(), 16);
    for who in ["a", "b", "c"] {
        let rows: Vec<Vec<f64>> = (0..1500).map(|_| gaussian(&mut rng, 16)).collect();
        assert_eq!(send(&t, who, &rows), None, "{who}");
    }
    assert_eq!(t.principals(), 3);
}

#[test]
fn jacobian_style_augmentation_is_suspected_by_its_distances() {
    // A copier's synthetic queries (Papernot et al.'s Jacobian-based augmentation): a few
    // natural seeds, then rounds in which every point so far is pushed a step of λ along
    // the sign of a gradient (here a random sign per feature).
    let mut rng = fastrand::Rng::with_seed(2);
    let seeds: Vec<Vec<f64>> = (0..10).map(|_| gaussian(&mut rng, 16)).collect();
    let rows = jacobian_rounds(&mut rng, seeds, 6);
    let t = tracker(Settings::default(), 16);
    let (after, reason) = send(&t, "copier", &rows).expect("suspected");
    assert_eq!(reason.kind(), "distances", "{reason:?}");
    assert!(after <= 200, "after {after} rows");
    // It stays suspected, and another principal is not.
    assert!(t.suspected("copier").is_some());
    assert!(t.suspected("other").is_none());
    let later = t.observe("copier", &rows[0], &[0], None);
    assert!(!later.new && later.suspicion.is_some());
}

#[test]
fn a_one_feature_sweep_is_probing() {
    let mut rng = fastrand::Rng::with_seed(4);
    let base = gaussian(&mut rng, 16);
    let mut rows = Vec::new();
    for f in 0..16 {
        for k in 0..20 {
            let mut r = base.clone();
            r[f] = -3.0 + 0.3 * f64::from(k);
            rows.push(r);
        }
    }
    let t = tracker(Settings::default(), 16);
    let (after, reason) = send(&t, "sweeper", &rows).expect("suspected");
    assert_eq!(reason.kind(), "probing", "{reason:?}");
    assert!(after <= 70, "after {after}");
}

#[test]
fn a_line_search_is_probing() {
    // A boundary walk: bisection between pairs of natural points, each step on the line
    // of the one before.
    let mut rng = fastrand::Rng::with_seed(5);
    let mut rows = Vec::new();
    for _ in 0..10 {
        let (a, b) = (gaussian(&mut rng, 16), gaussian(&mut rng, 16));
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..12 {
            let mid: f64 = (lo + hi) / 2.0;
            rows.push(a.iter().zip(&b).map(|(x, y)| x + mid * (y - x)).collect());
            if rng.bool() { lo = mid } else { hi = mid }
        }
    }
    let t = tracker(Settings::default(), 16);
    let (_, reason) = send(&t, "walker", &rows).expect("suspected");
    assert_eq!(reason.kind(), "probing", "{reason:?}");
}

/// `n` rows of 64 whole numbers in 0..=16 near ten prototypes (a digit-like set).
fn whole_rows(rng: &mut fastrand::Rng, n: usize) -> Vec<Vec<f64>> {
    let prototypes: Vec<Vec<f64>> = (0..10)
        .map(|_| (0..64).map(|_| f64::from(rng.u8(0..=16))).collect())
        .collect();
    (0..n)
        .map(|_| {
            let p = &prototypes[rng.usize(0..10)];
            let noise = gaussian(rng, 64);
            p.iter()
                .zip(&noise)
                .map(|(v, e)| (v + 3.0 * e).round().clamp(0.0, 16.0))
                .collect()
        })
        .collect()
}

#[test]
fn a_binary_search_rounded_to_whole_numbers_is_probing() {
    // Bisection between pairs of whole-number rows, each midpoint rounded (as the profile
    // makes a copier of a model with integer features do): off the exact line by the
    // rounding, each step about half the one before.
    let mut rng = fastrand::Rng::with_seed(8);
    let natural = whole_rows(&mut rng, 400);
    let mut rows = Vec::new();
    while rows.len() < 300 {
        let (mut a, mut b) = (
            natural[rng.usize(0..400)].clone(),
            natural[rng.usize(0..400)].clone(),
        );
        for _ in 0..12 {
            let mid: Vec<f64> = a
                .iter()
                .zip(&b)
                .map(|(x, y)| ((x + y) / 2.0).round())
                .collect();
            if mid == a || mid == b {
                break;
            }
            rows.push(mid.clone());
            if rng.bool() { a = mid } else { b = mid }
        }
    }
    let scaled = |d| Tracker::new(Settings::default(), vec![1.0 / 16.0; d]).unwrap();
    let (after, reason) = send(&scaled(64), "walker", &rows).expect("suspected");
    assert_eq!(reason.kind(), "probing", "{reason:?}");
    assert!(after <= 200, "after {after}");
    // The same rows in a random order, as a client with natural queries sends them: no
    // probing.
    let mut replayed = natural.clone();
    for _ in 0..4 {
        rng.shuffle(&mut replayed);
        let t = scaled(64);
        let seen = send(&t, "benign", &replayed);
        assert!(
            seen.as_ref().is_none_or(|(_, r)| r.kind() != "probing"),
            "{seen:?}"
        );
    }
}

#[test]
fn the_budget_counts_rows_of_every_call() {
    let t = tracker(
        Settings {
            budget: Some(10),
            ..Settings::default()
        },
        4,
    );
    let batch: Vec<f64> = (0..24).map(f64::from).collect();
    let first = t.observe("p", &batch, &[0; 6], None);
    assert!(first.suspicion.is_none() && first.rows == 6);
    let second = t.observe("p", &batch, &[0; 6], None);
    assert!(second.new);
    assert_eq!(
        second.suspicion.unwrap().reason,
        Reason::Budget { budget: 10 }
    );
    // Rows with a value that is not a number count too.
    let t2 = tracker(
        Settings {
            budget: Some(1),
            ..Settings::default()
        },
        1,
    );
    assert!(
        t2.observe("p", &[f64::NAN, f64::INFINITY], &[0, 0], None)
            .new
    );
}

#[test]
fn repeated_queries_are_not_distances() {
    let t = tracker(Settings::default(), 8);
    let row = vec![0.5; 8];
    for _ in 0..500 {
        assert!(t.observe("retry", &row, &[1], None).suspicion.is_none());
    }
}

#[test]
fn principals_are_bounded_and_a_suspected_one_is_never_dropped() {
    let settings = Settings {
        max_principals: 2,
        budget: Some(1),
        ..Settings::default()
    };
    let t = tracker(settings, 2);
    assert!(t.observe("a", &[0.0, 0.0], &[0], None).suspicion.is_none());
    assert!(t.observe("b", &[0.0, 0.0, 1.0, 1.0], &[0, 0], None).new);
    // c takes a's place (a is not suspected); b stays.
    assert!(t.observe("c", &[0.0, 0.0], &[0], None).suspicion.is_none());
    assert!(t.suspected("b").is_some());
    assert_eq!(t.principals(), 2);
    assert!(t.observe("c", &[1.0, 1.0], &[0], None).new);
    // Both tracked principals are suspected: a new one cannot be tracked, and is not
    // passed.
    let d = t.observe("d", &[0.0, 0.0], &[0], None);
    assert_eq!(d.suspicion.unwrap().reason, Reason::Untracked);
    assert!(t.suspected("b").is_some() && t.suspected("c").is_some());
}

#[test]
fn settings_that_cannot_work_are_refused() {
    for (s, key) in [
        (
            Settings {
                threshold: 1.0,
                ..Settings::default()
            },
            "threshold",
        ),
        (
            Settings {
                min_distances: 2,
                ..Settings::default()
            },
            "min_distances",
        ),
        (
            Settings {
                history: 50,
                ..Settings::default()
            },
            "history",
        ),
        (
            Settings {
                probe_share: 0.0,
                ..Settings::default()
            },
            "probe_share",
        ),
        (
            Settings {
                budget: Some(0),
                ..Settings::default()
            },
            "budget",
        ),
        (
            Settings {
                max_principals: 0,
                ..Settings::default()
            },
            "max_principals",
        ),
        (
            Settings {
                max_points: 1,
                ..Settings::default()
            },
            "max_points",
        ),
    ] {
        assert_eq!(s.validate().unwrap_err().0, key);
    }
    assert_eq!(
        Tracker::new(Settings::default(), vec![]).unwrap_err().0,
        "scale"
    );
    assert_eq!(
        Tracker::new(Settings::default(), vec![0.0]).unwrap_err().0,
        "scale"
    );
}

#[test]
fn shapiro_wilk_small_cases() {
    // n = 3 has the exact coefficient; values all equal have no W.
    let w = shapiro_wilk(&[1.0, 2.0, 4.0]).unwrap();
    // scipy.stats.shapiro([1, 2, 4]).statistic
    assert!((w - 0.964_285_714_285_714_3).abs() < 1e-9, "{w}");
    assert_eq!(shapiro_wilk(&[2.0; 10]), None);
    assert_eq!(shapiro_wilk(&[1.0, 2.0]), None);
    assert_eq!(shapiro_wilk(&[1.0, f64::NAN, 2.0]), None);
}

#[test]
fn rows_the_detectors_flag_far_above_their_rate_are_suspected() {
    let t = tracker(
        Settings {
            flag_rate: Some(0.05),
            ..Settings::default()
        },
        2,
    );
    let mut rng = fastrand::Rng::with_seed(6);
    // A benign client: flagged at the clean rate, never suspected.
    for _ in 0..2000 {
        let row = gaussian(&mut rng, 2);
        let f = flagged(usize::from(rng.f64() < 0.05));
        assert!(t.observe("benign", &row, &[0], Some(f)).suspicion.is_none());
    }
    // A copier whose queries are mostly out of distribution.
    let mut after = None;
    for i in 0..200 {
        let row = gaussian(&mut rng, 2);
        let f = flagged(usize::from(rng.f64() < 0.6));
        let seen = t.observe("copier", &row, &[0], Some(f));
        if seen.new {
            assert_eq!(seen.suspicion.unwrap().reason.kind(), "inputs");
            after = Some(i + 1);
            break;
        }
    }
    let after = after.expect("suspected");
    assert!((20..=40).contains(&after), "after {after}");
}

fn flagged(flagged: usize) -> Looked {
    Looked {
        flagged,
        ..Looked::default()
    }
}

/// One row of class `stratum`, flagged or not, as the gateway reports it.
fn looked_row(flag: bool, stratum: u32) -> Looked {
    Looked {
        flagged: usize::from(flag),
        flags: Some(vec![flag]),
        strata: Some(vec![stratum]),
        ..Looked::default()
    }
}

/// P(S ≤ seen) by enumerating every way the flagged rows can fall, for small strata.
fn enumerated_tail(strata: &[Stratum]) -> f64 {
    fn choose(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }
    // Each stratum's pmf over the clean side's flagged count.
    let pmfs: Vec<Vec<(u64, f64)>> = strata
        .iter()
        .map(|s| {
            let k = s.flagged + s.clean_flagged;
            let total = choose(s.rows + s.clean_rows, k);
            (0..=k.min(s.clean_rows))
                .map(|b| (b, choose(s.clean_rows, b) * choose(s.rows, k - b) / total))
                .filter(|(_, p)| *p > 0.0)
                .collect()
        })
        .collect();
    let seen: u64 = strata.iter().map(|s| s.clean_flagged).sum();
    let mut dist = vec![(0u64, 1.0f64)];
    for pmf in &pmfs {
        let mut next = std::collections::BTreeMap::new();
        for (a, pa) in &dist {
            for (b, pb) in pmf {
                *next.entry(a + b).or_insert(0.0) += pa * pb;
            }
        }
        dist = next.into_iter().collect();
    }
    dist.iter()
        .filter(|(b, _)| *b <= seen)
        .map(|(_, p)| p)
        .sum()
}

#[test]
fn the_stratified_test_is_the_hypergeometric_tail() {
    use statrs::distribution::{DiscreteCDF, Hypergeometric};
    // One class: the clean rows' flagged count is hypergeometric (statrs).
    for (rows, flagged, clean_rows, clean_flagged) in [
        (222, 27, 27, 3),
        (210, 26, 270, 11),
        (20, 20, 270, 3),
        (5000, 600, 2500, 125),
        (40, 0, 30, 0),
    ] {
        let s = Stratum {
            rows,
            flagged,
            clean_rows,
            clean_flagged,
        };
        let p = stratified_tail(&[s]);
        let expected = if flagged + clean_flagged == 0 {
            1.0
        } else {
            Hypergeometric::new(rows + clean_rows, flagged + clean_flagged, clean_rows)
                .unwrap()
                .cdf(clean_flagged)
        };
        assert!(
            (p - expected).abs() <= 1e-9 * expected.max(1e-300) + 1e-15,
            "{s:?}: {p} against {expected}"
        );
    }
    // Several classes: every way the flagged rows can fall, enumerated.
    let strata = [
        Stratum {
            rows: 12,
            flagged: 5,
            clean_rows: 9,
            clean_flagged: 1,
        },
        Stratum {
            rows: 7,
            flagged: 1,
            clean_rows: 15,
            clean_flagged: 2,
        },
        Stratum {
            rows: 20,
            flagged: 6,
            clean_rows: 4,
            clean_flagged: 0,
        },
        Stratum {
            rows: 3,
            flagged: 3,
            clean_rows: 0,
            clean_flagged: 0,
        },
    ];
    let p = stratified_tail(&strata);
    let expected = enumerated_tail(&strata);
    assert!((p - expected).abs() < 1e-12, "{p} against {expected}");
    assert!(p > 0.0 && p < 1.0, "{p}");
    // Counts as large as a file and a client can hold: the bulk only, at once.
    let big = Stratum {
        rows: 1_000_000_000,
        flagged: 100_000_000,
        clean_rows: u64::from(u32::MAX),
        clean_flagged: 2_000_000_000,
    };
    let p = stratified_tail(&[big, big]);
    assert!((0.0..=1.0).contains(&p), "{p}");
    // Just past the convolution's width, the normal approximation: near the exact value.
    let spread = Stratum {
        rows: 100_000,
        flagged: 50_000,
        clean_rows: 100_000,
        clean_flagged: 49_600,
    };
    let exact = Hypergeometric::new(200_000, 99_600, 100_000)
        .unwrap()
        .cdf(49_600);
    assert!(exact > 1e-3 && exact < 0.1, "{exact}");
    let p = stratified_tail(&[spread]);
    assert!((p / exact - 1.0).abs() < 0.01, "{p} against {exact}");
    // Far from the tail, the approximation answers: near the exact value, and far
    // above the tracker's 1e-6 (a count 2.6 standard deviations low).
    for (seen, close) in [(100, 0.03), (82, 0.003)] {
        let near = Stratum {
            rows: 1000,
            flagged: 200 - seen,
            clean_rows: 1000,
            clean_flagged: seen,
        };
        let exact = Hypergeometric::new(2000, 200, 1000).unwrap().cdf(seen);
        let p = stratified_tail(&[near]);
        assert!((p - exact).abs() < close, "{seen}: {p} against {exact}");
        assert!(exact > 1e-3, "{exact}");
    }
}

/// The clean calibration rows of a toy model: class 0, a sub-population the detectors
/// flag 10 % of; class 1, 1 %.
fn two_classes() -> Vec<ClassFlags> {
    vec![
        ClassFlags {
            class: 0,
            rows: 60,
            flagged: 6,
        },
        ClassFlags {
            class: 1,
            rows: 600,
            flagged: 6,
        },
    ]
}

#[test]
fn a_client_of_one_sub_population_is_compared_with_that_sub_population() {
    let by_class = two_classes();
    let (rows, flagged) = (660, 12);
    let rate = clean_rate_bound(flagged, rows).unwrap();
    let settings = |by_class: Option<Vec<ClassFlags>>| Settings {
        flag_rate: Some(rate),
        flag_by_class: by_class,
        ..Settings::default()
    };
    let mut rng = fastrand::Rng::with_seed(11);
    // A benign client asking about class 0 only, flagged at that class's 10 %: the whole
    // data's rate (1.8 %, bound {rate}) takes it for a copier; class by class it is not.
    let one_class: Vec<Looked> = (0..3000).map(|_| looked_row(rng.f64() < 0.1, 0)).collect();
    let run = |t: &Tracker, who: &str, calls: &[Looked]| {
        for (i, l) in calls.iter().enumerate() {
            let row = gaussian(&mut fastrand::Rng::with_seed(i as u64), 2);
            let seen = t.observe(who, &row, &[l.strata.as_ref().unwrap()[0]], Some(l.clone()));
            if seen.new {
                return Some((i + 1, seen.suspicion.unwrap().reason));
            }
        }
        None
    };
    let whole = tracker(settings(None), 2);
    let (after, reason) = run(&whole, "one-class", &one_class).expect("suspected");
    assert_eq!(reason.kind(), "inputs");
    assert!(after < 1000, "after {after}");
    let by = tracker(settings(Some(by_class.clone())), 2);
    assert_eq!(run(&by, "one-class", &one_class), None);
    // A copier spread over both classes, flagged 10 % in each: class 1's clean rows are
    // flagged at 1 %, and it is caught.
    let spread: Vec<Looked> = (0..3000)
        .map(|i| looked_row(rng.f64() < 0.1, u32::from(i % 2 == 0)))
        .collect();
    let (after, reason) = run(&by, "spread", &spread).expect("suspected");
    assert_eq!(reason.kind(), "inputs");
    assert!(after < 1000, "after {after}");
    // Rows of a class the clean rows do not have are compared with all of them; a
    // call that does not say which rows were flagged leaves the whole data's test.
    let other: Vec<Looked> = (0..3000).map(|_| looked_row(rng.f64() < 0.1, 7)).collect();
    assert!(run(&by, "other", &other).is_some());
    let unattributed: Vec<Looked> = one_class
        .iter()
        .map(|l| Looked {
            flags: None,
            ..l.clone()
        })
        .collect();
    assert!(run(&by, "unattributed", &unattributed).is_some());
}

#[test]
fn class_counts_that_cannot_be_are_refused() {
    for (bad, says) in [
        (vec![], "between 1 and"),
        (
            vec![ClassFlags {
                class: 0,
                rows: 5,
                flagged: 6,
            }],
            "6 flagged of 5",
        ),
        (
            vec![ClassFlags {
                class: 0,
                rows: 0,
                flagged: 0,
            }],
            "0 flagged of 0",
        ),
        (
            vec![
                ClassFlags {
                    class: 2,
                    rows: 5,
                    flagged: 1,
                },
                ClassFlags {
                    class: 2,
                    rows: 5,
                    flagged: 1,
                },
            ],
            "ascending order",
        ),
    ] {
        let s = Settings {
            flag_by_class: Some(bad),
            ..Settings::default()
        };
        let (key, message) = s.validate().unwrap_err();
        assert_eq!(key, "flag_by_class");
        assert!(message.contains(says), "{message}");
    }
    assert!(
        Settings {
            flag_by_class: Some(two_classes()),
            ..Settings::default()
        }
        .validate()
        .is_ok()
    );
}

#[test]
fn a_client_whose_rows_are_mostly_atypical_is_suspected() {
    // The rate a detector file of 270 calibration rows, 27 above the cuts, gives: its
    // bound is below the floor.
    let rate = atypical_rate(27, 270).unwrap();
    assert_eq!(rate, ATYPICAL_FLOOR);
    // wine's 27 rows, 3 above: the bound (scipy: beta.ppf(0.999, 4, 24) = 0.402) is
    // below the floor too; 7 of 13 bound nothing below a half (beta.ppf(0.999, 8, 6) =
    // 0.898): no rate.
    let bound = clean_rate_bound(3, 27).unwrap();
    assert!((bound - 0.401_919_785_860_785).abs() < 1e-9, "{bound}");
    assert_eq!(atypical_rate(3, 27), Some(ATYPICAL_FLOOR));
    assert_eq!(atypical_rate(7, 13), None);
    let t = tracker(
        Settings {
            atypical_rate: Some(rate),
            ..Settings::default()
        },
        2,
    );
    let mut rng = fastrand::Rng::with_seed(9);
    let looked = |atypical: bool| Looked {
        atypical: usize::from(atypical),
        ..Looked::default()
    };
    // Natural clients of one sub-population: 30 % and even 45 % of their rows atypical,
    // over thousands of calls, are not suspected.
    for (who, share) in [("natural", 0.1), ("sub-population", 0.3), ("odd", 0.45)] {
        for _ in 0..3000 {
            let row = gaussian(&mut rng, 2);
            let seen = t.observe(who, &row, &[0], Some(looked(rng.f64() < share)));
            assert!(seen.suspicion.is_none(), "{who}");
        }
    }
    // A copier whose queries are nearly all atypical, and none flagged: suspected after
    // some twenty calls, by this sign.
    let mut after = None;
    for i in 0..200 {
        let row = gaussian(&mut rng, 2);
        let seen = t.observe("copier", &row, &[0], Some(looked(rng.f64() < 0.98)));
        if seen.new {
            let reason = seen.suspicion.unwrap().reason;
            assert_eq!(reason.kind(), "atypical", "{reason:?}");
            assert!(reason.describe().starts_with("atypical: "), "{reason:?}");
            after = Some(i + 1);
            break;
        }
    }
    let after = after.expect("suspected");
    assert!((20..=30).contains(&after), "after {after}");
    // Left out without a rate, and a rate that is not a share is refused.
    let off = tracker(Settings::default(), 2);
    for _ in 0..200 {
        let row = gaussian(&mut rng, 2);
        assert!(
            off.observe("c", &row, &[0], Some(looked(true)))
                .suspicion
                .is_none()
        );
    }
    for bad in [0.0, 1.0, f64::NAN] {
        let s = Settings {
            atypical_rate: Some(bad),
            ..Settings::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "atypical_rate");
    }
}

#[test]
fn the_binomial_tail_matches_scipy() {
    // scipy.stats.binom.sf(k - 1, n, p)
    for (k, n, p, want) in [
        (5, 20, 0.05, 0.002_573_940_334_652_279_2),
        (12, 20, 0.05, 2.108_168_507_158_263e-11),
        (60, 1000, 0.05, 0.086_732_178_384_861_03),
    ] {
        let got = binomial_tail(k, n, p);
        assert!(
            (got - want).abs() <= 1e-9 * want,
            "{k}/{n}: {got} vs {want}"
        );
    }
}

#[test]
fn the_clean_rate_bound_matches_scipy() {
    // scipy.stats.beta.ppf(0.999, k + 1, n - k)
    for (k, n, want) in [
        (1u64, 27u64, 0.294_383_660_278_862_87),
        (2, 270, 0.040_884_479_088_746_56),
        (0, 100, 0.066_745_699_203_008_95),
    ] {
        let got = clean_rate_bound(k, n).unwrap();
        assert!((got - want).abs() < 1e-9, "{k}/{n}: {got} vs {want}");
    }
    assert_eq!(clean_rate_bound(0, 0), None);
    assert_eq!(clean_rate_bound(10, 12), None);
}

#[test]
fn repeats_of_any_earlier_row_are_left_out() {
    // 50 distinct natural rows replayed 10 times: 500 rows, 50 counted.
    let mut rng = fastrand::Rng::with_seed(7);
    let rows: Vec<Vec<f64>> = (0..50).map(|_| gaussian(&mut rng, 8)).collect();
    let t = tracker(Settings::default(), 8);
    for _ in 0..10 {
        for r in &rows {
            assert!(
                t.observe("replay", r, &[class(r)], None)
                    .suspicion
                    .is_none()
            );
        }
    }
    let c = t.client("replay").unwrap();
    let c = c.lock().unwrap();
    assert_eq!(c.rows, 500);
    assert!(c.distances.len() < 50, "{}", c.distances.len());
    assert!(c.steps.len() < 50, "{}", c.steps.len());
}

/// Distances found natural are not tested again while no distance is added (a call of
/// repeated rows), and are tested again as soon as one is: natural queries, then repeats,
/// then Jacobian-style synthetic queries are still caught by their distances.
#[test]
fn distances_are_tested_again_once_they_change() {
    let mut rng = fastrand::Rng::with_seed(3);
    let t = tracker(
        Settings {
            probe_share: 1.0,
            ..Settings::default()
        },
        16,
    );
    let natural: Vec<Vec<f64>> = (0..300).map(|_| gaussian(&mut rng, 16)).collect();
    assert_eq!(send(&t, "c", &natural), None);
    let held = |t: &Tracker| {
        let clients = t.clients.lock().unwrap();
        let client = clients.map.get("c").unwrap().1.lock().unwrap();
        (client.distances.len(), client.distances_natural)
    };
    let (n, tested) = held(&t);
    assert!(n >= 100 && tested, "{n} distances, tested {tested}");
    for _ in 0..50 {
        assert_eq!(send(&t, "c", &natural[..1]), None);
    }
    assert_eq!(held(&t), (n, true), "a repeat adds no distance");
    let rows = jacobian_rounds(&mut rng, natural[..10].to_vec(), 7);
    let (_, reason) = send(&t, "c", &rows).expect("suspected");
    assert_eq!(reason.kind(), "distances", "{reason:?}");
}

/// Rows of `d` log-normal features (skewed, as breast_cancer's areas are), heavier
/// tailed with `sigma`.
fn lognormal_rows(rng: &mut fastrand::Rng, n: usize, d: usize, sigma: f64) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| gaussian(rng, d).iter().map(|z| (sigma * z).exp()).collect())
        .collect()
}

/// How many of `clients` natural clients, each sending `n` fresh rows of `make`, a
/// tracker at `threshold` suspects by their distances.
fn natural_suspected(
    threshold: f64,
    clients: u64,
    mut make: impl FnMut(&mut fastrand::Rng) -> Vec<Vec<f64>>,
) -> usize {
    let t = Tracker::new(
        Settings {
            threshold,
            ..Settings::default()
        },
        vec![1.0; 6],
    )
    .unwrap();
    (0..clients)
        .filter(|&c| {
            let mut rng = fastrand::Rng::with_seed(1000 + c);
            let rows = make(&mut rng);
            matches!(
                send(&t, &format!("natural-{c}"), &rows),
                Some((_, Reason::Distances { .. }))
            )
        })
        .count()
}

#[test]
fn the_threshold_calibrated_on_skewed_data_spares_its_natural_clients() {
    // Skewed features give skewed nearest-query distances: natural clients of such data
    // fall below the fixed default, and the calibrated threshold sits under them.
    let mut rng = fastrand::Rng::with_seed(7);
    let reference = lognormal_rows(&mut rng, 600, 6, 1.0);
    let rows: Vec<f64> = reference.iter().flatten().copied().collect();
    let classes: Vec<u32> = reference.iter().map(|r| class(r)).collect();
    let c = calibrate(&Settings::default(), &[1.0; 6], &rows, &classes, 60, 3).unwrap();
    assert!(c.threshold < DEFAULT_THRESHOLD, "{c:?}");
    let gap = (c.median_lowest_w - c.lowest_w).max(MARGIN);
    assert!((c.threshold - (c.lowest_w - gap)).abs() < 1e-12, "{c:?}");
    assert!(c.lowest_w <= c.median_lowest_w);
    assert_eq!((c.clients, c.rows_per_client), (60, 600));
    let fresh = |rng: &mut fastrand::Rng| lognormal_rows(rng, 300, 6, 1.0);
    let at_default = natural_suspected(DEFAULT_THRESHOLD, 30, fresh);
    let at_calibrated = natural_suspected(c.threshold, 30, fresh);
    assert!(at_default >= 3, "the default blocks {at_default} of 30");
    assert_eq!(at_calibrated, 0);
    // The same seed, the same calibration.
    let again = calibrate(&Settings::default(), &[1.0; 6], &rows, &classes, 60, 3).unwrap();
    assert_eq!(again, c);
}

#[test]
fn the_threshold_calibrated_on_normal_data_is_above_the_default() {
    // Natural clients of well-behaved data keep W high: the calibrated threshold is
    // higher than the fixed one (a copier has less room), and still spares them.
    let mut rng = fastrand::Rng::with_seed(8);
    let reference: Vec<Vec<f64>> = (0..600).map(|_| gaussian(&mut rng, 6)).collect();
    let rows: Vec<f64> = reference.iter().flatten().copied().collect();
    let classes: Vec<u32> = reference.iter().map(|r| class(r)).collect();
    let c = calibrate(&Settings::default(), &[1.0; 6], &rows, &classes, 60, 3).unwrap();
    assert!(
        c.threshold > DEFAULT_THRESHOLD && c.threshold <= MAX_THRESHOLD,
        "{c:?}"
    );
    let fresh = |rng: &mut fastrand::Rng| (0..300).map(|_| gaussian(rng, 6)).collect();
    assert_eq!(natural_suspected(c.threshold, 30, fresh), 0);
    c.validate().unwrap();
}

#[test]
fn a_calibration_needs_enough_rows_and_a_file_cannot_forge_one() {
    let mut rng = fastrand::Rng::with_seed(9);
    // 60 distinct rows (and as many repeats) give fewer than 100 distances.
    let mut reference: Vec<Vec<f64>> = (0..60).map(|_| gaussian(&mut rng, 4)).collect();
    reference.extend(reference.clone());
    let rows: Vec<f64> = reference.iter().flatten().copied().collect();
    let classes: Vec<u32> = reference.iter().map(|r| class(r)).collect();
    let e = calibrate(&Settings::default(), &[1.0; 4], &rows, &classes, 10, 0).unwrap_err();
    assert!(e.contains("60 distinct reference rows"), "{e}");
    assert!(calibrate(&Settings::default(), &[1.0; 4], &rows[1..], &classes, 10, 0).is_err());
    assert!(calibrate(&Settings::default(), &[1.0; 4], &rows, &classes, 0, 0).is_err());
    let e = calibrate(
        &Settings::default(),
        &[1.0; 4],
        &rows,
        &classes,
        MAX_CLIENTS + 1,
        0,
    )
    .unwrap_err();
    assert!(e.contains("from 1 to 10000"), "{e}");

    let reference: Vec<Vec<f64>> = (0..300).map(|_| gaussian(&mut rng, 4)).collect();
    let rows: Vec<f64> = reference.iter().flatten().copied().collect();
    let classes: Vec<u32> = reference.iter().map(|r| class(r)).collect();
    let good = calibrate(&Settings::default(), &[1.0; 4], &rows, &classes, 10, 0).unwrap();
    good.validate().unwrap();
    for forge in [
        |c: &mut Calibrated| c.threshold = 0.99,
        |c: &mut Calibrated| c.threshold = 0.0,
        |c: &mut Calibrated| c.threshold = f64::NAN,
        |c: &mut Calibrated| c.lowest_w = 1.5,
        |c: &mut Calibrated| c.history = 10,
        |c: &mut Calibrated| c.clients = 0,
    ] {
        let mut bad = good.clone();
        forge(&mut bad);
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn suspects_are_kept_and_restored_by_name() {
    let settings = Settings {
        budget: Some(2),
        max_principals: 2,
        ..Settings::default()
    };
    let t = tracker(settings.clone(), 2);
    for i in 0..3 {
        t.observe("copier", &[f64::from(i), 0.0], &[0], None);
    }
    t.observe("benign", &[0.0, 0.0], &[0], None);
    let suspects = t.suspects();
    assert_eq!(suspects.len(), 1);
    assert_eq!(suspects[0].0, "copier");
    assert_eq!(suspects[0].1.reason, Reason::Budget { budget: 2 });
    // Through JSON, into a new tracker: suspected from its first call.
    let json = serde_json::to_string(&suspects[0].1).unwrap();
    let back: Suspicion = serde_json::from_str(&json).unwrap();
    let fresh = tracker(settings, 2);
    assert!(fresh.restore("copier", back.clone()));
    assert_eq!(fresh.suspected("copier"), Some(back.clone()));
    let seen = fresh.observe("copier", &[9.0, 9.0], &[0], None);
    assert!(seen.suspicion.is_some() && !seen.new);
    // Full of suspected principals: one more cannot be restored.
    assert!(fresh.restore("second", back.clone()));
    assert!(!fresh.restore("third", back));
    // A reason with a field it does not know is refused.
    assert!(
        serde_json::from_str::<Suspicion>(&json.replace("\"budget\":2", "\"budget\":2,\"x\":1"))
            .is_err()
    );
}

#[test]
fn a_repeated_row_is_counted_by_the_inputs_sign_once() {
    let t = tracker(
        Settings {
            flag_rate: Some(0.05),
            ..Settings::default()
        },
        2,
    );
    // Twelve rows, three of them flagged (25 %: not evidence on its own), replayed a
    // hundred times: as many calls as would be evidence, were each counted.
    let mut rng = fastrand::Rng::with_seed(17);
    let rows: Vec<Vec<f64>> = (0..12).map(|_| gaussian(&mut rng, 2)).collect();
    for _ in 0..100 {
        for (i, row) in rows.iter().enumerate() {
            let seen = t.observe("replayer", row, &[0], Some(flagged(usize::from(i < 3))));
            assert!(seen.suspicion.is_none(), "{:?}", seen.suspicion);
        }
    }
    // Rows new each time, flagged as often: suspected.
    let mut after = None;
    for i in 0..1200 {
        let seen = t.observe(
            "new rows",
            &gaussian(&mut rng, 2),
            &[0],
            Some(flagged(usize::from(i % 4 == 0))),
        );
        if seen.new {
            assert_eq!(seen.suspicion.unwrap().reason.kind(), "inputs");
            after = Some(i);
            break;
        }
    }
    assert!(after.is_some_and(|a| a < 200), "{after:?}");
}

#[test]
fn in_a_call_of_several_rows_the_atypical_ones_are_counted_by_row() {
    let t = tracker(
        Settings {
            atypical_rate: Some(0.5),
            ..Settings::default()
        },
        2,
    );
    let mut rng = fastrand::Rng::with_seed(23);
    let repeated = gaussian(&mut rng, 2);
    // Each call: a new ordinary row and the same atypical row again. Said row by row,
    // the repeat is counted once: a client of ordinary rows.
    let call = |t: &Tracker, who: &str, rng: &mut fastrand::Rng, by_row: bool| {
        let mut rows = gaussian(rng, 2);
        rows.extend(&repeated);
        let looked = Looked {
            atypical: 1,
            atypical_flags: by_row.then(|| vec![false, true]),
            ..Looked::default()
        };
        t.observe(who, &rows, &[0, 0], Some(looked))
    };
    for _ in 0..300 {
        assert!(call(&t, "by row", &mut rng, true).suspicion.is_none());
    }
    // Counted by call only, the one atypical row of each is taken for the new one.
    let mut suspected = None;
    for i in 0..300 {
        if let Some(s) = call(&t, "by count", &mut rng, false).suspicion {
            assert_eq!(s.reason.kind(), "atypical");
            suspected = Some(i);
            break;
        }
    }
    assert!(suspected.is_some_and(|i| i < 60), "{suspected:?}");
}
