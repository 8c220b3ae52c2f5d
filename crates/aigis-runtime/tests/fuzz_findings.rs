//! Models the `onnx_load` fuzz target (`fuzz/runtime/`) found tract panicking on, or that
//! reach a memory error in a release build, each refused at load with its reason, before
//! tract could panic: the runtime's `catch_unwind` turns a panic into
//! "the runtime failed to prepare it" (or "failed on this input"), which none of these
//! may give. The models are in `tests/data/` beside this file:
//!
//! - `fuzz_output_names_nothing.onnx` (found by the fuzzer, minimized): a ridge
//!   regression whose node output was renamed, so the graph's output `variable` is no
//!   value of the graph; tract-onnx indexes its map of values with it and panics;
//! - `if_branch_output_names_nothing.onnx`: the same in the `then` branch of an `If`
//!   (tract parses subgraphs the same way), beside `if_branch.onnx`, the same model with
//!   the output named right, which loads and runs (both made by
//!   `scripts/make_runtime_findings.py`);
//! - `fuzz_linear_classifier_without_intercepts.onnx` (found by the fuzzer): a
//!   scikit-learn logistic regression (30 features) whose `intercepts` attribute was
//!   renamed; without intercepts, tract's `LinearClassifier` reads its 60 coefficients
//!   as one model of 60 features, so its matrix product has 30 on one side and 60 on the
//!   other. It loaded, and running it panicked on a debug assertion in tract-core;
//! - `linear_regressor_1000_coefficients_10_features.onnx` (written with `onnx.helper` by
//!   `scripts/make_runtime_findings.py`: one `LinearRegressor` of 1000 coefficients over
//!   `X[N, 10]`): the same mismatch the other way round. In a release build (no debug
//!   assertions) its run reads past the input's buffer in tract-linalg's matrix kernel
//!   and the process dies of a segmentation fault (seen with the fuzz target built `-O`,
//!   in `avx512_mmm_f32_128x1`); with 100 coefficients it returns a score made of memory
//!   past the buffer.

use std::path::Path;

use aigis_runtime::{Data, Error, NamedTensor, OnnxRuntime, Runtime, Tensor};

fn load(name: &str) -> Result<OnnxRuntime, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    OnnxRuntime::from_bytes(&std::fs::read(path).unwrap())
}

fn refused(name: &str, needles: &[&str]) {
    let e = load(name).expect_err(name);
    assert!(matches!(e, Error::Model(_)), "{name}: {e:?}");
    let e = e.to_string();
    assert!(
        !e.contains("runtime failed"),
        "{name}: a panic was caught: {e}"
    );
    for n in needles {
        assert!(e.contains(n), "{name}: `{n}` not in: {e}");
    }
}

#[test]
fn an_output_that_names_no_value_is_refused() {
    refused(
        "fuzz_output_names_nothing.onnx",
        &["the output `variable` is not a value of the graph"],
    );
    refused(
        "if_branch_output_names_nothing.onnx",
        &["the output `nothing` is not a value of the graph"],
    );
    let model = load("if_branch.onnx").unwrap();
    let x = Tensor::new(vec![1, 2], Data::Fp32(vec![1.0, 2.0])).unwrap();
    let out = model.run(vec![NamedTensor::new("X", x)]).unwrap();
    assert_eq!(out[0].tensor.data(), &Data::Fp32(vec![1.0, 2.0]));
}

#[test]
fn a_linear_model_whose_coefficients_do_not_fit_its_input_is_refused() {
    refused(
        "fuzz_linear_classifier_without_intercepts.onnx",
        &["disagree on the size", "(30 and 60)"],
    );
    refused(
        "linear_regressor_1000_coefficients_10_features.onnx",
        &["disagree on the size", "(10 and 1000)"],
    );
}
