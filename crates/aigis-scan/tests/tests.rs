//! The integration tests of `aigis-scan`, one binary (one link of the whole stack instead of one
//! a file): each module is a former test file, `common` what they share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

mod benign;
mod containers;
mod formats;
mod graphs;
mod pickle_fixtures;
mod rules;
mod torch;
