//! The Open Inference Protocol v2 (KServe, Triton) in JSON: the request and response
//! bodies, and their tensors to and from the runtime's. `data` is accepted flat or nested
//! (row-major), as the protocol allows; responses are flat. The binary tensor extension
//! is read too ([`split`]). A request is untrusted bytes: every error is a value naming
//! the field, never a panic (fuzzed: `fuzz/runtime`, target `infer_request`).

use crate::{Data, DataType, NamedTensor, Signature, Tensor, TensorSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request that does not fit the protocol: the field (`inputs[0].shape`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Invalid {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Its JSON is not an inference request.
    Malformed(String),
    /// Its binary part does not fit what its inputs say.
    Invalid(Invalid),
}

/// A request and, for each input, its part of the binary data, if it has one.
pub type Split<'b> = (InferRequest, Vec<Option<&'b [u8]>>);

/// A request body: the JSON inference request in its first `header_len` bytes (all of
/// them when the binary tensor extension is not used), and for each input its part of
/// the binary data after it, when it says it has one (`binary_data_size`). Every byte of
/// the binary part must belong to an input. `header_len` past the body is the caller's
/// to refuse; here it is cut to the body.
pub fn split(body: &[u8], header_len: usize) -> Result<Split<'_>, BodyError> {
    let (json_part, mut binary) = body.split_at(header_len.min(body.len()));
    let request: InferRequest = serde_json::from_slice(json_part)
        .map_err(|e| BodyError::Malformed(format!("the body is not an inference request: {e}")))?;
    let mut parts = Vec::with_capacity(request.inputs.len());
    for (i, input) in request.inputs.iter().enumerate() {
        parts.push(match binary_size(input, i).map_err(BodyError::Invalid)? {
            None => None,
            Some(n) => {
                let (part, rest) = binary.split_at_checked(n).ok_or_else(|| {
                    BodyError::Invalid(Invalid::new(
                        format!("inputs[{i}].parameters.binary_data_size"),
                        "runs past the end of the body",
                    ))
                })?;
                binary = rest;
                Some(part)
            }
        });
    }
    if !binary.is_empty() {
        return Err(BodyError::Invalid(Invalid::new(
            "inputs",
            format!("{} bytes of binary data belong to no input", binary.len()),
        )));
    }
    Ok((request, parts))
}

/// `POST /v2/models/{name}/infer`.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
    pub inputs: Vec<RequestInput>,
    /// The outputs wanted; all when absent.
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

#[derive(Debug, Deserialize)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<u64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Deserialize)]
pub struct RequestOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

/// The response to an inference.
#[derive(Debug, Serialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<ResponseOutput>,
}

#[derive(Debug, Serialize)]
pub struct ResponseOutput {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<usize>,
    pub data: Value,
}

/// `GET /v2/models/{name}`.
#[derive(Debug, Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: &'static str,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

#[derive(Debug, Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

impl TensorMetadata {
    fn of(spec: &TensorSpec) -> Self {
        TensorMetadata {
            name: spec.name.clone(),
            datatype: spec.datatype,
            shape: spec.protocol_shape(),
        }
    }
}

impl ModelMetadata {
    pub fn new(name: &str, version: &str, signature: &Signature) -> Self {
        ModelMetadata {
            name: name.to_owned(),
            versions: vec![version.to_owned()],
            platform: "onnx",
            inputs: signature.inputs.iter().map(TensorMetadata::of).collect(),
            outputs: signature.outputs.iter().map(TensorMetadata::of).collect(),
        }
    }
}

/// The datatype of a protocol name (`FP32` …).
pub fn datatype(name: &str) -> Option<DataType> {
    Some(match name {
        "BOOL" => DataType::Bool,
        "UINT8" => DataType::Uint8,
        "INT8" => DataType::Int8,
        "INT32" => DataType::Int32,
        "INT64" => DataType::Int64,
        "FP32" => DataType::Fp32,
        "FP64" => DataType::Fp64,
        "BYTES" => DataType::Bytes,
        _ => return None,
    })
}

/// Every leaf of `data` (a value, or arrays of arrays of values), row-major.
fn leaves<'v>(data: &'v Value, out: &mut Vec<&'v Value>, limit: usize) -> Result<(), String> {
    match data {
        Value::Array(items) => {
            for item in items {
                leaves(item, out, limit)?;
            }
        }
        leaf => {
            if out.len() >= limit {
                return Err(format!(
                    "holds more than the {limit} elements its shape says"
                ));
            }
            out.push(leaf);
        }
    }
    Ok(())
}

/// How many bytes of the binary part an input says it holds (the binary tensor
/// extension's `binary_data_size`), if it says so.
pub fn binary_size(input: &RequestInput, index: usize) -> Result<Option<usize>, Invalid> {
    match input
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
    {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                Invalid::new(
                    format!("inputs[{index}].parameters.binary_data_size"),
                    "is not a byte count",
                )
            }),
    }
}

/// The elements of a binary input (little-endian, as the extension says; `BYTES` as a
/// 4-byte length before each string).
fn binary_data(dtype: DataType, bytes: &[u8], count: usize, at: &str) -> Result<Data, Invalid> {
    let fixed = |size: usize| -> Result<std::slice::ChunksExact<'_, u8>, Invalid> {
        if count.checked_mul(size) != Some(bytes.len()) {
            return Err(Invalid::new(
                at,
                format!(
                    "{} bytes of binary data for {count} elements of {dtype}",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes.chunks_exact(size))
    };
    fn arr<const N: usize>(c: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(c.get(..N).unwrap_or(&[0; N][..]));
        a
    }
    Ok(match dtype {
        DataType::Fp32 => Data::Fp32(fixed(4)?.map(|c| f32::from_le_bytes(arr(c))).collect()),
        DataType::Fp64 => Data::Fp64(fixed(8)?.map(|c| f64::from_le_bytes(arr(c))).collect()),
        DataType::Int64 => Data::Int64(fixed(8)?.map(|c| i64::from_le_bytes(arr(c))).collect()),
        DataType::Int32 => Data::Int32(fixed(4)?.map(|c| i32::from_le_bytes(arr(c))).collect()),
        DataType::Int8 => Data::Int8(fixed(1)?.map(|c| i8::from_le_bytes(arr(c))).collect()),
        DataType::Uint8 => Data::Uint8(fixed(1)?.map(|c| u8::from_le_bytes(arr(c))).collect()),
        DataType::Bool => Data::Bool(fixed(1)?.map(|c| c != [0]).collect()),
        DataType::Bytes => {
            let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
            let mut rest = bytes;
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
                let text = tail
                    .get(..len)
                    .ok_or_else(|| Invalid::new(at, "a string runs past the binary data"))?;
                let text = std::str::from_utf8(text)
                    .map_err(|_| Invalid::new(at, "a string is not UTF-8"))?;
                out.push(text.to_owned());
                rest = tail.get(len..).unwrap_or_default();
            }
            if !rest.is_empty() || out.len() != count {
                return Err(Invalid::new(
                    at,
                    format!(
                        "the binary data holds {} strings, the shape says {count}",
                        out.len()
                    ),
                ));
            }
            Data::Bytes(out)
        }
    })
}

/// The tensor of a request input, checked element by element; `binary` is its part of
/// the binary data when the request uses the binary tensor extension.
pub fn input_tensor(
    input: &RequestInput,
    index: usize,
    binary: Option<&[u8]>,
) -> Result<NamedTensor, Invalid> {
    let at = |field: &str| format!("inputs[{index}].{field}");
    let dtype = datatype(&input.datatype).ok_or_else(|| {
        Invalid::new(
            at("datatype"),
            format!("`{}` is not a datatype this gateway serves", input.datatype),
        )
    })?;
    let shape: Vec<usize> = input
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| Invalid::new(at("shape"), "a dimension is too large"))?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Invalid::new(at("shape"), "the shape is too large"))?;
    if let Some(bytes) = binary {
        if !input.data.is_null() {
            return Err(Invalid::new(
                at("data"),
                "an input sent as binary data has no `data`",
            ));
        }
        let data = binary_data(dtype, bytes, count, &at("parameters.binary_data_size"))?;
        let tensor = Tensor::new(shape, data).map_err(|e| Invalid::new(at("shape"), e))?;
        return Ok(NamedTensor::new(input.name.clone(), tensor));
    }
    let mut flat = Vec::new();
    leaves(&input.data, &mut flat, count).map_err(|m| Invalid::new(at("data"), m))?;
    if flat.len() != count {
        return Err(Invalid::new(
            at("data"),
            format!(
                "holds {} elements, the shape {:?} says {count}",
                flat.len(),
                input.shape
            ),
        ));
    }
    let bad = |i: usize, what: &str| {
        Invalid::new(
            format!("inputs[{index}].data[{i}]"),
            format!("is not {what}"),
        )
    };
    let data = match dtype {
        DataType::Fp32 => Data::Fp32(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_f64()
                        .map(|x| x as f32)
                        .ok_or_else(|| bad(i, "a number"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Fp64 => Data::Fp64(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_f64().ok_or_else(|| bad(i, "a number")))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int64 => Data::Int64(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_i64().ok_or_else(|| bad(i, "an INT64")))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int32 => Data::Int32(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_i64()
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or_else(|| bad(i, "an INT32"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int8 => Data::Int8(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_i64()
                        .and_then(|x| i8::try_from(x).ok())
                        .ok_or_else(|| bad(i, "an INT8"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Uint8 => Data::Uint8(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_u64()
                        .and_then(|x| u8::try_from(x).ok())
                        .ok_or_else(|| bad(i, "a UINT8"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Bool => Data::Bool(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_bool().ok_or_else(|| bad(i, "a boolean")))
                .collect::<Result<_, _>>()?,
        ),
        DataType::Bytes => Data::Bytes(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad(i, "a string"))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let tensor = Tensor::new(shape, data).map_err(|e| Invalid::new(at("shape"), e))?;
    Ok(NamedTensor::new(input.name.clone(), tensor))
}

/// A runtime output as the protocol writes it (flat data).
pub fn output(tensor: NamedTensor) -> ResponseOutput {
    let datatype = tensor.tensor.datatype();
    let (shape, data) = tensor.tensor.into_parts();
    ResponseOutput {
        name: tensor.name,
        datatype,
        shape,
        data: data.into_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> Result<NamedTensor, Invalid> {
        let i: RequestInput = serde_json::from_str(json).unwrap();
        input_tensor(&i, 0, None)
    }

    #[test]
    fn data_may_be_flat_or_nested_and_must_match_the_shape() {
        let flat =
            input(r#"{"name":"X","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}"#).unwrap();
        let nested =
            input(r#"{"name":"X","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}"#).unwrap();
        assert_eq!(flat, nested);
        let e =
            input(r#"{"name":"X","shape":[2,2],"datatype":"FP32","data":[1,2,3]}"#).unwrap_err();
        assert!(e.to_string().starts_with("inputs[0].data"), "{e:?}");
        let e = input(r#"{"name":"X","shape":[1],"datatype":"FP32","data":[1,2,3]}"#).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e:?}");
    }

    #[test]
    fn each_element_must_be_of_its_datatype() {
        let e = input(r#"{"name":"X","shape":[2],"datatype":"INT64","data":[1,2.5]}"#).unwrap_err();
        assert_eq!(e.to_string(), "inputs[0].data[1]: is not an INT64");
        let e = input(r#"{"name":"X","shape":[1],"datatype":"INT32","data":[3000000000]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("INT32"));
        let e = input(r#"{"name":"X","shape":[1],"datatype":"FP16","data":[1]}"#).unwrap_err();
        assert!(e.to_string().starts_with("inputs[0].datatype"));
        let e = input(r#"{"name":"X","shape":[1],"datatype":"FP32","data":["1"]}"#).unwrap_err();
        assert!(e.to_string().contains("a number"));
        let e = input(
            r#"{"name":"X","shape":[18446744073709551615,18446744073709551615],"datatype":"FP32","data":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("too large"));
        assert!(input(r#"{"name":"S","shape":[2],"datatype":"BYTES","data":["a","b"]}"#).is_ok());
        assert!(input(r#"{"name":"B","shape":[1],"datatype":"BOOL","data":[true]}"#).is_ok());
    }

    #[test]
    fn binary_data_is_read_little_endian_and_must_fill_its_shape() {
        let i: RequestInput = serde_json::from_str(
            r#"{"name":"X","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}"#,
        )
        .unwrap();
        let bytes: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = input_tensor(&i, 0, Some(&bytes)).unwrap();
        assert_eq!(t.tensor.data(), &Data::Fp32(vec![1.5, -2.0]));
        assert!(input_tensor(&i, 0, Some(&bytes[..7])).is_err());
        let s: RequestInput =
            serde_json::from_str(r#"{"name":"S","shape":[2],"datatype":"BYTES"}"#).unwrap();
        let mut strings = Vec::new();
        for text in ["ab", "c"] {
            strings.extend((text.len() as u32).to_le_bytes());
            strings.extend(text.as_bytes());
        }
        let t = input_tensor(&s, 0, Some(&strings)).unwrap();
        assert_eq!(t.tensor.data(), &Data::Bytes(vec!["ab".into(), "c".into()]));
        assert!(input_tensor(&s, 0, Some(&strings[..6])).is_err());
        let mut long = strings.clone();
        long[0] = 0xff;
        assert!(input_tensor(&s, 0, Some(&long)).is_err());
    }
}
