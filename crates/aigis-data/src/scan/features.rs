//! The numeric feature matrix and labels that the poisoning detectors read, gathered
//! batch by batch during the scan and put back in row order at the end.

use std::collections::HashMap;

use serde::Serialize;

use crate::poison::{self, Features, PoisonKind};
use crate::profile::parse_number;
use crate::table::{Batch, CellKind};
use aigis_core::{Finding, Severity};

/// The label given to rows whose label cell is empty.
pub const NULL_LABEL: &str = "(null)";

/// What one worker gathered from the batches it saw.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// (first row, row-major values) per batch.
    chunks: Vec<(u64, Vec<f64>)>,
    /// (first row, local label ids) per batch.
    labels: Vec<(u64, Vec<u32>)>,
    /// This worker's label names, by local id.
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Gathered {
    pub fn add(&mut self, batch: &Batch, features: &[String], label: Option<&str>) {
        let columns: Vec<_> = features.iter().map(|f| batch.column(f)).collect();
        let mut values = Vec::with_capacity(batch.rows * features.len());
        for i in 0..batch.rows {
            for column in &columns {
                let x = column
                    .and_then(|c| c.get(i))
                    .and_then(|cell| parse_number(cell.kind, cell.text))
                    .unwrap_or(f64::NAN);
                values.push(x);
            }
        }
        self.chunks.push((batch.first_row, values));
        if let Some(label) = label {
            let column = batch.column(label);
            let mut ids = Vec::with_capacity(batch.rows);
            for i in 0..batch.rows {
                let name = match column.and_then(|c| c.get(i)) {
                    Some(cell) if cell.kind != CellKind::Null => cell.text,
                    _ => NULL_LABEL,
                };
                let id = match self.ids.get(name) {
                    Some(&id) => id,
                    None => {
                        let id = self.names.len() as u32;
                        self.names.push(name.to_owned());
                        self.ids.insert(name.to_owned(), id);
                        id
                    }
                };
                ids.push(id);
            }
            self.labels.push((batch.first_row, ids));
        }
    }
}

/// Label ids per row, and the label names the ids index.
pub(crate) type Labels = (Vec<u32>, Vec<String>);

/// Every worker's gatherings as one matrix in row order, and the labels with ids that
/// follow the sorted label names (so a run is reproducible whatever thread saw what).
pub(crate) fn assemble(
    parts: Vec<Gathered>,
    features: &[String],
    with_labels: bool,
) -> (Features, Option<Labels>) {
    let mut names: Vec<String> = parts.iter().flat_map(|p| p.names.clone()).collect();
    names.sort();
    names.dedup();
    let global: HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let mut chunks = Vec::new();
    let mut label_chunks = Vec::new();
    for part in parts {
        let remap: Vec<u32> = part
            .names
            .iter()
            .map(|n| global.get(n.as_str()).copied().unwrap_or(0))
            .collect();
        chunks.extend(part.chunks);
        for (first, ids) in part.labels {
            let ids: Vec<u32> = ids
                .iter()
                .map(|&id| remap.get(id as usize).copied().unwrap_or(0))
                .collect();
            label_chunks.push((first, ids));
        }
    }
    chunks.sort_by_key(|(first, _)| *first);
    label_chunks.sort_by_key(|(first, _)| *first);
    let data: Vec<f64> = chunks.into_iter().flat_map(|(_, v)| v).collect();
    let n_cols = features.len();
    let n_rows = data.len().checked_div(n_cols).unwrap_or(0);
    let matrix = Features {
        n_rows,
        n_cols,
        data,
        names: features.to_vec(),
    };
    let labels = with_labels.then(|| {
        (
            label_chunks.into_iter().flat_map(|(_, v)| v).collect(),
            names,
        )
    });
    (matrix, labels)
}

/// One suspicious row, as reported (1-based rows).
#[derive(Debug, Clone, Serialize)]
pub struct PoisonRow {
    pub row: u64,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub reasons: Vec<PoisonReason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoisonReason {
    pub kind: PoisonKind,
    pub score: f64,
    pub detail: String,
    /// Other rows involved (the other copies, the rest of a group), 1-based.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_rows: Vec<u64>,
}

/// Per label: rows and suspicious rows.
#[derive(Debug, Clone, Serialize)]
pub struct ClassSummary {
    pub label: String,
    pub rows: u64,
    pub suspicious: u64,
}

/// The poisoning part of a scan report.
#[derive(Debug, Clone, Serialize)]
pub struct PoisonSummary {
    pub label: Option<String>,
    /// The numeric columns used as features.
    pub features: Vec<String>,
    /// Every suspicious row, highest score first.
    pub rows: Vec<PoisonRow>,
    pub classes: Vec<ClassSummary>,
    pub detectors: poison::Report,
}

/// The severity of a poisoning reason: a backdoor-like group is the attack itself; a
/// flipped label or an outlier may be an attack or an honest error; a copy is usually
/// harmless unless its labels disagree.
pub fn severity(kind: PoisonKind, score: f64) -> Severity {
    match kind {
        PoisonKind::Backdoor => Severity::High,
        PoisonKind::LabelFlip | PoisonKind::Outlier => Severity::Medium,
        PoisonKind::Duplicate if score >= 0.5 => Severity::Medium,
        PoisonKind::Duplicate | PoisonKind::NearDuplicate => Severity::Low,
    }
}

/// Turns the detectors' report into 1-based rows, per-class counts and findings.
pub(crate) fn summarize(
    mut report: poison::Report,
    features: Vec<String>,
    label: Option<&str>,
    labels: Option<&(Vec<u32>, Vec<String>)>,
    emit: &mut dyn FnMut(Finding),
) -> PoisonSummary {
    let label_of = |row: usize| -> Option<String> {
        let (ids, names) = labels?;
        names.get(*ids.get(row)? as usize).cloned()
    };
    let mut rows = Vec::with_capacity(report.rows.len());
    for r in std::mem::take(&mut report.rows) {
        let row = r.row as u64 + 1;
        for reason in &r.reasons {
            emit(
                Finding::new(
                    format!("poison.{}", kind_name(reason.kind)),
                    severity(reason.kind, reason.score),
                    reason.detail.clone(),
                )
                .at_row(row)
                .with_confidence((reason.score as f32 * 100.0).round() / 100.0),
            );
        }
        rows.push(PoisonRow {
            row,
            score: r.score,
            label: label_of(r.row),
            reasons: r
                .reasons
                .into_iter()
                .map(|reason| PoisonReason {
                    kind: reason.kind,
                    score: reason.score,
                    detail: reason.detail,
                    related_rows: reason.related_rows.iter().map(|&x| x as u64 + 1).collect(),
                })
                .collect(),
        });
    }
    let classes = match labels {
        Some((ids, names)) => {
            let mut counts = vec![(0u64, 0u64); names.len()];
            for &id in ids {
                if let Some(c) = counts.get_mut(id as usize) {
                    c.0 += 1;
                }
            }
            for r in &rows {
                if let Some(&id) = ids.get((r.row - 1) as usize)
                    && let Some(c) = counts.get_mut(id as usize)
                {
                    c.1 += 1;
                }
            }
            names
                .iter()
                .zip(counts)
                .map(|(n, (rows, suspicious))| ClassSummary {
                    label: n.clone(),
                    rows,
                    suspicious,
                })
                .collect()
        }
        None => Vec::new(),
    };
    PoisonSummary {
        label: label.map(str::to_owned),
        features,
        rows,
        classes,
        detectors: report,
    }
}

fn kind_name(kind: PoisonKind) -> &'static str {
    match kind {
        PoisonKind::Outlier => "outlier",
        PoisonKind::LabelFlip => "label_flip",
        PoisonKind::Duplicate => "duplicate",
        PoisonKind::NearDuplicate => "near_duplicate",
        PoisonKind::Backdoor => "backdoor",
    }
}
