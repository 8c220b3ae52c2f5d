//! The artifact stage of aigis, apart from the scanner (`aigis-scan`): OpenSSF model
//! signing ([`signing`]), the versioned model registry ([`registry`]) and a keyed
//! watermark in the weights of ONNX models ([`watermark`]).
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod error;
pub mod registry;
pub mod signing;
pub mod watermark;

pub use error::Error;
