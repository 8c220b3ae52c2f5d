//! Tensors as they cross the runtime's boundary: a shape and a flat, row-major buffer of
//! one element type, named by the Open Inference Protocol's data types.

use serde::{Deserialize, Serialize};

use crate::Error;

/// An element type, by its Open Inference Protocol (KServe v2) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DataType {
    Bool,
    Uint8,
    Int8,
    Int32,
    Int64,
    Fp32,
    Fp64,
    /// UTF-8 strings (class labels, categories).
    Bytes,
}

impl DataType {
    /// The protocol's name (`FP32`).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::Uint8 => "UINT8",
            DataType::Int8 => "INT8",
            DataType::Int32 => "INT32",
            DataType::Int64 => "INT64",
            DataType::Fp32 => "FP32",
            DataType::Fp64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The elements of a tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Bool(Vec<bool>),
    Uint8(Vec<u8>),
    Int8(Vec<i8>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Fp32(Vec<f32>),
    Fp64(Vec<f64>),
    Bytes(Vec<String>),
}

impl Data {
    /// The element type.
    pub fn datatype(&self) -> DataType {
        match self {
            Data::Bool(_) => DataType::Bool,
            Data::Uint8(_) => DataType::Uint8,
            Data::Int8(_) => DataType::Int8,
            Data::Int32(_) => DataType::Int32,
            Data::Int64(_) => DataType::Int64,
            Data::Fp32(_) => DataType::Fp32,
            Data::Fp64(_) => DataType::Fp64,
            Data::Bytes(_) => DataType::Bytes,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::Bool(v) => v.len(),
            Data::Uint8(v) => v.len(),
            Data::Int8(v) => v.len(),
            Data::Int32(v) => v.len(),
            Data::Int64(v) => v.len(),
            Data::Fp32(v) => v.len(),
            Data::Fp64(v) => v.len(),
            Data::Bytes(v) => v.len(),
        }
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as a flat JSON array, as the Open Inference Protocol writes `data`.
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Data::Bool(v) => serde_json::json!(v),
            Data::Uint8(v) => serde_json::json!(v),
            Data::Int8(v) => serde_json::json!(v),
            Data::Int32(v) => serde_json::json!(v),
            Data::Int64(v) => serde_json::json!(v),
            Data::Fp32(v) => serde_json::json!(v),
            Data::Fp64(v) => serde_json::json!(v),
            Data::Bytes(v) => serde_json::json!(v),
        }
    }
}

/// A shape and its elements; the element count always matches the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

impl Tensor {
    /// A tensor of `shape` holding `data`; refused when the counts differ.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Self, Error> {
        let count = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .ok_or_else(|| Error::Shape(format!("the shape {shape:?} is too large")))?;
        if count != data.len() {
            return Err(Error::Shape(format!(
                "the shape {shape:?} holds {count} elements, the data {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn datatype(&self) -> DataType {
        self.data.datatype()
    }

    /// The shape and the data.
    pub fn into_parts(self) -> (Vec<usize>, Data) {
        (self.shape, self.data)
    }
}

/// A tensor with the name of the model input or output it is.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub tensor: Tensor,
}

impl NamedTensor {
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Self {
        NamedTensor {
            name: name.into(),
            tensor,
        }
    }
}

/// One input or output of a model: its name, element type and shape, where `None` is a
/// dimension of any size (the batch, usually).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<Option<usize>>,
}

impl TensorSpec {
    /// The shape as the Open Inference Protocol writes it: `-1` for any size.
    pub fn protocol_shape(&self) -> Vec<i64> {
        self.shape
            .iter()
            .map(|d| d.and_then(|d| i64::try_from(d).ok()).unwrap_or(-1))
            .collect()
    }

    /// Whether `shape` fits this spec (same rank, every fixed dimension equal).
    pub fn accepts(&self, shape: &[usize]) -> bool {
        shape.len() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(want, got)| want.is_none_or(|w| w == *got))
    }
}

/// What a model takes and gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_holds_exactly_its_shape() {
        assert!(Tensor::new(vec![2, 3], Data::Fp32(vec![0.0; 6])).is_ok());
        assert!(Tensor::new(vec![2, 3], Data::Fp32(vec![0.0; 5])).is_err());
        assert!(Tensor::new(vec![usize::MAX, 3], Data::Fp32(vec![])).is_err());
        assert!(Tensor::new(vec![], Data::Int64(vec![7])).is_ok());
    }

    #[test]
    fn a_spec_accepts_any_size_where_it_says_so() {
        let spec = TensorSpec {
            name: "X".into(),
            datatype: DataType::Fp32,
            shape: vec![None, Some(64)],
        };
        assert!(spec.accepts(&[5, 64]));
        assert!(!spec.accepts(&[5, 63]));
        assert!(!spec.accepts(&[64]));
        assert_eq!(spec.protocol_shape(), [-1, 64]);
        assert_eq!(serde_json::to_string(&DataType::Fp32).unwrap(), "\"FP32\"");
    }
}
