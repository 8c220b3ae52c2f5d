//! A self-contained HTML report: no script, no external file, plots as inline SVG.
//!
//! The charts are horizontal bar charts drawn here in a few lines of SVG; a plotting
//! crate would add build time for no gain at this size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use aigis_core::Severity;
use aigis_data::scan::ScanReport;

use super::FailOn;

pub(crate) const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.num{text-align:right}.fail{color:#b00020;font-weight:600}.pass{color:#1b7f3b;font-weight:600}\
.sev-critical,.sev-high{color:#b00020}.sev-medium{color:#b26a00}.sev-low,.sev-info{color:#555}\
svg text{font:12px system-ui,sans-serif}";

fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#7f0015",
        Severity::High => "#d32f2f",
        Severity::Medium => "#f59e0b",
        Severity::Low => "#60a5fa",
        Severity::Info => "#9ca3af",
    }
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A horizontal stacked bar chart: one bar per label, segments per severity.
pub fn bar_chart(title: &str, bars: &[(String, BTreeMap<Severity, u64>)]) -> String {
    let max: u64 = bars
        .iter()
        .map(|(_, segs)| segs.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let label_w = 220.0;
    let plot_w = 600.0;
    let row_h = 22.0;
    let height = row_h * bars.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg role="img" aria-label="{}" width="{}" height="{height}" viewBox="0 0 {} {height}">"#,
        esc(title),
        label_w + plot_w + 80.0,
        label_w + plot_w + 80.0
    );
    for (i, (label, segs)) in bars.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_w - 6.0,
            y + 14.0,
            esc(label)
        );
        let mut x = label_w;
        for (sev, n) in segs.iter().rev() {
            let w = plot_w * *n as f64 / max as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="{}" fill="{}"><title>{}: {n}</title></rect>"#,
                row_h - 6.0,
                colour(*sev),
                sev.as_str()
            );
            x += w;
        }
        let total: u64 = segs.values().sum();
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}">{total}</text>"#,
            x + 4.0,
            y + 14.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A histogram of values in [0, 1] in `bins` bins.
pub fn histogram(title: &str, values: &[f64], bins: usize) -> String {
    let bins = bins.max(1);
    let mut counts = vec![0u64; bins];
    for v in values {
        let i = ((v.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (w, h) = (640.0, 160.0);
    let bw = w / bins as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg role="img" aria-label="{}" width="{}" height="{}" viewBox="0 0 {} {}">"#,
        esc(title),
        w + 20.0,
        h + 30.0,
        w + 20.0,
        h + 30.0
    );
    for (i, c) in counts.iter().enumerate() {
        let bh = h * *c as f64 / max as f64;
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#6366f1"><title>{:.2}–{:.2}: {c}</title></rect>"##,
            10.0 + bw * i as f64,
            h - bh,
            (bw - 1.0).max(1.0),
            i as f64 / bins as f64,
            (i + 1) as f64 / bins as f64
        );
    }
    let _ = write!(
        s,
        r#"<text x="10" y="{}">0</text><text x="{}" y="{}" text-anchor="end">1</text></svg>"#,
        h + 18.0,
        w + 10.0,
        h + 18.0
    );
    s
}

/// One page for the scans of one or more tables (a section per table).
pub fn data_scan(reports: &[(&Path, &ScanReport)], fail_on: FailOn) -> String {
    let mut s = String::new();
    let title = match reports {
        [(file, _)] => format!("aigis data scan: {}", file.display()),
        _ => format!("aigis data scan: {} tables", reports.len()),
    };
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(s, "<h1>{}</h1>", esc(&title));
    for (file, report) in reports {
        if reports.len() > 1 {
            let _ = write!(s, "<h2>{}</h2>", esc(&file.display().to_string()));
        }
        section(&mut s, report, fail_on);
    }
    s.push_str("</body></html>\n");
    s
}

/// The report of one table.
fn section(s: &mut String, report: &ScanReport, fail_on: FailOn) {
    let failing = fail_on.count(report);
    let _ = write!(
        s,
        "<p>{} rows, {} columns, {} ({} bytes), scanned in {:.2} s; schema: {}.</p>",
        report.rows,
        report.columns.len(),
        report.format.as_str(),
        report.bytes,
        report.seconds,
        report.schema
    );
    if failing > 0 {
        let _ = write!(
            s,
            "<p class=\"fail\">FAILED: {failing} finding(s) at or above {fail_on}.</p>"
        );
    } else {
        let _ = write!(s, "<p class=\"pass\">Passed (--fail-on {fail_on}).</p>");
    }

    let mut by_column: BTreeMap<String, BTreeMap<Severity, u64>> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, BTreeMap<Severity, u64>> = BTreeMap::new();
    for c in &report.counts {
        let col = c.column.clone().unwrap_or_else(|| "(whole rows)".into());
        *by_column
            .entry(col)
            .or_default()
            .entry(c.severity)
            .or_default() += c.count;
        *by_rule
            .entry(c.rule.clone())
            .or_default()
            .entry(c.severity)
            .or_default() += c.count;
    }
    if !report.counts.is_empty() {
        s.push_str("<h2>Findings per column</h2>");
        s.push_str(&bar_chart(
            "findings per column",
            &by_column.into_iter().collect::<Vec<_>>(),
        ));
        s.push_str("<h2>Findings per rule</h2>");
        s.push_str(&bar_chart(
            "findings per rule",
            &by_rule.into_iter().collect::<Vec<_>>(),
        ));
        s.push_str("<h2>Counts</h2><table><tr><th>severity</th><th>rule</th><th>column</th><th class=\"num\">count</th></tr>");
        for c in &report.counts {
            let _ = write!(
                s,
                "<tr><td class=\"sev-{0}\">{0}</td><td>{1}</td><td>{2}</td><td class=\"num\">{3}</td></tr>",
                c.severity.as_str(),
                esc(&c.rule),
                esc(c.column.as_deref().unwrap_or("-")),
                c.count
            );
        }
        s.push_str("</table><h2>Findings</h2><table><tr><th>row</th><th>column</th><th>severity</th><th>rule</th><th>message</th></tr>");
        for f in &report.findings {
            let _ = write!(
                s,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"sev-{2}\">{2}</td><td>{3}</td><td>{4}</td></tr>",
                f.row.map(|r| r.to_string()).unwrap_or_default(),
                esc(f.column.as_deref().unwrap_or("-")),
                f.severity.as_str(),
                esc(&f.rule),
                esc(&f.message)
            );
        }
        s.push_str("</table>");
    } else {
        s.push_str("<p>No findings.</p>");
    }
    if !report.personal_columns.is_empty() {
        s.push_str("<h2>Personal data by column</h2><table><tr><th>column</th><th>kind</th><th class=\"num\">confidence</th><th>header</th><th class=\"num\">values fitting</th><th class=\"num\">in name lists</th><th class=\"num\">distinct</th></tr>");
        for c in &report.personal_columns {
            let e = &c.evidence;
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td>{}</td><td class=\"num\">{:.0}% of {}</td><td class=\"num\">{}</td><td class=\"num\">{:.0}%</td></tr>",
                esc(&c.column),
                c.kind.name(),
                c.confidence,
                esc(e.header.as_deref().unwrap_or("-")),
                e.shape * 100.0,
                e.sampled,
                e.dictionary
                    .map_or_else(|| "-".to_owned(), |d| format!("{:.0}%", d * 100.0)),
                e.distinct * 100.0
            );
        }
        s.push_str("</table>");
    }
    if let Some(q) = &report.quasi_identifiers {
        let _ = write!(
            s,
            "<h2>Quasi-identifiers</h2><p>{} rows; candidates: {}.</p><table><tr><th>columns</th><th class=\"num\">unique rows</th><th class=\"num\">k</th><th class=\"num\">groups</th></tr>",
            q.rows,
            esc(&q
                .candidates
                .iter()
                .map(|c| format!("{} ({})", c.column, c.reason))
                .collect::<Vec<_>>()
                .join(", "))
        );
        for set in &q.sets {
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&set.columns.join(" + ")),
                set.unique_share * 100.0,
                set.k,
                set.groups
            );
        }
        s.push_str("</table>");
    }
    if let Some(p) = &report.poisoning {
        let c = &p.detectors.counts;
        let _ = write!(
            s,
            "<h2>Poisoning screen</h2><p>{} feature columns{}; {} suspicious rows: {} outliers, {} likely flipped labels, {} duplicates, {} near duplicates, {} in backdoor-like groups.</p>",
            p.features.len(),
            esc(&p
                .label
                .as_deref()
                .map(|l| format!(", label {l}"))
                .unwrap_or_default()),
            p.rows.len(),
            c.outlier,
            c.label_flip,
            c.duplicate,
            c.near_duplicate,
            c.backdoor
        );
        for line in super::text::poisoning_statistics(report) {
            let _ = write!(s, "<p>{}</p>", esc(&line));
        }
        let scores: Vec<f64> = p.rows.iter().map(|r| r.score).collect();
        s.push_str("<h3>Scores of the suspicious rows</h3>");
        s.push_str(&histogram("scores of suspicious rows", &scores, 20));
        if !p.classes.is_empty() {
            s.push_str("<h3>Suspicious rows per class</h3>");
            let mut by_kind: BTreeMap<String, BTreeMap<Severity, u64>> = BTreeMap::new();
            for class in &p.classes {
                by_kind
                    .entry(format!("{} ({} rows)", class.label, class.rows))
                    .or_default()
                    .insert(Severity::Medium, class.suspicious);
            }
            s.push_str(&bar_chart(
                "suspicious rows per class",
                &by_kind.into_iter().collect::<Vec<_>>(),
            ));
        }
        s.push_str("<h3>Most suspicious rows</h3><table><tr><th>row</th><th>label</th><th class=\"num\">score</th><th>reasons</th></tr>");
        for r in p.rows.iter().take(200) {
            let reasons: Vec<String> = r
                .reasons
                .iter()
                .map(|x| esc(&format!("{:?} ({:.2}): {}", x.kind, x.score, x.detail)))
                .collect();
            let _ = write!(
                s,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>",
                r.row,
                esc(r.label.as_deref().unwrap_or("")),
                r.score,
                reasons.join("<br>")
            );
        }
        s.push_str("</table>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_draws() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut segs = BTreeMap::new();
        segs.insert(Severity::High, 3);
        segs.insert(Severity::Low, 1);
        let svg = bar_chart("t", &[("<col>".into(), segs)]);
        assert!(svg.contains("&lt;col&gt;") && svg.contains(">4</text>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        let h = histogram("h", &[0.0, 0.5, 0.99, 1.0], 4);
        assert!(h.contains("0.75–1.00: 2"));
    }
}
