use super::*;

/// `n` rows of `d` standard-normal-ish values (sums of uniforms), seeded.
fn normal(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = fastrand::Rng::with_seed(seed);
    let data = (0..n * d)
        .map(|_| (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0)
        .collect();
    Matrix::new(n, d, data, Matrix::positional_names(d)).unwrap()
}

/// Two classes whose probability is the fractional part of the first value: a model a
/// perturbation of a fraction moves, and rounding undoes.
struct Fractional;

impl Model for Fractional {
    fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
        let mut out = Vec::new();
        for i in 0..rows.rows {
            let x = rows.row(i)[0];
            let p = x - x.floor();
            out.extend([1.0 - p, p]);
        }
        Ok((out, 2))
    }
}

fn squeeze_options() -> SqueezeOptions {
    SqueezeOptions {
        squeezers: vec![Squeezer::Round(0)],
        image: None,
        range: None,
        model_sha256: "ab".repeat(32),
    }
}

#[test]
fn the_threshold_flags_at_most_the_rate() {
    let scores: Vec<f64> = (0..1000).map(f64::from).collect();
    for fpr in [0.001, 0.01, 0.05, 0.2] {
        let t = threshold(&scores, fpr);
        let over = scores.iter().filter(|&&s| s > t).count();
        assert_eq!(over, (fpr * 1000.0).floor() as usize, "{fpr}");
    }
    // Ties at the threshold are not flagged.
    let t = threshold(&[0.0; 100], 0.05);
    assert_eq!(t, 0.0);
    // One detector: the same threshold jointly.
    assert_eq!(
        joint_thresholds(&[&scores], 0.05),
        [threshold(&scores, 0.05)]
    );
}

#[test]
fn joint_thresholds_keep_the_union_within_the_rate() {
    let mut rng = fastrand::Rng::with_seed(11);
    for overlap in [0.0, 0.5, 1.0] {
        let a: Vec<f64> = (0..2000).map(|_| rng.f64()).collect();
        let b: Vec<f64> = a
            .iter()
            .map(|&x| if rng.f64() < overlap { x } else { rng.f64() })
            .collect();
        let t = joint_thresholds(&[&a, &b], 0.05);
        let union = (0..2000).filter(|&i| a[i] > t[0] || b[i] > t[1]).count();
        assert!(union <= 100, "{overlap}: {union}");
        // Not much lower than allowed either: one more row per detector would pass it.
        let k = a.iter().filter(|&&x| x > t[0]).count();
        let looser = [
            threshold(&a, (k + 1) as f64 / 2000.0),
            threshold(&b, (k + 1) as f64 / 2000.0),
        ];
        let more = (0..2000)
            .filter(|&i| a[i] > looser[0] || b[i] > looser[1])
            .count();
        assert!(more > 100 || k + 1 > 100, "{overlap}: {more}");
        // Independent detectors share the budget (about half each); identical ones do not.
        if overlap == 1.0 {
            assert_eq!(k, 100);
        }
        if overlap == 0.0 {
            assert!((45..=55).contains(&k), "{k}");
        }
    }
}

#[test]
fn clean_rows_pass_at_about_the_rate_and_far_rows_are_flagged_with_reasons() {
    let reference = normal(4000, 5, 1);
    let opts = FitOptions {
        fpr: 0.05,
        trees: 100,
        mahalanobis: Some(false),
        ..FitOptions::default()
    };
    let d = fit(&reference, None, None, &opts).unwrap();
    assert_eq!(d.calibration.calibration_rows, 1000);
    assert_eq!(d.calibration.fit_rows, 3000);
    assert!(d.calibration.flagged["ood"] <= 0.05);
    assert_eq!(d.calibration.flagged["any"], d.calibration.flagged["ood"]);
    // New clean rows from the same distribution: about 5% flagged.
    let clean = normal(4000, 5, 2);
    let r = d.score(&clean, None).unwrap();
    let rate = r.iter().filter(|r| r.flagged).count() as f64 / 4000.0;
    assert!((0.025..0.08).contains(&rate), "{rate}");
    // Rows far away are all flagged, and say which feature is out of range.
    let mut far = normal(50, 5, 3);
    for i in 0..50 {
        far.data[i * 5 + (i % 5)] += 12.0;
    }
    let r = d.score(&far, None).unwrap();
    for r in &r {
        assert!(r.flagged && r.flags == ["ood"], "{r:?}");
    }
    assert!(
        r[2].reasons[0].starts_with("isolation score"),
        "{:?}",
        r[2].reasons
    );
    assert!(r[2].reasons[1].starts_with("`x2` = "), "{:?}", r[2].reasons);
    // The same seed, the same detector.
    assert!(fit(&reference, None, None, &opts).unwrap() == d);
}

#[test]
fn squeezing_catches_a_perturbation_the_model_is_sensitive_to() {
    // Clean rows are whole numbers: rounding does not move them.
    let mut reference = normal(400, 3, 4);
    reference.data.iter_mut().for_each(|v| *v = v.round());
    let opts = FitOptions {
        fpr: 0.05,
        ood: false,
        squeeze: Some(squeeze_options()),
        ..FitOptions::default()
    };
    let d = fit(&reference, None, Some(&Fractional), &opts).unwrap();
    let sq = d.squeeze.as_ref().unwrap();
    assert_eq!((sq.threshold, sq.classes), (0.0, 2));
    let rows = Matrix::new(
        2,
        3,
        vec![1.0, 2.0, 0.0, 1.3, 2.0, 0.0],
        Matrix::positional_names(3),
    )
    .unwrap();
    let r = d.score(&rows, Some(&Fractional)).unwrap();
    assert!(!r[0].flagged);
    assert_eq!(r[0].scores["squeeze"], Some(0.0));
    assert!(r[1].flagged && r[1].flags == ["squeeze"]);
    assert!((r[1].scores["squeeze"].unwrap() - 0.6).abs() < 1e-9);
    assert!(
        r[1].reasons[0].contains("under round:0"),
        "{:?}",
        r[1].reasons
    );
    // Without the model, no verdict.
    assert!(d.score(&rows, None).is_err());
}

#[test]
fn values_that_are_not_numbers_are_flagged_unless_the_reference_had_them_missing() {
    let mut reference = normal(400, 2, 5);
    reference.data[1] = f64::NAN; // x1 has a missing value in the reference
    let d = fit(
        &reference,
        None,
        None,
        &FitOptions {
            fpr: 0.05,
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert_eq!(d.missing, [false, true]);
    let rows = Matrix::new(
        3,
        2,
        vec![f64::NAN, 0.0, 0.0, f64::NAN, 0.0, f64::INFINITY],
        Matrix::positional_names(2),
    )
    .unwrap();
    let r = d.score(&rows, None).unwrap();
    assert!(r[0].flagged && r[0].scores["ood"].is_none());
    assert!(
        r[0].reasons[0].contains("had no value missing"),
        "{:?}",
        r[0].reasons
    );
    assert!(!r[1].flagged, "{:?}", r[1]);
    assert!(r[2].flagged && r[2].scores["ood"].is_none());
}

#[test]
fn a_model_that_answers_nan_gives_no_pass() {
    struct Nan;
    impl Model for Nan {
        fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
            let mut out = Fractional.probabilities(rows)?.0;
            if rows.row(0)[0] > 100.0 {
                out[0] = f64::NAN;
            }
            Ok((out, 2))
        }
    }
    let mut reference = normal(400, 3, 4);
    reference.data.iter_mut().for_each(|v| *v = v.round());
    let opts = FitOptions {
        fpr: 0.05,
        ood: false,
        squeeze: Some(squeeze_options()),
        ..FitOptions::default()
    };
    let d = fit(&reference, None, Some(&Nan), &opts).unwrap();
    let rows = Matrix::new(1, 3, vec![101.0, 0.0, 0.0], Matrix::positional_names(3)).unwrap();
    let r = d.score(&rows, Some(&Nan)).unwrap();
    assert!(r[0].flagged && r[0].scores["squeeze"].is_none());
}

#[test]
fn fitting_refuses_what_cannot_be_calibrated() {
    let reference = normal(200, 2, 6);
    let fit_with = |opts: FitOptions| fit(&reference, None, None, &opts).unwrap_err().to_string();
    // 50 held-out rows cannot set a 1% threshold.
    let e = fit_with(FitOptions::default());
    assert!(
        e.contains("needs at least 99 clean rows") && e.contains("there are 50"),
        "{e}"
    );
    assert!(
        fit_with(FitOptions {
            fpr: 0.0,
            ..FitOptions::default()
        })
        .contains("between 0 and 0.5")
    );
    assert!(
        fit_with(FitOptions {
            fpr: f64::NAN,
            ..FitOptions::default()
        })
        .contains("between 0 and 0.5")
    );
    assert!(
        fit_with(FitOptions {
            ood: false,
            mahalanobis: Some(false),
            ..FitOptions::default()
        })
        .contains("no detector")
    );
    let opts = FitOptions {
        fpr: 0.1,
        ood: false,
        squeeze: Some(SqueezeOptions {
            squeezers: vec![Squeezer::Median {
                height: 2,
                width: 2,
            }],
            image: Some("3x3".parse().unwrap()),
            ..squeeze_options()
        }),
        ..FitOptions::default()
    };
    let e = fit(&reference, None, Some(&Fractional), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds 9 values, the rows have 2"), "{e}");
    let mut empty = reference.clone();
    (0..200).for_each(|i| empty.data[i * 2 + 1] = f64::NAN);
    let e = fit(
        &empty,
        None,
        None,
        &FitOptions {
            fpr: 0.1,
            ..FitOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("`x1` has no value"), "{e}");
}

#[test]
fn a_calibration_file_must_have_the_reference_columns() {
    let reference = normal(300, 2, 7);
    let mut cal = normal(100, 2, 8);
    let opts = FitOptions {
        fpr: 0.05,
        ..FitOptions::default()
    };
    let d = fit(&reference, Some(&cal), None, &opts).unwrap();
    assert_eq!(
        (d.calibration.fit_rows, d.calibration.calibration_rows),
        (300, 100)
    );
    assert_eq!(d.calibration.source, "file");
    cal.names = vec!["a".into(), "b".into()];
    assert!(fit(&reference, Some(&cal), None, &opts).is_err());
}

#[test]
fn columns_line_up_by_name_or_by_position() {
    let mut reference = normal(300, 3, 9);
    reference.names = vec!["a".into(), "b".into(), "c".into()];
    let d = fit(
        &reference,
        None,
        None,
        &FitOptions {
            fpr: 0.05,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let shuffled = Matrix::new(
        1,
        4,
        vec![3.0, 9.0, 1.0, 2.0],
        vec!["c".into(), "extra".into(), "a".into(), "b".into()],
    )
    .unwrap();
    assert_eq!(d.align(&shuffled).unwrap().data, [1.0, 2.0, 3.0]);
    let array = Matrix::new(1, 3, vec![1.0, 2.0, 3.0], Matrix::positional_names(3)).unwrap();
    assert_eq!(d.align(&array).unwrap().names, ["a", "b", "c"]);
    let short = Matrix::new(1, 2, vec![1.0, 2.0], Matrix::positional_names(2)).unwrap();
    assert!(
        d.align(&short)
            .unwrap_err()
            .to_string()
            .contains("2 values")
    );
    let lacking = Matrix::new(1, 1, vec![1.0], vec!["a".into()]).unwrap();
    assert!(d.align(&lacking).unwrap_err().to_string().contains("b, c"));
}

#[test]
fn a_detector_file_is_checked_when_read() {
    let reference = normal(300, 2, 10);
    let d = fit(
        &reference,
        None,
        None,
        &FitOptions {
            fpr: 0.05,
            trees: 5,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let text = serde_json::to_vec(&d).unwrap();
    assert!(Detector::from_json(&text).unwrap() == d);
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    for (path, value, says) in [
        ("/format", serde_json::json!("aigis-detector/9"), "format"),
        ("/fpr", serde_json::json!(0.7), "fpr"),
        ("/medians", serde_json::json!([0.0]), "length"),
        (
            "/ood/threshold",
            serde_json::json!(null),
            "not a detector file",
        ),
        (
            "/ood/forest/trees/0/0",
            serde_json::json!([0.5, 0, 0, 0.0, 1.0]),
            "node",
        ),
        ("/ood/forest/columns", serde_json::json!(3), "3 values"),
        (
            "/calibration/atypical/above",
            serde_json::json!(10_000),
            "atypical rows",
        ),
        (
            "/calibration/atypical/cuts/ood",
            serde_json::json!(null),
            "not a detector file",
        ),
        (
            "/calibration/atypical/cuts",
            serde_json::json!({"squeeze": 0.5}),
            "`squeeze`",
        ),
        (
            "/calibration/atypical/cuts",
            serde_json::json!({}),
            "cuts are missing",
        ),
    ] {
        let mut bad = v.clone();
        *bad.pointer_mut(path).unwrap() = value;
        let e = Detector::from_json(&serde_json::to_vec(&bad).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{path}: {e}");
    }
    // A file made before the atypical cuts reads, without them.
    let mut older = v.clone();
    older["calibration"]
        .as_object_mut()
        .unwrap()
        .remove("atypical");
    let older = Detector::from_json(&serde_json::to_vec(&older).unwrap()).unwrap();
    assert_eq!(older.calibration.atypical, None);
    let mut extra = v.clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(Detector::from_json(&serde_json::to_vec(&extra).unwrap()).is_err());
    assert!(Detector::from_json(b"[]").is_err());
}

#[test]
fn atypical_cuts_leave_a_tenth_of_clean_rows_above_each() {
    let d = fit(
        &correlated(3000, 8, 1, true),
        None,
        None,
        &FitOptions {
            fpr: 0.02,
            trees: 100,
            ..FitOptions::default()
        },
    )
    .unwrap();
    let a = d.calibration.atypical.clone().expect("atypical cuts");
    assert_eq!(a.cuts.keys().collect::<Vec<_>>(), ["mahalanobis", "ood"]);
    // Each cut is above its detector's threshold (a tenth is more than 2 %).
    assert!(a.cuts["ood"] < d.ood.as_ref().unwrap().threshold);
    assert!(a.cuts["mahalanobis"] < d.mahalanobis.as_ref().unwrap().threshold);
    // On the calibration rows: a tenth above each, up to a fifth above either.
    let rows = d.calibration.calibration_rows;
    assert!(
        (rows / 10..=rows / 5).contains(&a.above),
        "{} of {rows}",
        a.above
    );
    // New clean rows: about a tenth above each cut.
    let clean = d.score(&correlated(3000, 8, 2, true), None).unwrap();
    for name in ["ood", "mahalanobis"] {
        let above = clean
            .iter()
            .filter(|r| r.scores[name].unwrap() > a.cuts[name])
            .count() as f64
            / 3000.0;
        assert!((0.07..0.13).contains(&above), "{name}: {above}");
    }
    // Values apart: every row above the distance's cut.
    let apart = d.score(&correlated(500, 8, 3, false), None).unwrap();
    assert!(
        apart
            .iter()
            .all(|r| r.scores["mahalanobis"].unwrap() > a.cuts["mahalanobis"])
    );
    // Without a model-free detector, no cuts.
    let mut only = d.clone();
    only.calibration.atypical = atypical_cuts(&[("squeeze", vec![0.1, 0.2])], 2);
    assert_eq!(only.calibration.atypical, None);
}

/// A column constant in the rows the forest grows on but not in the clean calibration
/// rows does not make those rows score 1 (and the threshold 1, which flags nothing).
#[test]
fn a_column_that_varies_in_clean_rows_is_not_held_constant() {
    let mut fit_rows = normal(400, 3, 11);
    (0..400).for_each(|i| fit_rows.data[i * 3] = 0.0);
    let mut cal = normal(200, 3, 12);
    (0..200).for_each(|i| cal.data[i * 3] = if i % 20 == 0 { 5.0 } else { 0.0 });
    let opts = FitOptions {
        fpr: 0.01,
        ..FitOptions::default()
    };
    let d = fit(&fit_rows, Some(&cal), None, &opts).unwrap();
    let ood = d.ood.as_ref().unwrap();
    assert!(ood.threshold < 1.0, "{}", ood.threshold);
    assert!(ood.forest.constants().is_empty());
    // Still held constant when the clean rows agree: another value scores 1, flagged.
    (0..200).for_each(|i| cal.data[i * 3] = 0.0);
    let d = fit(&fit_rows, Some(&cal), None, &opts).unwrap();
    assert_eq!(d.ood.as_ref().unwrap().forest.constants(), &[(0, 0.0)]);
    let far = Matrix::new(1, 3, vec![5.0, 0.0, 0.0], Matrix::positional_names(3)).unwrap();
    assert!(d.score(&far, None).unwrap()[0].flagged);
}

/// A model whose answer flips whole on every squeezed row: the squeeze threshold would be
/// the largest score (2), flagging nothing; refused.
#[test]
fn a_detector_whose_threshold_would_flag_nothing_is_refused() {
    struct Flip;
    impl Model for Flip {
        fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
            let p = (0..rows.rows)
                .flat_map(|i| {
                    let x = rows.row(i)[0];
                    if x == x.round() {
                        [1.0, 0.0]
                    } else {
                        [0.0, 1.0]
                    }
                })
                .collect();
            Ok((p, 2))
        }
    }
    let opts = FitOptions {
        fpr: 0.05,
        ood: false,
        squeeze: Some(squeeze_options()),
        ..FitOptions::default()
    };
    let e = fit(&normal(400, 2, 13), None, Some(&Flip), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("its threshold would flag nothing"), "{e}");
}

/// Rows of `d` features that all follow one hidden factor (as a cell's radius, perimeter
/// and area do), and rows whose values are each in range but drawn apart.
fn correlated(n: usize, d: usize, seed: u64, together: bool) -> Matrix {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut gauss = move || (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0;
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let factor = gauss();
        for j in 0..d {
            let f = if together { factor } else { gauss() };
            data.push((j + 1) as f64 * 10.0 * (f + 0.1 * gauss()));
        }
    }
    Matrix::new(n, d, data, Matrix::positional_names(d)).unwrap()
}

#[test]
fn rows_whose_values_do_not_go_together_are_caught_by_the_distance_not_the_forest() {
    let reference = correlated(3000, 8, 1, true);
    let opts = FitOptions {
        fpr: 0.02,
        trees: 100,
        ..FitOptions::default()
    };
    let d = fit(&reference, None, None, &opts).unwrap();
    assert_eq!(d.names(), ["ood", "mahalanobis"]);
    // Calibrated together: at most the rate flagged by either.
    let flagged = &d.calibration.flagged;
    assert!(flagged["any"] <= 0.02 && flagged["any"] >= flagged["mahalanobis"]);
    let clean = d.score(&correlated(3000, 8, 2, true), None).unwrap();
    let rate = clean.iter().filter(|r| r.flagged).count() as f64 / 3000.0;
    assert!((0.008..0.04).contains(&rate), "{rate}");
    // Each value in range, the values apart: the forest lets most through, the distance
    // none.
    let apart = d.score(&correlated(500, 8, 3, false), None).unwrap();
    let by = |name: &str| apart.iter().filter(|r| r.flags.contains(&name)).count();
    assert!(by("mahalanobis") >= 495, "{}", by("mahalanobis"));
    assert!(by("ood") < 250, "{}", by("ood"));
    let r = apart
        .iter()
        .find(|r| r.flags == ["mahalanobis"])
        .expect("a row only the distance flags");
    assert!(
        r.reasons[0].starts_with("squared Mahalanobis distance"),
        "{r:?}"
    );
    // Which features made it far, by name only.
    assert!(
        r.reasons[1].starts_with("most of the distance comes from `x"),
        "{r:?}"
    );
    // Off when asked, and on its own.
    let off = fit(
        &reference,
        None,
        None,
        &FitOptions {
            mahalanobis: Some(false),
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(off.names(), ["ood"]);
    let alone = fit(
        &reference,
        None,
        None,
        &FitOptions {
            ood: false,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(alone.names(), ["mahalanobis"]);
    // Not by default on wide rows, unless asked; and the file round-trips.
    let wide = normal(600, mahalanobis::AUTO_MAX_FEATURES + 1, 4);
    let quick = FitOptions {
        fpr: 0.05,
        trees: 10,
        ..FitOptions::default()
    };
    assert_eq!(fit(&wide, None, None, &quick).unwrap().names(), ["ood"]);
    let json = serde_json::to_vec(&alone).unwrap();
    assert!(Detector::from_json(&json).unwrap() == alone);
    // A forged factor of the wrong size, or a threshold that is not a number, is refused.
    let mut bad = alone.clone();
    bad.mahalanobis.as_mut().unwrap().factor.pop();
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("factor holds")
    );
    let mut bad = alone.clone();
    bad.mahalanobis.as_mut().unwrap().factor[0] = 0.0;
    assert!(bad.validate().unwrap_err().to_string().contains("diagonal"));
    let mut bad = alone;
    bad.mahalanobis.as_mut().unwrap().threshold = f64::NAN;
    assert!(bad.validate().is_err());
}

#[test]
fn a_distance_that_is_not_a_number_is_no_pass() {
    let reference = correlated(500, 3, 7, true);
    let opts = FitOptions {
        fpr: 0.05,
        ood: false,
        ..FitOptions::default()
    };
    let mut d = fit(&reference, None, None, &opts).unwrap();
    // A factor that passes validation (finite, positive diagonal) and overflows to
    // inf − inf in the substitution.
    let m = d.mahalanobis.as_mut().unwrap();
    m.factor = vec![1e-300, 1e300, 1e-300, 1e300, 1.0, 1.0];
    m.mean = vec![0.0; 3];
    m.scale = vec![1.0; 3];
    m.center = vec![0.0; 3];
    d.validate().unwrap();
    let rows = Matrix::new(1, 3, vec![4.0, 4.0, 4.0], d.features.clone()).unwrap();
    let r = d.score(&rows, None).unwrap();
    assert!(
        r[0].flagged && r[0].scores["mahalanobis"].is_none(),
        "{r:?}"
    );
    assert!(r[0].reasons[0].contains("could not be computed"), "{r:?}");
}

/// The extraction calibration of a large reference runs the model on a sample of at most
/// `MAX_POOL_ROWS` complete rows, and a row with a missing value is left out.
#[test]
fn a_large_reference_is_sampled_for_the_extraction_calibration() {
    /// Two classes by the first feature's sign; counts the rows it is asked about.
    struct Sign(std::cell::Cell<usize>);
    impl Model for Sign {
        fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
            self.0.set(self.0.get() + rows.rows);
            Ok((
                (0..rows.rows)
                    .flat_map(|i| {
                        let p = f64::from(u8::from(rows.row(i)[0] > 0.0));
                        [1.0 - p, p]
                    })
                    .collect(),
                2,
            ))
        }
    }
    let n = crate::extraction::MAX_POOL_ROWS + 500;
    let mut reference = normal(n, 3, 4);
    reference.data[1] = f64::NAN;
    let opts = FitOptions {
        fpr: 0.05,
        trees: 10,
        ood: false,
        ..FitOptions::default()
    };
    let d = fit(&normal(200, 3, 5), None, None, &opts).unwrap();
    let model = Sign(std::cell::Cell::new(0));
    let ex = ExtractionOptions {
        settings: crate::extraction::Settings::default(),
        clients: 2,
        model_sha256: "ab".repeat(32),
    };
    let e = calibrate_extraction(&d, &reference, &model, &ex, 0).unwrap();
    assert_eq!(model.0.get(), crate::extraction::MAX_POOL_ROWS);
    assert_eq!(e.prada.rows_per_client, 2000);
    // Below the cap every complete row is used.
    let mut small = normal(1000, 3, 6);
    small.data[4] = f64::INFINITY;
    let model = Sign(std::cell::Cell::new(0));
    let e = calibrate_extraction(&d, &small, &model, &ex, 0).unwrap();
    assert_eq!((model.0.get(), e.prada.rows_per_client), (999, 999));
}

#[test]
fn the_calibration_rows_are_counted_by_the_class_the_model_answers() {
    /// Class 1 for rows whose first value is positive.
    struct Sign;
    impl Model for Sign {
        fn probabilities(&self, rows: &Matrix) -> Result<(Vec<f64>, usize), String> {
            Ok((
                (0..rows.rows)
                    .flat_map(|i| {
                        if rows.row(i)[0] > 0.0 {
                            [0.2, 0.8]
                        } else {
                            [0.9, 0.1]
                        }
                    })
                    .collect(),
                2,
            ))
        }
    }
    let reference = normal(2000, 3, 21);
    let opts = FitOptions {
        fpr: 0.05,
        model_sha256: Some("cd".repeat(32)),
        ..FitOptions::default()
    };
    let d = fit(&reference, None, Some(&Sign), &opts).unwrap();
    let b = d.calibration.by_class.as_ref().expect("counted by class");
    assert_eq!(b.model_sha256, "cd".repeat(32));
    assert_eq!(
        b.classes.iter().map(|c| c.class).collect::<Vec<_>>(),
        [0, 1]
    );
    let rows: u64 = b.classes.iter().map(|c| c.rows).sum();
    assert_eq!(rows, d.calibration.calibration_rows as u64);
    // Every class is a fair share of the rows, and the flagged ones add up to `any`.
    assert!(b.classes.iter().all(|c| c.rows > 150), "{b:?}");
    let flagged: u64 = b.classes.iter().map(|c| c.flagged).sum();
    let any = d.calibration.flagged["any"] * d.calibration.calibration_rows as f64;
    assert_eq!(flagged, any.round() as u64);
    d.validate().unwrap();
    // Without the model's digest, or without the model, nothing is counted.
    let plain = fit(
        &reference,
        None,
        Some(&Sign),
        &FitOptions {
            fpr: 0.05,
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert_eq!(plain.calibration.by_class, None);
    // A file cannot forge the counts: they add up to the calibration rows.
    let mut forged = d.clone();
    forged.calibration.by_class.as_mut().unwrap().classes[0].rows += 1;
    let e = forged.validate().unwrap_err().to_string();
    assert!(e.contains("add up to"), "{e}");
    let mut forged = d.clone();
    let c = &mut forged.calibration.by_class.as_mut().unwrap().classes[1];
    c.flagged = c.rows + 1;
    assert!(forged.validate().is_err());
    let mut forged = d;
    forged.calibration.by_class.as_mut().unwrap().model_sha256 = "x".into();
    assert!(forged.validate().is_err());
}

#[test]
fn an_infinite_cell_of_a_table_is_read_as_infinite_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inputs.csv");
    std::fs::write(&path, "x0,x1\n0.1,inf\n-Infinity,0.2\n0.3,0.4\n").unwrap();
    let m = read_matrix(
        &path,
        &Columns::default(),
        None,
        &aigis_data::table::ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(m.cols, 2, "the columns stay numeric");
    assert_eq!(m.row(0)[1], f64::INFINITY);
    assert_eq!(m.row(1)[0], f64::NEG_INFINITY);
    let d = fit(&normal(400, 2, 5), None, None, &FitOptions::default()).unwrap();
    let r = d.score(&m, None).unwrap();
    assert!(r[0].flagged && r[1].flagged, "{r:?}");
    assert!(
        r[0].reasons[0].contains("`x1` is infinite, and the reference had only finite values"),
        "{:?}",
        r[0].reasons
    );
}
