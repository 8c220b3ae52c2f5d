//! Reading an ONNX node's attributes (absent lists read as empty).

use tract_onnx::pb::{AttributeProto, NodeProto};

/// An attribute of `node`.
pub(crate) fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(crate) fn ints<'a>(node: &'a NodeProto, name: &str) -> &'a [i64] {
    attr(node, name).map_or(&[], |a| a.ints.as_slice())
}

pub(crate) fn floats<'a>(node: &'a NodeProto, name: &str) -> &'a [f32] {
    attr(node, name).map_or(&[], |a| a.floats.as_slice())
}

pub(crate) fn string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

pub(crate) fn strings(node: &NodeProto, name: &str) -> Vec<String> {
    attr(node, name).map_or_else(Vec::new, |a| {
        a.strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    })
}
