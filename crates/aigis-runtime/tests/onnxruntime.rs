//! aigis's runtime against onnxruntime on real scikit-learn exports: every model in
//! `tests/data/runtime/` (made by `scripts/make_runtime_models.py`) run on its held-out
//! rows must give onnxruntime's outputs: labels exactly, numbers to 1e-5 (relative to
//! the value's size when it is above 1).

use std::path::{Path, PathBuf};

use aigis_runtime::{Data, DataType, NamedTensor, OnnxRuntime, Runtime, Tensor};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/runtime")
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let items = v["data"].as_array().unwrap();
    let data = match v["dtype"].as_str().unwrap() {
        // A missing value (NaN) is written as null.
        "FP32" => Data::Fp32(
            items
                .iter()
                .map(|x| x.as_f64().map_or(f32::NAN, |v| v as f32))
                .collect(),
        ),
        "FP64" => Data::Fp64(items.iter().map(|x| x.as_f64().unwrap()).collect()),
        "INT64" => Data::Int64(items.iter().map(|x| x.as_i64().unwrap()).collect()),
        "BYTES" => Data::Bytes(
            items
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect(),
        ),
        other => panic!("dtype {other}"),
    };
    Tensor::new(shape, data).unwrap()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5 * want.abs().max(1.0)
}

/// The numbers of a tensor as f64, or its strings.
fn numbers(t: &Tensor) -> Result<Vec<f64>, Vec<String>> {
    match t.data() {
        Data::Fp32(v) => Ok(v.iter().map(|x| f64::from(*x)).collect()),
        Data::Fp64(v) => Ok(v.clone()),
        Data::Int64(v) => Ok(v.iter().map(|x| *x as f64).collect()),
        Data::Int32(v) => Ok(v.iter().map(|x| f64::from(*x)).collect()),
        Data::Bytes(v) => Err(v.clone()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_sklearn_export_matches_onnxruntime() {
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let model_path = data_dir().join(doc["model"].as_str().unwrap());
        let name = model_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let runtime = match OnnxRuntime::from_bytes(&std::fs::read(&model_path).unwrap()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let inputs: Vec<NamedTensor> = doc["inputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| NamedTensor::new(n.clone(), tensor(v)))
            .collect();
        let outputs = match runtime.run(inputs) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (out_name, want) in doc["outputs"].as_object().unwrap() {
            let want = tensor(want);
            let got = &outputs
                .iter()
                .find(|o| &o.name == out_name)
                .unwrap_or_else(|| panic!("{name}: no output {out_name}"))
                .tensor;
            // Shapes agree up to a trailing 1 (onnxruntime gives [n, 1] where a
            // regressor's single target is declared so; so does aigis).
            let squeeze = |s: &[usize]| s.iter().copied().filter(|d| *d != 1).collect::<Vec<_>>();
            if squeeze(got.shape()) != squeeze(want.shape()) {
                failures.push(format!(
                    "{name}/{out_name}: shape {:?}, onnxruntime {:?}",
                    got.shape(),
                    want.shape()
                ));
                continue;
            }
            match (numbers(got), numbers(&want)) {
                (Ok(g), Ok(w)) => {
                    if let Some((i, (a, b))) = g
                        .iter()
                        .zip(&w)
                        .enumerate()
                        .find(|(_, (a, b))| !close(**a, **b))
                    {
                        failures.push(format!("{name}/{out_name}[{i}]: {a} vs onnxruntime {b}"));
                    }
                }
                (Err(g), Err(w)) => {
                    if g != w {
                        failures.push(format!("{name}/{out_name}: labels differ"));
                    }
                }
                _ => failures.push(format!("{name}/{out_name}: types differ")),
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 27, "only {checked} outputs compared");
}

#[test]
fn the_signature_is_read_from_the_graph() {
    let bytes = std::fs::read(data_dir().join("digits_mlp.onnx")).unwrap();
    let runtime = OnnxRuntime::from_bytes(&bytes).unwrap();
    let input = &runtime.signature().inputs[0];
    assert_eq!(input.name, "X");
    assert_eq!(input.datatype, DataType::Fp32);
    assert_eq!(input.shape, [None, Some(64)]);
    let names: Vec<&str> = runtime
        .signature()
        .outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["output_label", "output_probability"]);
}
