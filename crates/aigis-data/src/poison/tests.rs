//! Tests of [`super::detect`] as the scan calls it: every kind planted at once, clean data,
//! degenerate shapes, determinism and the JSON form.

use std::sync::atomic::{AtomicU64, Ordering};

use super::testdata::gaussian_clusters;
use super::*;

fn kinds(report: &Report, row: usize) -> Vec<PoisonKind> {
    report
        .rows
        .iter()
        .find(|r| r.row == row)
        .map(|r| r.reasons.iter().map(|x| x.kind).collect())
        .unwrap_or_default()
}

/// 1,500 rows × 8 columns in 3 clusters with one of each poison planted.
fn poisoned() -> (Features, Vec<u32>) {
    let (mut f, mut y) = gaussian_clusters(1500, 8, 3, 31);
    let d = 8;
    // Outlier.
    f.data[100 * d..101 * d]
        .iter_mut()
        .for_each(|v| *v = *v * 6.0 + 40.0);
    // Flip.
    y[200] = (y[200] + 1) % 3;
    // Exact duplicate with a conflicting label.
    let row: Vec<f64> = f.data[300 * d..301 * d].to_vec();
    f.data[301 * d..302 * d].copy_from_slice(&row);
    y[301] = (y[300] + 1) % 3;
    // Near duplicate.
    let row: Vec<f64> = f.data[400 * d..401 * d].iter().map(|v| v + 1e-3).collect();
    f.data[401 * d..402 * d].copy_from_slice(&row);
    y[401] = y[400];
    // Backdoor: 12 rows of classes 0 and 1 get columns 2 and 5 set to 30, label 2.
    for k in 0..12 {
        let i = 600 + 3 * k + (k % 2);
        f.data[i * d + 2] = 30.0;
        f.data[i * d + 5] = 30.0;
        y[i] = 2;
    }
    (f, y)
}

#[test]
fn every_planted_kind_is_found() {
    let (f, y) = poisoned();
    let report = detect(&f, Some(&y), &Options::default()).unwrap();
    assert!(kinds(&report, 100).contains(&PoisonKind::Outlier));
    assert!(!kinds(&report, 100).contains(&PoisonKind::LabelFlip));
    assert!(kinds(&report, 200).contains(&PoisonKind::LabelFlip));
    assert!(kinds(&report, 300).contains(&PoisonKind::Duplicate));
    assert!(kinds(&report, 301).contains(&PoisonKind::Duplicate));
    assert!(kinds(&report, 401).contains(&PoisonKind::NearDuplicate));
    for k in 0..12 {
        let i = 600 + 3 * k + (k % 2);
        let found = kinds(&report, i);
        assert!(found.contains(&PoisonKind::Backdoor), "row {i}: {found:?}");
        assert!(
            !found.contains(&PoisonKind::LabelFlip),
            "row {i}: {found:?}"
        );
    }
    let row = report.rows.iter().find(|r| r.row == 301).unwrap();
    let dup = row
        .reasons
        .iter()
        .find(|r| r.kind == PoisonKind::Duplicate)
        .unwrap();
    assert!(dup.detail.contains("different labels"), "{}", dup.detail);
    assert_eq!(dup.related_rows, vec![300]);
    assert!(dup.score >= 0.8);
    // Few rows beyond the planted ones (two flips sit next to another cluster by chance).
    assert!(report.rows.len() <= 12 + 5 + 5, "{:#?}", report.rows);
    assert!(report.rows.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(report.rows.iter().all(|r| (0.0..=1.0).contains(&r.score)));
    assert_eq!(report.thresholds.label_model, "knn");
    assert_eq!(report.counts.backdoor, 12);
}

/// Two tight classes far apart in 3 columns (each coordinate ±0.5 around 0 or 10), with
/// three flipped labels, two identical far outliers and one near copy. Each column's robust
/// σ measures the gap between the classes, so ordinary neighbours are within 0.05 σ: they
/// must not be near duplicates. The flips look like ordinary members of the other class:
/// they are flips, not backdoors.
#[test]
fn tight_clusters_flips_are_not_backdoors_nor_neighbours_duplicates() {
    let mut rng = fastrand::Rng::with_seed(12345);
    let (n, d) = (400, 3);
    let mut data = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let (centre, label) = if i % 2 == 0 { (0.0, 0) } else { (10.0, 1) };
        y.push(if [101, 203, 305].contains(&i) {
            1 - label
        } else {
            label
        });
        for _ in 0..d {
            data.push(if [50, 150].contains(&i) {
                300.0
            } else {
                centre + rng.f64() - 0.5
            });
        }
    }
    // Row 12 is row 10 with a tiny change (same label).
    for j in 0..d {
        data[12 * d + j] = data[10 * d + j] + 1e-4;
    }
    let f = Features {
        n_rows: n,
        n_cols: d,
        data,
        names: vec!["x1".into(), "x2".into(), "x3".into()],
    };
    let report = detect(&f, Some(&y), &Options::default()).unwrap();
    for i in [101, 203, 305] {
        let found = kinds(&report, i);
        assert!(found.contains(&PoisonKind::LabelFlip), "row {i}: {found:?}");
        assert!(!found.contains(&PoisonKind::Backdoor), "row {i}: {found:?}");
    }
    for i in [50, 150] {
        assert!(kinds(&report, i).contains(&PoisonKind::Outlier));
    }
    assert!(kinds(&report, 150).contains(&PoisonKind::Duplicate));
    assert!(kinds(&report, 12).contains(&PoisonKind::NearDuplicate));
    assert_eq!(report.counts.backdoor, 0);
    assert!(report.counts.near_duplicate <= 2, "{:#?}", report.rows);
    assert!(report.rows.len() <= 8, "{:#?}", report.rows);
    assert!(report.thresholds.near_duplicate_rms < 0.01);
}

#[test]
fn lda_label_model_beyond_knn_max_rows() {
    let (f, y) = poisoned();
    let opts = Options {
        knn_max_rows: 100,
        ..Options::default()
    };
    let report = detect(&f, Some(&y), &opts).unwrap();
    assert_eq!(report.thresholds.label_model, "lda");
    assert!(kinds(&report, 200).contains(&PoisonKind::LabelFlip));
    assert_eq!(report.thresholds.class_thresholds.len(), 3);
}

#[test]
fn clean_data_gives_few_findings() {
    let (f, y) = gaussian_clusters(3000, 10, 4, 8);
    let report = detect(&f, Some(&y), &Options::default()).unwrap();
    assert!(report.rows.len() <= 15, "{:#?}", report.rows);
    assert_eq!(report.counts.backdoor, 0);
    assert_eq!(report.counts.duplicate, 0);
}

#[test]
fn deterministic_for_a_seed() {
    let (f, y) = poisoned();
    let a = detect(&f, Some(&y), &Options::default()).unwrap();
    let b = detect(&f, Some(&y), &Options::default()).unwrap();
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.thresholds, b.thresholds);
}

#[test]
fn missing_values_and_constant_columns() {
    let (mut f, y) = gaussian_clusters(500, 4, 2, 3);
    // Column 1 constant, column 3 partly missing, one cell infinite.
    for i in 0..500 {
        f.data[i * 4 + 1] = 7.0;
        if i % 10 == 0 {
            f.data[i * 4 + 3] = f64::NAN;
        }
    }
    f.data[5 * 4] = f64::INFINITY;
    f.data[50 * 4..51 * 4].copy_from_slice(&[500.0, 7.0, -500.0, f64::NAN]);
    let report = detect(&f, Some(&y), &Options::default()).unwrap();
    assert_eq!(report.preprocessing.constant_columns, vec!["f1"]);
    assert_eq!(
        report.preprocessing.imputed,
        vec![("f0".to_owned(), 1), ("f3".to_owned(), 50)]
    );
    assert!(kinds(&report, 50).contains(&PoisonKind::Outlier));
}

#[test]
fn degenerate_shapes_do_not_fail() {
    let opts = Options::default();
    let empty = Features::default();
    let r = detect(&empty, Some(&[]), &opts).unwrap();
    assert!(r.rows.is_empty());
    // Fewer rows than neighbours, folds or the forest's subsample.
    let (f, y) = gaussian_clusters(5, 3, 2, 1);
    assert!(detect(&f, Some(&y), &opts).is_ok());
    let (f, y) = gaussian_clusters(1, 3, 1, 1);
    assert!(detect(&f, Some(&y), &opts).unwrap().rows.is_empty());
    // Every column constant: duplicates only.
    let f = Features {
        n_rows: 3,
        n_cols: 2,
        data: vec![1.0; 6],
        names: Vec::new(),
    };
    let r = detect(&f, Some(&[0, 0, 1]), &opts).unwrap();
    assert!(r.notes.iter().any(|n| n.contains("no column varies")));
    assert_eq!(r.counts.duplicate, 3);
    // One column, no labels.
    let mut data: Vec<f64> = (0..400).map(|i| f64::from(i % 40)).collect();
    data[123] = 1e4;
    let f = Features {
        n_rows: 400,
        n_cols: 1,
        data,
        names: vec!["x".into()],
    };
    let r = detect(&f, None, &opts).unwrap();
    assert!(kinds(&r, 123).contains(&PoisonKind::Outlier));
    assert!(r.notes.iter().any(|n| n.contains("no label column")));
    assert_eq!(r.counts.label_flip, 0);
}

#[test]
fn bad_input_is_an_error() {
    let f = Features {
        n_rows: 2,
        n_cols: 2,
        data: vec![0.0; 3],
        names: Vec::new(),
    };
    assert!(detect(&f, None, &Options::default()).is_err());
    let (f, _) = gaussian_clusters(4, 2, 2, 1);
    let err = detect(&f, Some(&[1, 2]), &Options::default()).unwrap_err();
    assert!(
        err.to_string().contains("2 labels were given for 4 rows"),
        "{err}"
    );
    let opts = Options {
        trigger_purity: 2.0,
        ..Options::default()
    };
    assert!(detect(&f, None, &opts).is_err());
    let opts = Options {
        folds: 1,
        ..Options::default()
    };
    assert!(detect(&f, None, &opts).is_err());
}

#[test]
fn progress_and_json() {
    let (f, y) = poisoned();
    let calls = AtomicU64::new(0);
    let last = AtomicU64::new(0);
    let progress = |stage: &str, done: u64, total: u64| {
        calls.fetch_add(1, Ordering::Relaxed);
        if stage == "outliers" {
            assert!(done <= total);
            last.fetch_max(done, Ordering::Relaxed);
        }
    };
    let report = detect_with_progress(&f, Some(&y), &Options::default(), &progress).unwrap();
    assert!(calls.load(Ordering::Relaxed) >= 4);
    assert_eq!(last.load(Ordering::Relaxed), 1500);
    let json = serde_json::to_value(&report).unwrap();
    let kinds: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["reasons"].as_array().unwrap())
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    for k in [
        "outlier",
        "label_flip",
        "duplicate",
        "near_duplicate",
        "backdoor",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(json["timings"].as_array().unwrap().len() >= 5);
}

/// 1,800 rows × 64 columns in 4 clusters; row `at` gets one column multiplied by `factor`.
fn wide(at: usize, col: usize, factor: f64) -> (Features, Vec<u32>) {
    let (mut f, y) = gaussian_clusters(1800, 64, 4, 77);
    // Shift every column to positive values, as real measurements are.
    f.data.iter_mut().for_each(|v| *v += 20.0);
    f.data[at * 64 + col] *= factor;
    (f, y)
}

#[test]
fn an_extreme_value_in_one_of_64_columns_is_an_outlier() {
    let (f, y) = wide(900, 37, 30.0);
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    assert!(
        kinds(&r, 900).contains(&PoisonKind::Outlier),
        "{:?}",
        r.rows
    );
    let reason = r.rows.iter().find(|x| x.row == 900).unwrap();
    let detail = &reason
        .reasons
        .iter()
        .find(|x| x.kind == PoisonKind::Outlier)
        .unwrap()
        .detail;
    assert!(detail.contains("f37"), "{detail}");
    // The forest alone would not: the isolation score is diluted by 63 ordinary columns.
    assert!(r.counts.outlier <= 1 + 1800 / 100, "{:?}", r.counts);
}

#[test]
fn every_applicable_reason_is_listed() {
    // An outlier whose label is also flipped gets both reasons, each its own.
    let (f, mut y) = wide(900, 37, 30.0);
    y[900] = (y[900] + 1) % 4;
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    let k = kinds(&r, 900);
    assert!(k.contains(&PoisonKind::Outlier), "{k:?}");
    assert!(
        k.contains(&PoisonKind::LabelFlip),
        "{k:?} {:?} {:?}",
        r.label_noise,
        r.rows
            .iter()
            .filter(|x| x.reasons.iter().any(|q| q.kind == PoisonKind::LabelFlip))
            .map(|x| x.row)
            .collect::<Vec<_>>()
    );
    assert_eq!(r.counts.outlier.min(1), 1);
    // Each reason is its own finding, with its own detail.
    let row = r.rows.iter().find(|x| x.row == 900).unwrap();
    assert_eq!(row.reasons.len(), 2, "{:?}", row.reasons);
    assert_ne!(row.reasons[0].detail, row.reasons[1].detail);
}

#[test]
fn a_value_far_outside_the_reference_range_is_an_outlier() {
    let (mut f, y) = gaussian_clusters(1000, 4, 2, 9);
    // Ordinary for this table, but far beyond what the reference saw in column 1.
    f.data[10 * 4 + 1] += 2.0;
    let mut opts = Options {
        reference_ranges: vec![Some((-50.0, 50.0)); 4],
        ..Options::default()
    };
    let r = detect(&f, Some(&y), &opts).unwrap();
    let before = kinds(&r, 10).contains(&PoisonKind::Outlier);
    let v = f.data[10 * 4 + 1];
    opts.reference_ranges[1] = Some((v - 20.0, v - 5.0));
    let r = detect(&f, Some(&y), &opts).unwrap();
    assert!(!before);
    assert!(kinds(&r, 10).contains(&PoisonKind::Outlier));
    let detail = &r.rows.iter().find(|x| x.row == 10).unwrap().reasons[0].detail;
    assert!(detail.contains("reference range"), "{detail}");
    // One range per column, or none.
    opts.reference_ranges.pop();
    assert!(detect(&f, Some(&y), &opts).is_err());
}

#[test]
fn label_noise_of_weak_features_is_a_statistic_not_rows() {
    // Two overlapping classes (features say little): many labels disagree with their
    // neighbours, none strongly enough to stand out; the statistic counts them.
    let mut rng = fastrand::Rng::with_seed(4);
    let n = 2000;
    let y: Vec<u32> = (0..n).map(|i| u32::from(i % 4 == 0)).collect();
    let data: Vec<f64> = y
        .iter()
        .flat_map(|&c| {
            let shift = 0.3 * f64::from(c);
            [
                duplicates::gauss(&mut rng) + shift,
                duplicates::gauss(&mut rng) - shift,
            ]
        })
        .collect();
    let f = Features {
        n_rows: n,
        n_cols: 2,
        data,
        names: Vec::new(),
    };
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    let noise = r.label_noise.clone().unwrap();
    assert!(noise.disagreements > 300, "{noise:?}");
    assert!(noise.expected_disagreements > 300.0, "{noise:?}");
    assert!(r.counts.label_flip <= n / 50, "{:?} {noise:?}", r.counts);
    assert_eq!(noise.reported, r.counts.label_flip);
    // On separable data a planted flip stands out and is reported.
    let (f, y) = poisoned();
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    assert!(kinds(&r, 200).contains(&PoisonKind::LabelFlip));
    assert!(r.label_noise.unwrap().reported >= 1);
}

#[test]
fn near_duplicates_of_a_low_cardinality_table_are_a_statistic_not_rows() {
    // Three columns of small integers: close matches are everywhere by chance.
    let mut rng = fastrand::Rng::with_seed(8);
    let n = 3000;
    let data: Vec<f64> = (0..n * 3).map(|_| f64::from(rng.u8(0..6))).collect();
    let f = Features {
        n_rows: n,
        n_cols: 3,
        data,
        names: Vec::new(),
    };
    let r = detect(&f, None, &Options::default()).unwrap();
    assert_eq!(r.counts.near_duplicate, 0, "{:?}", r.near_duplicates);
    // A perturbed copy in continuous data is improbable by chance: reported.
    let (f, y) = poisoned();
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    assert!(kinds(&r, 401).contains(&PoisonKind::NearDuplicate));
    assert!(r.near_duplicates.rows >= 1);
}

#[test]
fn a_natural_subgroup_of_one_label_is_no_backdoor() {
    // 40 rows of label 1 share two unusual values (a rich subgroup) but otherwise look
    // like ordinary label-1 rows of weakly separated data: the group does not look like
    // another label more than label 1's own rows do.
    let mut rng = fastrand::Rng::with_seed(12);
    let n = 3000;
    let y: Vec<u32> = (0..n).map(|i| u32::from(i % 4 == 0)).collect();
    let mut data: Vec<f64> = y
        .iter()
        .flat_map(|&c| {
            let shift = 0.4 * f64::from(c);
            (0..5)
                .map(|_| duplicates::gauss(&mut rng) + shift)
                .collect::<Vec<_>>()
        })
        .collect();
    for i in (0..n).filter(|i| y[*i] == 1).take(40) {
        data[i * 5 + 3] = 9.0;
        data[i * 5 + 4] = 11.0;
    }
    let f = Features {
        n_rows: n,
        n_cols: 5,
        data,
        names: Vec::new(),
    };
    let r = detect(&f, Some(&y), &Options::default()).unwrap();
    assert_eq!(r.counts.backdoor, 0, "{:?}", r.counts);
}
