//! The integration tests of `aigis-gateway`, one binary (one link of the whole stack instead of one
//! a file): each module is a former test file, `common` what they share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

mod admin;
mod alerts;
mod api;
mod audit;
mod authz;
mod detect;
mod drift;
mod extraction;
mod feedback;
mod inspect;
mod jwt;
mod metrics;
mod outputs;
mod redis;
mod reload;
mod shadow;
mod socket;
mod tls;
mod upstream;
