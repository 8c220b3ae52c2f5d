//! The integration tests of `aigis`, one binary (one link of the whole stack instead of one
//! a file): each module is a former test file, `common` what they share.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

mod bom;
mod cli;
mod crypt;
mod data;
mod deps;
mod detect;
mod erasure;
mod explain;
mod fairness;
mod federate;
mod gate;
mod ingest;
mod mask;
mod model;
mod model_allowlist;
mod model_benign;
mod model_formats;
mod model_keras;
mod model_sign;
mod model_torch;
mod model_watermark;
mod monitor;
mod privacy;
mod redteam;
mod registry;
mod report;
mod roles;
mod scan;
mod scan_pii;
mod secrets;
mod serve;
mod train;
mod train_dp;
