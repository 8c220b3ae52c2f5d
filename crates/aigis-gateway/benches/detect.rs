//! The added latency of the `aigis detect fit` detectors at the gateway's inspection seam,
//! one row per call, against the model call itself measured in the same run (goals: under
//! 100 µs p99 for a tabular model, under 300 µs for the 8×8 digits model, squeezing
//! included).
//!
//! ```sh
//! cargo bench -p aigis-gateway --bench detect      # 20,000 calls each
//! cargo test  -p aigis-gateway --bench detect      # 300 calls each, smoke run
//! ```
//!
//! The models are the fixtures of `tests/data/runtime` (scikit-learn exports, run by
//! tract): `digits_mlp.onnx` (64 pixels, a 64-unit MLP) and `cancer_scaler_logreg.onnx`
//! (30 features, a scaler and a logistic regression). Each detector file is fitted on 800
//! rows (the fixture's rows and jittered copies): 200 trees on 256 rows each, and
//! squeezing with one squeezer (`bits:3` for digits, `bins:16` for cancer), which runs the
//! model once more per call, on the squeezed row (the row's own probabilities are the
//! answer served). Timed: `Detector::inspect` on a call of one row, as the gateway runs it
//! (the input tensor to rows, the scores, the reasons). The extraction
//! detector (`Extraction::before` and `after` on one principal's call) is timed the same
//! way, for a principal that sent 4,000 random queries: with a new random row at each call
//! (the full work: the nearest-query distance, the test of the last 1,000 distances), and
//! with one row repeated (a repeat adds no distance, so nothing is tested again).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aigis_core::Digest;
use aigis_gateway::detect::{self, DetectorConfig, RuntimeModel};
use aigis_gateway::extraction::{CleanRates, Extraction, ExtractionConfig};
use aigis_gateway::inspect::{Action, Inspected};
use aigis_monitor::detect::{FitOptions, Matrix, SqueezeOptions, Squeezer};
use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Runtime, Tensor};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(name)
}

/// The fixture's complete rows and jittered copies (±2% of each value), 800 in all.
fn reference(json: &str, width: usize) -> Matrix {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(json)).unwrap()).unwrap();
    let data: Vec<Option<f64>> = serde_json::from_value(v["inputs"]["X"]["data"].clone()).unwrap();
    let rows: Vec<Vec<f64>> = data
        .chunks(width)
        .filter_map(|r| r.iter().copied().collect::<Option<Vec<f64>>>())
        .collect();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut out = Vec::new();
    for i in 0..800 {
        let row = &rows[i % rows.len()];
        out.extend(row.iter().map(|&x| {
            if i < rows.len() {
                x
            } else {
                x * (1.0 + 0.04 * (rng.f64() - 0.5))
            }
        }));
    }
    Matrix::new(800, width, out, Matrix::positional_names(width)).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 and p99 in µs of `calls` runs of `f`.
fn time(calls: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..calls / 10 {
        f();
    }
    let mut t: Vec<f64> = (0..calls)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (percentile(&t, 0.5), percentile(&t, 0.99))
}

fn run(name: &str, model_file: &str, json: &str, width: usize, squeezer: Squeezer, calls: usize) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(model_file)).unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(OnnxRuntime::from_bytes(&bytes).unwrap());
    let sha256 = Digest::of(&bytes).hex();
    let model = RuntimeModel::new(runtime.clone(), None).unwrap();
    let reference = reference(json, width);
    let opts = FitOptions {
        fpr: 0.01,
        squeeze: Some(SqueezeOptions {
            squeezers: vec![squeezer],
            image: None,
            range: None,
            model_sha256: sha256.clone(),
        }),
        ..FitOptions::default()
    };
    let fitted = aigis_monitor::detect::fit(&reference, None, Some(&model), &opts).unwrap();
    std::fs::write(
        dir.path().join("d.json"),
        serde_json::to_vec(&fitted).unwrap(),
    )
    .unwrap();
    let config = DetectorConfig {
        file: "d.json".into(),
        signature: None,
        verify: false,
        action: Action::Flag,
        detectors: None,
        input: None,
    };
    let detectors = detect::load(&config, dir.path(), &runtime, &sha256, &[]).unwrap();
    let input = runtime.signature().inputs[0].name.clone();
    let row: Vec<f32> = reference.row(7).iter().map(|&v| v as f32).collect();
    let inputs = vec![NamedTensor::new(
        input.clone(),
        Tensor::new(vec![1, width], Data::Fp32(row.clone())).unwrap(),
    )];
    // The answer served for the row: squeezing, as the gateway runs it after the model
    // call, compares with it and runs the model on the squeezed row only.
    let served = runtime.run(inputs.clone()).unwrap();
    let call = Inspected {
        principal: "bench",
        model: name,
        inputs: &inputs,
        answer: None,
    };
    let answered = Inspected {
        answer: Some(&served),
        ..call
    };
    let (m50, m99) = time(calls, || {
        let t = Tensor::new(vec![1, width], Data::Fp32(row.clone())).unwrap();
        std::hint::black_box(
            runtime
                .run(vec![NamedTensor::new(input.clone(), t)])
                .unwrap(),
        );
    });
    println!("{name}: the model call itself: p50 {m50:.1} µs, p99 {m99:.1} µs");
    let mut all = (0.0, 0.0);
    for (detector, _) in &detectors {
        let call = if detector.needs_answer() {
            &answered
        } else {
            &call
        };
        let (p50, p99) = time(calls, || {
            std::hint::black_box(detector.inspect(call));
        });
        all = (all.0 + p50, all.1 + p99);
        println!(
            "{name}: {:<11} p50 {p50:6.1} µs, p99 {p99:6.1} µs ({:.2}× the model call at p50)",
            detector.name(),
            p50 / m50
        );
    }
    println!(
        "{name}: all      p50 {:6.1} µs, p99 {:6.1} µs (sum)",
        all.0, all.1
    );
    assert!(
        detectors
            .iter()
            .all(|(d, _)| !d.inspect(&call).flagged || d.name() == "squeeze")
    );
    extraction(name, &runtime, &detectors, &inputs, &reference, calls);
}

/// The extraction detector on one principal after 4,000 random queries (its growing sets
/// hold what PRADA's thresholds let in; a call costs in proportion to them), with settings
/// that never make it suspected: a call of a new row does all the work (its distance, the
/// test of the last 1,000), a repeated row only its bookkeeping.
fn extraction(
    name: &str,
    runtime: &Arc<dyn Runtime>,
    detectors: &[detect::Seam],
    inputs: &[NamedTensor],
    reference: &Matrix,
    calls: usize,
) {
    let config: ExtractionConfig =
        toml::from_str("threshold = 1e-9\nprobe_share = 1.0\ninputs = false").unwrap();
    let ranges = detectors.iter().find_map(|(d, _)| d.feature_ranges());
    let x = Extraction::load(
        &config,
        &runtime.signature().inputs,
        "",
        ranges,
        CleanRates::default(),
        None,
    )
    .unwrap();
    let width = reference.cols;
    let mut rng = fastrand::Rng::with_seed(11);
    let span: Vec<(f64, f64)> = (0..width)
        .map(|j| {
            let col = (0..reference.rows).map(|i| reference.row(i)[j]);
            let lo = col.clone().fold(f64::INFINITY, f64::min);
            (lo, col.fold(f64::NEG_INFINITY, f64::max) - lo)
        })
        .collect();
    let random_row = |rng: &mut fastrand::Rng| -> Vec<NamedTensor> {
        let row: Vec<f32> = span
            .iter()
            .map(|(lo, w)| (lo + rng.f64() * w) as f32)
            .collect();
        vec![NamedTensor::new(
            inputs[0].name.clone(),
            Tensor::new(vec![1, width], Data::Fp32(row)).unwrap(),
        )]
    };
    // Fills the principal's growing sets with points far apart.
    for _ in 0..4000 {
        let q = random_row(&mut rng);
        let out = runtime.run(q.clone()).unwrap();
        assert!(x.after("bench", &q, &out, None).is_none());
    }
    let (_, points) = x.held("bench").unwrap();
    assert!(points > 10, "{points} points");
    // A new row at each call: its distance to the sets, then the test of the last 1,000
    // distances (the rows and answers made beforehand, so the model is not timed).
    let fresh: Vec<(Vec<NamedTensor>, Vec<NamedTensor>)> = (0..calls + calls / 10)
        .map(|_| {
            let q = random_row(&mut rng);
            let out = runtime.run(q.clone()).unwrap();
            (q, out)
        })
        .collect();
    let mut next = fresh.iter().cycle();
    let (n50, n99) = time(calls, || {
        let (q, out) = next.next().unwrap();
        std::hint::black_box(x.before("bench").unwrap());
        std::hint::black_box(x.after("bench", q, out, None));
    });
    let (_, points_after) = x.held("bench").unwrap();
    println!(
        "{name}: extraction, a new row a call: p50 {n50:6.1} µs, p99 {n99:6.1} µs (a principal with {points} to {points_after} points, 1,000 distances)"
    );
    // The same row again: a repeat adds no distance, so nothing is tested again.
    let outputs = runtime.run(inputs.to_vec()).unwrap();
    let (p50, p99) = time(calls, || {
        std::hint::black_box(x.before("bench").unwrap());
        std::hint::black_box(x.after("bench", inputs, &outputs, None));
    });
    println!("{name}: extraction, a repeated row: p50 {p50:6.1} µs, p99 {p99:6.1} µs");
    by_class(name, runtime, inputs, &fresh, calls);
}

/// The inputs sign compared class by class: clean rows of every class flagged at 10 %
/// (1,000 calibration rows a class), the whole data's rate 1 %, and a principal flagged
/// at 10 % of its new rows: the whole data's test finds too many, the class-by-class one
/// does not, and is made again each time the rows grow by a hundredth (its worst case:
/// a principal it never suspects).
fn by_class(
    name: &str,
    runtime: &Arc<dyn Runtime>,
    inputs: &[NamedTensor],
    fresh: &[(Vec<NamedTensor>, Vec<NamedTensor>)],
    calls: usize,
) {
    use aigis_monitor::extraction::{ClassFlags, Looked};
    let config: ExtractionConfig = toml::from_str("threshold = 1e-9\nprobe_share = 1.0").unwrap();
    let classes = runtime
        .run(inputs.to_vec())
        .unwrap()
        .iter()
        .find_map(|o| {
            let shape = o.tensor.shape();
            (shape.len() == 2 && shape[1] >= 2).then(|| shape[1])
        })
        .unwrap();
    let rates = CleanRates {
        flagged: Some(0.01),
        atypical: None,
        by_class: Some(
            (0..classes as u32)
                .map(|class| ClassFlags {
                    class,
                    rows: 1000,
                    flagged: 100,
                })
                .collect(),
        ),
    };
    let x = Extraction::load(&config, &runtime.signature().inputs, "", None, rates, None).unwrap();
    // Rows new to the principal at every call (a repeat is not counted again): the
    // random rows, each round shifted a little.
    let rows: Vec<(Vec<NamedTensor>, &Vec<NamedTensor>)> = (0..1000 + calls + calls / 10)
        .map(|j| {
            let (q, out) = &fresh[j % fresh.len()];
            let shift = (j / fresh.len()) as f32 * 1e-3;
            let Data::Fp32(v) = q[0].tensor.data() else {
                panic!("float rows")
            };
            let mut v = v.clone();
            v[0] += shift;
            let t = Tensor::new(q[0].tensor.shape().to_vec(), Data::Fp32(v)).unwrap();
            (vec![NamedTensor::new(q[0].name.clone(), t)], out)
        })
        .collect();
    let mut i = 0usize;
    let mut call = |x: &Extraction| {
        let (q, out) = &rows[i];
        let flag = i.is_multiple_of(10);
        i += 1;
        let looked = Looked {
            flagged: usize::from(flag),
            flags: Some(vec![flag]),
            ..Looked::default()
        };
        std::hint::black_box(x.before("bench").unwrap());
        std::hint::black_box(x.after("bench", q, out, Some(looked)))
    };
    // Past the rows the whole data's test needs.
    for _ in 0..1000 {
        assert!(call(&x).is_none());
    }
    let (p50, p99) = time(calls, || {
        assert!(call(&x).is_none());
    });
    println!(
        "{name}: extraction, inputs compared class by class ({classes} classes of 1,000 clean rows): p50 {p50:6.1} µs, p99 {p99:6.1} µs"
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let calls = if full { 20_000 } else { 300 };
    run(
        "digits",
        "digits_mlp.onnx",
        "digits_mlp.json",
        64,
        Squeezer::Bits(3),
        calls,
    );
    run(
        "cancer",
        "cancer_scaler_logreg.onnx",
        "cancer_scaler_logreg.json",
        30,
        Squeezer::Bins(16),
        calls,
    );
}
