//! Writing a model as ONNX: a dense classifier (optional clamping of each feature into
//! bounds, standardization, fully connected layers with ReLU between them, a softmax) as
//! the standard operators any ONNX runtime runs (`Max`, `Min`, `Sub`, `Div`, `Gemm`,
//! `Relu`, `Softmax`, `ArgMax`; opset 17), with two outputs in
//! scikit-learn's order (skl2onnx's `zipmap=False` layout): `label` (int64, the top class)
//! and `probabilities` (float, one column per class).
//!
//! The protocol-buffer types are tract's (`tract_onnx::pb`), encoded by `prost`, which
//! generated them.

use prost::Message as _;

use crate::onnx::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};

/// One fully connected layer: `x · weights + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `inputs × outputs`, row-major.
    pub weights: Vec<f64>,
    pub bias: Vec<f64>,
    pub inputs: usize,
    pub outputs: usize,
}

/// A dense classifier: each feature clamped into `bounds` when given (`min(max(x, low),
/// high)`, as a model trained on clamped rows must see them), standardized (`(x − mean) /
/// scale`), then the layers, ReLU after each but the last, and a softmax over the last
/// one's outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseClassifier {
    /// Each feature's lowest and highest value, or none.
    pub bounds: Option<(Vec<f64>, Vec<f64>)>,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
    pub layers: Vec<Layer>,
}

/// ONNX's FLOAT and INT64 element types.
const FLOAT: i32 = 1;
const INT64: i32 = 7;

fn tensor(name: &str, dims: &[usize], values: &[f64]) -> TensorProto {
    TensorProto {
        name: name.to_owned(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        // The model runs in float32, as exporters write it.
        raw_data: values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.to_owned(),
        name: output.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute: attributes,
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n as i64),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl DenseClassifier {
    /// The classifier's shape checked: standardization of as many features as the first
    /// layer takes, each layer taking the one before's outputs, at least two classes.
    fn check(&self) -> Result<(usize, usize), String> {
        let features = self.mean.len();
        if features == 0 || self.scale.len() != features {
            return Err(format!("{features} means and {} scales", self.scale.len()));
        }
        let mut width = features;
        for (i, l) in self.layers.iter().enumerate() {
            if l.inputs != width
                || l.weights.len() != l.inputs * l.outputs
                || l.bias.len() != l.outputs
            {
                return Err(format!(
                    "layer {i}: {} weights and {} biases for {} inputs and {} outputs after {width}",
                    l.weights.len(),
                    l.bias.len(),
                    l.inputs,
                    l.outputs
                ));
            }
            width = l.outputs;
        }
        if let Some((low, high)) = &self.bounds {
            let ordered = low.len() == features
                && high.len() == features
                && low
                    .iter()
                    .zip(high)
                    .all(|(l, h)| l.is_finite() && h.is_finite() && l <= h);
            if !ordered {
                return Err(format!(
                    "{} low and {} high bounds for {features} features (each finite, low <= high)",
                    low.len(),
                    high.len()
                ));
            }
        }
        if self.layers.is_empty() || width < 2 {
            return Err("a classifier needs a layer and two classes".into());
        }
        let mut all = self.mean.iter().chain(&self.scale).chain(
            self.layers
                .iter()
                .flat_map(|l| l.weights.iter().chain(&l.bias)),
        );
        if all.any(|v| !v.is_finite()) || self.scale.contains(&0.0) {
            return Err("a weight that is not a finite number (or a zero scale)".into());
        }
        Ok((features, width))
    }

    /// Appends the classifier's nodes and weights from `input` to its last layer's
    /// outputs (the logits), every name prefixed with `prefix`; the logits' name.
    fn append(
        &self,
        prefix: &str,
        input: &str,
        nodes: &mut Vec<NodeProto>,
        initializer: &mut Vec<TensorProto>,
    ) -> Result<String, String> {
        let (features, _) = self.check()?;
        let n = |s: &str| format!("{prefix}{s}");
        initializer.push(tensor(&n("mean"), &[features], &self.mean));
        initializer.push(tensor(&n("scale"), &[features], &self.scale));
        let mut below = input.to_owned();
        if let Some((low, high)) = &self.bounds {
            initializer.push(tensor(&n("low"), &[features], low));
            initializer.push(tensor(&n("high"), &[features], high));
            nodes.push(node("Max", &[&below, &n("low")], &n("raised"), vec![]));
            nodes.push(node(
                "Min",
                &[&n("raised"), &n("high")],
                &n("clamped"),
                vec![],
            ));
            below = n("clamped");
        }
        nodes.push(node("Sub", &[&below, &n("mean")], &n("centred"), vec![]));
        nodes.push(node("Div", &[&n("centred"), &n("scale")], &n("x0"), vec![]));
        let last = self.layers.len() - 1;
        let mut below = n("x0");
        for (i, l) in self.layers.iter().enumerate() {
            let (w, b) = (n(&format!("w{i}")), n(&format!("b{i}")));
            initializer.push(tensor(&w, &[l.inputs, l.outputs], &l.weights));
            initializer.push(tensor(&b, &[l.outputs], &l.bias));
            let z = n(&format!("z{i}"));
            nodes.push(node("Gemm", &[&below, &w, &b], &z, vec![]));
            if i < last {
                let a = n(&format!("x{}", i + 1));
                nodes.push(node("Relu", &[&z], &a, vec![]));
                below = a;
            } else {
                below = z;
            }
        }
        Ok(below)
    }

    /// The model as ONNX bytes, its input named `input` (`N × features` floats).
    /// `producer`: who wrote it (ONNX's `producer_name`).
    pub fn to_onnx(&self, producer: &str, version: &str) -> Result<Vec<u8>, String> {
        let (features, classes) = self.check()?;
        let mut initializer = Vec::new();
        let mut nodes = Vec::new();
        let logits = self.append("", "input", &mut nodes, &mut initializer)?;
        nodes.push(node(
            "Softmax",
            &[&logits],
            "probabilities",
            vec![int_attribute("axis", 1)],
        ));
        nodes.push(node(
            "ArgMax",
            &["probabilities"],
            "label",
            vec![int_attribute("axis", 1), int_attribute("keepdims", 0)],
        ));
        Ok(model(
            producer,
            version,
            "dense_classifier",
            nodes,
            initializer,
            features,
            classes,
            Vec::new(),
        ))
    }
}

/// The metadata key an ensemble of [`VoteEnsemble`] carries, its value the number of
/// members: what `aigis certify` reads.
pub const PARTITIONS_KEY: &str = "aigis.partitions";

/// A majority vote of dense classifiers (deep partition aggregation): each member's top
/// class is one vote (`ArgMax`, then `OneHot`), `label` is the class with the most votes
/// (the smallest on a tie, as ONNX's `ArgMax` takes the first), and `probabilities` is
/// each class's share of the votes, so votes = probabilities × members.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteEnsemble {
    pub members: Vec<DenseClassifier>,
}

impl VoteEnsemble {
    /// The ensemble as ONNX bytes, its input `input`, outputs `label` and
    /// `probabilities` (vote shares), with [`PARTITIONS_KEY`] in its metadata.
    pub fn to_onnx(&self, producer: &str, version: &str) -> Result<Vec<u8>, String> {
        let Some(first) = self.members.first() else {
            return Err("an ensemble needs a member".into());
        };
        let (features, classes) = first.check()?;
        let mut initializer = vec![
            TensorProto {
                name: "depth".into(),
                dims: vec![],
                data_type: INT64,
                raw_data: (classes as i64).to_le_bytes().to_vec(),
                ..Default::default()
            },
            tensor("onoff", &[2], &[0.0, 1.0]),
            tensor("members", &[], &[self.members.len() as f64]),
        ];
        let mut nodes = Vec::new();
        let mut votes = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.check()? != (features, classes) {
                return Err(format!(
                    "member {i} takes {} features to {} classes, not {features} to {classes}",
                    m.check()?.0,
                    m.check()?.1
                ));
            }
            let prefix = format!("m{i}_");
            let logits = m.append(&prefix, "input", &mut nodes, &mut initializer)?;
            let top = format!("{prefix}top");
            let vote = format!("{prefix}vote");
            nodes.push(node(
                "ArgMax",
                &[&logits],
                &top,
                vec![int_attribute("axis", 1), int_attribute("keepdims", 0)],
            ));
            nodes.push(node(
                "OneHot",
                &[&top, "depth", "onoff"],
                &vote,
                vec![int_attribute("axis", -1)],
            ));
            votes.push(vote);
        }
        let refs: Vec<&str> = votes.iter().map(String::as_str).collect();
        nodes.push(node("Sum", &refs, "votes", vec![]));
        nodes.push(node("Div", &["votes", "members"], "probabilities", vec![]));
        nodes.push(node(
            "ArgMax",
            &["votes"],
            "label",
            vec![int_attribute("axis", 1), int_attribute("keepdims", 0)],
        ));
        let metadata = vec![crate::onnx::proto::StringStringEntryProto {
            key: PARTITIONS_KEY.into(),
            value: self.members.len().to_string(),
        }];
        Ok(model(
            producer,
            version,
            "partition_ensemble",
            nodes,
            initializer,
            features,
            classes,
            metadata,
        ))
    }
}

#[allow(clippy::too_many_arguments, reason = "a model's parts")]
fn model(
    producer: &str,
    version: &str,
    name: &str,
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    features: usize,
    classes: usize,
    metadata: Vec<crate::onnx::proto::StringStringEntryProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: producer.to_owned(),
        producer_version: version.to_owned(),
        metadata_props: metadata,
        graph: Some(GraphProto {
            name: name.into(),
            node: nodes,
            initializer,
            input: vec![value_info("input", FLOAT, &[None, Some(features)])],
            output: vec![
                value_info("label", INT64, &[None]),
                value_info("probabilities", FLOAT, &[None, Some(classes)]),
            ],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]
mod tests {
    use super::*;
    use crate::{Data, NamedTensor, OnnxRuntime, Tensor};

    fn two_layer() -> DenseClassifier {
        DenseClassifier {
            bounds: None,
            mean: vec![1.0, -2.0],
            scale: vec![2.0, 0.5],
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
        }
    }

    /// The same arithmetic in f64, by hand.
    fn by_hand(m: &DenseClassifier, x: &[f64]) -> Vec<f64> {
        let mut a: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| match &m.bounds {
                Some((low, high)) => v.max(low[j]).min(high[j]),
                None => v,
            })
            .zip(&m.mean)
            .zip(&m.scale)
            .map(|((v, mu), s)| (v - mu) / s)
            .collect();
        for (i, l) in m.layers.iter().enumerate() {
            let mut z = l.bias.clone();
            for (k, &v) in a.iter().enumerate() {
                for (j, out) in z.iter_mut().enumerate() {
                    *out += v * l.weights[k * l.outputs + j];
                }
            }
            if i + 1 < m.layers.len() {
                z.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            a = z;
        }
        let top = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = a.iter().map(|v| (v - top).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn the_written_model_runs_as_the_arithmetic_says() {
        runs_as_the_arithmetic_says(&two_layer());
        // Clamped: rows beyond the bounds on either side, and one inside.
        runs_as_the_arithmetic_says(&DenseClassifier {
            bounds: Some((vec![-1.0, -1.5], vec![2.0, 0.0])),
            ..two_layer()
        });
    }

    fn runs_as_the_arithmetic_says(m: &DenseClassifier) {
        let bytes = m.to_onnx("aigis", "test").unwrap();
        let runtime = OnnxRuntime::from_bytes(&bytes).unwrap();
        let rows = [[3.0, -1.0], [-2.0, 0.5], [1.0, -2.0]];
        let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        let out = crate::Runtime::run(
            &runtime,
            vec![NamedTensor::new(
                "input",
                Tensor::new(vec![3, 2], Data::Fp32(flat)).unwrap(),
            )],
        )
        .unwrap();
        let probabilities = out.iter().find(|t| t.name == "probabilities").unwrap();
        let label = out.iter().find(|t| t.name == "label").unwrap();
        let Data::Fp32(p) = probabilities.tensor.data() else {
            panic!("{probabilities:?}")
        };
        let Data::Int64(l) = label.tensor.data() else {
            panic!("{label:?}")
        };
        for (r, x) in rows.iter().enumerate() {
            let want = by_hand(m, x);
            for (c, w) in want.iter().enumerate() {
                assert!(
                    (f64::from(p[r * 2 + c]) - w).abs() < 1e-6,
                    "row {r}: {p:?} {want:?}"
                );
            }
            let top = if want[1] > want[0] { 1 } else { 0 };
            assert_eq!(l[r], top);
        }
    }

    #[test]
    fn an_ensemble_votes_as_its_members_argmaxes_say() {
        let a = two_layer();
        let mut b = two_layer();
        b.layers[1].bias = vec![1e3, -1e3]; // always class 0
        let mut c = two_layer();
        c.layers[1].bias = vec![-1e3, 1e3]; // always class 1
        let ensemble = VoteEnsemble {
            members: vec![a.clone(), b, c],
        };
        let bytes = ensemble.to_onnx("aigis", "test").unwrap();
        let proto = crate::onnx::read_proto(&bytes).unwrap();
        assert_eq!(proto.metadata_props[0].key, PARTITIONS_KEY);
        assert_eq!(proto.metadata_props[0].value, "3");
        let runtime = OnnxRuntime::from_bytes(&bytes).unwrap();
        let rows = [[3.0, -1.0], [-2.0, 0.5], [1.0, -2.0]];
        let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        let out = crate::Runtime::run(
            &runtime,
            vec![NamedTensor::new(
                "input",
                Tensor::new(vec![3, 2], Data::Fp32(flat)).unwrap(),
            )],
        )
        .unwrap();
        let p = out.iter().find(|t| t.name == "probabilities").unwrap();
        let l = out.iter().find(|t| t.name == "label").unwrap();
        let (Data::Fp32(p), Data::Int64(l)) = (p.tensor.data(), l.tensor.data()) else {
            panic!("{out:?}")
        };
        for (r, x) in rows.iter().enumerate() {
            // Member a's vote by hand; b votes 0 and c votes 1: a decides.
            let want = by_hand(&a, x);
            let top = usize::from(want[1] > want[0]);
            let mut votes = [1.0, 1.0];
            votes[top] += 1.0;
            assert_eq!(
                [f64::from(p[r * 2]) * 3.0, f64::from(p[r * 2 + 1]) * 3.0].map(|v| v.round()),
                votes,
                "row {r}"
            );
            assert_eq!(l[r], top as i64, "row {r}");
        }
        // Two members, one vote each: the tie goes to the smaller class.
        let mut b = two_layer();
        b.layers[1].bias = vec![1e3, -1e3];
        let mut c = two_layer();
        c.layers[1].bias = vec![-1e3, 1e3];
        let tie = VoteEnsemble {
            members: vec![c, b],
        }
        .to_onnx("aigis", "test")
        .unwrap();
        let runtime = OnnxRuntime::from_bytes(&tie).unwrap();
        let out = crate::Runtime::run(
            &runtime,
            vec![NamedTensor::new(
                "input",
                Tensor::new(vec![1, 2], Data::Fp32(vec![0.0, 0.0])).unwrap(),
            )],
        )
        .unwrap();
        let l = out.iter().find(|t| t.name == "label").unwrap();
        assert!(matches!(l.tensor.data(), Data::Int64(v) if v == &[0]));
    }

    #[test]
    fn a_misshapen_classifier_is_refused() {
        let mut m = two_layer();
        m.layers[1].inputs = 2;
        assert!(m.to_onnx("aigis", "test").unwrap_err().contains("layer 1"));
        let mut m = two_layer();
        m.scale[0] = 0.0;
        assert!(m.to_onnx("aigis", "test").is_err());
        for bounds in [
            (vec![0.0], vec![1.0]),
            (vec![0.0, 2.0], vec![1.0, 1.0]),
            (vec![0.0, f64::NEG_INFINITY], vec![1.0, 1.0]),
        ] {
            let m = DenseClassifier {
                bounds: Some(bounds),
                ..two_layer()
            };
            assert!(m.to_onnx("aigis", "test").unwrap_err().contains("bounds"));
        }
        let mut m = two_layer();
        m.layers.pop();
        m.layers[0].outputs = 1;
        m.layers[0].weights.truncate(2);
        m.layers[0].bias.truncate(1);
        assert!(
            m.to_onnx("aigis", "test")
                .unwrap_err()
                .contains("two classes")
        );
    }
}
