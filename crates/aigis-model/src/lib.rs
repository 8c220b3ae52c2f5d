//! The artifact stage of aigis, apart from the scanner (`aigis-scan`) and the registry
//! (`aigis-registry`): OpenSSF model signing ([`signing`]) and a keyed watermark in the
//! weights of ONNX models ([`watermark`]).
#![forbid(unsafe_code)]

mod error;
pub mod signing;
pub mod watermark;

pub use error::Error;
