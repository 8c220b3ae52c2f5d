//! Reports of scans: text for a terminal, SARIF for code-scanning dashboards, and a
//! self-contained HTML page with plots; and the pages of `aigis monitor report` and
//! `aigis fairness`.

pub mod explain;
pub mod fairness;
pub mod html;
pub mod monitor;
pub mod redteam;
pub mod sarif;
pub mod text;

pub use aigis_intake::scan::FailOn;
