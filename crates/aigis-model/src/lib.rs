//! The artifact stage of aigis, apart from the scanner (`aigis-scan`): OpenSSF model
//! signing ([`signing`]), the versioned model registry ([`registry`]) and a keyed
//! watermark in the weights of ONNX models ([`watermark`]).
#![forbid(unsafe_code)]

mod error;
pub mod registry;
pub mod signing;
pub mod watermark;

pub use error::Error;
