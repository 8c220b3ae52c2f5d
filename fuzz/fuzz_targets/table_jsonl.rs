//! JSON Lines: any bytes as a JSON Lines file, read in batches of 64 rows with a 64 KiB record limit, then scanned with one worker (PII detection every 8th input).
//!
//! Checks that nothing panics and, for every batch: each column has `rows` cells,
//! `first_row` continues where the previous batch ended, issues' rows lie in the batch
//! (or are 0, a header issue), `Column::get` agrees with `Column::iter`; the batches
//! profile with `TableStats::add_batch` and the profile serializes.
#![no_main]

#[path = "common/table.rs"]
mod common;

use aigis_data::table::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check(data, Format::Jsonl, Some(8));
});
