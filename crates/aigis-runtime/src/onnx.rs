//! In-process ONNX inference with tract.
//!
//! A model is read from bytes (a file, or a decrypted buffer that never touches the
//! disk) and checked before tract sees it: every operator must be one the runtime
//! supports (the standard `ai.onnx` set tract implements and the `ai.onnx.ml` list in
//! [`SUPPORTED_ML`]), from the standard domains only, no tensor may live in an external
//! file, and tree ensembles must be well formed. A model that fails is refused with the
//! operator or the problem named. A `ZipMap` at an output (scikit-learn's
//! `{class: probability}` maps) is served as the probability tensor it is made from, in
//! the order of the classes: maps are not tensors, and the Open Inference Protocol
//! carries tensors.

use std::collections::BTreeSet;
use std::sync::Arc;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, type_proto};
use tract_onnx::prelude::{
    DatumType, Framework as _, InferenceFact, InferenceModelExt as _, IntoRunnable as _, TDim,
    TValue, TypedModel, TypedRunnableModel, tvec,
};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_hir::internal::{GenericFactoid, ShapeFactoid};

use crate::tensor::{Data, DataType, NamedTensor, Signature, Tensor, TensorSpec};
use crate::{Error, Runtime};

/// The protocol-buffer types of an ONNX model, for readers of its graph (the red team's
/// differentiation).
pub use tract_onnx::pb as proto;

/// The graph of the ONNX model in `bytes`, parsed but neither checked nor optimized: read
/// it only from a model [`OnnxRuntime::from_bytes`] has accepted.
pub fn read_proto(bytes: &[u8]) -> Result<ModelProto, Error> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| Error::Model(format!("not an ONNX model: {e}")))
}

/// The `ai.onnx.ml` operators the runtime runs: those tract implements and those
/// [`crate::ml`] adds. `ZipMap` is served as its input (see the module docs).
pub const SUPPORTED_ML: [&str; 9] = [
    "ArrayFeatureExtractor",
    "CategoryMapper",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "ZipMap",
];

/// The ONNX `TensorProto` data location that says the bytes are in another file.
const EXTERNAL: i32 = 1;

/// A model loaded into tract, optimized for any batch size, ready to run from many
/// threads at once.
#[derive(Debug)]
pub struct OnnxRuntime {
    plan: Arc<TypedRunnableModel>,
    signature: Signature,
}

impl OnnxRuntime {
    /// Reads, checks and optimizes the ONNX model in `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        // tract reports errors as values; a panic inside it while it reads or optimizes
        // a model it did not expect is a refusal of that model, not a crash.
        std::panic::catch_unwind(|| Self::load(bytes))
            .unwrap_or_else(|_| Err(Error::Model("the runtime failed to prepare it".into())))
    }

    fn load(bytes: &[u8]) -> Result<Self, Error> {
        let mut onnx = tract_onnx::onnx().with_ignore_output_types(true);
        crate::ml::register(&mut onnx.op_register);
        let mut proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| Error::Model(format!("not an ONNX model: {e}")))?;
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| Error::Model("the model has no graph".into()))?;
        let known: BTreeSet<&str> = onnx.op_register.0.keys().map(String::as_str).collect();
        check_graph(graph, &known)?;
        check_functions(&proto)?;
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| Error::Model("the model has no graph".into()))?;
        serve_zipmaps(graph);
        crate::ml::index_string_labels(graph);
        check_outputs(graph)?;
        let signature = signature(graph)?;

        let mut model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| Error::Model(format!("{e:#}")))?;
        // Every dimension the model leaves open is the batch: one symbol, so tract
        // optimizes once for any batch size.
        let batch = model.symbols.sym("N");
        for (i, spec) in signature.inputs.iter().enumerate() {
            let dims: Vec<_> = spec
                .shape
                .iter()
                .map(|d| match d {
                    Some(n) => GenericFactoid::Only((*n).into()),
                    None => GenericFactoid::Only(batch.clone().into()),
                })
                .collect();
            let fact = InferenceFact::dt_shape(
                datum_type(spec.datatype),
                ShapeFactoid::closed(dims.into()),
            );
            model
                .set_input_fact(i, fact)
                .map_err(|e| Error::Model(format!("input `{}`: {e:#}", spec.name)))?;
        }
        let typed = model
            .into_typed()
            .map_err(|e| Error::Model(format!("{e:#}")))?;
        check_contractions(&typed)?;
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| Error::Model(format!("{e:#}")))?;
        Ok(OnnxRuntime { plan, signature })
    }
}

impl Runtime for OnnxRuntime {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
        let mut ordered: Vec<Option<Tensor>> = vec![None; self.signature.inputs.len()];
        for input in inputs {
            let (i, spec) = self
                .signature
                .inputs
                .iter()
                .enumerate()
                .find(|(_, s)| s.name == input.name)
                .ok_or_else(|| Error::Input(format!("the model has no input `{}`", input.name)))?;
            if input.tensor.datatype() != spec.datatype {
                return Err(Error::Input(format!(
                    "input `{}` is {}, the model takes {}",
                    spec.name,
                    input.tensor.datatype(),
                    spec.datatype
                )));
            }
            if !spec.accepts(input.tensor.shape()) {
                return Err(Error::Input(format!(
                    "input `{}` has shape {:?}, the model takes {:?}",
                    spec.name,
                    input.tensor.shape(),
                    spec.protocol_shape()
                )));
            }
            let slot = ordered
                .get_mut(i)
                .ok_or_else(|| Error::Input(format!("input `{}`", spec.name)))?;
            if slot.replace(input.tensor).is_some() {
                return Err(Error::Input(format!(
                    "input `{}` is given twice",
                    spec.name
                )));
            }
        }
        let mut values = tvec![];
        for (slot, spec) in ordered.into_iter().zip(&self.signature.inputs) {
            let tensor =
                slot.ok_or_else(|| Error::Input(format!("input `{}` is missing", spec.name)))?;
            values.push(TValue::from(to_tract(tensor)?));
        }
        // tract reports errors as values; a panic inside it (a bug, or input it did not
        // expect) must not take the server down: it is an error of this call.
        let plan = self.plan.clone();
        let outputs =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || plan.run(values)))
                .map_err(|_| Error::Run("the runtime failed on this input".into()))?
                .map_err(|e| Error::Run(format!("{e:#}")))?;
        outputs
            .into_iter()
            .zip(&self.signature.outputs)
            .map(|(value, spec)| Ok(NamedTensor::new(spec.name.clone(), from_tract(&value)?)))
            .collect()
    }
}

/// Every node of `graph` and its subgraphs is a supported operator from a standard
/// domain, and no tensor is stored outside the model. (Tree ensembles are checked as
/// they are read, by [`crate::forest`].)
fn check_graph(graph: &GraphProto, known: &BTreeSet<&str>) -> Result<(), Error> {
    let mut unsupported = BTreeSet::new();
    visit(graph, &mut |node| {
        let domain = node.domain.as_str();
        let ok = match domain {
            "" | "ai.onnx" => known.contains(node.op_type.as_str()),
            "ai.onnx.ml" => SUPPORTED_ML.contains(&node.op_type.as_str()),
            _ => false,
        };
        if !ok {
            let domain = if domain.is_empty() { "ai.onnx" } else { domain };
            unsupported.insert(format!("{domain}:{}", node.op_type));
        }
    });
    if !unsupported.is_empty() {
        return Err(Error::Unsupported(unsupported.into_iter().collect()));
    }
    let mut external = None;
    visit_tensors(graph, &mut |t| {
        if t.data_location == Some(EXTERNAL) && external.is_none() {
            external = Some(t.name.clone());
        }
    });
    if let Some(name) = external {
        return Err(Error::Model(format!(
            "the tensor `{name}` is stored in an external file; aigis serves self-contained models only"
        )));
    }
    Ok(())
}

/// Every output of `graph` and of the graphs inside its attributes names a value of
/// that graph: one of its inputs or initializers, or an input or output of one of its
/// nodes. tract looks each output up by name among those and panics on a name it does
/// not find (found by the `onnx_load` fuzz target, `fuzz/runtime/`).
fn check_outputs(graph: &GraphProto) -> Result<(), Error> {
    let mut values: BTreeSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    values.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    for node in &graph.node {
        values.extend(
            node.input
                .iter()
                .chain(&node.output)
                .map(String::as_str)
                .filter(|n| !n.is_empty()),
        );
    }
    if let Some(o) = graph
        .output
        .iter()
        .find(|o| !values.contains(o.name.as_str()))
    {
        return Err(Error::Model(format!(
            "the output `{}` is not a value of the graph: no input, initializer or node gives it",
            o.name
        )));
    }
    for node in &graph.node {
        for a in &node.attribute {
            for g in a.g.iter().chain(&a.graphs) {
                check_outputs(g)?;
            }
        }
    }
    Ok(())
}

/// Every axis of every `EinSum` (the matrix products: `MatMul`, `Gemm`, and the
/// `LinearClassifier` and `LinearRegressor` tract wires as one) has one size in all the
/// operands it appears in (or 1, broadcast).
///
/// tract's inference rules check this for `MatMul` and `Gemm` (a model where they do
/// not agree is refused there), but its `LinearClassifier` and `LinearRegressor` take
/// their inner size from the coefficients alone, and a model whose coefficients per
/// target are not as many as its input's features loads. Its optimized product then
/// loops over the coefficients' size: with debug assertions that is a panic (`b.k()`
/// against the geometry's `k`, tract-core's `matmul/optimized.rs`); in a release build,
/// the server's, fewer coefficients than features silently leave features out, and more
/// read past the input's packed buffer: scores made of other memory, or a segmentation
/// fault that takes the process down (10 features and 1000 coefficients do). Found by
/// the `onnx_load` fuzz target (`fuzz/runtime/`).
fn check_contractions(model: &TypedModel) -> Result<(), Error> {
    for node in model.nodes() {
        let Some(op) = node.op_as::<EinSum>() else {
            continue;
        };
        for axis in op.axes.iter_all_axes() {
            let mut size: Option<&TDim> = None;
            for (input, positions) in node.inputs.iter().zip(&axis.inputs) {
                let fact = model
                    .outlet_fact(*input)
                    .map_err(|e| Error::Model(format!("{e:#}")))?;
                for &p in positions {
                    let Some(dim) = fact.shape.dims().get(p) else {
                        return Err(Error::Model(format!(
                            "node `{}`: an operand has no axis {p}",
                            node.name
                        )));
                    };
                    match size {
                        _ if dim.is_one() => {}
                        Some(s) if s != dim => {
                            return Err(Error::Model(format!(
                                "node `{}`: the operands of its product disagree on the size \
                                 of axis `{}` ({s} and {dim}), as in a linear model with more \
                                 or fewer coefficients than features",
                                node.name, axis.repr
                            )));
                        }
                        _ => size = Some(dim),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Model-local functions are not run (tract does not expand them): a node calling one
/// is already refused as an unknown operator; a model declaring one is refused here.
fn check_functions(proto: &ModelProto) -> Result<(), Error> {
    match proto.functions.first() {
        Some(f) => Err(Error::Unsupported(vec![format!(
            "{}:{} (a model-local function)",
            f.domain.as_deref().unwrap_or("?"),
            f.name.as_deref().unwrap_or("?")
        )])),
        None => Ok(()),
    }
}

/// Calls `f` on every node of `graph` and of the graphs inside its attributes.
fn visit(graph: &GraphProto, f: &mut dyn FnMut(&NodeProto)) {
    for node in &graph.node {
        f(node);
        for a in &node.attribute {
            for g in a.g.iter().chain(&a.graphs) {
                visit(g, f);
            }
        }
    }
}

/// Calls `f` on every tensor `graph` stores: initializers, and constants in attributes.
fn visit_tensors(graph: &GraphProto, f: &mut dyn FnMut(&TensorProto)) {
    for t in &graph.initializer {
        f(t);
    }
    for s in &graph.sparse_initializer {
        for t in s.values.iter().chain(&s.indices) {
            f(t);
        }
    }
    for node in &graph.node {
        for a in &node.attribute {
            for t in a.t.iter().chain(&a.tensors) {
                f(t);
            }
            for g in a.g.iter().chain(&a.graphs) {
                visit_tensors(g, f);
            }
        }
    }
}

/// A `ZipMap` whose output is an output of the model becomes an `Identity`: the output
/// is then the probability tensor the maps were made from, in the order of the classes.
fn serve_zipmaps(graph: &mut GraphProto) {
    let outputs: BTreeSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    for node in &mut graph.node {
        if node.op_type == "ZipMap"
            && node.domain == "ai.onnx.ml"
            && node.output.iter().all(|o| outputs.contains(o))
        {
            node.op_type = "Identity".into();
            node.domain = String::new();
            node.attribute.clear();
        }
    }
}

/// The model's inputs (those that are not initializers) and outputs.
fn signature(graph: &GraphProto) -> Result<Signature, Error> {
    let initialized: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs =
        graph
            .input
            .iter()
            .filter(|i| !initialized.contains(i.name.as_str()))
            .map(|i| {
                let Some(type_proto::Value::TensorType(t)) =
                    i.r#type.as_ref().and_then(|t| t.value.as_ref())
                else {
                    return Err(Error::Model(format!("input `{}` is not a tensor", i.name)));
                };
                let shape =
                    t.shape
                        .as_ref()
                        .ok_or_else(|| Error::Model(format!("input `{}` has no shape", i.name)))?
                        .dim
                        .iter()
                        .map(|d| match d.value {
                            Some(
                                tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(n),
                            ) if n > 0 => usize::try_from(n).ok(),
                            _ => None,
                        })
                        .collect();
                Ok(TensorSpec {
                    name: i.name.clone(),
                    datatype: onnx_datatype(t.elem_type).ok_or_else(|| {
                        Error::Model(format!(
                            "input `{}` has an element type aigis does not serve ({})",
                            i.name, t.elem_type
                        ))
                    })?,
                    shape,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
    if inputs.is_empty() {
        return Err(Error::Model("the model has no input".into()));
    }
    // Output types are read from the optimized model when it runs; declare what the
    // graph says, with open dimensions.
    let outputs = graph
        .output
        .iter()
        .map(|o| {
            let declared = o.r#type.as_ref().and_then(|t| t.value.as_ref());
            let (datatype, shape) = match declared {
                Some(type_proto::Value::TensorType(t)) => (
                    onnx_datatype(t.elem_type).unwrap_or(DataType::Fp32),
                    t.shape.as_ref().map_or_else(Vec::new, |s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(
                                    tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(
                                        n,
                                    ),
                                ) if n > 0 => usize::try_from(n).ok(),
                                _ => None,
                            })
                            .collect()
                    }),
                ),
                // A ZipMap served as its probabilities: [batch, classes] of FP32.
                None => (DataType::Fp32, vec![None, None]),
            };
            TensorSpec {
                name: o.name.clone(),
                datatype,
                shape,
            }
        })
        .collect();
    Ok(Signature { inputs, outputs })
}

/// ONNX `TensorProto.DataType` codes to protocol types.
fn onnx_datatype(code: i32) -> Option<DataType> {
    Some(match code {
        1 => DataType::Fp32,
        2 => DataType::Uint8,
        3 => DataType::Int8,
        6 => DataType::Int32,
        7 => DataType::Int64,
        8 => DataType::Bytes,
        9 => DataType::Bool,
        11 => DataType::Fp64,
        _ => return None,
    })
}

fn datum_type(t: DataType) -> DatumType {
    match t {
        DataType::Bool => DatumType::Bool,
        DataType::Uint8 => DatumType::U8,
        DataType::Int8 => DatumType::I8,
        DataType::Int32 => DatumType::I32,
        DataType::Int64 => DatumType::I64,
        DataType::Fp32 => DatumType::F32,
        DataType::Fp64 => DatumType::F64,
        DataType::Bytes => DatumType::String,
    }
}

fn to_tract(t: Tensor) -> Result<tract_onnx::prelude::Tensor, Error> {
    use tract_onnx::prelude::tract_ndarray::ArrayD;
    fn make<T: tract_onnx::prelude::Datum>(
        shape: Vec<usize>,
        v: Vec<T>,
    ) -> Result<tract_onnx::prelude::Tensor, Error> {
        ArrayD::from_shape_vec(shape, v)
            .map(Into::into)
            .map_err(|e| Error::Input(e.to_string()))
    }
    let (shape, data) = t.into_parts();
    match data {
        Data::Bool(v) => make(shape, v),
        Data::Uint8(v) => make(shape, v),
        Data::Int8(v) => make(shape, v),
        Data::Int32(v) => make(shape, v),
        Data::Int64(v) => make(shape, v),
        Data::Fp32(v) => make(shape, v),
        Data::Fp64(v) => make(shape, v),
        Data::Bytes(v) => make(shape, v),
    }
}

fn from_tract(t: &tract_onnx::prelude::Tensor) -> Result<Tensor, Error> {
    fn all<T: tract_onnx::prelude::Datum>(
        t: &tract_onnx::prelude::Tensor,
    ) -> Result<Vec<T>, Error> {
        t.to_plain_array_view::<T>()
            .map(|a| a.iter().cloned().collect())
            .map_err(|e| Error::Run(format!("{e:#}")))
    }
    let shape = t.shape().to_vec();
    let data = match t.datum_type() {
        DatumType::Bool => Data::Bool(all(t)?),
        DatumType::U8 => Data::Uint8(all(t)?),
        DatumType::I8 => Data::Int8(all(t)?),
        DatumType::I32 => Data::Int32(all(t)?),
        DatumType::I64 => Data::Int64(all(t)?),
        DatumType::F32 => Data::Fp32(all(t)?),
        DatumType::F64 => Data::Fp64(all(t)?),
        DatumType::String => Data::Bytes(all(t)?),
        // Integers tract keeps as symbolic dimensions (an int64 cast of a shape or a
        // label index) are plain numbers by the time a model has run.
        DatumType::TDim => Data::Int64(all::<i64>(
            t.cast_to::<i64>()
                .map_err(|e| Error::Run(format!("{e:#}")))?
                .as_ref(),
        )?),
        other => {
            return Err(Error::Run(format!(
                "the model produced a {other:?} tensor, which aigis does not serve"
            )));
        }
    };
    Tensor::new(shape, data)
}
