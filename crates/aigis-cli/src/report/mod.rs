//! Reports of scans: text for a terminal, SARIF for code-scanning dashboards, and a
//! self-contained HTML page with plots; and the page of `aigis monitor report`.

pub mod html;
pub mod monitor;
pub mod sarif;
pub mod text;

pub use aigis_intake::scan::FailOn;
