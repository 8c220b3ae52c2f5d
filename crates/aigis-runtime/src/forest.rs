//! Tree ensembles (`TreeEnsembleClassifier`, `TreeEnsembleRegressor`) as a tract
//! operator of our own, evaluated as onnxruntime evaluates them.
//!
//! Written here rather than taken from tract: tract's classifier refuses the single base
//! value scikit-learn's binary gradient boosting exports, labels binary trees differently
//! from onnxruntime, has no regressor, and walks nodes without bounds checks. This one
//! reads and checks the attributes (one length per table, trees and nodes numbered from
//! 0 without gaps, children inside their tree, no loop, leaf values on leaves, targets in
//! range), walks with checked indices, and reproduces onnxruntime's finalization: base
//! values, the binary case (one class carries every weight), which classes have a score,
//! and the post transforms. The reference is onnxruntime's behaviour on real exports
//! (`tests/onnxruntime.rs`), not a reading of the ONNX text, which leaves the binary case
//! open.

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;

use crate::attrs::{attr, floats, ints, string, strings};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;

fn usizes(node: &NodeProto, name: &str, n: usize) -> TractResult<Vec<usize>> {
    let v = ints(node, name);
    ensure!(
        v.len() == n,
        "`{name}` has {} values, expected {n}",
        v.len()
    );
    v.iter()
        .map(|&x| usize::try_from(x).map_err(|_| format_err!("`{name}` holds the negative id {x}")))
        .collect()
}

/// How a branch compares the feature `x` with its threshold `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    fn parse(s: &str) -> TractResult<Option<Mode>> {
        Ok(Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Ok(None),
            other => bail!("unknown node mode `{other}`"),
        }))
    }

    fn holds(self, x: f64, t: f64) -> bool {
        match self {
            Mode::Leq => x <= t,
            Mode::Lt => x < t,
            Mode::Gte => x >= t,
            Mode::Gt => x > t,
            Mode::Eq => x == t,
            Mode::Neq => x != t,
        }
    }
}

/// One node: a branch, or a leaf with its range of values in [`Trees::values`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Node {
    Branch {
        feature: usize,
        mode: Mode,
        /// The threshold's bits (f32), so the node can be hashed.
        threshold: u32,
        /// Indices into [`Trees::nodes`].
        yes: usize,
        no: usize,
        nan_goes_yes: bool,
    },
    Leaf {
        values: std::ops::Range<usize>,
    },
}

/// A node as the attributes give it.
struct Raw {
    tree: usize,
    id: usize,
    feature: usize,
    yes: usize,
    no: usize,
    threshold: f32,
    mode: Option<Mode>,
    nan_goes_yes: bool,
}

/// A checked forest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Trees {
    /// The index of each tree's root in `nodes`.
    roots: Vec<usize>,
    nodes: Vec<Node>,
    /// (target, weight bits) of the leaves.
    values: Vec<(usize, u32)>,
    targets: usize,
    /// The highest feature a branch reads.
    max_feature: usize,
}

impl Trees {
    /// Reads the node and leaf tables (`class_*` or `target_*` after `prefix`).
    fn read(node: &NodeProto, prefix: &str, targets: usize) -> TractResult<Self> {
        let n = ints(node, "nodes_featureids").len();
        ensure!(n > 0, "the ensemble has no node");
        let tree_ids = usizes(node, "nodes_treeids", n)?;
        let node_ids = usizes(node, "nodes_nodeids", n)?;
        let features = usizes(node, "nodes_featureids", n)?;
        let yes = usizes(node, "nodes_truenodeids", n)?;
        let no = usizes(node, "nodes_falsenodeids", n)?;
        let thresholds = floats(node, "nodes_values");
        ensure!(
            thresholds.len() == n,
            "`nodes_values` has {} values, expected {n} (the `_as_tensor` forms are not read)",
            thresholds.len()
        );
        let modes = strings(node, "nodes_modes");
        ensure!(
            modes.len() == n,
            "`nodes_modes` has {} values, expected {n}",
            modes.len()
        );
        let missing = ints(node, "nodes_missing_value_tracks_true");
        ensure!(
            missing.is_empty() || missing.len() == n,
            "`nodes_missing_value_tracks_true` has {} values, expected {n}",
            missing.len()
        );
        // One record per node, sorted by (tree, node).
        let mut raw: Vec<Raw> = Vec::with_capacity(n);
        for (i, ((((tree, id), feature), yes), no)) in tree_ids
            .into_iter()
            .zip(node_ids)
            .zip(features)
            .zip(yes)
            .zip(no)
            .enumerate()
        {
            raw.push(Raw {
                tree,
                id,
                feature,
                yes,
                no,
                threshold: thresholds.get(i).copied().unwrap_or_default(),
                mode: Mode::parse(modes.get(i).map_or("", String::as_str))?,
                nan_goes_yes: missing.get(i).is_some_and(|&v| v != 0),
            });
        }
        raw.sort_by_key(|r| (r.tree, r.id));
        // Trees 0..t, each with nodes 0..k.
        let mut roots = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        for (at, r) in raw.iter().enumerate() {
            if r.tree == sizes.len() {
                sizes.push(0);
                roots.push(at);
            }
            ensure!(
                r.tree + 1 == sizes.len(),
                "tree ids are not numbered from 0 without gaps"
            );
            let size = sizes.last_mut().ok_or_else(|| format_err!("no tree"))?;
            ensure!(
                r.id == *size,
                "tree {}: node ids are not numbered from 0 without gaps",
                r.tree
            );
            *size += 1;
        }
        // Leaf values, grouped by (tree, node).
        let m = ints(node, &format!("{prefix}_ids")).len();
        let leaf_trees = usizes(node, &format!("{prefix}_treeids"), m)?;
        let leaf_nodes = usizes(node, &format!("{prefix}_nodeids"), m)?;
        let leaf_targets = usizes(node, &format!("{prefix}_ids"), m)?;
        let weights = floats(node, &format!("{prefix}_weights"));
        ensure!(
            weights.len() == m,
            "`{prefix}_weights` has {} values, expected {m} (the `_as_tensor` form is not read)",
            weights.len()
        );
        let mut by_leaf: Vec<(usize, usize, usize, u32)> = leaf_trees
            .into_iter()
            .zip(leaf_nodes)
            .zip(leaf_targets)
            .zip(weights)
            .map(|(((t, id), target), w)| (t, id, target, w.to_bits()))
            .collect();
        // Stable: the values of one leaf keep the model's order.
        by_leaf.sort_by_key(|v| (v.0, v.1));
        let mut values = Vec::with_capacity(m);
        let mut nodes = Vec::with_capacity(n);
        let mut max_feature = 0;
        let mut next_value = 0;
        for r in &raw {
            let (root, size) = roots
                .get(r.tree)
                .zip(sizes.get(r.tree))
                .ok_or_else(|| format_err!("tree {}", r.tree))?;
            match r.mode {
                Some(mode) => {
                    for child in [r.yes, r.no] {
                        ensure!(
                            child < *size,
                            "tree {}: node {} points to node {child}, outside the tree",
                            r.tree,
                            r.id
                        );
                    }
                    max_feature = max_feature.max(r.feature);
                    nodes.push(Node::Branch {
                        feature: r.feature,
                        mode,
                        threshold: r.threshold.to_bits(),
                        yes: root + r.yes,
                        no: root + r.no,
                        nan_goes_yes: r.nan_goes_yes,
                    });
                }
                None => {
                    let start = values.len();
                    while let Some(&(t, id, target, w)) = by_leaf.get(next_value) {
                        if (t, id) != (r.tree, r.id) {
                            break;
                        }
                        ensure!(
                            target < targets,
                            "a leaf value is for target {target} of {targets}"
                        );
                        values.push((target, w));
                        next_value += 1;
                    }
                    nodes.push(Node::Leaf {
                        values: start..values.len(),
                    });
                }
            }
        }
        ensure!(
            next_value == by_leaf.len(),
            "a leaf value is for a node that is not a leaf, or not in the ensemble"
        );
        let trees = Trees {
            roots,
            nodes,
            values,
            targets,
            max_feature,
        };
        trees.check_acyclic()?;
        Ok(trees)
    }

    /// No walk can loop: the branches form no cycle.
    fn check_acyclic(&self) -> TractResult<()> {
        // 0 unseen, 1 on the current path, 2 done.
        let mut state = vec![0u8; self.nodes.len()];
        for &root in &self.roots {
            let mut stack = vec![(root, false)];
            while let Some((at, leaving)) = stack.pop() {
                let here = state.get_mut(at).ok_or_else(|| format_err!("node {at}"))?;
                if leaving {
                    *here = 2;
                    continue;
                }
                match *here {
                    1 => bail!("a tree loops"),
                    2 => continue,
                    _ => *here = 1,
                }
                stack.push((at, true));
                if let Some(Node::Branch { yes, no, .. }) = self.nodes.get(at) {
                    stack.push((*yes, false));
                    stack.push((*no, false));
                }
            }
        }
        Ok(())
    }

    /// The leaf `row` reaches in each tree: calls `leaf` with each of its values.
    fn walk(&self, row: &[f64], leaf: &mut dyn FnMut(usize, f64)) -> TractResult<()> {
        for &root in &self.roots {
            let mut at = root;
            // Acyclic, so a walk visits each node once at most.
            for _ in 0..=self.nodes.len() {
                match self.nodes.get(at) {
                    Some(Node::Branch {
                        feature,
                        mode,
                        threshold,
                        yes,
                        no,
                        nan_goes_yes,
                    }) => {
                        let x = *row
                            .get(*feature)
                            .ok_or_else(|| format_err!("the input has no feature {feature}"))?;
                        let t = f64::from(f32::from_bits(*threshold));
                        at = if mode.holds(x, t) || (*nan_goes_yes && x.is_nan()) {
                            *yes
                        } else {
                            *no
                        };
                    }
                    Some(Node::Leaf { values }) => {
                        for &(target, w) in self.values.get(values.clone()).unwrap_or_default() {
                            leaf(target, f64::from(f32::from_bits(w)));
                        }
                        break;
                    }
                    None => bail!("node {at} is not in the ensemble"),
                }
            }
        }
        Ok(())
    }
}

/// What the scores go through last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl Post {
    fn parse(node: &NodeProto) -> TractResult<Post> {
        Ok(match string(node, "post_transform").as_deref() {
            None | Some("NONE") => Post::None,
            Some("LOGISTIC") => Post::Logistic,
            Some("SOFTMAX") => Post::Softmax,
            Some("SOFTMAX_ZERO") => Post::SoftmaxZero,
            Some(other) => bail!("post_transform `{other}` is not supported"),
        })
    }
}

/// onnxruntime's logistic: computed on |x| and mirrored, so large negatives do not
/// overflow.
fn logistic(x: f64) -> f64 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

fn softmax(scores: &mut [f64], skip_zeros: bool) {
    let max = scores.iter().copied().fold(f64::MIN, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        if skip_zeros && s.abs() <= 1e-7 {
            *s *= (-max).exp();
        } else {
            *s = (*s - max).exp();
            sum += *s;
        }
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// onnxruntime's `write_scores`: the post transform, and for a single score the second
/// class made from it (`add` says how: 0 or 1 all-positive weights, 2 or 3 mixed).
fn write_scores(scores: &mut Vec<f64>, post: Post, add: Option<u8>) {
    if scores.len() >= 2 {
        match post {
            Post::None => {}
            Post::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            Post::Softmax => softmax(scores, false),
            Post::SoftmaxZero => softmax(scores, true),
        }
    } else if let Some(&s) = scores.first() {
        match (add, post) {
            (Some(0 | 1), _) => *scores = vec![1.0 - s, s],
            (Some(2 | 3), Post::Logistic) => *scores = vec![logistic(-s), logistic(s)],
            (Some(2), _) => *scores = vec![-s, s],
            (Some(3), _) => scores.push(-s),
            _ => {}
        }
    }
}

/// The class labels of a classifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Classifier {
        labels: Labels,
        /// Every weight is for one class, of two.
        binary: bool,
        all_positive: bool,
    },
    Regressor {
        aggregate: Aggregate,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The operator: a forest and how to finish its scores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Forest {
    trees: Arc<Trees>,
    kind: Kind,
    post: Post,
    /// Base values, as bits.
    base: Vec<u32>,
}

/// Reads a `TreeEnsembleClassifier` node (also used to check one).
pub fn classifier(node: &NodeProto) -> TractResult<Forest> {
    let ints_labels = ints(node, "classlabels_int64s");
    let string_labels = strings(node, "classlabels_strings");
    let labels = match (ints_labels.is_empty(), string_labels.is_empty()) {
        (false, true) => Labels::Ints(ints_labels.to_vec()),
        (true, false) => Labels::Strings(string_labels),
        _ => bail!("a classifier has either `classlabels_int64s` or `classlabels_strings`"),
    };
    let trees = Trees::read(node, "class", labels.len())?;
    let weights = floats(node, "class_weights");
    let classes: std::collections::BTreeSet<i64> =
        ints(node, "class_ids").iter().copied().collect();
    let base = floats(node, "base_values");
    ensure!(
        base.len() <= labels.len(),
        "`base_values` has {} values for {} classes",
        base.len(),
        labels.len()
    );
    Ok(Forest {
        kind: Kind::Classifier {
            binary: labels.len() == 2 && classes.len() == 1,
            all_positive: weights.iter().all(|w| *w >= 0.0),
            labels,
        },
        trees: Arc::new(trees),
        post: Post::parse(node)?,
        base: base.iter().map(|b| b.to_bits()).collect(),
    })
}

/// Reads a `TreeEnsembleRegressor` node.
fn regressor(node: &NodeProto) -> TractResult<Forest> {
    let targets = attr(node, "n_targets").map_or(1, |a| a.i);
    let targets = usize::try_from(targets)
        .ok()
        .filter(|n| (1..=1 << 20).contains(n))
        .ok_or_else(|| format_err!("`n_targets` is {targets}"))?;
    let aggregate = match string(node, "aggregate_function").as_deref() {
        None | Some("SUM") => Aggregate::Sum,
        Some("AVERAGE") => Aggregate::Average,
        Some("MIN") => Aggregate::Min,
        Some("MAX") => Aggregate::Max,
        Some(other) => bail!("unknown aggregate_function `{other}`"),
    };
    let base = floats(node, "base_values");
    ensure!(
        base.is_empty() || base.len() == targets || base.len() == 1,
        "`base_values` has {} values for {targets} targets",
        base.len()
    );
    Ok(Forest {
        trees: Arc::new(Trees::read(node, "target", targets)?),
        kind: Kind::Regressor { aggregate },
        post: Post::parse(node)?,
        base: base.iter().map(|b| b.to_bits()).collect(),
    })
}

pub fn tree_classifier(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(classifier(node)?), vec![]))
}

pub fn tree_regressor(
    _: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(regressor(node)?), vec![]))
}

impl Forest {
    fn base(&self) -> Vec<f64> {
        self.base
            .iter()
            .map(|b| f64::from(f32::from_bits(*b)))
            .collect()
    }

    /// The width of the scores output.
    fn width(&self) -> usize {
        match &self.kind {
            Kind::Classifier { labels, .. } => labels.len(),
            Kind::Regressor { .. } => self.trees.targets,
        }
    }

    /// A regressor's outputs for one row.
    fn regress(&self, row: &[f64], aggregate: Aggregate) -> TractResult<Vec<f64>> {
        let n = self.trees.targets;
        let mut scores = vec![0.0; n];
        let mut has = vec![false; n];
        self.trees.walk(row, &mut |t, w| {
            if let (Some(s), Some(h)) = (scores.get_mut(t), has.get_mut(t)) {
                *s = match aggregate {
                    Aggregate::Sum | Aggregate::Average => *s + w,
                    Aggregate::Min if *h => s.min(w),
                    Aggregate::Max if *h => s.max(w),
                    Aggregate::Min | Aggregate::Max => w,
                };
                *h = true;
            }
        })?;
        let base = self.base();
        if aggregate == Aggregate::Average {
            let trees = self.trees.roots.len() as f64;
            scores.iter_mut().for_each(|s| *s /= trees);
        }
        if base.len() == n {
            scores.iter_mut().zip(&base).for_each(|(s, b)| *s += b);
        } else if let (1, Some(b)) = (n, base.first()) {
            scores.iter_mut().for_each(|s| *s += b);
        }
        write_scores(&mut scores, self.post, None);
        Ok(scores)
    }

    /// A classifier's label index (into the labels; for the two-class case not
    /// `binary`, onnxruntime's literal 1 or 0) and scores for one row.
    fn classify(
        &self,
        row: &[f64],
        binary: bool,
        all_positive: bool,
    ) -> TractResult<(usize, Vec<f64>)> {
        let n = self.width();
        let mut scores = vec![0.0; n];
        let mut has = vec![false; n];
        self.trees.walk(row, &mut |t, w| {
            if let (Some(s), Some(h)) = (scores.get_mut(t), has.get_mut(t)) {
                *s += w;
                *h = true;
            }
        })?;
        let base = self.base();
        if n > 2 {
            for (k, b) in base.iter().enumerate() {
                if let (Some(s), Some(h)) = (scores.get_mut(k), has.get_mut(k)) {
                    *s = if *h { *s + b } else { *b };
                    *h = true;
                }
            }
            let mut best: Option<(usize, f64)> = None;
            for (k, (&s, &h)) in scores.iter().zip(&has).enumerate() {
                if h && best.is_none_or(|(_, b)| s > b) {
                    best = Some((k, s));
                }
            }
            let (label, _) = best.ok_or_else(|| format_err!("no tree gave a score"))?;
            write_scores(&mut scores, self.post, None);
            return Ok((label, scores));
        }
        // Two classes, as onnxruntime finishes them: (score, has a score) per class.
        let (&[s0, s1], &[h0, h1]) = (scores.as_slice(), has.as_slice()) else {
            bail!("two classes, {} scores", scores.len());
        };
        let mut first = (s0, h0);
        let mut second = Some((s1, h1));
        let mut add = None;
        match base.as_slice() {
            [b0, b1] => {
                if h1 {
                    let v = b1 + s0;
                    second = Some((v, true));
                    first.0 = -v;
                } else {
                    second = Some((s1 + b1, h1));
                    first.0 += b0;
                }
            }
            [b0] => {
                first.0 += b0;
                if !h1 {
                    second = None;
                }
            }
            _ => {
                add = Some(3);
                if !h1 {
                    second = None;
                }
            }
        }
        let p: Vec<(f64, bool)> = std::iter::once(first).chain(second).collect();
        let positive = match p.as_slice() {
            [_, (s, true)] => *s,
            [(s, true), ..] => *s,
            _ => 0.0,
        };
        let label = if binary {
            let (a, l) = if all_positive {
                if positive > 0.5 { (0, 1) } else { (1, 0) }
            } else if positive > 0.0 {
                (2, 1)
            } else {
                (3, 0)
            };
            add = Some(a);
            l
        } else {
            usize::from(positive > 0.0)
        };
        let mut kept: Vec<f64> = p.iter().map(|(s, _)| *s).collect();
        write_scores(&mut kept, self.post, add);
        kept.resize(2, 0.0);
        Ok((label, kept))
    }

    fn run(&self, input: &Tensor) -> TractResult<TVec<TValue>> {
        let input = input.cast_to::<f64>()?;
        let view = input.to_plain_array_view::<f64>()?;
        let shape = view.shape().to_vec();
        let (rows, features) = match shape.as_slice() {
            [f] => (1, *f),
            [n, f] => (*n, *f),
            _ => bail!("a tree ensemble takes a [batch, features] input, not {shape:?}"),
        };
        ensure!(
            features > self.trees.max_feature,
            "the input has {features} features; the ensemble reads feature {}",
            self.trees.max_feature
        );
        let flat: Vec<f64> = view.iter().copied().collect();
        let width = self.width();
        let mut out = Vec::with_capacity(rows * width);
        match &self.kind {
            Kind::Regressor { aggregate } => {
                for row in flat.chunks(features.max(1)).take(rows) {
                    out.extend(self.regress(row, *aggregate)?.iter().map(|&s| s as f32));
                }
                let scores = tensor1(&out).into_shape(&[rows, width])?;
                Ok(tvec!(scores.into_tvalue()))
            }
            Kind::Classifier {
                labels,
                binary,
                all_positive,
            } => {
                let mut picked = Vec::with_capacity(rows);
                for row in flat.chunks(features.max(1)).take(rows) {
                    let (label, scores) = self.classify(row, *binary, *all_positive)?;
                    picked.push(label);
                    out.extend(scores.iter().map(|&s| s as f32));
                }
                let scores = tensor1(&out).into_shape(&[rows, width])?;
                // The binary case (and more than two classes) names labels by index;
                // two classes otherwise say 1 or 0, which onnxruntime reads as the
                // label itself for integer labels and as an index for strings.
                let literal = !*binary && labels.len() == 2;
                let labels = match labels {
                    Labels::Ints(v) => {
                        let picked: Vec<i64> = picked
                            .iter()
                            .map(|&i| {
                                if literal {
                                    Ok(i as i64)
                                } else {
                                    v.get(i).copied().ok_or_else(|| format_err!("class {i}"))
                                }
                            })
                            .collect::<TractResult<_>>()?;
                        tensor1(&picked)
                    }
                    Labels::Strings(v) => {
                        let picked: Vec<String> = picked
                            .iter()
                            .map(|&i| v.get(i).cloned().ok_or_else(|| format_err!("class {i}")))
                            .collect::<TractResult<_>>()?;
                        tensor1(&picked)
                    }
                };
                Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
            }
        }
    }
}

impl Expansion for Forest {
    fn name(&self) -> StaticName {
        match self.kind {
            Kind::Classifier { .. } => "TreeEnsembleClassifier".into(),
            Kind::Regressor { .. } => "TreeEnsembleRegressor".into(),
        }
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
        let scores = match &self.kind {
            Kind::Classifier { labels, .. } => {
                check_output_arity(outputs, 2)?;
                let dt = match labels {
                    Labels::Ints(_) => DatumType::I64,
                    Labels::Strings(_) => DatumType::String,
                };
                s.equals(&outputs[0].datum_type, dt)?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            Kind::Regressor { .. } => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, DatumType::F32)?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.width().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, ForestOp(self.clone()), inputs)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(match self.kind {
            Kind::Classifier { .. } => 2,
            Kind::Regressor { .. } => 1,
        })
    }
}

/// The typed operator tract runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ForestOp(Forest);

impl Op for ForestOp {
    fn name(&self) -> StaticName {
        Expansion::name(&self.0)
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for ForestOp {
    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().ok_or_else(|| format_err!("no input"))?;
        self.0.run(input)
    }

    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(EvalOp::eval(
            self,
            &EvalContext::out_of_plan(),
            inputs,
        )?))
    }
}

impl TypedOp for ForestOp {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs.first().ok_or_else(|| format_err!("no input"))?;
        let rows = match (input.rank(), input.shape.iter().next()) {
            (2, Some(rows)) => rows.clone(),
            _ => 1.to_dim(),
        };
        let scores = f32::fact([rows.clone(), self.0.width().to_dim()]);
        Ok(match &self.0.kind {
            Kind::Classifier { labels, .. } => {
                let labels = match labels {
                    Labels::Ints(_) => i64::fact([rows]),
                    Labels::Strings(_) => String::fact([rows]),
                };
                tvec!(labels, scores)
            }
            Kind::Regressor { .. } => tvec!(scores),
        })
    }
}
