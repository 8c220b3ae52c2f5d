//! The aigis model runtime: what the gateway, the red team and the monitors call to run a
//! model, whatever runs it.
//!
//! - [`Runtime`]: a model's [`Signature`] and `run` over named [`Tensor`]s, shared by
//!   every thread of a server (`Send + Sync`);
//! - [`OnnxRuntime`]: in-process ONNX inference with tract (pure Rust), including the
//!   `ai.onnx.ml` operators scikit-learn exports for its common models
//!   ([`onnx::SUPPORTED_ML`]); a model using another operator is refused when it is
//!   loaded, with the operator named. Checked against onnxruntime's outputs on real
//!   skl2onnx exports (`tests/onnxruntime.rs`, models made by
//!   `scripts/make_runtime_models.py`).
//!
//! ```no_run
//! use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Runtime, Tensor};
//!
//! let model = OnnxRuntime::from_bytes(&std::fs::read("digits.onnx")?)?;
//! let input = &model.signature().inputs[0];
//! let x = Tensor::new(vec![1, 64], Data::Fp32(vec![0.0; 64]))?;
//! let outputs = model.run(vec![NamedTensor::new(input.name.clone(), x)])?;
//! println!("{:?}", outputs[0].tensor.data());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod attrs;
mod forest;
mod ml;
pub mod onnx;
mod tensor;

pub use onnx::OnnxRuntime;
pub use tensor::{Data, DataType, NamedTensor, Signature, Tensor, TensorSpec};

/// Runs a model. Implementations are shared between threads.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// The model's inputs and outputs.
    fn signature(&self) -> &Signature;

    /// Runs the model on `inputs` (each input of the signature once, by name) and
    /// returns every output of the signature, in its order.
    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error>;
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model uses operators the runtime does not run (`domain:op`).
    #[error("the model uses operators aigis's runtime does not support: {}", .0.join(", "))]
    Unsupported(Vec<String>),
    /// The model cannot be read or prepared.
    #[error("cannot load the model: {0}")]
    Model(String),
    /// Inputs that do not fit the model's signature.
    #[error("bad input: {0}")]
    Input(String),
    /// A tensor whose shape and data do not agree.
    #[error("bad tensor: {0}")]
    Shape(String),
    /// The model failed on this input.
    #[error("the model failed: {0}")]
    Run(String),
    /// A model on another server that cannot be reached (or whose circuit is open).
    #[error("the model's server cannot be reached: {0}")]
    Unavailable(String),
    /// A model on another server that answered with an error, or not with its outputs.
    #[error("the model's server answered wrongly: {0}")]
    Upstream(String),
}
