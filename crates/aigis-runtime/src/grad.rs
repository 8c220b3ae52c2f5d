//! Exact input gradients of an ONNX model, by reverse-mode differentiation of its graph.
//!
//! The white-box attacks need the gradient of a loss with respect to the input. tract
//! (the runtime) evaluates graphs but does not differentiate them, and no Rust crate
//! differentiates ONNX graphs, so this module reads the graph itself and implements, for
//! each operator that tabular and small vision models use, its forward pass in `f64` and
//! its vector–Jacobian product: `MatMul`, `Gemm`, `Add`, `Sub`, `Mul`, `Div`, `Max` and
//! `Min` of two inputs, `Relu`, `LeakyRelu`, `Sigmoid`, `Tanh`, `Exp`, `Neg`, `Reciprocal`,
//! `Sqrt`, `Abs`, `ReduceSum`, `Softmax`, `LogSoftmax`, `Identity`, `Dropout`, `Cast`,
//! `Not`, `Reshape`, `Flatten`, `Transpose`, `Conv` (1-D and 2-D, groups, strides,
//! dilations, pads), `MaxPool`, `AveragePool`, `GlobalAveragePool`, and the scikit-learn
//! `ai.onnx.ml` operators `Scaler`, `Normalizer`, `LinearClassifier` and `LinearRegressor`
//! (as tract runs them), with `ZipMap` read as its input, as the runtime serves it. A cast to a boolean or an
//! integer, and `Not`, are piecewise constant: their gradient is zero (scikit-learn's
//! `SGDClassifier` export guards a division with one).
//!
//! [`Graph::from_onnx`] keeps only the nodes between the input and the chosen output, and
//! refuses ([`Unsupported`]) a graph with any other operator on that path: the caller then
//! estimates gradients from the model's answers instead and says so. The gradients are
//! checked against central differences in the tests, on real scikit-learn exports.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::onnx::proto::{ModelProto, NodeProto, TensorProto};
use ndarray::{Array2, ArrayD, ArrayView2, Axis, Ix2, IxDyn, Zip};

type T = ArrayD<f64>;

/// Why a graph cannot be differentiated here: the operators (or forms) it uses that this
/// module does not differentiate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub Vec<String>);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.join(", "))
    }
}

/// A model's graph, from its input to one output, ready to be evaluated and
/// differentiated.
#[derive(Debug, Clone)]
pub struct Graph {
    input: String,
    /// The input's shape after the batch dimension.
    inner: Vec<usize>,
    steps: Vec<Step>,
    consts: HashMap<String, T>,
    output: String,
    /// The input of the `Softmax` the output is read from, when it is: the loss is then
    /// taken from these logits (the gradient of cross-entropy through a softmax is exact
    /// and never underflows).
    logits: Option<String>,
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Post {
    None,
    Logistic,
    Softmax,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flat {
    Bool,
    Truncate,
    Not,
}

#[derive(Debug, Clone)]
struct Pool {
    kernel: [usize; 2],
    strides: [usize; 2],
    /// Top, left, bottom, right.
    pads: [usize; 4],
    /// AveragePool counts the padding in the mean.
    count_pad: bool,
}

#[derive(Debug, Clone)]
enum Op {
    MatMul,
    Gemm {
        alpha: f64,
        beta: f64,
        ta: bool,
        tb: bool,
    },
    Add,
    Sub,
    Mul,
    Div,
    /// The larger (`Max`) or smaller (`Min`) of two inputs, elementwise.
    Max,
    Min,
    Relu,
    LeakyRelu(f64),
    Sigmoid,
    Tanh,
    Exp,
    Neg,
    Reciprocal,
    Sqrt,
    Abs,
    /// A sum over `axes` (all when `None`), keeping them as size 1 or not.
    ReduceSum {
        axes: Option<Vec<i64>>,
        keep: bool,
    },
    /// A step whose output is piecewise constant in its input (a cast to a boolean or an
    /// integer, a logical not): its gradient is zero almost everywhere.
    Flat(Flat),
    Softmax,
    LogSoftmax,
    Identity,
    Reshape {
        allow_zero: bool,
    },
    Flatten(i64),
    Transpose(Option<Vec<usize>>),
    Conv {
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        group: usize,
    },
    MaxPool(Pool),
    AveragePool(Pool),
    GlobalAveragePool,
    Scaler {
        offset: Vec<f64>,
        scale: Vec<f64>,
    },
    Normalizer(Norm),
    /// `coef` is `[models, features]`; a classifier's scores are its second output.
    Linear {
        classifier: bool,
        coef: Array2<f64>,
        intercepts: Option<Vec<f64>>,
        post: Post,
        binary: bool,
    },
}

/// A forward pass: every value of the graph for one batch.
#[derive(Debug)]
pub struct Tape {
    values: HashMap<String, T>,
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a crate::onnx::proto::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &NodeProto, name: &str, default: f64) -> f64 {
    attr(node, name).map_or(default, |a| f64::from(a.f))
}

fn attr_ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map_or_else(Vec::new, |a| a.ints.clone())
}

fn attr_floats(node: &NodeProto, name: &str) -> Vec<f64> {
    attr(node, name).map_or_else(Vec::new, |a| {
        a.floats.iter().map(|&v| f64::from(v)).collect()
    })
}

fn attr_s(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn op_name(node: &NodeProto) -> String {
    let domain = node.domain.as_str();
    if domain.is_empty() || domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{domain}:{}", node.op_type)
    }
}

/// The numbers of a stored tensor, as `f64`, in its shape.
fn tensor(t: &TensorProto) -> Result<T, String> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tensor `{}`: dimension {d}", t.name)))
        .collect::<Result<_, _>>()?;
    let raw = &t.raw_data;
    fn le<const W: usize>(raw: &[u8], f: impl Fn([u8; W]) -> f64) -> Vec<f64> {
        raw.chunks_exact(W)
            .filter_map(|b| <[u8; W]>::try_from(b).ok())
            .map(f)
            .collect()
    }
    let values: Vec<f64> = match t.data_type {
        // FLOAT
        1 if !raw.is_empty() => le(raw, |b| f64::from(f32::from_le_bytes(b))),
        1 => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        // DOUBLE
        11 if !raw.is_empty() => le(raw, f64::from_le_bytes),
        11 => t.double_data.clone(),
        // INT64
        7 if !raw.is_empty() => le(raw, |b| i64::from_le_bytes(b) as f64),
        7 => t.int64_data.iter().map(|&v| v as f64).collect(),
        // INT32
        6 if !raw.is_empty() => le(raw, |b| f64::from(i32::from_le_bytes(b))),
        6 => t.int32_data.iter().map(|&v| f64::from(v)).collect(),
        other => return Err(format!("tensor `{}` of ONNX type {other}", t.name)),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), values)
        .map_err(|_| format!("tensor `{}`: its data does not fill its shape", t.name))
}

fn pair(v: &[i64], default: usize) -> Result<[usize; 2], String> {
    match v {
        [] => Ok([default; 2]),
        [a, b] => Ok([
            usize::try_from(*a).map_err(|_| format!("{a}"))?,
            usize::try_from(*b).map_err(|_| format!("{b}"))?,
        ]),
        _ => Err(format!("{v:?} is not two numbers")),
    }
}

fn pads4(node: &NodeProto) -> Result<[usize; 4], String> {
    if let Some(auto) = attr_s(node, "auto_pad")
        && !auto.is_empty()
        && auto != "NOTSET"
        && auto != "VALID"
    {
        return Err(format!("auto_pad {auto}"));
    }
    match attr_ints(node, "pads").as_slice() {
        [] => Ok([0; 4]),
        [t, l, b, r] => {
            let u = |v: i64| usize::try_from(v).map_err(|_| format!("pad {v}"));
            Ok([u(*t)?, u(*l)?, u(*b)?, u(*r)?])
        }
        other => Err(format!("pads {other:?}")),
    }
}

fn pool(node: &NodeProto) -> Result<Pool, String> {
    if attr_i(node, "ceil_mode", 0) != 0 {
        return Err("ceil_mode".into());
    }
    if attr_ints(node, "dilations").iter().any(|&d| d != 1) {
        return Err("dilated pooling".into());
    }
    Ok(Pool {
        kernel: pair(&attr_ints(node, "kernel_shape"), 0)?,
        strides: pair(&attr_ints(node, "strides"), 1)?,
        pads: pads4(node)?,
        count_pad: attr_i(node, "count_include_pad", 0) != 0,
    })
}

/// The operator of `node`, or why it is not differentiated.
fn op_of(node: &NodeProto, opset: i64) -> Result<Op, String> {
    let domain = node.domain.as_str();
    let ml = domain == "ai.onnx.ml";
    if !(ml || domain.is_empty() || domain == "ai.onnx") {
        return Err(op_name(node));
    }
    let op = match (ml, node.op_type.as_str()) {
        (false, "MatMul") => Op::MatMul,
        (false, "Gemm") => Op::Gemm {
            alpha: attr_f(node, "alpha", 1.0),
            beta: attr_f(node, "beta", 1.0),
            ta: attr_i(node, "transA", 0) != 0,
            tb: attr_i(node, "transB", 0) != 0,
        },
        (false, "Add") => Op::Add,
        (false, "Sub") => Op::Sub,
        (false, "Mul") => Op::Mul,
        (false, "Div") => Op::Div,
        // Variadic in ONNX; the two-input form (a clamp against a bound) is differentiated.
        (false, "Max" | "Min") if node.input.len() == 2 => {
            if node.op_type == "Max" {
                Op::Max
            } else {
                Op::Min
            }
        }
        (false, "Relu") => Op::Relu,
        (false, "LeakyRelu") => Op::LeakyRelu(attr_f(node, "alpha", 0.01)),
        (false, "Sigmoid") => Op::Sigmoid,
        (false, "Tanh") => Op::Tanh,
        (false, "Exp") => Op::Exp,
        (false, "Neg") => Op::Neg,
        (false, "Reciprocal") => Op::Reciprocal,
        (false, "Sqrt") => Op::Sqrt,
        (false, "Abs") => Op::Abs,
        (false, "Not") => Op::Flat(Flat::Not),
        (false, "ReduceSum") => {
            if attr_i(node, "noop_with_empty_axes", 0) != 0 {
                return Err("ReduceSum with noop_with_empty_axes".into());
            }
            let axes = attr_ints(node, "axes");
            Op::ReduceSum {
                // From opset 13 the axes are the second input, read when the graph runs.
                axes: (!axes.is_empty()).then_some(axes),
                keep: attr_i(node, "keepdims", 1) != 0,
            }
        }
        (false, "Softmax" | "LogSoftmax") => {
            // Before opset 13 the input is flattened to 2-D at `axis` (default 1); from 13
            // the softmax runs along `axis` (default -1). Both are the last axis of a
            // matrix, which is what is differentiated here; `check_last_axis` checks the
            // rank when the graph runs.
            let axis = attr_i(node, "axis", if opset < 13 { 1 } else { -1 });
            if !(axis == -1 || axis == 1) {
                return Err(format!("{} along axis {axis}", node.op_type));
            }
            if node.op_type == "Softmax" {
                Op::Softmax
            } else {
                Op::LogSoftmax
            }
        }
        (false, "Identity" | "Dropout") => Op::Identity,
        (false, "Cast") => match attr_i(node, "to", 0) {
            1 | 10 | 11 | 16 => Op::Identity,
            9 => Op::Flat(Flat::Bool),
            2..=7 | 12 | 13 => Op::Flat(Flat::Truncate),
            to => return Err(format!("Cast to ONNX type {to}")),
        },
        (false, "Reshape") => Op::Reshape {
            allow_zero: attr_i(node, "allowzero", 0) != 0,
        },
        (false, "Flatten") => Op::Flatten(attr_i(node, "axis", 1)),
        (false, "Transpose") => {
            let perm = attr_ints(node, "perm");
            Op::Transpose(if perm.is_empty() {
                None
            } else {
                Some(
                    perm.iter()
                        .map(|&p| usize::try_from(p).map_err(|_| format!("Transpose perm {p}")))
                        .collect::<Result<_, _>>()?,
                )
            })
        }
        (false, "Conv") => {
            let kernel = attr_ints(node, "kernel_shape");
            if kernel.len() > 2 {
                return Err("Conv over more than two axes".into());
            }
            Op::Conv {
                strides: pair(&attr_ints(node, "strides"), 1)?,
                pads: pads4(node)?,
                dilations: pair(&attr_ints(node, "dilations"), 1)?,
                group: usize::try_from(attr_i(node, "group", 1))
                    .map_err(|_| "Conv group".to_string())?,
            }
        }
        (false, "MaxPool") => {
            if node.output.len() > 1 && node.output.get(1).is_some_and(|o| !o.is_empty()) {
                return Err("MaxPool with indices".into());
            }
            Op::MaxPool(pool(node).map_err(|e| format!("MaxPool with {e}"))?)
        }
        (false, "AveragePool") => {
            Op::AveragePool(pool(node).map_err(|e| format!("AveragePool with {e}"))?)
        }
        (false, "GlobalAveragePool") => Op::GlobalAveragePool,
        (true, "ZipMap") => Op::Identity,
        (true, "Scaler") => {
            let offset = attr_floats(node, "offset");
            let scale = attr_floats(node, "scale");
            Op::Scaler {
                offset: if offset.is_empty() { vec![0.0] } else { offset },
                scale: if scale.is_empty() { vec![1.0] } else { scale },
            }
        }
        (true, "Normalizer") => Op::Normalizer(match attr_s(node, "norm").as_deref() {
            Some("MAX") => Norm::Max,
            Some("L1") => Norm::L1,
            Some("L2") => Norm::L2,
            other => return Err(format!("Normalizer norm {other:?}")),
        }),
        (true, "LinearClassifier" | "LinearRegressor") => linear(node)?,
        _ => return Err(op_name(node)),
    };
    Ok(op)
}

/// `LinearClassifier` and `LinearRegressor` as tract (and onnxruntime) run them: scores
/// `x · coefᵀ + intercepts`, two columns `[-s, s]` (or their transform) for a binary
/// classifier with one set of coefficients, then the post-transform.
fn linear(node: &NodeProto) -> Result<Op, String> {
    let post = match attr_s(node, "post_transform").as_deref() {
        None | Some("NONE") => Post::None,
        Some("LOGISTIC") => Post::Logistic,
        Some("SOFTMAX") => Post::Softmax,
        Some(other) => return Err(format!("{} with post_transform {other}", node.op_type)),
    };
    let coef = attr_floats(node, "coefficients");
    let intercepts = attr(node, "intercepts").map(|_| attr_floats(node, "intercepts"));
    let (models, binary) = if node.op_type == "LinearRegressor" {
        if post != Post::None {
            return Err("LinearRegressor with a post_transform".into());
        }
        (
            usize::try_from(attr_i(node, "targets", 1)).unwrap_or(0),
            false,
        )
    } else {
        let classes = attr(node, "classlabels_ints")
            .map(|a| a.ints.len())
            .or_else(|| attr(node, "classlabels_strings").map(|a| a.strings.len()))
            .unwrap_or(0);
        let multi = attr_i(node, "multi_class", 0);
        match &intercepts {
            Some(v) => (v.len(), classes == 2 && v.len() == 1 && multi == 0),
            None if classes == 2 && multi == 0 => (1, true),
            None => (classes, false),
        }
    };
    if models == 0 || coef.is_empty() || !coef.len().is_multiple_of(models) {
        return Err(format!(
            "{} whose {} coefficients do not fit {models} model(s)",
            node.op_type,
            coef.len()
        ));
    }
    let features = coef.len() / models;
    let coef = Array2::from_shape_vec((models, features), coef)
        .map_err(|_| format!("{} coefficients", node.op_type))?;
    if intercepts.as_ref().is_some_and(|v| v.len() != models) {
        return Err(format!("{} intercepts", node.op_type));
    }
    Ok(Op::Linear {
        classifier: node.op_type == "LinearClassifier",
        coef,
        intercepts,
        post,
        binary,
    })
}

impl Graph {
    /// The graph of `model` from its input `input` (its only input when `None`) to its
    /// output `output` (by name), or what in it is not differentiated.
    pub fn from_onnx(
        model: &ModelProto,
        input: Option<&str>,
        output: &str,
    ) -> Result<Self, Unsupported> {
        let one = |s: String| Unsupported(vec![s]);
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| one("a model without a graph".into()))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version);
        let mut consts: HashMap<String, T> = HashMap::new();
        for t in &graph.initializer {
            if let Ok(v) = tensor(t) {
                consts.insert(t.name.clone(), v);
            }
        }
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !consts.contains_key(&i.name))
            .collect();
        let chosen = match input {
            Some(name) => inputs.iter().find(|i| i.name == name),
            None if inputs.len() == 1 => inputs.first(),
            None => None,
        }
        .ok_or_else(|| one("the input to differentiate is not one of the graph's".into()))?;
        let inner = input_inner(chosen).ok_or_else(|| {
            one(format!(
                "the input `{}` has an open dimension after the batch",
                chosen.name
            ))
        })?;
        // Which values depend on the input.
        let mut live: HashSet<&str> = HashSet::from([chosen.name.as_str()]);
        for node in &graph.node {
            if node.input.iter().any(|i| live.contains(i.as_str())) {
                live.extend(node.output.iter().map(String::as_str));
            }
        }
        if !live.contains(output) {
            return Err(one(format!(
                "the output `{output}` does not depend on the input `{}`",
                chosen.name
            )));
        }
        // The nodes the output needs, walking back from it.
        let mut needed: HashSet<&str> = HashSet::from([output]);
        let mut keep = vec![false; graph.node.len()];
        for (node, keep) in graph.node.iter().zip(keep.iter_mut()).rev() {
            if node.output.iter().any(|o| needed.contains(o.as_str())) {
                *keep = true;
                needed.extend(
                    node.input
                        .iter()
                        .filter(|i| live.contains(i.as_str()))
                        .map(String::as_str),
                );
            }
        }
        let mut problems = BTreeSet::new();
        let mut steps = Vec::new();
        for (node, _) in graph.node.iter().zip(&keep).filter(|(_, k)| **k) {
            for name in &node.input {
                if name.is_empty() || live.contains(name.as_str()) || consts.contains_key(name) {
                    continue;
                }
                // A constant made by a node (`Constant`) is read from its attribute.
                match constant_made(graph, name) {
                    Some(v) => {
                        consts.insert(name.clone(), v);
                    }
                    None => {
                        problems.insert(format!(
                            "`{}` reads `{name}`, computed from something other than the input",
                            op_name(node)
                        ));
                    }
                }
            }
            match op_of(node, opset) {
                Ok(op) => steps.push(Step {
                    op,
                    inputs: node.input.clone(),
                    outputs: node.output.clone(),
                }),
                Err(e) => {
                    problems.insert(e);
                }
            }
        }
        if !problems.is_empty() {
            return Err(Unsupported(problems.into_iter().collect()));
        }
        // The output read through Identity-like steps from a Softmax: keep its logits.
        let mut logits = None;
        let mut at = output.to_string();
        while let Some(step) = steps.iter().find(|s| s.outputs.first() == Some(&at)) {
            match step.op {
                Op::Identity => match step.inputs.first() {
                    Some(i) => at = i.clone(),
                    None => break,
                },
                Op::Softmax => {
                    logits = step.inputs.first().cloned();
                    break;
                }
                _ => break,
            }
        }
        Ok(Self {
            input: chosen.name.clone(),
            inner,
            steps,
            consts,
            output: output.to_string(),
            logits,
        })
    }

    /// The numbers per row the input takes.
    pub fn features(&self) -> usize {
        self.inner.iter().product()
    }

    /// Runs the graph on `rows` rows of [`features`](Self::features) numbers (row-major).
    pub fn forward(&self, x: &[f64], rows: usize) -> Result<Tape, String> {
        let mut shape = vec![rows];
        shape.extend(&self.inner);
        let x = ArrayD::from_shape_vec(IxDyn(&shape), x.to_vec()).map_err(|_| {
            format!(
                "{} numbers are not {rows} rows of {:?}",
                x.len(),
                self.inner
            )
        })?;
        let mut values: HashMap<String, T> = HashMap::new();
        values.insert(self.input.clone(), x);
        for step in &self.steps {
            let args: Vec<Option<&T>> = step
                .inputs
                .iter()
                .map(|n| values.get(n).or_else(|| self.consts.get(n)))
                .collect();
            let out = forward(&step.op, &args)
                .map_err(|e| format!("{} ({:?}): {e}", step.outputs.join(","), step.op_label()))?;
            let name = step
                .outputs
                .get(step.op.main_output())
                .ok_or("a step without its output")?;
            values.insert(name.clone(), out);
        }
        if !values.contains_key(&self.output) {
            return Err(format!("the graph did not compute `{}`", self.output));
        }
        Ok(Tape { values })
    }

    /// The output of a forward pass as a `[rows, k]` matrix (row-major) and `k`.
    pub fn output(&self, tape: &Tape) -> Result<(Vec<f64>, usize), String> {
        let y = tape
            .values
            .get(&self.output)
            .ok_or("no output in the tape")?;
        let rows = y.shape().first().copied().unwrap_or(0);
        let k = y.len().checked_div(rows).unwrap_or(0);
        Ok((y.iter().copied().collect(), k))
    }

    /// The cross-entropy of each row's answer against `classes` (an index per row), and
    /// its gradient with respect to the input (row-major, as `x`). The loss is taken from
    /// the logits when the output is a softmax of them, from the output as probabilities
    /// when each of its rows is one (non-negative, summing to 1), and otherwise from the
    /// softmax of the output read as logits.
    pub fn loss_gradient(
        &self,
        x: &[f64],
        rows: usize,
        classes: &[usize],
    ) -> Result<(Vec<f64>, Vec<f64>), String> {
        let tape = self.forward(x, rows)?;
        let (from, seed, loss) = match &self.logits {
            Some(l) => {
                let z = tape.values.get(l).ok_or("no logits in the tape")?;
                let (g, loss) = softmax_cross_entropy(z, classes)?;
                (l.clone(), g, loss)
            }
            None => {
                let y = tape
                    .values
                    .get(&self.output)
                    .ok_or("no output in the tape")?;
                let m = as_matrix(y)?;
                let probabilities = m
                    .rows()
                    .into_iter()
                    .all(|r| r.iter().all(|&p| p >= -1e-9) && (r.sum() - 1.0).abs() < 1e-6)
                    && m.ncols() > 1;
                let (g, loss) = if probabilities {
                    probability_cross_entropy(y, classes)?
                } else {
                    softmax_cross_entropy(y, classes)?
                };
                (self.output.clone(), g, loss)
            }
        };
        let g = self.backward(&tape, &from, seed)?;
        Ok((g.iter().copied().collect(), loss))
    }

    /// The gradient of `Σ seed · value(from)` with respect to the input.
    fn backward(&self, tape: &Tape, from: &str, seed: T) -> Result<T, String> {
        let mut grads: HashMap<String, T> = HashMap::new();
        grads.insert(from.to_string(), seed);
        for step in self.steps.iter().rev() {
            let main = step.outputs.get(step.op.main_output());
            let Some(g) = main.and_then(|o| grads.remove(o)) else {
                continue;
            };
            let args: Vec<Option<&T>> = step
                .inputs
                .iter()
                .map(|n| tape.values.get(n).or_else(|| self.consts.get(n)))
                .collect();
            let y = main
                .and_then(|o| tape.values.get(o))
                .ok_or("a step without its output in the tape")?;
            if g.shape() != y.shape() {
                return Err(format!(
                    "a gradient of shape {:?} for an output of shape {:?}",
                    g.shape(),
                    y.shape()
                ));
            }
            let wants: Vec<bool> = step
                .inputs
                .iter()
                .map(|n| {
                    !n.is_empty() && !self.consts.contains_key(n) && tape.values.contains_key(n)
                })
                .collect();
            let back = backward(&step.op, &args, y, &g, &wants).map_err(|e| {
                format!(
                    "{} ({:?}), backward: {e}",
                    step.outputs.join(","),
                    step.op_label()
                )
            })?;
            for (((name, grad), want), arg) in step.inputs.iter().zip(back).zip(&wants).zip(&args) {
                if let (Some(grad), true) = (grad, want) {
                    // Every sum below is of equal shapes (ndarray panics otherwise).
                    if arg.is_some_and(|a| a.shape() != grad.shape()) {
                        return Err(format!(
                            "a gradient of shape {:?} for `{name}`, of another shape",
                            grad.shape()
                        ));
                    }
                    match grads.get_mut(name) {
                        Some(acc) => *acc += &grad,
                        None => {
                            grads.insert(name.clone(), grad);
                        }
                    }
                }
            }
        }
        let x = tape.values.get(&self.input).ok_or("no input in the tape")?;
        Ok(grads
            .remove(&self.input)
            .unwrap_or_else(|| ArrayD::zeros(x.raw_dim())))
    }
}

impl Op {
    /// The output that carries the numbers: a classifier's scores, not its labels.
    fn main_output(&self) -> usize {
        match self {
            Op::Linear {
                classifier: true, ..
            } => 1,
            _ => 0,
        }
    }
}

impl Step {
    fn op_label(&self) -> &'static str {
        match self.op {
            Op::MatMul => "MatMul",
            Op::Gemm { .. } => "Gemm",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::Max => "Max",
            Op::Min => "Min",
            Op::Relu => "Relu",
            Op::LeakyRelu(_) => "LeakyRelu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::Exp => "Exp",
            Op::Neg => "Neg",
            Op::Reciprocal => "Reciprocal",
            Op::Sqrt => "Sqrt",
            Op::Abs => "Abs",
            Op::ReduceSum { .. } => "ReduceSum",
            Op::Flat(_) => "Cast",
            Op::Softmax => "Softmax",
            Op::LogSoftmax => "LogSoftmax",
            Op::Identity => "Identity",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten(_) => "Flatten",
            Op::Transpose(_) => "Transpose",
            Op::Conv { .. } => "Conv",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::Scaler { .. } => "Scaler",
            Op::Normalizer(_) => "Normalizer",
            Op::Linear { .. } => "Linear",
        }
    }
}

fn input_inner(i: &crate::onnx::proto::ValueInfoProto) -> Option<Vec<usize>> {
    use crate::onnx::proto::{tensor_shape_proto::dimension::Value, type_proto};
    let Some(type_proto::Value::TensorType(t)) = i.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    let dims = &t.shape.as_ref()?.dim;
    dims.get(1..)?
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(n)) => usize::try_from(n).ok(),
            _ => None,
        })
        .collect()
}

fn constant_made(graph: &crate::onnx::proto::GraphProto, name: &str) -> Option<T> {
    let node = graph
        .node
        .iter()
        .find(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))?;
    let a = attr(node, "value")?;
    tensor(a.t.as_ref()?).ok()
}

fn arg<'a>(args: &[Option<&'a T>], i: usize) -> Result<&'a T, String> {
    args.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("input {i} is missing"))
}

fn as_matrix(t: &T) -> Result<ArrayView2<'_, f64>, String> {
    t.view().into_dimensionality::<Ix2>().map_err(|_| {
        format!(
            "a tensor of shape {:?} where a matrix was expected",
            t.shape()
        )
    })
}

fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n {
                a.get(i + a.len() - n).copied().unwrap_or(1)
            } else {
                1
            };
            let db = if i + b.len() >= n {
                b.get(i + b.len() - n).copied().unwrap_or(1)
            } else {
                1
            };
            match (da, db) {
                (x, y) if x == y => Ok(x),
                (1, y) => Ok(y),
                (x, 1) => Ok(x),
                _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
            }
        })
        .collect()
}

fn binary(a: &T, b: &T, f: impl Fn(f64, f64) -> f64) -> Result<T, String> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).ok_or("broadcast")?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast")?;
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// `g` summed back to `shape` over the axes broadcasting stretched.
fn unbroadcast(mut g: T, shape: &[usize]) -> T {
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape().get(i).is_some_and(|&s| s != 1) {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    g
}

fn last_axis_rows(t: &T) -> Result<ArrayView2<'_, f64>, String> {
    let k = *t
        .shape()
        .last()
        .ok_or("a scalar where rows were expected")?;
    let n = t.len().checked_div(k).unwrap_or(0);
    t.view()
        .into_shape_with_order((n, k))
        .map_err(|_| "a tensor that is not contiguous".to_string())
}

/// The numbers of `t` in row-major order.
fn flat(t: &T) -> Vec<f64> {
    match t.as_slice() {
        Some(s) => s.to_vec(),
        None => t.iter().copied().collect(),
    }
}

fn softmax_rows(t: &T) -> Result<T, String> {
    let k = last_axis_rows(t)?.ncols();
    // Row by row over the numbers in order: ndarray's lanes cost more per row than a
    // row of a few classes does.
    let mut values = flat(t);
    for r in values.chunks_exact_mut(k.max(1)) {
        let max = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let mut s = 0.0;
        for v in r.iter_mut() {
            *v = (*v - max).exp();
            s += *v;
        }
        r.iter_mut().for_each(|v| *v /= s);
    }
    ArrayD::from_shape_vec(IxDyn(t.shape()), values).map_err(|e| e.to_string())
}

/// Cross-entropy of `softmax(z)` per row and its gradient with respect to `z`.
fn softmax_cross_entropy(z: &T, classes: &[usize]) -> Result<(T, Vec<f64>), String> {
    let p = softmax_rows(z)?;
    let mut g = as_matrix(&p)?.to_owned();
    if g.nrows() != classes.len() {
        return Err(format!("{} rows for {} labels", g.nrows(), classes.len()));
    }
    let mut loss = Vec::with_capacity(classes.len());
    for (mut r, &c) in g.rows_mut().into_iter().zip(classes) {
        let pc = r
            .get(c)
            .copied()
            .ok_or_else(|| format!("class {c} of {}", r.len()))?;
        loss.push(-pc.max(f64::MIN_POSITIVE).ln());
        if let Some(v) = r.get_mut(c) {
            *v -= 1.0;
        }
    }
    Ok((g.into_dyn(), loss))
}

/// Cross-entropy of probabilities per row and its gradient with respect to them.
fn probability_cross_entropy(p: &T, classes: &[usize]) -> Result<(T, Vec<f64>), String> {
    let m = as_matrix(p)?;
    if m.nrows() != classes.len() {
        return Err(format!("{} rows for {} labels", m.nrows(), classes.len()));
    }
    let mut g = Array2::zeros(m.raw_dim());
    let mut loss = Vec::with_capacity(classes.len());
    for ((r, mut gr), &c) in m.rows().into_iter().zip(g.rows_mut()).zip(classes) {
        let pc = r
            .get(c)
            .copied()
            .ok_or_else(|| format!("class {c} of {}", r.len()))?;
        let pc = pc.max(1e-300);
        loss.push(-pc.ln());
        if let Some(v) = gr.get_mut(c) {
            *v = -1.0 / pc;
        }
    }
    Ok((g.into_dyn(), loss))
}

fn reshape_target(x: &T, spec: &T, allow_zero: bool) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        let d = d as i64;
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*x.shape().get(i).ok_or("Reshape 0 past the rank")?),
            d if d >= 0 => out.push(usize::try_from(d).map_err(|e| e.to_string())?),
            _ => return Err(format!("Reshape to {spec:?}")),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !x.len().is_multiple_of(known) {
            return Err(format!("Reshape of {:?} to {spec:?}", x.shape()));
        }
        if let Some(v) = out.get_mut(i) {
            *v = x.len() / known;
        }
    }
    if out.iter().product::<usize>() != x.len() {
        return Err(format!("Reshape of {:?} to {out:?}", x.shape()));
    }
    Ok(out)
}

fn reshaped(x: &T, shape: &[usize]) -> Result<T, String> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| e.to_string())
}

fn flatten_shape(shape: &[usize], axis: i64) -> Result<[usize; 2], String> {
    let r = shape.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(format!("Flatten axis {axis} of rank {r}"));
    }
    let a = a as usize;
    Ok([
        shape.get(..a).unwrap_or_default().iter().product(),
        shape.get(a..).unwrap_or_default().iter().product(),
    ])
}

/// Rows of a matrix product with `a`'s leading axes folded: `[.., k] · [k, n]`.
fn matmul(a: &T, b: &T) -> Result<T, String> {
    let b2 = as_matrix(b).map_err(|_| "MatMul of a right operand that is not a matrix")?;
    let k = *a.shape().last().ok_or("MatMul of a scalar")?;
    let a2 = last_axis_rows(a)?;
    if k != b2.nrows() {
        return Err(format!("MatMul of {:?} and {:?}", a.shape(), b.shape()));
    }
    let y = a2.dot(&b2);
    let mut shape = a.shape().to_vec();
    if let Some(l) = shape.last_mut() {
        *l = b2.ncols();
    }
    reshaped(&y.into_dyn(), &shape)
}

fn conv_out(
    size: usize,
    k: usize,
    stride: usize,
    pad: (usize, usize),
    dil: usize,
) -> Result<usize, String> {
    let span = dil * (k.max(1) - 1) + 1;
    let padded = size + pad.0 + pad.1;
    if padded < span || stride == 0 {
        return Err(format!("a window of {span} over {padded}"));
    }
    Ok((padded - span) / stride + 1)
}

/// 2-D convolution (NCHW, weights `[M, C/group, kh, kw]`): the output, or with
/// `back = Some(g)` the gradients of the input and nothing else.
fn conv(x: &T, w: &T, bias: Option<&T>, op: &Op, back: Option<&T>) -> Result<T, String> {
    let Op::Conv {
        strides,
        pads,
        dilations,
        group,
    } = op
    else {
        return Err("not a Conv".into());
    };
    let xs = x.shape();
    let ws = w.shape();
    // A 1-D convolution is a 2-D one of height 1.
    let (n, c, h, wd) = match *xs {
        [n, c, h, wd] => (n, c, h, wd),
        [n, c, l] => (n, c, 1, l),
        _ => return Err(format!("Conv of a tensor of shape {xs:?}")),
    };
    let (m, cg, kh, kw) = match *ws {
        [m, cg, kh, kw] => (m, cg, kh, kw),
        [m, cg, l] => (m, cg, 1, l),
        _ => return Err(format!("Conv weights of shape {ws:?}")),
    };
    let group = (*group).max(1);
    if cg * group != c || m % group != 0 {
        return Err(format!(
            "Conv of {c} channels with weights {ws:?} in {group} group(s)"
        ));
    }
    let (sh, sw) = if xs.len() == 3 {
        (1, strides[0])
    } else {
        (strides[0], strides[1])
    };
    let (dh, dw) = if xs.len() == 3 {
        (1, dilations[0])
    } else {
        (dilations[0], dilations[1])
    };
    let (pt, pl, pb, pr) = if xs.len() == 3 {
        (0, pads[0], 0, pads[1])
    } else {
        (pads[0], pads[1], pads[2], pads[3])
    };
    let oh = conv_out(h, kh, sh, (pt, pb), dh)?;
    let ow = conv_out(wd, kw, sw, (pl, pr), dw)?;
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let xv = x.as_slice().ok_or("layout")?;
    let wv = w.as_slice().ok_or("layout")?;
    let mg = m / group;
    let mut gx = back.map(|_| vec![0.0; xv.len()]);
    let g = back.map(|g| g.as_standard_layout().into_owned());
    let gv = match &g {
        Some(g) => Some(g.as_slice().ok_or("layout")?),
        None => None,
    };
    let mut y = vec![0.0; if back.is_some() { 0 } else { n * m * oh * ow }];
    for b in 0..n {
        for oc in 0..m {
            let gi = oc / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let yi = ((b * m + oc) * oh + oy) * ow + ox;
                    let gval = gv.and_then(|g| g.get(yi).copied()).unwrap_or(0.0);
                    let mut acc = 0.0;
                    for ic in 0..cg {
                        let ch = gi * cg + ic;
                        for ky in 0..kh {
                            let iy = (oy * sh + ky * dh) as isize - pt as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * sw + kx * dw) as isize - pl as isize;
                                if ix < 0 || ix >= wd as isize {
                                    continue;
                                }
                                let xi = ((b * c + ch) * h + iy as usize) * wd + ix as usize;
                                let wi = ((oc * cg + ic) * kh + ky) * kw + kx;
                                let wvv = wv.get(wi).copied().unwrap_or(0.0);
                                match &mut gx {
                                    Some(gx) => {
                                        if let Some(v) = gx.get_mut(xi) {
                                            *v += gval * wvv;
                                        }
                                    }
                                    None => acc += xv.get(xi).copied().unwrap_or(0.0) * wvv,
                                }
                            }
                        }
                    }
                    if back.is_none() {
                        let bias = bias
                            .and_then(|bb| bb.get(IxDyn(&[oc])).copied())
                            .unwrap_or(0.0);
                        if let Some(v) = y.get_mut(yi) {
                            *v = acc + bias;
                        }
                    }
                }
            }
        }
    }
    match gx {
        Some(gx) => ArrayD::from_shape_vec(IxDyn(xs), gx).map_err(|e| e.to_string()),
        None => {
            let shape: Vec<usize> = if xs.len() == 3 {
                vec![n, m, ow]
            } else {
                vec![n, m, oh, ow]
            };
            ArrayD::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())
        }
    }
}

/// Max or average pooling (NCHW): the output, or with `back = Some(g)` the input's
/// gradient.
fn pooling(x: &T, p: &Pool, max: bool, back: Option<&T>) -> Result<T, String> {
    let [n, c, h, w] = *x.shape() else {
        return Err(format!("pooling of a tensor of shape {:?}", x.shape()));
    };
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.strides;
    let [pt, pl, pb, pr] = p.pads;
    let oh = conv_out(h, kh, sh, (pt, pb), 1)?;
    let ow = conv_out(w, kw, sw, (pl, pr), 1)?;
    let x = x.as_standard_layout();
    let xv = x.as_slice().ok_or("layout")?;
    let g = back.map(|g| g.as_standard_layout().into_owned());
    let mut gx = back.map(|_| vec![0.0; xv.len()]);
    let mut y = vec![0.0; n * c * oh * ow];
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let yi = (plane * oh + oy) * ow + ox;
                let (mut best, mut at, mut sum, mut count) = (f64::NEG_INFINITY, None, 0.0, 0usize);
                let mut cells = Vec::new();
                for ky in 0..kh {
                    let iy = (oy * sh + ky) as isize - pt as isize;
                    for kx in 0..kw {
                        let ix = (ox * sw + kx) as isize - pl as isize;
                        if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                            if p.count_pad {
                                count += 1;
                            }
                            continue;
                        }
                        let xi = (plane * h + iy as usize) * w + ix as usize;
                        let v = xv.get(xi).copied().unwrap_or(0.0);
                        count += 1;
                        sum += v;
                        cells.push(xi);
                        if v > best {
                            best = v;
                            at = Some(xi);
                        }
                    }
                }
                let gval = g
                    .as_ref()
                    .and_then(|g| g.as_slice().and_then(|s| s.get(yi).copied()))
                    .unwrap_or(0.0);
                match &mut gx {
                    Some(gx) if max => {
                        if let Some(v) = at.and_then(|i| gx.get_mut(i)) {
                            *v += gval;
                        }
                    }
                    Some(gx) => {
                        for i in cells {
                            if let Some(v) = gx.get_mut(i) {
                                *v += gval / count.max(1) as f64;
                            }
                        }
                    }
                    None => {
                        if let Some(v) = y.get_mut(yi) {
                            *v = if max { best } else { sum / count.max(1) as f64 };
                        }
                    }
                }
            }
        }
    }
    match gx {
        Some(gx) => ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), gx).map_err(|e| e.to_string()),
        None => ArrayD::from_shape_vec(IxDyn(&[n, c, oh, ow]), y).map_err(|e| e.to_string()),
    }
}

fn normalizer(x: &T, norm: Norm) -> Result<T, String> {
    let mut m = last_axis_rows(x)?.to_owned();
    for mut r in m.rows_mut() {
        let d = match norm {
            Norm::Max => r.fold(f64::NEG_INFINITY, |a, &b| a.max(b)),
            Norm::L1 => r.iter().map(|v| v.abs()).sum(),
            Norm::L2 => r.iter().map(|v| v * v).sum::<f64>().sqrt(),
        };
        if d != 0.0 {
            r.mapv_inplace(|v| v / d);
        }
    }
    reshaped(&m.into_dyn(), x.shape())
}

fn linear_forward(x: &T, op: &Op) -> Result<T, String> {
    let Op::Linear {
        coef,
        intercepts,
        post,
        binary,
        ..
    } = op
    else {
        return Err("not a linear model".into());
    };
    let x = as_matrix(x)?;
    if x.ncols() != coef.ncols() {
        return Err(format!(
            "{} features for {} coefficients",
            x.ncols(),
            coef.ncols()
        ));
    }
    let mut s = x.dot(&coef.t());
    if let Some(b) = intercepts {
        for mut r in s.rows_mut() {
            r.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    }
    let out = if *binary {
        let mut two = Vec::with_capacity(2 * s.nrows());
        for &v in s.column(0) {
            let (a, b) = match post {
                Post::None => (-v, v),
                Post::Logistic => {
                    let p = 1.0 / (1.0 + (-v).exp());
                    (1.0 - p, p)
                }
                Post::Softmax => {
                    let p = 1.0 / (1.0 + (-2.0 * v).exp());
                    (1.0 - p, p)
                }
            };
            two.extend([a, b]);
        }
        Array2::from_shape_vec((s.nrows(), 2), two).map_err(|e| e.to_string())?
    } else {
        match post {
            Post::None => s,
            Post::Logistic => s.mapv(|v| 1.0 / (1.0 + (-v).exp())),
            Post::Softmax => as_matrix(&softmax_rows(&s.into_dyn())?)?.to_owned(),
        }
    };
    Ok(out.into_dyn())
}

fn linear_backward(x: &T, y: &T, g: &T, op: &Op) -> Result<T, String> {
    let Op::Linear {
        coef, post, binary, ..
    } = op
    else {
        return Err("not a linear model".into());
    };
    let y = as_matrix(y)?;
    let g = as_matrix(g)?;
    // The gradient with respect to the scores s.
    let gs: Array2<f64> = if *binary {
        let mut gs = Vec::with_capacity(g.nrows());
        for (gr, yr) in g.rows().into_iter().zip(y.rows()) {
            let at = |r: &ndarray::ArrayView1<'_, f64>, j: usize| r.get(j).copied().unwrap_or(0.0);
            let (d, p) = (at(&gr, 1) - at(&gr, 0), at(&yr, 1));
            gs.push(match post {
                Post::None => d,
                Post::Logistic => d * p * (1.0 - p),
                Post::Softmax => 2.0 * d * p * (1.0 - p),
            });
        }
        Array2::from_shape_vec((g.nrows(), 1), gs).map_err(|e| e.to_string())?
    } else {
        match post {
            Post::None => g.to_owned(),
            Post::Logistic => &g * &y.mapv(|p| p * (1.0 - p)),
            Post::Softmax => softmax_back(&y, &g),
        }
    };
    let _ = x;
    Ok(gs.dot(coef).into_dyn())
}

fn softmax_back(y: &ArrayView2<'_, f64>, g: &ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = Array2::zeros(y.raw_dim());
    for ((yr, gr), mut o) in y.rows().into_iter().zip(g.rows()).zip(out.rows_mut()) {
        let dot: f64 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
        o.iter_mut()
            .zip(yr.iter().zip(gr))
            .for_each(|(o, (y, g))| *o = y * (g - dot));
    }
    out
}

fn forward(op: &Op, args: &[Option<&T>]) -> Result<T, String> {
    let x = arg(args, 0)?;
    let y = match op {
        Op::MatMul => matmul(x, arg(args, 1)?)?,
        Op::Gemm {
            alpha,
            beta,
            ta,
            tb,
        } => {
            let a = as_matrix(x)?;
            let b = as_matrix(arg(args, 1)?)?;
            let a = if *ta { a.t() } else { a };
            let b = if *tb { b.t() } else { b };
            if a.ncols() != b.nrows() {
                return Err(format!("Gemm of {:?} and {:?}", a.shape(), b.shape()));
            }
            let mut y = (a.dot(&b) * *alpha).into_dyn();
            if let Some(Some(c)) = args.get(2) {
                y = binary(&y, &c.mapv(|v| v * beta), |p, q| p + q)?;
            }
            y
        }
        Op::Add => binary(x, arg(args, 1)?, |a, b| a + b)?,
        Op::Sub => binary(x, arg(args, 1)?, |a, b| a - b)?,
        Op::Mul => binary(x, arg(args, 1)?, |a, b| a * b)?,
        Op::Div => binary(x, arg(args, 1)?, |a, b| a / b)?,
        Op::Max => binary(x, arg(args, 1)?, f64::max)?,
        Op::Min => binary(x, arg(args, 1)?, f64::min)?,
        Op::Relu => x.mapv(|v| v.max(0.0)),
        Op::LeakyRelu(a) => x.mapv(|v| if v >= 0.0 { v } else { a * v }),
        Op::Sigmoid => x.mapv(|v| 1.0 / (1.0 + (-v).exp())),
        Op::Tanh => x.mapv(f64::tanh),
        Op::Exp => x.mapv(f64::exp),
        Op::Neg => x.mapv(|v| -v),
        Op::Reciprocal => x.mapv(|v| 1.0 / v),
        Op::Sqrt => x.mapv(f64::sqrt),
        Op::Abs => x.mapv(f64::abs),
        Op::ReduceSum { axes, keep } => {
            let axes = reduce_axes(x, axes.as_deref(), args.get(1).copied().flatten())?;
            let mut y = x.clone();
            for &a in axes.iter().rev() {
                y = y.sum_axis(Axis(a));
                if *keep {
                    y = y.insert_axis(Axis(a));
                }
            }
            y
        }
        Op::Flat(Flat::Bool) => x.mapv(|v| if v != 0.0 { 1.0 } else { 0.0 }),
        Op::Flat(Flat::Truncate) => x.mapv(f64::trunc),
        Op::Flat(Flat::Not) => x.mapv(|v| if v == 0.0 { 1.0 } else { 0.0 }),
        Op::Softmax => softmax_rows(x)?,
        Op::LogSoftmax => softmax_rows(x)?.mapv(|p| p.max(f64::MIN_POSITIVE).ln()),
        Op::Identity => x.clone(),
        Op::Reshape { allow_zero } => reshaped(x, &reshape_target(x, arg(args, 1)?, *allow_zero)?)?,
        Op::Flatten(axis) => reshaped(x, &flatten_shape(x.shape(), *axis)?)?,
        Op::Transpose(perm) => {
            let perm: Vec<usize> = perm
                .clone()
                .unwrap_or_else(|| (0..x.ndim()).rev().collect());
            // ndarray panics on a permutation that is not one: checked here.
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..x.ndim()).collect::<Vec<_>>() {
                return Err(format!("Transpose {perm:?} of rank {}", x.ndim()));
            }
            x.clone()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned()
        }
        Op::Conv { .. } => conv(x, arg(args, 1)?, args.get(2).copied().flatten(), op, None)?,
        Op::MaxPool(p) => pooling(x, p, true, None)?,
        Op::AveragePool(p) => pooling(x, p, false, None)?,
        Op::GlobalAveragePool => {
            if x.ndim() < 3 {
                return Err(format!("GlobalAveragePool of {:?}", x.shape()));
            }
            let mut m = x.clone();
            while m.ndim() > 2 {
                m = m.mean_axis(Axis(2)).ok_or("an empty axis")?;
            }
            let mut shape = m.shape().to_vec();
            shape.resize(x.ndim(), 1);
            reshaped(&m, &shape)?
        }
        Op::Scaler { offset, scale } => {
            let d = *x.shape().last().ok_or("Scaler of a scalar")?;
            let pick = |v: &[f64], j: usize| {
                if v.len() == 1 {
                    v.first().copied()
                } else {
                    v.get(j).copied()
                }
            };
            if !(offset.len() == 1 || offset.len() == d) || !(scale.len() == 1 || scale.len() == d)
            {
                return Err(format!(
                    "Scaler of {d} features with {} offsets",
                    offset.len()
                ));
            }
            let (offset, scale): (Vec<f64>, Vec<f64>) = (0..d)
                .map(|j| {
                    (
                        pick(offset, j).unwrap_or(0.0),
                        pick(scale, j).unwrap_or(1.0),
                    )
                })
                .unzip();
            // Over the numbers in order, a row at a time (a dynamic array's own
            // iteration costs more than the arithmetic).
            let mut values = flat(x);
            for row in values.chunks_exact_mut(d.max(1)) {
                for ((v, o), s) in row.iter_mut().zip(&offset).zip(&scale) {
                    *v = (*v - o) * s;
                }
            }
            ArrayD::from_shape_vec(x.raw_dim(), values).map_err(|e| e.to_string())?
        }
        Op::Normalizer(norm) => normalizer(x, *norm)?,
        Op::Linear { .. } => linear_forward(x, op)?,
    };
    if let Op::Softmax | Op::LogSoftmax = op {
        check_last_axis(x)?;
    }
    Ok(y)
}

/// The axes a reduction sums, sorted: from its attribute, or its second input, or all.
fn reduce_axes(x: &T, attr: Option<&[i64]>, input: Option<&T>) -> Result<Vec<usize>, String> {
    let rank = x.ndim() as i64;
    let listed: Vec<i64> = match (attr, input) {
        (Some(a), _) => a.to_vec(),
        (None, Some(t)) if !t.is_empty() => t.iter().map(|&v| v as i64).collect(),
        _ => (0..rank).collect(),
    };
    let mut axes = listed
        .iter()
        .map(|&a| {
            let a = if a < 0 { a + rank } else { a };
            usize::try_from(a)
                .ok()
                .filter(|&a| a < x.ndim())
                .ok_or_else(|| format!("axis {a} of rank {rank}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    Ok(axes)
}

/// A softmax is differentiated along the last axis of a matrix.
fn check_last_axis(x: &T) -> Result<(), String> {
    if x.ndim() == 2 {
        Ok(())
    } else {
        Err(format!("a softmax over a tensor of rank {}", x.ndim()))
    }
}

/// The gradient of each input of a step, given `g`, the gradient of its (first) output
/// `y`; `None` where `wants` is false.
fn backward(
    op: &Op,
    args: &[Option<&T>],
    y: &T,
    g: &T,
    wants: &[bool],
) -> Result<Vec<Option<T>>, String> {
    let x = arg(args, 0)?;
    let want = |i: usize| wants.get(i).copied().unwrap_or(false);
    let out = match op {
        Op::MatMul => {
            let b = arg(args, 1)?;
            let b2 = as_matrix(b)?;
            let g2 = last_axis_rows(g)?;
            let ga = if want(0) {
                Some(reshaped(&g2.dot(&b2.t()).into_dyn(), x.shape())?)
            } else {
                None
            };
            let gb = if want(1) {
                Some(last_axis_rows(x)?.t().dot(&g2).into_dyn())
            } else {
                None
            };
            vec![ga, gb]
        }
        Op::Gemm {
            alpha,
            beta,
            ta,
            tb,
        } => {
            let a = as_matrix(x)?;
            let b = as_matrix(arg(args, 1)?)?;
            let g2 = as_matrix(g)?;
            let (ap, bp) = (if *ta { a.t() } else { a }, if *tb { b.t() } else { b });
            let ga = want(0).then(|| {
                let d = g2.dot(&bp.t()) * *alpha;
                if *ta {
                    d.t().to_owned().into_dyn()
                } else {
                    d.into_dyn()
                }
            });
            let gb = want(1).then(|| {
                let d = ap.t().dot(&g2) * *alpha;
                if *tb {
                    d.t().to_owned().into_dyn()
                } else {
                    d.into_dyn()
                }
            });
            let gc = match args.get(2).copied().flatten() {
                Some(c) if want(2) => Some(unbroadcast(g.mapv(|v| v * beta), c.shape())),
                _ => None,
            };
            vec![ga, gb, gc]
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            let b = arg(args, 1)?;
            let (ga, gb) = match op {
                Op::Add => (g.clone(), g.clone()),
                Op::Sub => (g.clone(), g.mapv(|v| -v)),
                Op::Mul => (binary(g, b, |g, b| g * b)?, binary(g, x, |g, a| g * a)?),
                _ => (
                    binary(g, b, |g, b| g / b)?,
                    binary(&binary(g, y, |g, y| g * y)?, b, |gy, b| -gy / b)?,
                ),
            };
            vec![
                want(0).then(|| unbroadcast(ga, x.shape())),
                want(1).then(|| unbroadcast(gb, b.shape())),
            ]
        }
        Op::Max | Op::Min => {
            // The gradient goes to the input chosen; a tie goes to the first.
            let b = arg(args, 1)?;
            let first = if matches!(op, Op::Max) {
                binary(x, b, |a, b| if a >= b { 1.0 } else { 0.0 })?
            } else {
                binary(x, b, |a, b| if a <= b { 1.0 } else { 0.0 })?
            };
            let ga = binary(g, &first, |g, f| g * f)?;
            let gb = binary(g, &first, |g, f| g * (1.0 - f))?;
            vec![
                want(0).then(|| unbroadcast(ga, x.shape())),
                want(1).then(|| unbroadcast(gb, b.shape())),
            ]
        }
        Op::Relu => vec![Some(
            Zip::from(g)
                .and(x)
                .map_collect(|&g, &x| if x > 0.0 { g } else { 0.0 }),
        )],
        Op::LeakyRelu(a) => vec![Some(
            Zip::from(g)
                .and(x)
                .map_collect(|&g, &x| if x >= 0.0 { g } else { a * g }),
        )],
        Op::Sigmoid => vec![Some(
            Zip::from(g).and(y).map_collect(|&g, &y| g * y * (1.0 - y)),
        )],
        Op::Tanh => vec![Some(
            Zip::from(g).and(y).map_collect(|&g, &y| g * (1.0 - y * y)),
        )],
        Op::Exp => vec![Some(Zip::from(g).and(y).map_collect(|&g, &y| g * y))],
        Op::Neg => vec![Some(g.mapv(|v| -v))],
        Op::Reciprocal => vec![Some(Zip::from(g).and(y).map_collect(|&g, &y| -g * y * y))],
        Op::Sqrt => vec![Some(
            Zip::from(g).and(y).map_collect(|&g, &y| g / (2.0 * y)),
        )],
        Op::Abs => vec![Some(
            Zip::from(g).and(x).map_collect(|&g, &x| g * x.signum()),
        )],
        Op::ReduceSum { axes, .. } => {
            let axes = reduce_axes(x, axes.as_deref(), args.get(1).copied().flatten())?;
            // Back to the kept shape, then spread over the summed axes.
            let mut kept = x.shape().to_vec();
            for &a in &axes {
                if let Some(d) = kept.get_mut(a) {
                    *d = 1;
                }
            }
            let g = reshaped(g, &kept)?;
            let spread = g.broadcast(IxDyn(x.shape())).ok_or("ReduceSum broadcast")?;
            vec![Some(spread.to_owned()), None]
        }
        Op::Flat(_) => vec![None],
        Op::Softmax => vec![Some(
            softmax_back(&as_matrix(y)?, &as_matrix(g)?).into_dyn(),
        )],
        Op::LogSoftmax => {
            let (y, g) = (as_matrix(y)?, as_matrix(g)?);
            let mut out = g.to_owned();
            for (mut o, yr) in out.rows_mut().into_iter().zip(y.rows()) {
                let s: f64 = o.sum();
                o.iter_mut().zip(yr).for_each(|(o, ly)| *o -= ly.exp() * s);
            }
            vec![Some(out.into_dyn())]
        }
        Op::Identity | Op::Reshape { .. } | Op::Flatten(_) => {
            vec![Some(reshaped(g, x.shape())?), None]
        }
        Op::Transpose(perm) => {
            let perm: Vec<usize> = perm
                .clone()
                .unwrap_or_else(|| (0..x.ndim()).rev().collect());
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                if let Some(v) = inverse.get_mut(p) {
                    *v = i;
                }
            }
            vec![Some(
                g.clone()
                    .permuted_axes(IxDyn(&inverse))
                    .as_standard_layout()
                    .into_owned(),
            )]
        }
        Op::Conv { .. } => {
            if want(1) || want(2) {
                return Err("a Conv whose weights depend on the input".into());
            }
            vec![Some(conv(x, arg(args, 1)?, None, op, Some(g))?), None, None]
        }
        Op::MaxPool(p) => vec![Some(pooling(x, p, true, Some(g))?)],
        Op::AveragePool(p) => vec![Some(pooling(x, p, false, Some(g))?)],
        Op::GlobalAveragePool => {
            let spatial: usize = x.shape().get(2..).unwrap_or_default().iter().product();
            let gb = g
                .broadcast(IxDyn(x.shape()))
                .ok_or("GlobalAveragePool broadcast")?;
            vec![Some(gb.mapv(|v| v / spatial.max(1) as f64))]
        }
        Op::Scaler { scale, .. } => {
            let d = *x.shape().last().ok_or("Scaler of a scalar")?;
            let mut out = g.clone();
            for (i, v) in out.iter_mut().enumerate() {
                let s = if scale.len() == 1 {
                    scale.first()
                } else {
                    scale.get(i % d)
                };
                *v *= s.copied().unwrap_or(1.0);
            }
            vec![Some(out)]
        }
        Op::Normalizer(norm) => {
            let xm = last_axis_rows(x)?;
            let ym = last_axis_rows(y)?;
            let gm = last_axis_rows(g)?;
            let mut out = gm.to_owned();
            for (((xr, yr), gr), mut o) in xm
                .rows()
                .into_iter()
                .zip(ym.rows())
                .zip(gm.rows())
                .zip(out.rows_mut())
            {
                match norm {
                    Norm::L2 => {
                        let d = xr.iter().map(|v| v * v).sum::<f64>().sqrt();
                        if d == 0.0 {
                            continue;
                        }
                        let gy: f64 = gr.iter().zip(yr).map(|(a, b)| a * b).sum();
                        o.iter_mut()
                            .zip(gr.iter().zip(yr))
                            .for_each(|(o, (g, y))| *o = (g - y * gy) / d);
                    }
                    Norm::L1 => {
                        let d: f64 = xr.iter().map(|v| v.abs()).sum();
                        if d == 0.0 {
                            continue;
                        }
                        let gy: f64 = gr.iter().zip(yr).map(|(a, b)| a * b).sum();
                        o.iter_mut()
                            .zip(gr.iter().zip(xr))
                            .for_each(|(o, (g, x))| *o = (g - x.signum() * gy) / d);
                    }
                    Norm::Max => {
                        let (at, d) =
                            xr.iter()
                                .enumerate()
                                .fold(
                                    (0, f64::NEG_INFINITY),
                                    |a, (i, &v)| if v > a.1 { (i, v) } else { a },
                                );
                        if d == 0.0 {
                            continue;
                        }
                        let gy: f64 = gr.iter().zip(yr).map(|(a, b)| a * b).sum();
                        o.iter_mut().zip(gr).for_each(|(o, g)| *o = g / d);
                        if let Some(v) = o.get_mut(at) {
                            *v -= gy / d;
                        }
                    }
                }
            }
            vec![Some(reshaped(&out.into_dyn(), x.shape())?)]
        }
        Op::Linear { .. } => vec![Some(linear_backward(x, y, g, op)?)],
    };
    Ok(out)
}

#[cfg(test)]
mod tests;
