//! What the trainer writes as ONNX answers as the trained network does, through aigis's
//! runtime (tract); `scripts/train_onnx_vs_onnxruntime.py` checks onnxruntime too.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Runtime, Tensor};
use aigis_train::mlp::{self, Settings};

/// Three noisy clusters in four features.
fn clusters(n: usize) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % 3;
        for j in 0..4 {
            let centre = if j == c { 3.0 } else { -1.0 } + 10.0 * j as f64;
            x.push(centre + rng.f64() * 2.0 - 1.0);
        }
        y.push(c);
    }
    (x, y)
}

fn run(bytes: &[u8], x: &[f64], rows: usize) -> (Vec<f32>, Vec<i64>) {
    let runtime = OnnxRuntime::from_bytes(bytes).unwrap();
    let input = Tensor::new(
        vec![rows, 4],
        Data::Fp32(x.iter().map(|&v| v as f32).collect()),
    )
    .unwrap();
    let out = runtime.run(vec![NamedTensor::new("input", input)]).unwrap();
    assert_eq!(out[0].name, "label");
    assert_eq!(out[1].name, "probabilities");
    let Data::Int64(labels) = out[0].tensor.data() else {
        panic!("{:?}", out[0])
    };
    let Data::Fp32(p) = out[1].tensor.data() else {
        panic!("{:?}", out[1])
    };
    (p.clone(), labels.clone())
}

#[test]
fn a_trained_network_written_as_onnx_answers_as_it_does() {
    let (x, y) = clusters(300);
    for hidden in [0, 16] {
        let settings = Settings {
            hidden,
            learning_rate: 0.01,
            ..Settings::default()
        };
        let model = mlp::train(&x, 300, &y, 3, &settings).unwrap();
        let bytes = model.to_onnx("aigis", "test").unwrap();
        let (p, labels) = run(&bytes, &x, 300);
        let want = model.probabilities(&x, 300).unwrap();
        let predicted = model.predict(&x, 300).unwrap();
        for (got, want) in p.iter().zip(&want) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-5,
                "{got} against {want}"
            );
        }
        assert_eq!(
            labels,
            predicted.iter().map(|&c| c as i64).collect::<Vec<_>>()
        );
        // It learned the clusters.
        let right = predicted.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(right >= 290, "hidden {hidden}: {right} of 300");
    }
}

#[test]
fn rows_that_do_not_fit_are_named() {
    let (x, y) = clusters(30);
    let e = mlp::train(&x, 30, &y[..29], 3, &Settings::default()).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
    let mut bad = x.clone();
    bad[5] = f64::NAN;
    let e = mlp::train(&bad, 30, &y, 3, &Settings::default()).unwrap_err();
    assert!(e.to_string().contains("not a finite number"), "{e}");
}
