//! The `ai.onnx.ml` operators scikit-learn exports that tract lacks or runs differently
//! from onnxruntime, as tract extensions: `Scaler` and `ArrayFeatureExtractor` here,
//! wired from tract's own typed operators (arithmetic, `Gather`), and the tree ensembles
//! in [`crate::forest`].
//!
//! Written here because no crate provides them for tract.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto};

use crate::attrs::{attr, floats};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::logic::wire_with_rank_broadcast;

/// Registers the operators of this module.
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Scaler", scaler);
    reg.insert("ArrayFeatureExtractor", array_feature_extractor);
    reg.insert("TreeEnsembleClassifier", crate::forest::tree_classifier);
    reg.insert("TreeEnsembleRegressor", crate::forest::tree_regressor);
}

/// The single outlet a node was wired to.
fn one(outlets: TVec<OutletId>) -> TractResult<OutletId> {
    outlets
        .first()
        .copied()
        .ok_or_else(|| format_err!("a node without output"))
}

/// `Scaler`: `(X - offset) * scale`, per feature or for all, as f32.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Scaler {
    offset: Arc<Tensor>,
    scale: Arc<Tensor>,
}

fn scaler(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset = floats(node, "offset");
    let scale = floats(node, "scale");
    // ONNX: absent is 0 and 1; one value applies to every feature.
    let offset = if offset.is_empty() {
        &[0.0][..]
    } else {
        offset
    };
    let scale = if scale.is_empty() { &[1.0][..] } else { scale };
    Ok((
        expand(Scaler {
            offset: rctensor1(offset),
            scale: rctensor1(scale),
        }),
        vec![],
    ))
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "tract's solver proxies are indexed once check_*_arity has checked the counts"
    )]
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        let (input, output) = (&inputs[0], &outputs[0]);
        s.equals(&output.datum_type, DatumType::F32)?;
        s.equals(&input.shape, &output.shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let &[mut x] = inputs else {
            bail!("Scaler takes one input");
        };
        if model.outlet_fact(x)?.datum_type != f32::datum_type() {
            x = one(model.wire_node(
                format!("{prefix}.to_f32"),
                tract_onnx::tract_core::ops::cast::cast(f32::datum_type()),
                &[x],
            )?)?;
        }
        let offset = model.add_const(format!("{prefix}.offset"), self.offset.clone())?;
        let scale = model.add_const(format!("{prefix}.scale"), self.scale.clone())?;
        let centred = one(wire_with_rank_broadcast(
            format!("{prefix}.sub"),
            model,
            tract_onnx::tract_core::ops::math::sub(),
            &[x, offset],
        )?)?;
        wire_with_rank_broadcast(
            format!("{prefix}.mul"),
            model,
            tract_onnx::tract_core::ops::math::mul(),
            &[centred, scale],
        )
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(1)
    }
}

/// `ArrayFeatureExtractor`: the elements of `X` at the indices `Y` along its last axis
/// (onnxruntime's shapes: a 1-D `X` gives `[1, len(Y)]`).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct ArrayFeatureExtractor;

fn array_feature_extractor(
    _: &ParsingContext,
    _: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(ArrayFeatureExtractor), vec![]))
}

impl Expansion for ArrayFeatureExtractor {
    fn name(&self) -> StaticName {
        "ArrayFeatureExtractor".into()
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "tract's solver proxies are indexed once check_*_arity has checked the counts"
    )]
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(
            &inputs[0].rank,
            &inputs[1].shape,
            move |s, rank, indices| {
                let count: TDim = indices.iter().product();
                if rank <= 1 {
                    s.equals(
                        &outputs[0].shape,
                        ShapeFactoid::from(vec![1.to_dim(), count]),
                    )?;
                } else {
                    s.equals(&outputs[0].rank, rank)?;
                    let last = usize::try_from(rank - 1)?;
                    s.equals(&outputs[0].shape[last], count)?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let &[x, indices] = inputs else {
            bail!("ArrayFeatureExtractor takes two inputs");
        };
        let rank = model.outlet_fact(x)?.rank();
        ensure!(
            rank >= 1,
            "ArrayFeatureExtractor needs an input of rank 1 or more"
        );
        // The indices as one flat list.
        let shape = model.outlet_fact(indices)?.shape.clone();
        let indices = one(model.wire_node(
            format!("{prefix}.flat_indices"),
            tract_onnx::tract_core::ops::change_axes::AxisOp::Reshape(
                0,
                shape.to_tvec(),
                tvec![shape.volume()],
            ),
            &[indices],
        )?)?;
        let gathered = model.wire_node(
            format!("{prefix}.gather"),
            tract_onnx::tract_core::ops::array::Gather::new(rank - 1),
            &[x, indices],
        )?;
        if rank == 1 {
            return model.wire_node(
                format!("{prefix}.add_axis"),
                tract_onnx::tract_core::ops::change_axes::AxisOp::Add(0),
                &gathered,
            );
        }
        Ok(gathered)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(1)
    }
}

/// tract's `LinearClassifier` labels with integers only. A classifier with string labels
/// is given the labels' indices instead, and a `CategoryMapper` (which tract runs) turns
/// the index it outputs into the string, under the output's own name.
pub fn index_string_labels(graph: &mut GraphProto) {
    let mut rewritten = Vec::with_capacity(graph.node.len());
    for mut node in std::mem::take(&mut graph.node) {
        let labels = attr(&node, "classlabels_strings").map(|a| a.strings.clone());
        let (Some(labels), Some(label_out)) = (labels, node.output.first().cloned()) else {
            rewritten.push(node);
            continue;
        };
        if node.op_type != "LinearClassifier" || labels.is_empty() {
            rewritten.push(node);
            continue;
        }
        let indices: Vec<i64> = (0..labels.len() as i64).collect();
        node.attribute.retain(|a| a.name != "classlabels_strings");
        node.attribute.push(AttributeProto {
            name: "classlabels_ints".into(),
            r#type: 7, // INTS
            ints: indices.clone(),
            ..AttributeProto::default()
        });
        let index_out = format!("{label_out}.aigis_index");
        if let Some(first) = node.output.first_mut() {
            first.clone_from(&index_out);
        }
        let mapper = NodeProto {
            name: format!("{}.aigis_labels", node.name),
            op_type: "CategoryMapper".into(),
            domain: "ai.onnx.ml".into(),
            input: vec![index_out],
            output: vec![label_out],
            attribute: vec![
                AttributeProto {
                    name: "cats_int64s".into(),
                    r#type: 7,
                    ints: indices,
                    ..AttributeProto::default()
                },
                AttributeProto {
                    name: "cats_strings".into(),
                    r#type: 8, // STRINGS
                    strings: labels,
                    ..AttributeProto::default()
                },
                // Every index has its label; the default is never used.
                AttributeProto {
                    name: "default_string".into(),
                    r#type: 3, // STRING
                    s: b"_Unused".to_vec(),
                    ..AttributeProto::default()
                },
            ],
            ..NodeProto::default()
        };
        rewritten.push(node);
        rewritten.push(mapper);
    }
    graph.node = rewritten;
}
