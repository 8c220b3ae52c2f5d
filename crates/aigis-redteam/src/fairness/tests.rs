use super::*;

fn table(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn options(sensitive: &[&str]) -> Options {
    let mut o = Options::new("y", "p", sensitive.iter().map(|s| s.to_string()).collect());
    o.bootstrap = 0;
    o
}

fn group<'a>(a: &'a Analysis, values: &[&str]) -> &'a Group {
    a.groups
        .iter()
        .find(|g| g.values == values)
        .unwrap_or_else(|| panic!("no group {values:?} in {:?}", a.groups))
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap();
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

/// Two groups whose confusion matrices are known by hand:
/// A: tp 2, fn 1, fp 1, tn 2 (6 rows); B: tp 1, fn 1, fp 0, tn 2 (4 rows).
const TWO_GROUPS: &str = "g,y,p\n\
A,1,1\nA,1,1\nA,1,0\nA,0,1\nA,0,0\nA,0,0\n\
B,1,1\nB,1,0\nB,0,0\nB,0,0\n";

#[test]
fn the_rates_and_disparities_are_those_worked_by_hand() {
    let (_d, path) = table(TWO_GROUPS);
    let r = assess(&path, &options(&["g"])).unwrap();
    assert_eq!(r.rows, 10);
    assert_eq!(r.positive, "1");
    assert_eq!(r.negative.as_deref(), Some("0"));
    let a = &r.analyses[0];
    let (ga, gb) = (group(a, &["A"]), group(a, &["B"]));
    close(ga.rates.selection_rate.value, 3.0 / 6.0);
    close(gb.rates.selection_rate.value, 1.0 / 4.0);
    close(ga.rates.true_positive_rate.value, 2.0 / 3.0);
    close(gb.rates.true_positive_rate.value, 1.0 / 2.0);
    close(ga.rates.false_positive_rate.value, 1.0 / 3.0);
    close(gb.rates.false_positive_rate.value, 0.0);
    close(ga.rates.accuracy.value, 4.0 / 6.0);
    close(gb.rates.accuracy.value, 3.0 / 4.0);
    let d = &a.disparities;
    close(d.demographic_parity_difference.value, 0.5 - 0.25);
    close(d.demographic_parity_ratio.value, 0.25 / 0.5);
    close(d.disparate_impact.value, 0.5);
    close(d.true_positive_rate_difference.value, 2.0 / 3.0 - 0.5);
    close(d.false_positive_rate_difference.value, 1.0 / 3.0);
    // The larger difference, the smaller ratio (FPR: 0 over 1/3).
    close(d.equalized_odds_difference.value, 1.0 / 3.0);
    close(d.equalized_odds_ratio.value, 0.0);
    close(d.accuracy_difference.value, 0.75 - 4.0 / 6.0);
    close(ga.impact_ratio.value, 1.0);
    close(gb.impact_ratio.value, 0.5);
    close(r.overall.selection_rate.value, 4.0 / 10.0);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn several_sensitive_columns_are_analysed_alone_and_intersected() {
    let (_d, path) = table("sex,race,y,p\nF,x,1,1\nF,y,0,1\nM,x,1,0\nM,x,0,0\nF,x,0,0\nM,y,1,1\n");
    let r = assess(&path, &options(&["sex", "race"])).unwrap();
    let names: Vec<_> = r.analyses.iter().map(Analysis::name).collect();
    assert_eq!(names, ["sex", "race", "sex × race"]);
    let both = &r.analyses[2];
    // Only the combinations present, in the order of the values.
    let groups: Vec<_> = both.groups.iter().map(|g| g.values.join("/")).collect();
    assert_eq!(groups, ["F/x", "F/y", "M/x", "M/y"]);
    assert_eq!(group(both, &["M", "x"]).rates.rows, 2);
    close(group(both, &["F", "y"]).rates.selection_rate.value, 1.0);
    close(group(both, &["M", "x"]).rates.selection_rate.value, 0.0);
    close(both.disparities.demographic_parity_difference.value, 1.0);
    close(both.disparities.demographic_parity_ratio.value, 0.0);
}

#[test]
fn a_group_without_a_positive_label_has_fairlearns_rate_of_zero_and_a_warning() {
    let (_d, path) = table("g,y,p\nA,1,1\nA,0,0\nB,0,1\nB,0,0\n");
    let r = assess(&path, &options(&["g"])).unwrap();
    let a = &r.analyses[0];
    close(group(a, &["B"]).rates.true_positive_rate.value, 0.0);
    close(a.disparities.true_positive_rate_difference.value, 1.0);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("no positive label in B")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn outcomes_are_read_as_numbers_booleans_or_a_named_positive() {
    // 1.0 and 1 are one value; the positive is 1.
    let (_d, path) = table("g,y,p\nA,1.0,1\nA,0,0.0\nB,1,0\n");
    let r = assess(&path, &options(&["g"])).unwrap();
    assert_eq!((r.positive.as_str(), r.rows), ("1", 3));
    close(r.overall.true_positive_rate.value, 0.5);
    // Booleans.
    let (_d, path) = table("g,y,p\nA,True,true\nB,false,TRUE\n");
    let r = assess(&path, &options(&["g"])).unwrap();
    assert_eq!(r.positive, "true");
    close(r.overall.selection_rate.value, 1.0);
    // Words need --positive.
    let (_d, path) = table("g,y,p\nA,>50K,<=50K\nB,<=50K,<=50K\n");
    let err = assess(&path, &options(&["g"])).unwrap_err().to_string();
    assert!(
        err.contains("--positive") && err.contains("`>50K`"),
        "{err}"
    );
    let mut o = options(&["g"]);
    o.positive = Some(">50K".into());
    let r = assess(&path, &o).unwrap();
    close(r.overall.selection_rate.value, 0.0);
    close(r.overall.true_positive_rate.value, 0.0);
    assert_eq!(r.negative.as_deref(), Some("<=50K"));
    // A positive that is not there.
    o.positive = Some("yes".into());
    let err = assess(&path, &o).unwrap_err().to_string();
    assert!(err.contains("--positive `yes` is not among"), "{err}");
}

#[test]
fn bad_input_is_refused_with_the_column_and_row() {
    let cases: [(&str, Options, &str); 7] = [
        (
            "g,y,p\nA,1,1\nA,,0\n",
            options(&["g"]),
            "`y` is empty at row 2",
        ),
        (
            "g,y,p\nA,1,1\nA,nan,0\n",
            options(&["g"]),
            "`y` is empty at row 2",
        ),
        (
            "g,y,p\nA,1,2\nA,0,0\n",
            options(&["g"]),
            "more than two values",
        ),
        ("g,y,p\nA,1,1\n", options(&["h"]), "no column `h`"),
        ("g,y,p\n", options(&["g"]), "no data row"),
        (
            "g,y,p\nA,1,1\n",
            options(&[]),
            "at least one sensitive column",
        ),
        ("g,y,p\nA,1,1\n", options(&["g", "g"]), "named twice"),
    ];
    for (text, o, want) in cases {
        let (_d, path) = table(text);
        let err = assess(&path, &o).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let (_d, path) = table("g,y,p,s\nA,1,1,0.5\nA,0,0,1.5\n");
    let mut o = options(&["g"]);
    o.score = Some("s".into());
    let err = assess(&path, &o).unwrap_err().to_string();
    assert!(err.contains("the score `s` is 1.5 at row 2"), "{err}");
    let mut o = options(&["y"]);
    o.sensitive = vec!["y".into()];
    let err = assess(&path, &o).unwrap_err().to_string();
    assert!(err.contains("sensitive column and as the label"), "{err}");
}

#[test]
fn an_identifier_is_not_a_sensitive_column() {
    let mut text = String::from("id,y,p\n");
    for i in 0..=MAX_GROUPS {
        text.push_str(&format!("{i},1,1\n"));
    }
    let (_d, path) = table(&text);
    let err = assess(&path, &options(&["id"])).unwrap_err().to_string();
    assert!(err.contains("is it an identifier"), "{err}");
}

#[test]
fn a_missing_sensitive_value_is_a_group_of_its_own() {
    let (_d, path) = table("g,y,p\nA,1,1\n,1,0\nA,0,0\n");
    let r = assess(&path, &options(&["g"])).unwrap();
    let a = &r.analyses[0];
    assert_eq!(group(a, &[MISSING]).rates.rows, 1);
    assert_eq!(group(a, &["A"]).rates.rows, 2);
}

#[test]
fn small_groups_are_reported_but_left_out_of_the_disparities() {
    let (_d, path) = table("g,y,p\nA,1,1\nA,0,0\nA,1,1\nB,1,0\n");
    let mut o = options(&["g"]);
    o.min_group = 2;
    let r = assess(&path, &o).unwrap();
    let a = &r.analyses[0];
    assert!(group(a, &["B"]).excluded);
    assert!(!group(a, &["A"]).excluded);
    // One group left: nothing to compare, every disparity undefined.
    for m in Metric::ALL {
        assert_eq!(a.disparities.get(m).value, None, "{m}");
    }
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("fewer than two groups"))
    );
    // And a threshold on an undefined value fails.
    let t = [Threshold {
        metric: Metric::DemographicParityDifference,
        bound: Bound::AtMost,
        value: 1.0,
    }];
    let breaches = check(&r, &t);
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].value, None);
}

#[test]
fn thresholds_fail_on_the_side_they_name() {
    let (_d, path) = table(TWO_GROUPS);
    let r = assess(&path, &options(&["g"])).unwrap();
    let t = |metric, bound, value| Threshold {
        metric,
        bound,
        value,
    };
    let pass = [
        t(Metric::DemographicParityDifference, Bound::AtMost, 0.25),
        t(Metric::DemographicParityRatio, Bound::AtLeast, 0.5),
    ];
    assert!(check(&r, &pass).is_empty());
    let fail = [
        t(Metric::DemographicParityDifference, Bound::AtMost, 0.2),
        t(Metric::DisparateImpact, Bound::AtLeast, 0.8),
    ];
    let b = check(&r, &fail);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].analysis, "g");
    assert_eq!(b[1].metric, Metric::DisparateImpact);
    assert_eq!(
        "Equalized_Odds-Ratio".parse(),
        Ok(Metric::EqualizedOddsRatio)
    );
    assert!("parity".parse::<Metric>().unwrap_err().contains("one of"));
}

#[test]
fn the_score_is_calibrated_per_group() {
    // A: scores 0.05 (y 0), 0.15 (y 0), 0.95 (y 1), 1.0 (y 1); B: 0.5 (y 0), 0.5 (y 1).
    let (_d, path) =
        table("g,y,p,s\nA,0,0,0.05\nA,0,0,0.15\nA,1,1,0.95\nA,1,1,1.0\nB,0,1,0.5\nB,1,1,0.5\n");
    let mut o = options(&["g"]);
    o.score = Some("s".into());
    let r = assess(&path, &o).unwrap();
    let a = &r.analyses[0];
    let ca = group(a, &["A"]).rates.calibration.clone().unwrap();
    close(ca.mean_score.value, (0.05 + 0.15 + 0.95 + 1.0) / 4.0);
    close(
        ca.brier.value,
        (0.05f64.powi(2) + 0.15f64.powi(2) + 0.05f64.powi(2) + 0.0) / 4.0,
    );
    // Bins of 0.1: [0, 0.1) holds 0.05 (0 positive), [0.1, 0.2) 0.15, [0.9, 1] 0.95 and 1.0.
    close(
        ca.expected_calibration_error.value,
        (0.05 + 0.15 + 2.0 * (0.975f64 - 1.0).abs()) / 4.0,
    );
    let cb = group(a, &["B"]).rates.calibration.clone().unwrap();
    close(cb.expected_calibration_error.value, 0.0);
    close(cb.brier.value, 0.25);
}

#[test]
fn the_percentile_interval_is_numpys() {
    // np.percentile(range(1, 11), [2.5, 97.5]) is [1.225, 9.775].
    let mut v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
    let [lo, hi] = percentile_interval(&mut v, 0.95).unwrap();
    assert!((lo - 1.225).abs() < 1e-12 && (hi - 9.775).abs() < 1e-12);
    assert_eq!(percentile_interval(&mut [], 0.95), None);
    assert_eq!(percentile_interval(&mut [3.0], 0.9), Some([3.0, 3.0]));
}

#[test]
fn the_bootstrap_is_seeded_and_covers_the_rate_as_the_normal_approximation_does() {
    // 2,000 rows: A selected at 0.3, B at 0.6.
    let mut text = String::from("g,y,p\n");
    for i in 0..1000 {
        text.push_str(&format!("A,{},{}\n", i % 2, u8::from(i % 10 < 3)));
        text.push_str(&format!("B,{},{}\n", i % 2, u8::from(i % 10 < 6)));
    }
    let (_d, path) = table(&text);
    let mut o = options(&["g"]);
    o.bootstrap = 400;
    o.seed = 7;
    let r = assess(&path, &o).unwrap();
    assert_eq!(
        r,
        assess(&path, &o).unwrap(),
        "the same seed, the same intervals"
    );
    let a = &r.analyses[0];
    let sel = group(a, &["A"]).rates.selection_rate;
    let [lo, hi] = sel.interval.unwrap();
    assert!(lo < 0.3 && 0.3 < hi, "{lo} {hi}");
    // The binomial's 95 % half-width: 1.96 * sqrt(0.3 * 0.7 / 1000) = 0.0284 (the
    // resample's group size varies too, a little).
    let half = (hi - lo) / 2.0;
    assert!((0.022..0.036).contains(&half), "{half}");
    let [lo, hi] = a
        .disparities
        .demographic_parity_difference
        .interval
        .unwrap();
    assert!(lo < 0.3 && 0.3 < hi && hi - lo < 0.12, "{lo} {hi}");
    o.seed = 8;
    assert_ne!(
        r,
        assess(&path, &o).unwrap(),
        "another seed, other intervals"
    );
}
