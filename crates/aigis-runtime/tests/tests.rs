//! The integration tests of `aigis-runtime`, one binary (one link of the whole stack instead of one
//! a file): each module is a former test file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod fuzz_findings;
mod onnxruntime;
mod refusals;
