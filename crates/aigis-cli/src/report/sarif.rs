//! SARIF 2.1.0 output, the format GitHub code scanning and other dashboards import.
//!
//! One result per finding kept in detail. Rows map to `region.startLine` as the data row
//! plus the header line, which is the file's line for CSV without quoted line breaks and
//! for JSON Lines without blank lines; the row and column are also given as properties
//! and as a logical location, which hold for every format.

use std::collections::BTreeMap;
use std::path::Path;

use aigis_data::scan::ScanReport;
use anyhow::Result;
use serde_json::{Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// What each rule checks, for the SARIF rule list.
fn describe(rule: &str) -> &'static str {
    match rule {
        "schema.type" => "A value does not have the column's type.",
        "schema.range" => "A number is outside the reference range.",
        "schema.category" => "A value is not one of the reference categories.",
        "schema.null" => "A null in a column the reference never has null.",
        "schema.missing_column" => "A column of the reference is missing.",
        "schema.extra_column" => "A column is not in the reference.",
        "read.ragged_row" => "A row has more or fewer fields than the header.",
        "read.encoding" => "A cell or line is not valid UTF-8.",
        "read.malformed" => "A line or header that cannot be read as intended.",
        r if r.starts_with("pii.") => "Personal data or a secret in the data.",
        r if r.starts_with("poison.") => "A row that looks like data poisoning.",
        _ => "A data scan finding.",
    }
}

/// One finding placed for SARIF.
pub struct Placed<'a> {
    pub finding: &'a aigis_core::Finding,
    /// The line, for formats that have lines.
    pub start_line: Option<u64>,
    /// Where it is in terms a person knows: "row 3, column email", "archive/data.pkl".
    pub logical: String,
}

/// A SARIF 2.1.0 document with one run of aigis: the rules that fired (with the worst
/// severity each reached, described by `describe`) and one result per finding.
pub fn document(
    placed: &[Placed<'_>],
    describe: &dyn Fn(&str) -> &'static str,
    run_properties: Value,
) -> Result<Vec<u8>> {
    let mut rules: BTreeMap<&str, aigis_core::Severity> = BTreeMap::new();
    for p in placed {
        let e = rules
            .entry(p.finding.rule.as_str())
            .or_insert(p.finding.severity);
        *e = (*e).max(p.finding.severity);
    }
    let rule_ids: Vec<&str> = rules.keys().copied().collect();
    let results: Vec<Value> = placed
        .iter()
        .map(|p| {
            let f = p.finding;
            let mut physical = json!({
                "artifactLocation": { "uri": f.file.as_deref().unwrap_or_default() },
            });
            if let Some(line) = p.start_line {
                crate::output::insert(&mut physical, "region", json!({ "startLine": line }));
            } else if let Some(offset) = f.offset {
                crate::output::insert(&mut physical, "region", json!({ "byteOffset": offset }));
            }
            let location = json!({
                "physicalLocation": physical,
                "logicalLocations": [{ "fullyQualifiedName": p.logical }],
            });
            // A property the finding does not have is left out, not written as null.
            let mut properties = serde_json::Map::new();
            properties.insert("severity".into(), json!(f.severity));
            for (key, value) in [
                ("row", json!(f.row)),
                ("column", json!(f.column)),
                ("offset", json!(f.offset)),
                ("confidence", json!(f.confidence)),
            ] {
                if !value.is_null() {
                    properties.insert(key.into(), value);
                }
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": rule_ids.iter().position(|r| *r == f.rule),
                "level": f.severity.sarif_level(),
                "message": { "text": f.message },
                "locations": [location],
                "properties": properties,
            })
        })
        .collect();
    let sarif = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "aigis",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(id, sev)| json!({
                    "id": id,
                    "shortDescription": { "text": describe(id) },
                    "defaultConfiguration": { "level": sev.sarif_level() },
                    "properties": { "severity": sev },
                })).collect::<Vec<_>>(),
            }},
            "results": results,
            "properties": run_properties,
        }],
    });
    Ok(serde_json::to_vec_pretty(&sarif)?)
}

/// One SARIF run with the findings of every scanned table.
pub fn data_scan(reports: &[(&Path, &ScanReport)]) -> Result<Vec<u8>> {
    let placed: Vec<Placed<'_>> = reports
        .iter()
        .flat_map(|(_, report)| report.findings.iter().map(move |f| (report, f)))
        .map(|(report, f)| Placed {
            finding: f,
            start_line: f
                .row
                .filter(|_| report.format != aigis_data::table::Format::Parquet)
                .map(|row| row + 1),
            logical: match (f.row, &f.column) {
                (Some(r), Some(c)) => format!("row {r}, column {c}"),
                (Some(r), None) => format!("row {r}"),
                (None, Some(c)) => format!("column {c}"),
                (None, None) => String::from("file"),
            },
        })
        .collect();
    document(
        &placed,
        &describe,
        json!({
            "tables": reports.iter().map(|(file, r)| json!({
                "file": file, "rows": r.rows, "counts": r.counts,
            })).collect::<Vec<_>>(),
        }),
    )
}
