//! `--stream` against the whole-table comparison on the same files: with a grid that
//! holds every reference value, the same statistics, p-values, PSI, range and missing
//! tests and verdicts; with a coarse one, bounds that hold the exact statistic; and an
//! `.npy` array read a chunk at a time equal to the same numbers as CSV.

use std::fmt::Write as _;
use std::path::Path;

use aigis_core::NoProgress;
use aigis_monitor::drift::{self, Options, Status, Test};
use aigis_monitor::stream::drift_stream;

/// A normal draw (Box–Muller) from `rng`.
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let (u, v) = (rng.f64().max(1e-300), rng.f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// `n` rows: a normal feature (moved by `shift`), whole numbers 0–9 (many ties), a
/// heavy-tailed one, and one with missing cells (more of them with `shift`).
fn rows(seed: u64, n: usize, shift: f64) -> Vec<[Option<f64>; 4]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            let z = normal(&mut rng);
            [
                Some(z + shift),
                Some(f64::from(rng.u8(0..10))),
                Some(z.powi(3) * 10.0),
                (rng.f64() > 0.05 + shift / 4.0).then(|| normal(&mut rng)),
            ]
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[[Option<f64>; 4]]) {
    let mut text = String::from("a,b,c,d\n");
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .map(|c| c.map(|v| format!("{v:?}")).unwrap_or_default())
            .collect();
        writeln!(text, "{}", cells.join(",")).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

fn write_npy(path: &Path, rows: &[[Option<f64>; 4]]) {
    write_npy_as(path, rows, "<f8");
}

/// `rows` as an `.npy` array of `descr` (`<f8`, `<f4` or `>f4`).
fn write_npy_as(path: &Path, rows: &[[Option<f64>; 4]], descr: &str) {
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, 4), }}",
        rows.len()
    );
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(u16::try_from(h.len()).unwrap().to_le_bytes());
    bytes.extend(h);
    for r in rows {
        for c in r {
            let v = c.unwrap_or(f64::NAN);
            match descr {
                "<f8" => bytes.extend(v.to_le_bytes()),
                "<f4" => bytes.extend((v as f32).to_le_bytes()),
                ">f4" => bytes.extend((v as f32).to_be_bytes()),
                other => panic!("{other}"),
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn ks(f: &drift::Feature) -> (f64, f64) {
    match f.test.as_ref().unwrap() {
        Test::Ks(r) => (r.statistic, r.p_value),
        Test::Chi2(_) => panic!("{} is not numeric", f.name),
    }
}

#[test]
fn with_every_reference_value_on_the_grid_stream_equals_the_whole_tables() {
    let dir = tempfile::tempdir().unwrap();
    for (shift, n_cur) in [(0.0, 2500), (0.15, 12_000)] {
        let (r, c) = (dir.path().join("r.csv"), dir.path().join("c.csv"));
        write_csv(&r, &rows(1, 3000, 0.0));
        write_csv(&c, &rows(2, n_cur, shift));
        let options = Options::default();
        let whole = drift::drift(&r, &c, &options).unwrap();
        let stream = drift_stream(&r, &c, &options, 1 << 20, &NoProgress).unwrap();
        assert_eq!(whole.verdict, stream.verdict);
        // The moved feature drifts (and the exact p-value path, under 10,000 a side, is
        // taken in the first case, the asymptotic one in the second).
        assert_eq!(
            stream.features[0].status == Status::Drift,
            shift > 0.0,
            "{:?}",
            stream.features[0]
        );
        assert_eq!(
            (whole.current.rows, whole.reference.rows),
            (stream.current.rows, stream.reference.rows)
        );
        for (w, s) in whole.features.iter().zip(&stream.features) {
            assert_eq!(w.name, s.name);
            assert_eq!(
                w.status, s.status,
                "{}: {:?} / {:?}",
                w.name, w.reason, s.reason
            );
            assert!(s.sketch.is_none(), "{}: exact on the full grid", s.name);
            let ((wd, wp), (sd, sp)) = (ks(w), ks(s));
            assert!((wd - sd).abs() < 1e-12, "{}: {wd} vs {sd}", w.name);
            assert!(
                (wp - sp).abs() <= 1e-12 * wp.max(1e-300),
                "{}: {wp} vs {sp}",
                w.name
            );
            assert!(
                (w.psi.unwrap() - s.psi.unwrap()).abs() < 1e-12,
                "{}",
                w.name
            );
            let (wr, sr) = (w.range.as_ref().unwrap(), s.range.as_ref().unwrap());
            assert_eq!((wr.above, wr.below), (sr.above, sr.below));
            assert_eq!(
                w.missing.as_ref().map(|m| m.test.p_value),
                s.missing.as_ref().map(|m| m.test.p_value)
            );
            assert_eq!(w.p_value, s.p_value, "{}", w.name);
            assert_eq!(w.current.values, s.current.values);
            assert_eq!(w.current.nulls, s.current.nulls);
            assert!(s.wasserstein.is_none());
        }
    }
}

#[test]
fn a_coarse_grid_bounds_the_exact_statistic() {
    let dir = tempfile::tempdir().unwrap();
    let (r, c) = (dir.path().join("r.csv"), dir.path().join("c.csv"));
    write_csv(&r, &rows(3, 4000, 0.0));
    write_csv(&c, &rows(4, 6000, 0.05));
    let options = Options::default();
    let whole = drift::drift(&r, &c, &options).unwrap();
    for grid in [16, 64, 256] {
        let stream = drift_stream(&r, &c, &options, grid, &NoProgress).unwrap();
        for (w, s) in whole.features.iter().zip(&stream.features) {
            let (exact, low) = (ks(w).0, ks(s).0);
            let error = s.sketch.as_ref().map_or(0.0, |b| b.rank_error);
            assert!(
                low <= exact + 1e-12 && exact <= low + error + 1e-12,
                "{} at grid {grid}: {exact} not in [{low}, {}]",
                w.name,
                low + error
            );
            if w.name == "a" && grid == 16 {
                assert!(error > 0.0, "a coarse grid has an error");
            }
            // The ties column has 10 values: always exact.
            if w.name == "b" {
                assert!(s.sketch.is_none());
            }
            // A verdict is given only when both ends agree with the exact one.
            if s.status != Status::Inconclusive {
                assert_eq!(w.status, s.status, "{} at grid {grid}", w.name);
            }
        }
        // The PSI is exact whatever the grid.
        for (w, s) in whole.features.iter().zip(&stream.features) {
            assert!((w.psi.unwrap() - s.psi.unwrap()).abs() < 1e-12);
        }
    }
}

#[test]
fn an_npy_array_streams_to_the_same_numbers_as_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, current) = (rows(5, 2000, 0.0), rows(6, 9000, 0.1));
    write_csv(&dir.path().join("r.csv"), &reference);
    write_csv(&dir.path().join("c.csv"), &current);
    write_npy(&dir.path().join("r.npy"), &reference);
    write_npy(&dir.path().join("c.npy"), &current);
    let options = Options::default();
    let csv = drift_stream(
        &dir.path().join("r.csv"),
        &dir.path().join("c.csv"),
        &options,
        64,
        &NoProgress,
    )
    .unwrap();
    let npy = drift_stream(
        &dir.path().join("r.npy"),
        &dir.path().join("c.npy"),
        &options,
        64,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(npy.current.rows, 9000);
    assert_eq!(npy.features.len(), 4);
    // float32, little-endian (decoded inline) and big-endian (through the layout's
    // reader): the same numbers, the same report.
    let as_f32: Vec<_> = ["<f4", ">f4"]
        .iter()
        .map(|descr| {
            let (r, c) = (dir.path().join("r4.npy"), dir.path().join("c4.npy"));
            write_npy_as(&r, &reference, descr);
            write_npy_as(&c, &current, descr);
            drift_stream(&r, &c, &options, 64, &NoProgress).unwrap()
        })
        .collect();
    assert_eq!(as_f32[0].current.rows, 9000);
    for (a, b) in as_f32[0].features.iter().zip(&as_f32[1].features) {
        assert_eq!((ks(a), a.status), (ks(b), b.status), "{}", a.name);
        assert_eq!(a.current.non_finite, b.current.non_finite);
    }
    for (a, b) in csv.features.iter().zip(&npy.features) {
        assert_eq!(ks(a), ks(b), "{} / {}", a.name, b.name);
        assert_eq!(a.status, b.status);
        // A missing CSV cell is null; the array's NaN is a non-finite number: both missing.
        assert_eq!(
            a.current.nulls + a.current.non_finite,
            b.current.nulls + b.current.non_finite
        );
    }
    // Columns named by position; a mismatch of widths is named.
    assert_eq!(npy.features[0].name, "x0");
    let e = drift_stream(
        &dir.path().join("r.csv"),
        &dir.path().join("c.npy"),
        &options,
        64,
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("different columns"), "{e}");
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r.npy");
    write_npy(&r, &rows(1, 100, 0.0));
    let cut = dir.path().join("cut.npy");
    let bytes = std::fs::read(&r).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let e = drift_stream(&r, &cut, &Options::default(), 64, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cut.npy") && e.contains("needs 3200 bytes"),
        "{e}"
    );
    let e = drift_stream(&r, &r, &Options::default(), 4, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("grid"), "{e}");
    // A column of categories is tested as without --stream; against an array of numbers
    // it has no verdict, never a pass.
    let (rc, cc) = (dir.path().join("r.csv"), dir.path().join("c.csv"));
    std::fs::write(&rc, "a,kind\n1,x\n2,y\n3,x\n").unwrap();
    std::fs::write(&cc, "a,kind\n1,x\n2,y\n3,y\n").unwrap();
    let report = drift_stream(&rc, &cc, &Options::default(), 64, &NoProgress).unwrap();
    let whole = drift::drift(&rc, &cc, &Options::default()).unwrap();
    assert_eq!(
        serde_json::to_value(&report.features[1]).unwrap(),
        serde_json::to_value(&whole.features[1]).unwrap()
    );
    assert_eq!(report.features[1].kind, drift::Kind::Categorical);
    let arr = dir.path().join("c2.npy");
    write_npy(&arr, &rows(2, 30, 0.0));
    let rc2 = dir.path().join("r2.csv");
    let mut text = String::from("x0,x1,x2,x3\n");
    for (i, row) in rows(3, 30, 0.0).iter().enumerate() {
        let v = |x: Option<f64>| x.unwrap_or(0.0);
        writeln!(
            text,
            "{},{},{},{}",
            v(row[0]),
            ["p", "q"][i % 2],
            v(row[2]),
            v(row[3])
        )
        .unwrap();
    }
    std::fs::write(&rc2, text).unwrap();
    let report = drift_stream(&rc2, &arr, &Options::default(), 64, &NoProgress).unwrap();
    assert_eq!(report.features[1].status, Status::InsufficientData);
    assert!(
        report.features[1]
            .reason
            .as_ref()
            .unwrap()
            .contains("array of numbers")
    );
    // An empty current array: no verdict, never a pass.
    let empty = dir.path().join("empty.npy");
    write_npy(&empty, &[]);
    let report = drift_stream(&r, &empty, &Options::default(), 64, &NoProgress).unwrap();
    assert_eq!(report.verdict, drift::Verdict::InsufficientData);
}
