//! Models the runtime must refuse at load, naming why, and inputs it must refuse at run,
//! without a panic or a hang. The models are real exports with one thing changed
//! (`scripts/make_runtime_models.py`).

use std::path::Path;

use aigis_runtime::{Data, Error, NamedTensor, OnnxRuntime, Runtime, Tensor};

fn load(name: &str) -> Result<OnnxRuntime, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(name);
    OnnxRuntime::from_bytes(&std::fs::read(path).unwrap())
}

fn refused(name: &str, needles: &[&str]) {
    let e = load(name).expect_err(name).to_string();
    for n in needles {
        assert!(e.contains(n), "{name}: `{n}` not in: {e}");
    }
}

#[test]
fn an_operator_the_runtime_does_not_run_is_named() {
    refused("refuse_unsupported_op.onnx", &["ai.onnx.ml:Imputer"]);
    refused("refuse_custom_domain.onnx", &["com.microsoft:FastGelu"]);
}

#[test]
fn a_tensor_in_an_external_file_is_never_read() {
    refused("refuse_external_data.onnx", &["`W`", "external file"]);
}

#[test]
fn a_tree_that_loops_or_points_outside_itself_is_refused() {
    refused("refuse_tree_loop.onnx", &["loops"]);
    refused("refuse_tree_outside.onnx", &["outside the tree"]);
    refused("refuse_tree_gap.onnx", &["without gaps"]);
    refused("refuse_tree_class.onnx", &["target 7"]);
}

#[test]
fn bytes_that_are_not_a_model_are_refused() {
    for bytes in [&b""[..], b"not onnx at all", &[0xff; 64]] {
        assert!(OnnxRuntime::from_bytes(bytes).is_err());
    }
}

#[test]
fn inputs_that_do_not_fit_the_signature_are_refused() {
    let model = load("digits_mlp.onnx").unwrap();
    let x = |shape: Vec<usize>, n| Tensor::new(shape, Data::Fp32(vec![0.5; n])).unwrap();
    let run = |inputs| model.run(inputs).unwrap_err().to_string();
    assert!(run(vec![NamedTensor::new("X", x(vec![2, 63], 126))]).contains("shape"));
    assert!(run(vec![NamedTensor::new("Y", x(vec![1, 64], 64))]).contains("no input `Y`"));
    assert!(run(vec![]).contains("missing"));
    let twice = vec![
        NamedTensor::new("X", x(vec![1, 64], 64)),
        NamedTensor::new("X", x(vec![1, 64], 64)),
    ];
    assert!(run(twice).contains("twice"));
    let ints = Tensor::new(vec![1, 64], Data::Int64(vec![1; 64])).unwrap();
    assert!(run(vec![NamedTensor::new("X", ints)]).contains("FP32"));
    // Any batch size runs, including an empty batch.
    for n in [0, 1, 7, 300] {
        let out = model
            .run(vec![NamedTensor::new("X", x(vec![n, 64], n * 64))])
            .unwrap();
        assert_eq!(out[0].tensor.shape(), [n]);
        assert_eq!(out[1].tensor.shape(), [n, 10]);
    }
}

#[test]
fn a_tree_ensemble_fed_nan_follows_its_missing_value_rule() {
    let model = load("wine_forest.onnx").unwrap();
    let x = Tensor::new(vec![1, 13], Data::Fp32(vec![f32::NAN; 13])).unwrap();
    let out = model.run(vec![NamedTensor::new("X", x)]).unwrap();
    let Data::Fp32(p) = out[1].tensor.data() else {
        panic!("probabilities")
    };
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
}
