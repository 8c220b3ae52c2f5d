//! The page of `aigis explain`: attribution bars for each row explained (its Shapley
//! values, and with `--lime` its LIME weights), the mean absolute Shapley value of each
//! feature over the rows, and permutation importance with its spread. Self-contained
//! like the other reports (inline SVG, no script); every name from the input is escaped.

use std::fmt::Write as _;

use aigis_redteam::explain::{Importance, Shap};
use aigis_redteam::lime::Explanation;

use super::html::{STYLE, esc};

/// One row explained: its index, the output column explained, its Shapley values, its
/// LIME explanation and the bins that name LIME's features.
pub struct Row<'a> {
    pub row: usize,
    pub column: usize,
    pub shap: &'a Shap,
    pub lime: Option<(&'a Explanation, Vec<String>)>,
}

/// What the page shows.
pub struct Page<'a> {
    pub model: &'a str,
    pub output: &'a str,
    pub names: &'a [String],
    pub rows: Vec<Row<'a>>,
    /// The score without shuffling, its name, and each feature's importance.
    pub permutation: Option<(f64, &'a str, &'a [Importance])>,
    /// How many bars a chart shows (the largest by magnitude).
    pub top: usize,
    /// What answered: the graph or the runtime.
    pub evaluated_by: &'a str,
}

/// Horizontal bars from a centre line at zero: positive to the right (blue), negative to
/// the left (red), with a whisker of ± `spread` when given; `bars` in the order shown.
fn bars(title: &str, bars: &[(String, f64, Option<f64>)]) -> String {
    let (label_w, half, bar_h) = (280.0, 230.0, 16.0);
    let height = 34.0 + bar_h * bars.len() as f64 + 8.0;
    let width = label_w + 2.0 * half + 90.0;
    let scale = bars
        .iter()
        .map(|(_, v, e)| v.abs() + e.unwrap_or(0.0))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let zero = label_w + half;
    let x = |v: f64| zero + half * (v / scale).clamp(-1.0, 1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<figure><figcaption>{}</figcaption><svg role="img" aria-label="{}" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}"><line x1="{zero}" x2="{zero}" y1="26" y2="{:.1}" stroke="#999"/>"##,
        esc(title),
        esc(title),
        height - 4.0
    );
    for (i, (label, v, spread)) in bars.iter().enumerate() {
        let y = 30.0 + bar_h * i as f64;
        let (from, to) = if *v >= 0.0 {
            (zero, x(*v))
        } else {
            (x(*v), zero)
        };
        let colour = if *v >= 0.0 { "#2563eb" } else { "#dc2626" };
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text><rect x="{from:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {v:+.4}</title></rect><text x="{:.1}" y="{:.1}" font-size="11">{v:+.4}</text>"#,
            label_w - 6.0,
            y + bar_h * 0.7,
            esc(label),
            (to - from).max(0.5),
            bar_h - 4.0,
            esc(label),
            label_w + 2.0 * half + 6.0,
            y + bar_h * 0.7
        );
        if let Some(e) = spread {
            let my = y + (bar_h - 4.0) / 2.0;
            let _ = write!(
                s,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{my:.1}" y2="{my:.1}" stroke="#111"/>"##,
                x(v - e),
                x(v + e)
            );
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// The indices of the `top` entries of `values` by magnitude, largest first.
fn largest(values: &[f64], top: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        let v = |i: usize| values.get(i).map_or(0.0, |v| v.abs());
        v(b).total_cmp(&v(a))
    });
    order.truncate(top);
    order
}

/// The bars of `values` at `indices`, named by `names`, with `spread` when given.
fn named(
    names: &[String],
    indices: &[usize],
    values: &[f64],
    spread: Option<&[f64]>,
) -> Vec<(String, f64, Option<f64>)> {
    indices
        .iter()
        .map(|&j| {
            (
                names.get(j).cloned().unwrap_or_else(|| format!("f{j}")),
                values.get(j).copied().unwrap_or(0.0),
                spread.and_then(|e| e.get(j).copied()),
            )
        })
        .collect()
}

/// The page.
pub fn page(p: &Page<'_>) -> String {
    let mut s = String::new();
    let model = esc(p.model);
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aigis explain: {model}</title><style>{STYLE}</style></head><body><h1>Explanations of {model}</h1><p>Output <code>{}</code>; the model answered by its {}. Bars: the {} largest by magnitude; positive values push the answer up.</p>",
        esc(p.output),
        esc(p.evaluated_by),
        p.top
    );
    for r in &p.rows {
        let _ = write!(
            s,
            "<h2>Row {}</h2><p>Column {} of the output: {:.4}, against {:.4} on average over the background; {} ({} coalitions).</p>",
            r.row,
            r.column,
            r.shap.value,
            r.shap.base_value,
            if r.shap.exact {
                "exact Shapley values"
            } else {
                "KernelSHAP, sampled"
            },
            r.shap.coalitions
        );
        s.push_str(&bars(
            &format!("Row {}: Shapley values", r.row),
            &named(
                p.names,
                &largest(&r.shap.values, p.top),
                &r.shap.values,
                None,
            ),
        ));
        if let Some((lime, conditions)) = &r.lime {
            let items: Vec<(String, f64, Option<f64>)> = lime
                .weights
                .iter()
                .map(|&(j, w)| {
                    (
                        conditions
                            .get(j)
                            .cloned()
                            .unwrap_or_else(|| format!("f{j}")),
                        w,
                        None,
                    )
                })
                .collect();
            s.push_str(&bars(
                &format!(
                    "Row {}: LIME weights (local model R² {:.3})",
                    r.row, lime.score
                ),
                &items,
            ));
        }
    }
    if p.rows.len() > 1 {
        let cols = p.names.len();
        let mean_abs: Vec<f64> = (0..cols)
            .map(|j| {
                p.rows
                    .iter()
                    .map(|r| r.shap.values.get(j).map_or(0.0, |v| v.abs()))
                    .sum::<f64>()
                    / p.rows.len() as f64
            })
            .collect();
        s.push_str("<h2>Over the rows</h2>");
        s.push_str(&bars(
            "Mean absolute Shapley value",
            &named(p.names, &largest(&mean_abs, p.top), &mean_abs, None),
        ));
    }
    if let Some((score, metric, importance)) = p.permutation {
        let _ = write!(
            s,
            "<h2>Permutation importance</h2><p>{} without shuffling: {score:.4}; each bar is its mean drop when the feature's column is shuffled, the whisker one standard deviation.</p>",
            esc(metric)
        );
        let means: Vec<f64> = importance.iter().map(|i| i.mean).collect();
        let stds: Vec<f64> = importance.iter().map(|i| i.std).collect();
        let items = named(p.names, &largest(&means, p.top), &means, Some(&stds));
        s.push_str(&bars("Permutation importance", &items));
    }
    s.push_str("</body></html>");
    s
}
