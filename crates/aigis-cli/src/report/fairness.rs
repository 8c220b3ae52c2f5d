//! The page and the SARIF of `aigis fairness`: per analysis, each group's rates as bars
//! with their bootstrap intervals as whiskers, the disparities with their thresholds, and
//! the warnings; SARIF holds one result per threshold not met. Self-contained like the
//! other reports (inline SVG, no script); every name from the data is escaped.

use std::fmt::Write as _;
use std::path::Path;

use aigis_core::{Finding, Severity};
use aigis_redteam::fairness::{Analysis, Bound, Breach, Estimate, Metric, Report, Threshold};
use anyhow::Result;
use serde_json::json;

use super::html::{STYLE, esc};
use super::sarif::{Placed, document};

/// The rates drawn per group, with their colours.
const RATES: [(&str, &str); 4] = [
    ("selection rate", "#2563eb"),
    ("true positive rate", "#16a34a"),
    ("false positive rate", "#dc2626"),
    ("accuracy", "#6b7280"),
];

fn rates_of(g: &aigis_redteam::fairness::Rates) -> [Estimate; 4] {
    [
        g.selection_rate,
        g.true_positive_rate,
        g.false_positive_rate,
        g.accuracy,
    ]
}

/// `0.193 [0.189, 0.196]`, or `undefined` (the text output's too).
pub(crate) fn number(e: Estimate) -> String {
    match (e.value, e.interval) {
        (None, _) => "undefined".into(),
        (Some(v), None) => format!("{v:.3}"),
        (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}, {hi:.3}]"),
    }
}

/// Grouped horizontal bars: per group, one bar per rate in [0, 1], a whisker for its
/// interval.
fn chart(analysis: &Analysis) -> String {
    let (label_w, plot_w, bar_h) = (240.0, 520.0, 9.0);
    let group_h = bar_h * RATES.len() as f64 + 10.0;
    let height = 30.0 + group_h * analysis.groups.len() as f64 + 24.0;
    let width = label_w + plot_w + 40.0;
    let x = |v: f64| label_w + plot_w * v.clamp(0.0, 1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg role="img" aria-label="rates per group of {}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#,
        esc(&analysis.name())
    );
    // The legend, then the axis at 0, 0.5 and 1.
    for (i, (name, colour)) in RATES.iter().enumerate() {
        let lx = label_w + 130.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="4" width="10" height="10" fill="{colour}"/><text x="{}" y="13">{name}</text>"#,
            lx + 14.0
        );
    }
    for v in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="24" y2="{}" stroke="#e5e7eb"/><text x="{x:.1}" y="{}" text-anchor="middle">{v}</text>"##,
            height - 18.0,
            height - 6.0,
            x = x(v)
        );
    }
    for (i, g) in analysis.groups.iter().enumerate() {
        let top = 28.0 + group_h * i as f64;
        let mut label = g.values.join(" / ");
        if g.excluded {
            label.push_str(" (excluded)");
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{} ({})</text>"#,
            label_w - 6.0,
            top + group_h / 2.0,
            esc(&label),
            g.rates.rows
        );
        for (j, (e, (name, colour))) in rates_of(&g.rates).iter().zip(RATES).enumerate() {
            let Some(v) = e.value else { continue };
            let y = top + bar_h * j as f64;
            let _ = write!(
                s,
                r#"<rect x="{label_w}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{name}: {}</title></rect>"#,
                x(v) - label_w,
                bar_h - 1.5,
                esc(&number(*e))
            );
            if let Some([lo, hi]) = e.interval {
                let my = y + (bar_h - 1.5) / 2.0;
                let _ = write!(
                    s,
                    r##"<line x1="{:.1}" x2="{:.1}" y1="{my:.1}" y2="{my:.1}" stroke="#111" stroke-width="1"/>"##,
                    x(lo),
                    x(hi)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The page.
pub fn page(report: &Report, thresholds: &[Threshold], breaches: &[Breach]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aigis fairness: {}</title><style>{STYLE}</style></head><body>",
        esc(&report.path.display().to_string())
    );
    let verdict = if thresholds.is_empty() {
        "<span>no threshold set</span>".to_owned()
    } else if breaches.is_empty() {
        "<span class=\"pass\">passed: every threshold holds in every analysis</span>".to_owned()
    } else {
        format!(
            "<span class=\"fail\">FAILED: {} threshold(s) not met</span>",
            breaches.len()
        )
    };
    let _ = write!(
        s,
        "<h1>Fairness of the decisions in {}</h1><p>{} rows; label <code>{}</code>, decision <code>{}</code>, positive outcome <code>{}</code>{}. {}</p>",
        esc(&report.path.display().to_string()),
        report.rows,
        esc(&report.label),
        esc(&report.prediction),
        esc(&report.positive),
        report
            .score
            .as_ref()
            .map(|c| format!(", score <code>{}</code>", esc(c)))
            .unwrap_or_default(),
        verdict
    );
    match &report.bootstrap {
        Some(b) => {
            let _ = write!(
                s,
                "<p>Intervals: {} % percentile bootstrap, {} resamples, seed {} (for a difference near 0 they sit above the value: a largest less a smallest is biased upward in every resample).</p>",
                b.confidence * 100.0,
                b.resamples,
                b.seed
            );
        }
        None => s.push_str("<p>No intervals (<code>--bootstrap 0</code>).</p>"),
    }
    if !report.warnings.is_empty() {
        s.push_str("<h2>Warnings</h2><ul>");
        for w in &report.warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        s.push_str("</ul>");
    }
    for analysis in &report.analyses {
        let name = analysis.name();
        let _ = write!(s, "<h2>{}</h2>", esc(&name));
        s.push_str(&chart(analysis));
        s.push_str("<table><tr><th>group</th><th class=\"num\">rows</th><th>selection rate</th><th>impact ratio</th><th>TPR</th><th>FPR</th><th>accuracy</th>");
        if report.score.is_some() {
            s.push_str("<th>Brier</th><th>ECE</th>");
        }
        s.push_str("</tr>");
        for g in &analysis.groups {
            let _ = write!(
                s,
                "<tr><td>{}{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                esc(&g.values.join(" / ")),
                if g.excluded { " (excluded)" } else { "" },
                g.rates.rows,
                number(g.rates.selection_rate),
                number(g.impact_ratio),
                number(g.rates.true_positive_rate),
                number(g.rates.false_positive_rate),
                number(g.rates.accuracy)
            );
            if let Some(c) = &g.rates.calibration {
                let _ = write!(
                    s,
                    "<td>{}</td><td>{}</td>",
                    number(c.brier),
                    number(c.expected_calibration_error)
                );
            }
            s.push_str("</tr>");
        }
        s.push_str(
            "</table><table><tr><th>disparity</th><th>value [interval]</th><th>threshold</th></tr>",
        );
        for m in Metric::ALL {
            let held: Vec<String> = thresholds
                .iter()
                .filter(|t| t.metric == m)
                .map(|t| {
                    let broken = breaches
                        .iter()
                        .any(|b| b.analysis == name && b.metric == m && b.bound == t.bound);
                    let side = match t.bound {
                        Bound::AtMost => "≤",
                        Bound::AtLeast => "≥",
                    };
                    format!(
                        "<span class=\"{}\">{} {side} {}</span>",
                        if broken { "fail" } else { "pass" },
                        if broken { "FAIL" } else { "ok" },
                        t.value
                    )
                })
                .collect();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.name(),
                number(analysis.disparities.get(m)),
                held.join(" ")
            );
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>\n");
    s
}

/// SARIF 2.1.0: one `error` result per threshold not met, on the table.
pub fn sarif(data: &Path, report: &Report, breaches: &[Breach]) -> Result<Vec<u8>> {
    let findings: Vec<Finding> = breaches
        .iter()
        .map(|b| {
            let value = b
                .value
                .map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}"));
            Finding::new(
                format!("fairness.{}", b.metric.name()),
                Severity::High,
                format!(
                    "{}: {} is {value}, must be {} {}",
                    b.analysis,
                    b.metric.name(),
                    match b.bound {
                        Bound::AtMost => "at most",
                        Bound::AtLeast => "at least",
                    },
                    b.threshold
                ),
            )
            .in_file(data.display().to_string())
        })
        .collect();
    let placed: Vec<Placed<'_>> = findings
        .iter()
        .zip(breaches)
        .map(|(finding, b)| Placed {
            finding,
            start_line: None,
            logical: format!("analysis {}", b.analysis),
        })
        .collect();
    document(
        &placed,
        &|_| "A fairness disparity beyond its threshold.",
        json!({ "rows": report.rows, "analyses": report.analyses.len() }),
    )
}
