//! Schema validation of cells against a profile.

use std::collections::HashSet;

use aigis_core::{Finding, Severity};

use crate::profile::{ColumnType, Profile, parse_number};
use crate::table::{Batch, CellKind, ReadIssue, ReadIssueKind};

/// How far beyond the reference's range (as a share of it) a value may go unreported.
pub(crate) const RANGE_MARGIN: f64 = 0.05;

/// An integer column whose every value is distinct (a row id, a timestamp in
/// milliseconds): new rows are expected outside its range, so ranges are not checked.
fn is_identifier(c: &crate::profile::ColumnProfile) -> bool {
    let non_null = c.count.saturating_sub(c.nulls) as f64;
    c.column_type == ColumnType::Integer && non_null >= 100.0 && c.distinct >= 0.98 * non_null
}

/// What one column must satisfy.
#[derive(Debug, Clone)]
pub(crate) struct ColumnRule {
    pub name: String,
    pub column_type: ColumnType,
    pub range: Option<(f64, f64)>,
    pub categories: Option<HashSet<String>>,
    /// Whether a null is a finding (the reference column had none).
    pub no_nulls: bool,
    /// An integer column whose values are all distinct (a row id): no range check, and
    /// not a feature for the poisoning detectors.
    pub identifier: bool,
}

/// The rules a scan checks, from a profile given by the user (every check) or inferred
/// from the file's first batch (types only: a sample cannot say what range or set of
/// categories is allowed).
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub columns: Vec<ColumnRule>,
    pub from_reference: bool,
}

impl Schema {
    pub fn from_profile(profile: &Profile, from_reference: bool) -> Self {
        let columns = profile
            .columns
            .iter()
            .map(|c| ColumnRule {
                name: c.name.clone(),
                column_type: c.column_type,
                identifier: is_identifier(c),
                range: match (from_reference, c.min, c.max) {
                    (true, Some(lo), Some(hi))
                        if c.column_type.is_numeric() && !is_identifier(c) =>
                    {
                        // A reference is a sample: allow 5 % of its span beyond what it saw.
                        let margin = (hi - lo) * RANGE_MARGIN;
                        Some((lo - margin, hi + margin))
                    }
                    _ => None,
                },
                categories: (from_reference && c.column_type == ColumnType::Categorical)
                    .then(|| c.categories.keys().cloned().collect()),
                no_nulls: from_reference && c.count > 0 && c.nulls == 0,
            })
            .collect();
        Self {
            columns,
            from_reference,
        }
    }

    /// The numeric columns that are features (not identifiers, not the label).
    pub fn feature_columns(&self, label: Option<&str>) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| {
                c.column_type.is_numeric() && !c.identifier && Some(c.name.as_str()) != label
            })
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn rule(&self, name: &str) -> Option<&ColumnRule> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Checks every cell of `batch`, handing each finding to `emit`.
pub(crate) fn validate_batch(schema: &Schema, batch: &Batch, emit: &mut dyn FnMut(Finding)) {
    for (name, column) in batch.names.iter().zip(&batch.columns) {
        let Some(rule) = schema.rule(name) else {
            continue;
        };
        for (i, cell) in column.iter().enumerate() {
            let row = batch.first_row + i as u64;
            if cell.kind == CellKind::Null {
                if rule.no_nulls {
                    emit(
                        Finding::new(
                            "schema.null",
                            Severity::Medium,
                            "a null where the reference has none",
                        )
                        .at_row(row)
                        .in_column(name),
                    );
                }
                continue;
            }
            if !rule.column_type.accepts(cell.kind, cell.text) {
                emit(
                    Finding::new(
                        "schema.type",
                        Severity::Medium,
                        format!(
                            "`{}` is not {} {}",
                            preview(cell.text),
                            article(rule.column_type),
                            rule.column_type.as_str()
                        ),
                    )
                    .at_row(row)
                    .in_column(name),
                );
                continue;
            }
            if let Some((lo, hi)) = rule.range
                && let Some(x) = parse_number(cell.kind, cell.text)
                && !(lo..=hi).contains(&x)
            {
                emit(
                    Finding::new(
                        "schema.range",
                        Severity::Low,
                        format!(
                            "{x} is outside the reference range [{}, {}] (with a {}% margin)",
                            round4(lo),
                            round4(hi),
                            RANGE_MARGIN * 100.0
                        ),
                    )
                    .at_row(row)
                    .in_column(name),
                );
            }
            if let Some(categories) = &rule.categories
                && !categories.contains(cell.text)
            {
                emit(
                    Finding::new(
                        "schema.category",
                        Severity::Medium,
                        format!(
                            "`{}` is not one of the {} reference categories",
                            preview(cell.text),
                            categories.len()
                        ),
                    )
                    .at_row(row)
                    .in_column(name),
                );
            }
        }
    }
}

/// Missing and extra columns, once the file's columns are all known.
pub(crate) fn check_columns(schema: &Schema, names: &[String], emit: &mut dyn FnMut(Finding)) {
    if !schema.from_reference {
        return;
    }
    for rule in &schema.columns {
        if !names.contains(&rule.name) {
            emit(
                Finding::new(
                    "schema.missing_column",
                    Severity::High,
                    format!(
                        "the reference has a column `{}` that the file lacks",
                        rule.name
                    ),
                )
                .in_column(&rule.name),
            );
        }
    }
    for name in names {
        if schema.rule(name).is_none() {
            emit(
                Finding::new(
                    "schema.extra_column",
                    Severity::Low,
                    format!("the column `{name}` is not in the reference"),
                )
                .in_column(name),
            );
        }
    }
}

/// A read issue as a finding.
pub(crate) fn issue_finding(issue: &ReadIssue) -> Finding {
    let (rule, severity) = match issue.kind {
        ReadIssueKind::RaggedRow => ("read.ragged_row", Severity::High),
        ReadIssueKind::Encoding => ("read.encoding", Severity::Medium),
        ReadIssueKind::Malformed => ("read.malformed", Severity::High),
    };
    let mut f = Finding::new(rule, severity, issue.message.clone()).at_row(issue.row);
    f.column = issue.column.clone();
    f
}

/// At most 40 characters of a value, for a message.
fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn article(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "an",
        _ => "a",
    }
}
