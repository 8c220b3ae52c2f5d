//! The page of `aigis monitor report`: per model, drift, KPIs, calls and flags over time,
//! the shadow periods and the alerts. Self-contained like the scan report: no script, no
//! external file, plots as inline SVG drawn here (line charts and one heat map; a
//! plotting crate would add build time for no gain at this size). Every name and message
//! from the evidence is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::html::{STYLE, esc};
use crate::commands::monitor::report::{ModelReport, Report};

/// Series colours, in order.
const COLOURS: [&str; 8] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04",
];
/// The most features drawn in the heat map (those with the largest statistic).
const HEAT_FEATURES: usize = 60;

/// A series of a line chart: its name and its points (time in ms, value).
struct Series {
    name: String,
    points: Vec<(i64, f64)>,
}

/// A line chart of `series` over the time range `(from, to)`, values from 0 to `top`
/// (or the largest value), with a legend.
fn line_chart(title: &str, (from, to): (i64, i64), top: Option<f64>, series: &[Series]) -> String {
    let (w, h, left, bottom) = (760.0, 180.0, 72.0, 24.0);
    let top = top.unwrap_or_else(|| {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max)
    });
    let top = if top > 0.0 { top } else { 1.0 };
    let span = (to - from).max(1) as f64;
    let x = |t: i64| left + (w - left - 10.0) * ((t - from) as f64 / span).clamp(0.0, 1.0);
    let y = |v: f64| 8.0 + (h - 8.0 - bottom) * (1.0 - (v / top).clamp(0.0, 1.0));
    let legend_h = 18.0 * series.len().div_ceil(3) as f64;
    let total_h = h + legend_h + 6.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure><figcaption>{}</figcaption><svg role="img" aria-label="{}" width="{w}" height="{total_h}" viewBox="0 0 {w} {total_h}">"#,
        esc(title),
        esc(title)
    );
    // Axes: 0, half and top on y; the range's ends on x.
    for v in [0.0, top / 2.0, top] {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - 10.0,
            left - 4.0,
            y(v) + 4.0,
            number(v),
            y = y(v)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{left}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"#,
        h - 6.0,
        esc(&crate::output::time_ms(from)),
        w - 10.0,
        h - 6.0,
        esc(&crate::output::time_ms(to))
    );
    for (i, series) in series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        let points: Vec<String> = series
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        if points.len() > 1 {
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                points.join(" ")
            );
        }
        for (t, v) in &series.points {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"><title>{} {}: {}</title></circle>"#,
                x(*t),
                y(*v),
                esc(&series.name),
                esc(&crate::output::time_ms(*t)),
                number(*v)
            );
        }
        let (lx, ly) = (
            left + 230.0 * (i % 3) as f64,
            h + 14.0 + 18.0 * (i / 3) as f64,
        );
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="4" fill="{colour}"/><text x="{}" y="{ly}">{}</text>"#,
            ly - 6.0,
            lx + 16.0,
            esc(&series.name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// A value for an axis or a tooltip: four significant digits at most.
fn number(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 0.01 && v.abs() < 10_000.0) {
        let t = format!("{v:.4}");
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.3e}")
    }
}

/// The features × windows heat map of the KS statistic: darker is larger; a drifted
/// feature's cell is outlined in red, an inconclusive one's in amber.
fn heat_map(m: &ModelReport) -> String {
    let windows = &m.drift;
    let several = m.instances.len() > 1;
    // Each feature's largest statistic, to keep the ones that moved most.
    let mut largest: BTreeMap<&str, f64> = BTreeMap::new();
    for w in windows {
        for f in &w.window.drift.features {
            let e = largest.entry(f.name.as_str()).or_insert(0.0);
            *e = e.max(f.statistic.unwrap_or(0.0));
        }
    }
    let mut names: Vec<(&str, f64)> = largest.into_iter().collect();
    names.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let shown = names.len().min(HEAT_FEATURES);
    let names: Vec<&str> = names.iter().take(shown).map(|n| n.0).collect();
    let top = windows
        .iter()
        .flat_map(|w| w.window.drift.features.iter().filter_map(|f| f.statistic))
        .fold(0.0, f64::max)
        .max(1e-9);
    let (label_w, cell_h) = (160.0, 12.0);
    let cell_w = (600.0 / windows.len().max(1) as f64).clamp(3.0, 40.0);
    let width = (label_w + cell_w * windows.len() as f64 + 10.0).max(520.0);
    let height = cell_h * names.len() as f64 + 26.0;
    let mut s = String::new();
    let title = format!(
        "KS statistic per feature and window (darker is larger, the largest {}; red outline: drifted, amber: inconclusive){}",
        number(top),
        if shown < m.drift.first().map_or(0, |w| w.window.drift.features.len()) {
            format!("; the {shown} features that moved most")
        } else {
            String::new()
        }
    );
    let _ = write!(
        s,
        r#"<figure><figcaption>{}</figcaption><svg role="img" aria-label="{}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#,
        esc(&title),
        esc(&title)
    );
    for (row, name) in names.iter().enumerate() {
        let y = 4.0 + cell_h * row as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"#,
            label_w - 4.0,
            y + cell_h - 2.0,
            esc(name)
        );
        for (col, w) in windows.iter().enumerate() {
            let Some(f) = w.window.drift.features.iter().find(|f| f.name == *name) else {
                continue;
            };
            let shade = f.statistic.map_or(0.0, |v| v / top);
            let (stroke, fill) = match f.status.as_str() {
                "drift" => ("#dc2626", format!("rgba(37,99,235,{shade:.3})")),
                "inconclusive" => ("#d97706", format!("rgba(37,99,235,{shade:.3})")),
                "stable" => ("none", format!("rgba(37,99,235,{shade:.3})")),
                _ => ("none", "#f3f4f6".to_owned()),
            };
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="{stroke}"><title>{} {}: {} (KS {})</title></rect>"#,
                label_w + cell_w * col as f64,
                (cell_w - 1.0).max(1.0),
                cell_h - 1.0,
                esc(name),
                esc(&w.label(several)),
                esc(&f.status),
                f.statistic.map_or_else(|| "-".to_owned(), number)
            );
        }
    }
    // The first and the last window's start under the columns.
    if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
        let y = height - 6.0;
        let _ = write!(
            s,
            r#"<text x="{label_w}" y="{y}" font-size="10">{}</text>"#,
            esc(&first.start)
        );
        if windows.len() > 1 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{y}" font-size="10" text-anchor="end">{}</text>"#,
                width - 10.0,
                esc(&last.start)
            );
        }
    }
    s.push_str("</svg></figure>");
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), number)
}

/// The page.
pub fn page(report: &Report) -> String {
    let mut s = String::new();
    let title = format!("aigis monitor report: {} to {}", report.from, report.to);
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    let read: Vec<String> = report
        .evidence
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let _ = write!(
        s,
        "<p>From the signed evidence in the project's ledger: {}. Calls in buckets of {} s.</p>",
        if read.is_empty() {
            "none in this range".to_owned()
        } else {
            esc(&read.join(", "))
        },
        report.bucket_s
    );
    if !report.unreadable.is_empty() {
        let _ = write!(
            s,
            "<p class=\"fail\">{} entries were left out: not signed by a project key, or unreadable.</p><ul>",
            report.unreadable.len()
        );
        for u in &report.unreadable {
            let _ = write!(s, "<li>{}</li>", esc(u));
        }
        s.push_str("</ul>");
    }
    if report.models.is_empty() {
        s.push_str("<p>No served model left evidence in this range.</p>");
    }
    for m in &report.models {
        model(&mut s, report, m);
    }
    s.push_str("</body></html>\n");
    s
}

fn model(s: &mut String, report: &Report, m: &ModelReport) {
    let range = report.range_ms;
    let _ = write!(s, "<h2>{}</h2>", esc(&m.model));
    let versions: Vec<&str> = m.versions.iter().map(String::as_str).collect();
    let _ = write!(s, "<p>Versions: {}</p>", esc(&versions.join(", ")));

    // Replicas of the model record windows of the same start, and their own shadow
    // periods and alerts: each is named then.
    let several = m.instances.len() > 1;
    if several {
        let names: Vec<&str> = m.instances.iter().map(String::as_str).collect();
        let _ = write!(
            s,
            "<p>Recorded by {} gateways: {} (each window, shadow period and alert names its own).</p>",
            names.len(),
            esc(&names.join(", "))
        );
    }
    s.push_str("<h3>Drift</h3>");
    if m.drift.is_empty() {
        s.push_str("<p>No drift window recorded (the model has no <code>[serve.models.drift]</code>, or no window ended in the range).</p>");
    } else {
        // One line per gateway.
        let mut shares: BTreeMap<Option<&str>, Series> = BTreeMap::new();
        for w in m.drift.iter().filter(|w| w.window.drift.tested > 0) {
            let instance = w.instance.as_deref().filter(|_| several);
            shares
                .entry(instance)
                .or_insert_with(|| Series {
                    name: match instance {
                        Some(i) => format!("share of tested features that drifted ({i})"),
                        None => "share of tested features that drifted".into(),
                    },
                    points: Vec::new(),
                })
                .points
                .push((
                    w.start_ms,
                    w.window.drift.drifted as f64 / w.window.drift.tested as f64,
                ));
        }
        let threshold = Series {
            name: "drift share threshold".into(),
            points: m
                .drift
                .iter()
                .map(|w| (w.start_ms, w.window.drift.drift_share))
                .collect(),
        };
        s.push_str(&line_chart(
            "Drifted features per window",
            range,
            Some(1.0),
            &shares.into_values().chain([threshold]).collect::<Vec<_>>(),
        ));
        s.push_str(&heat_map(m));
        s.push_str("<table><tr><th>window</th><th class=\"num\">rows</th><th>verdict</th><th class=\"num\">drifted</th><th class=\"num\">inconclusive</th><th class=\"num\">tested</th><th>version</th><th class=\"num\">evidence</th></tr>");
        for w in &m.drift {
            let class = match w.window.drift.verdict.as_str() {
                "drift" => "fail",
                "stable" => "pass",
                _ => "",
            };
            let _ = write!(
                s,
                "<tr><td>{}{}</td><td class=\"num\">{}</td><td class=\"{class}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">#{}</td></tr>",
                esc(&w.label(several)),
                if w.complete { "" } else { " (not ended)" },
                w.window.drift.rows,
                esc(&w.window.drift.verdict),
                w.window.drift.drifted,
                w.window.drift.inconclusive,
                w.window.drift.tested,
                esc(&w.window.served_version),
                w.evidence
            );
        }
        s.push_str("</table>");
    }

    s.push_str("<h3>KPIs from delayed labels</h3>");
    if m.kpis.is_empty() {
        s.push_str("<p>No KPI window recorded (the model has no <code>[serve.models.feedback]</code>, or no window ended in the range).</p>");
    } else {
        let mut series: BTreeMap<String, Series> = BTreeMap::new();
        for k in &m.kpis {
            for (kpi, v) in [
                ("accuracy", k.window.accuracy),
                ("precision", k.window.precision),
                ("recall", k.window.recall),
                ("ECE", k.window.ece),
            ] {
                if let Some(v) = v {
                    let name = match k.instance.as_deref().filter(|_| several) {
                        Some(i) => format!("{kpi} ({}, {i})", k.window.version),
                        None => format!("{kpi} ({})", k.window.version),
                    };
                    series
                        .entry(name.clone())
                        .or_insert_with(|| Series {
                            name,
                            points: Vec::new(),
                        })
                        .points
                        .push((k.start_ms, v));
                }
            }
        }
        let series: Vec<Series> = series.into_values().collect();
        s.push_str(&line_chart("KPIs per window", range, Some(1.0), &series));
        s.push_str("<table><tr><th>window</th><th>version</th><th class=\"num\">predictions</th><th class=\"num\">labelled</th><th class=\"num\">accuracy</th><th class=\"num\">precision</th><th class=\"num\">recall</th><th class=\"num\">ECE</th><th class=\"num\">evidence</th></tr>");
        for k in &m.kpis {
            let _ = write!(
                s,
                "<tr><td>{}{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">#{}</td></tr>",
                esc(&k.label(several)),
                if k.complete { "" } else { " (not ended)" },
                esc(&k.window.version),
                k.window.predictions,
                k.window.labeled,
                opt(k.window.accuracy),
                opt(k.window.precision),
                opt(k.window.recall),
                opt(k.window.ece),
                k.evidence
            );
        }
        s.push_str("</table>");
    }

    s.push_str("<h3>Calls and detector flags</h3>");
    if m.calls.is_empty() {
        s.push_str("<p>No call recorded in the range.</p>");
    } else {
        let calls = [
            Series {
                name: "calls".into(),
                points: m
                    .calls
                    .iter()
                    .map(|b| (b.start_ms, b.calls as f64))
                    .collect(),
            },
            Series {
                name: "refused".into(),
                points: m
                    .calls
                    .iter()
                    .map(|b| (b.start_ms, b.refused as f64))
                    .collect(),
            },
            Series {
                name: "flagged".into(),
                points: m
                    .calls
                    .iter()
                    .map(|b| (b.start_ms, b.flagged_calls as f64))
                    .collect(),
            },
        ];
        s.push_str(&line_chart(
            &format!("Calls per {} s", report.bucket_s),
            range,
            None,
            &calls,
        ));
        if !m.detectors.is_empty() {
            let rates: Vec<Series> = m
                .detectors
                .iter()
                .map(|d| Series {
                    name: d.clone(),
                    points: m
                        .calls
                        .iter()
                        .filter(|b| b.rows > 0)
                        .map(|b| (b.start_ms, b.flag_rate.get(d).copied().unwrap_or(0.0)))
                        .collect(),
                })
                .collect();
            s.push_str(&line_chart(
                "Share of rows each detector flagged",
                range,
                None,
                &rates,
            ));
        }
        let total = |f: fn(&crate::commands::monitor::report::Bucket) -> u64| -> u64 {
            m.calls.iter().map(f).sum()
        };
        let _ = write!(
            s,
            "<p>{} calls, {} refused, {} flagged; {} rows reached the model.</p>",
            total(|b| b.calls),
            total(|b| b.refused),
            total(|b| b.flagged_calls),
            total(|b| b.rows)
        );
    }

    let several = m.instances.len() > 1;
    // A time, with the gateway that recorded it when several did.
    let at = |time: &str, instance: &Option<String>| match instance.as_deref() {
        Some(i) if several => esc(&format!("{time} ({i})")),
        _ => esc(time),
    };
    if !m.shadow.is_empty() {
        s.push_str("<h3>Shadow periods</h3><table><tr><th>from</th><th>to</th><th>candidate</th><th>served</th><th class=\"num\">rows</th><th class=\"num\">disagreements</th><th class=\"num\">failures</th><th class=\"num\">p99 candidate / served (µs)</th><th class=\"num\">evidence</th></tr>");
        for p in &m.shadow {
            let p99 = |l: Option<[u64; 2]>| l.map_or_else(|| "-".to_owned(), |l| l[1].to_string());
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">#{}</td></tr>",
                at(&p.period.from, &p.period.instance),
                esc(&p.period.to),
                esc(&p.period.candidate_version),
                esc(&p.period.served_version),
                p.period.rows,
                p.period.disagreements,
                p.period.failures,
                p99(p.period.candidate_latency_us),
                p99(p.period.served_latency_us),
                p.evidence
            );
        }
        s.push_str("</table>");
    }

    s.push_str("<h3>Alerts</h3>");
    if m.alerts.is_empty() {
        s.push_str("<p>None in the range.</p>");
    } else {
        s.push_str("<table><tr><th>time</th><th>kind</th><th>state</th><th class=\"num\">value</th><th class=\"num\">threshold</th><th>message</th><th class=\"num\">evidence</th></tr>");
        for a in &m.alerts {
            let class = if a.alert.state == "firing" {
                "fail"
            } else {
                ""
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">#{}</td></tr>",
                at(&a.alert.time, &a.alert.instance),
                esc(&a.alert.kind),
                esc(&a.alert.state),
                opt(a.alert.value),
                opt(a.alert.threshold),
                esc(&a.alert.message),
                a.evidence
            );
        }
        s.push_str("</table>");
    }
}
