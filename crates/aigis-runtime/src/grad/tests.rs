//! The gradients against central differences, and the forward pass against
//! onnxruntime's outputs, on real scikit-learn exports (`tests/data/runtime`, made by
//! `scripts/make_runtime_models.py`) and small vision graphs (`tests/data/redteam`, made
//! by `scripts/make_redteam_models.py`).

use super::*;
use crate::onnx::read_proto;
use std::path::PathBuf;

fn data_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(sub)
}

struct Case {
    graph: Graph,
    x: Vec<f64>,
    rows: usize,
    expected: Vec<f64>,
}

/// The graph of `name` from its input to `output`, and the rows and onnxruntime's answers
/// stored beside it.
fn case(sub: &str, name: &str, output: &str) -> Case {
    let dir = data_dir(sub);
    let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
    let proto = read_proto(&bytes).unwrap();
    let graph = Graph::from_onnx(&proto, None, output).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    let input = json["inputs"].as_object().unwrap().values().next().unwrap();
    let rows = input["shape"][0].as_u64().unwrap() as usize;
    let x = input["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let expected = json["outputs"][output]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    Case {
        graph,
        x,
        rows,
        expected,
    }
}

/// The largest difference of the analytic gradient from central differences, relative to
/// the larger of the two per row.
fn gradient_error(graph: &Graph, x: &[f64], rows: usize, classes: &[usize], h: f64) -> f64 {
    let d = graph.features();
    let (g, _) = graph.loss_gradient(x, rows, classes).unwrap();
    let mut worst: f64 = 0.0;
    for r in 0..rows {
        let row = &x[r * d..(r + 1) * d];
        let mut numeric = vec![0.0; d];
        for j in 0..d {
            let (mut up, mut down) = (row.to_vec(), row.to_vec());
            up[j] += h;
            down[j] -= h;
            let c = &classes[r..=r];
            let lu = graph.loss_gradient(&up, 1, c).unwrap().1[0];
            let ld = graph.loss_gradient(&down, 1, c).unwrap().1[0];
            numeric[j] = (lu - ld) / (2.0 * h);
        }
        let analytic = &g[r * d..(r + 1) * d];
        let scale = numeric
            .iter()
            .chain(analytic)
            .fold(0.0f64, |a, b| a.max(b.abs()))
            .max(1e-9);
        for (a, n) in analytic.iter().zip(&numeric) {
            worst = worst.max((a - n).abs() / scale);
        }
    }
    worst
}

fn check(sub: &str, name: &str, output: &str, forward_tol: f64, h: f64) {
    let c = case(sub, name, output);
    let tape = c.graph.forward(&c.x, c.rows).unwrap();
    let (y, k) = c.graph.output(&tape).unwrap();
    assert_eq!(y.len(), c.expected.len(), "{name}: output size");
    let worst = y
        .iter()
        .zip(&c.expected)
        .fold(0.0f64, |a, (p, q)| a.max((p - q).abs()));
    assert!(
        worst < forward_tol,
        "{name}: forward differs from onnxruntime by {worst}"
    );
    // Every row against a class it is not given, and against the one it is.
    let rows = c.rows.min(8);
    let classes: Vec<usize> = (0..rows)
        .map(|r| {
            let row = &y[r * k..(r + 1) * k];
            let top = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            if r % 2 == 0 {
                top
            } else {
                (top + 1) % k.max(1)
            }
        })
        .collect();
    let err = gradient_error(
        &c.graph,
        &c.x[..rows * c.graph.features()],
        rows,
        &classes,
        h,
    );
    assert!(
        err < 1e-5,
        "{name}: gradient off central differences by {err}"
    );
}

#[test]
fn an_mlp_with_a_softmax_is_differentiated_exactly() {
    check("runtime", "digits_mlp", "output_probability", 1e-5, 1e-4);
    check(
        "runtime",
        "wine_minmax_mlp",
        "output_probability",
        1e-5,
        1e-5,
    );
    let c = case("runtime", "digits_mlp", "output_probability");
    assert!(
        c.graph.logits.is_some(),
        "the loss is taken from the softmax's logits"
    );
}

#[test]
fn scikit_learn_linear_models_are_differentiated_exactly() {
    // Binary logistic regression (LinearClassifier, LOGISTIC, two columns from one).
    check(
        "runtime",
        "cancer_scaler_logreg",
        "output_probability",
        1e-5,
        1e-6,
    );
    check(
        "runtime",
        "cancer_robust_logreg",
        "output_probability",
        1e-5,
        1e-6,
    );
    // Multinomial (SOFTMAX) with string class names.
    check(
        "runtime",
        "wine_scaler_logreg_names",
        "output_probability",
        1e-5,
        1e-6,
    );
    // A linear SVM-style classifier: raw scores, read as logits.
    check(
        "runtime",
        "wine_maxabs_sgd",
        "output_probability",
        1e-4,
        1e-6,
    );
}

#[test]
fn a_regressor_with_a_normalizer_is_evaluated_as_onnxruntime_does() {
    for name in ["diabetes_normalizer_linreg", "diabetes_ridge"] {
        let c = case("runtime", name, "variable");
        let tape = c.graph.forward(&c.x, c.rows).unwrap();
        let (y, k) = c.graph.output(&tape).unwrap();
        assert_eq!(k, 1);
        for (p, q) in y.iter().zip(&c.expected) {
            assert!(
                (p - q).abs() <= 1e-3 * q.abs().max(1.0),
                "{name}: {p} against {q}"
            );
        }
    }
}

#[test]
fn trees_are_not_differentiated_and_say_why() {
    let bytes = std::fs::read(data_dir("runtime").join("cancer_gbc.onnx")).unwrap();
    let proto = read_proto(&bytes).unwrap();
    let err = Graph::from_onnx(&proto, None, "output_probability").unwrap_err();
    assert!(
        err.0.iter().any(|e| e.contains("TreeEnsembleClassifier")),
        "{err}"
    );
    let err = Graph::from_onnx(&proto, None, "no_such_output").unwrap_err();
    assert!(err.to_string().contains("does not depend"), "{err}");
}

#[test]
fn vision_graphs_are_differentiated_exactly() {
    for name in ["cnn_pool", "cnn_misc"] {
        check("redteam", name, "probabilities", 1e-5, 1e-5);
    }
}

#[test]
fn broadcasting_gradients_sum_back_to_the_operand() {
    let g = ArrayD::from_elem(IxDyn(&[3, 4]), 1.0);
    assert_eq!(unbroadcast(g.clone(), &[4]).shape(), &[4]);
    assert_eq!(
        unbroadcast(g.clone(), &[1, 4]),
        ArrayD::from_elem(IxDyn(&[1, 4]), 3.0)
    );
    assert_eq!(
        unbroadcast(g, &[3, 1]),
        ArrayD::from_elem(IxDyn(&[3, 1]), 4.0)
    );
    assert!(broadcast_shape(&[3, 4], &[2, 4]).is_err());
}

#[test]
fn a_transpose_that_is_not_a_permutation_is_an_error_not_a_panic() {
    let x = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0);
    for perm in [vec![0, 0], vec![0, 2], vec![1]] {
        assert!(forward(&Op::Transpose(Some(perm)), &[Some(&x)]).is_err());
    }
    let y = forward(&Op::Transpose(None), &[Some(&x)]).unwrap();
    assert_eq!(y.shape(), &[3, 2]);
}

#[test]
fn a_clamped_input_is_differentiated_through_max_and_min() {
    use crate::export::{DenseClassifier, Layer};
    let m = DenseClassifier {
        bounds: Some((vec![-1.0, 0.0], vec![2.0, 3.0])),
        mean: vec![0.5, 1.5],
        scale: vec![1.5, 1.5],
        layers: vec![
            Layer {
                weights: vec![0.5, -1.0, 0.25, 1.5, 0.75, -0.5],
                bias: vec![0.1, -0.2, 0.3],
                inputs: 2,
                outputs: 3,
            },
            Layer {
                weights: vec![1.0, -1.0, 0.5, 0.5, -0.25, 2.0],
                bias: vec![0.0, 0.2],
                inputs: 3,
                outputs: 2,
            },
        ],
    };
    let bytes = m.to_onnx("aigis", "test").unwrap();
    let graph = Graph::from_onnx(&read_proto(&bytes).unwrap(), None, "probabilities").unwrap();
    // Inside the bounds: the gradient is the network's, against central differences.
    let inside = [0.5, 1.0, -0.5, 2.5, 1.5, 0.2];
    assert!(gradient_error(&graph, &inside, 3, &[0, 1, 1], 1e-6) < 1e-5);
    // Beyond them the feature is clamped: its gradient is zero, the other's is not.
    let (g, _) = graph
        .loss_gradient(&[5.0, 1.0, 1.0, -4.0], 2, &[0, 1])
        .unwrap();
    assert_eq!((g[0], g[3]), (0.0, 0.0), "{g:?}");
    assert!(g[1] != 0.0 && g[2] != 0.0, "{g:?}");
    let tape = graph.forward(&[5.0, 1.0, 2.0, 1.0], 2).unwrap();
    let (y, _) = graph.output(&tape).unwrap();
    assert!((y[0] - y[2]).abs() < 1e-12, "5 is clamped to 2: {y:?}");
}
