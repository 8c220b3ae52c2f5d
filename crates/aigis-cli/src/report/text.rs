//! The text report of a scan.

use std::fmt::Write as _;
use std::path::Path;

use aigis_data::scan::ScanReport;

use super::FailOn;

/// Rows of findings shown in the text report; `--json` and `--sarif` have all kept ones.
const SHOWN: usize = 20;

pub fn data_scan(file: &Path, report: &ScanReport, fail_on: FailOn) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} rows, {} columns ({}, {} bytes) in {:.2} s; schema: {}",
        file.display(),
        report.rows,
        report.columns.len(),
        report.format.as_str(),
        report.bytes,
        report.seconds,
        if report.schema == "reference" {
            "the reference profile"
        } else {
            "types inferred from the first rows (give --profile for ranges, categories and nulls)"
        }
    );
    if report.counts.is_empty() {
        let _ = writeln!(s, "no findings");
    } else {
        let _ = writeln!(s, "\nfindings by rule and column:");
        for c in &report.counts {
            let _ = writeln!(
                s,
                "  {:<8} {:<24} {:<24} {:>8}",
                c.severity.as_str(),
                c.rule,
                c.column.as_deref().unwrap_or("-"),
                c.count
            );
        }
        let _ = writeln!(s, "\nmost severe findings first:");
        let mut shown: Vec<&aigis_core::Finding> = report.findings.iter().collect();
        shown.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.row.cmp(&b.row)));
        for f in shown.into_iter().take(SHOWN) {
            let row = f.row.map_or_else(|| "-".to_owned(), |r| format!("row {r}"));
            let _ = writeln!(
                s,
                "  {:<10} {:<20} {:<8} {:<24} {}",
                row,
                f.column.as_deref().unwrap_or("-"),
                f.severity.as_str(),
                f.rule,
                f.message
            );
        }
        let total: u64 = report.counts.iter().map(|c| c.count).sum();
        if total > SHOWN as u64 {
            let _ = writeln!(
                s,
                "  ... {total} findings in all; --json, --sarif or --html list the first of each rule and column"
            );
        }
    }
    if !report.personal_columns.is_empty() {
        let _ = writeln!(
            s,
            "\npersonal data by column (judged from the header, the values' shape and census name lists):"
        );
        for c in &report.personal_columns {
            let e = &c.evidence;
            let mut why = Vec::new();
            if let Some(h) = &e.header {
                why.push(format!("header `{h}`"));
            }
            why.push(format!(
                "{:.0}% of {} values fit",
                e.shape * 100.0,
                e.sampled
            ));
            if let Some(d) = e.dictionary {
                why.push(format!("{:.0}% in the name lists", d * 100.0));
            }
            why.push(format!("{:.0}% distinct", e.distinct * 100.0));
            let _ = writeln!(
                s,
                "  {:<24} {:<16} confidence {:.2}: {}",
                c.column,
                c.kind.name(),
                c.confidence,
                why.join(", ")
            );
        }
    }
    if let Some(q) = &report.quasi_identifiers {
        let _ = writeln!(
            s,
            "\nquasi-identifiers ({} rows; candidates: {}):",
            q.rows,
            q.candidates
                .iter()
                .map(|c| format!("{} ({})", c.column, c.reason))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for set in &q.sets {
            let _ = writeln!(
                s,
                "  {:<48} {:>6.1}% of rows unique, k = {}, {} groups",
                set.columns.join(" + "),
                set.unique_share * 100.0,
                set.k,
                set.groups
            );
        }
    }
    if let Some(p) = &report.poisoning {
        let c = &p.detectors.counts;
        let _ = writeln!(
            s,
            "\npoisoning screen ({} feature columns{}): {} suspicious rows: {} outliers, {} likely flipped labels, {} duplicates, {} near duplicates, {} in backdoor-like groups",
            p.features.len(),
            p.label
                .as_deref()
                .map(|l| format!(", label `{l}`"))
                .unwrap_or_default(),
            p.rows.len(),
            c.outlier,
            c.label_flip,
            c.duplicate,
            c.near_duplicate,
            c.backdoor
        );
        for line in poisoning_statistics(report) {
            let _ = writeln!(s, "  {line}");
        }
        for note in &p.detectors.notes {
            let _ = writeln!(s, "  note: {note}");
        }
        for r in p.rows.iter().take(10) {
            let reasons: Vec<String> = r
                .reasons
                .iter()
                .map(|x| format!("{:?} ({:.2}): {}", x.kind, x.score, x.detail))
                .collect();
            let _ = writeln!(
                s,
                "  row {:<8} score {:.2}  {}",
                r.row,
                r.score,
                reasons.join("; ")
            );
        }
        if p.rows.len() > 10 {
            let _ = writeln!(
                s,
                "  ... {} suspicious rows in all (--json lists them)",
                p.rows.len()
            );
        }
    }
    let failing = fail_on.count(report);
    let _ = writeln!(s);
    if failing > 0 {
        let _ = writeln!(
            s,
            "result: FAILED, {failing} finding(s) at or above {fail_on} (--fail-on)"
        );
    } else {
        let _ = writeln!(s, "result: passed (--fail-on {fail_on})");
    }
    s
}

/// The poisoning screen's dataset-level statistics (label noise, near duplicates), one
/// sentence each, for the text and the HTML report.
pub fn poisoning_statistics(report: &ScanReport) -> Vec<String> {
    let Some(p) = &report.poisoning else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(n) = &p.detectors.label_noise {
        let pct = |x: f64| 100.0 * x / n.rows.max(1) as f64;
        out.push(format!(
            "label noise: the model disagrees with {} labels ({:.1} %; its own uncertainty expects {:.0}, {:.1} %); {} confidently contradicted, {} of them listed (odds at least {:.0}× the labels' shares)",
            n.disagreements,
            pct(n.disagreements as f64),
            n.expected_disagreements,
            pct(n.expected_disagreements),
            n.confident,
            n.reported,
            n.min_odds
        ));
    }
    let near = &p.detectors.near_duplicates;
    if near.rows > 0 {
        out.push(format!(
            "near duplicates: {} rows have a near twin; {} of them explained by chance (the columns' few distinct values), not listed",
            near.rows, near.explained
        ));
    }
    out
}
