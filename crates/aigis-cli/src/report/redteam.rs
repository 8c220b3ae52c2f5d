//! The page and the SARIF of `aigis redteam`: each evasion attack's success rate against
//! ε, the membership attacks' ROC curves (log-log, as the LiRA paper draws them, where a
//! low false-positive rate can be read), their tables and the thresholds; SARIF holds one
//! result per threshold not met. Self-contained like the other reports (inline SVG, no
//! script); every name from the input is escaped.

use std::fmt::Write as _;

use aigis_core::{Finding, Severity};
use aigis_evidence::{RedTeam, RedTeamExtraction};
use aigis_redteam::membership::Roc;
use anyhow::Result;
use serde_json::json;

use super::html::{STYLE, esc};
use super::sarif::{Placed, document};

const COLOURS: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

const W: f64 = 520.0;
const H: f64 = 300.0;
const LEFT: f64 = 50.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 20.0;
const RIGHT: f64 = 150.0;

/// A tick of an axis: where, in [0, 1], and its label.
type Tick = (f64, String);

/// The model aigis trains (extraction's copies, poisoning's retrained models), named.
pub(crate) fn trainer(hidden: u64) -> String {
    if hidden == 0 {
        "logistic regression".to_owned()
    } else {
        format!("one hidden layer of {hidden} units")
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1} %", 100.0 * v))
}

/// A chart of lines through points, `x` and `y` mapped by the given functions into the
/// plot, with a legend on the right.
fn lines(
    title: &str,
    axes: (&str, &str),
    ticks: (&[Tick], &[Tick]),
    series: &[(String, Vec<(f64, f64)>)],
    guide: Option<[(f64, f64); 2]>,
) -> String {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |x: f64| LEFT + x.clamp(0.0, 1.0) * pw;
    let py = |y: f64| TOP + (1.0 - y.clamp(0.0, 1.0)) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<figure><figcaption>{}</figcaption><svg role="img" aria-label="{}" width="{W}" height="{H}" viewBox="0 0 {W} {H}"><rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##,
        esc(title),
        esc(title)
    );
    for (x, label) in ticks.0 {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="#eee"/><text x="{0:.1}" y="{3:.1}" font-size="11" text-anchor="middle">{4}</text>"##,
            px(*x),
            TOP,
            TOP + ph,
            TOP + ph + 14.0,
            esc(label)
        );
    }
    for (y, label) in ticks.1 {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{1:.1}" y1="{2:.1}" y2="{2:.1}" stroke="#eee"/><text x="{3:.1}" y="{4:.1}" font-size="11" text-anchor="end">{5}</text>"##,
            LEFT,
            LEFT + pw,
            py(*y),
            LEFT - 4.0,
            py(*y) + 4.0,
            esc(label)
        );
    }
    if let Some([(x0, y0), (x1, y1)]) = guide {
        let _ = write!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
            px(x0),
            py(y0),
            px(x1),
            py(y1)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text><text x="12" y="{:.1}" font-size="12" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
        LEFT + pw / 2.0,
        H - 6.0,
        esc(axes.0),
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(axes.1)
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#111");
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"##,
            path.join(" ")
        );
        if points.len() <= 20 {
            for &(x, y) in points {
                let _ = write!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"##,
                    px(x),
                    py(y)
                );
            }
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"##,
            LEFT + pw + 10.0,
            ly - 4.0,
            LEFT + pw + 28.0,
            ly,
            esc(name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// Ticks at 0, 25, 50, 75 and 100 %.
fn percent_ticks() -> Vec<Tick> {
    (0..=4)
        .map(|i| {
            let f = f64::from(i) / 4.0;
            (f, format!("{:.0} %", 100.0 * f))
        })
        .collect()
}

/// Success rate against ε, one line per attack (and norm).
fn evasion_chart(r: &RedTeam) -> String {
    let max_eps = r.attacks.iter().map(|a| a.eps).fold(0.0, f64::max);
    if max_eps <= 0.0 {
        return String::new();
    }
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for a in r.attacks.iter().filter(|a| a.skipped.is_none()) {
        let name = format!("{} ({})", a.title(), a.norm);
        let point = (a.eps / max_eps, a.success_rate.unwrap_or(0.0));
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, p)) => p.push(point),
            None => series.push((name, vec![(0.0, 0.0), point])),
        }
    }
    for (_, p) in &mut series {
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let xt: Vec<Tick> = (0..=4)
        .map(|i| {
            let f = f64::from(i) / 4.0;
            (f, format!("{:.3}", f * max_eps))
        })
        .collect();
    let yt = percent_ticks();
    lines(
        "Success rate against ε (the rows the model gets right that the attack fools)",
        ("ε", "success rate"),
        (&xt, &yt),
        &series,
        None,
    )
}

/// Fidelity and accuracy against the queries, on a log axis from the smallest budget to
/// the largest.
fn extraction_chart(e: &RedTeamExtraction) -> String {
    let (Some(first), Some(last)) = (e.points.first(), e.points.last()) else {
        return String::new();
    };
    let (lo, hi) = (
        (first.queries.max(1) as f64).log10(),
        (last.queries.max(1) as f64).log10(),
    );
    let span = if hi > lo { hi - lo } else { 1.0 };
    let map = |q: u64| ((q.max(1) as f64).log10() - lo) / span;
    let series = vec![
        (
            "fidelity".to_owned(),
            e.points
                .iter()
                .map(|p| (map(p.queries), p.fidelity))
                .collect(),
        ),
        (
            "accuracy".to_owned(),
            e.points
                .iter()
                .map(|p| (map(p.queries), p.accuracy))
                .collect(),
        ),
    ];
    let xt: Vec<Tick> = e
        .points
        .iter()
        .map(|p| (map(p.queries), p.queries.to_string()))
        .collect();
    let yt = percent_ticks();
    lines(
        "Extraction: the copy's fidelity and accuracy against the queries it was trained on",
        ("queries (log scale)", "share of rows"),
        (&xt, &yt),
        &series,
        None,
    )
}

/// ROC curves on log-log axes from 0.1 % (0.001) to 1.
fn roc_chart(rocs: &[(&str, Roc)]) -> String {
    const FLOOR: f64 = 1e-3;
    let map = |v: f64| (v.max(FLOOR).log10() - FLOOR.log10()) / -FLOOR.log10();
    let series: Vec<(String, Vec<(f64, f64)>)> = rocs
        .iter()
        .map(|(name, roc)| {
            (
                (*name).to_string(),
                roc.points.iter().map(|&(x, y)| (map(x), map(y))).collect(),
            )
        })
        .collect();
    let ticks: Vec<Tick> = [0.001, 0.01, 0.1, 1.0]
        .iter()
        .map(|&v| (map(v), format!("{v}")))
        .collect();
    lines(
        "Membership inference: ROC on log-log axes (the diagonal is a coin)",
        ("false-positive rate", "true-positive rate"),
        (&ticks, &ticks),
        &series,
        Some([(0.0, 0.0), (1.0, 1.0)]),
    )
}

/// The page.
pub fn page(model: &str, r: &RedTeam, rocs: &[(&str, Roc)]) -> String {
    let mut s = String::new();
    let name = esc(model);
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aigis redteam: {name}</title><style>{STYLE}</style></head><body><h1>Red team of {name}</h1>"
    );
    let verdict = if r.passed {
        "<span class=\"pass\">passed</span>".to_string()
    } else {
        format!(
            "<span class=\"fail\">FAILED: {} threshold(s) not met{}</span>",
            r.breaches.len(),
            if r.attacks.iter().any(|a| a.skipped.is_some()) {
                ", an attack skipped"
            } else {
                ""
            }
        )
    };
    let _ = write!(
        s,
        "<p>Output <code>{}</code>. {verdict}</p>",
        esc(&r.output)
    );
    if let (Some(clean), Some(gradients)) = (r.clean_accuracy, &r.gradients) {
        let _ = write!(
            s,
            "<h2>Evasion</h2><p>{} rows, clean accuracy {}; {} gradients{}{}.</p>",
            r.rows,
            pct(Some(clean)),
            esc(gradients),
            r.gradients_note
                .as_ref()
                .map(|n| format!(" ({})", esc(n)))
                .unwrap_or_default(),
            r.clip
                .map(|[lo, hi]| format!("; features kept in [{lo}, {hi}]"))
                .unwrap_or_default()
        );
        s.push_str(&evasion_chart(r));
        s.push_str("<table><tr><th>attack</th><th>norm</th><th class=\"num\">ε</th><th class=\"num\">steps</th><th class=\"num\">attacked</th><th>success</th><th>robust accuracy</th><th class=\"num\">median L∞</th><th class=\"num\">median L2</th><th class=\"num\">queries / row</th><th class=\"num\">seconds</th></tr>");
        for a in &r.attacks {
            if let Some(why) = &a.skipped {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td colspan=\"8\">skipped: {}</td></tr>",
                    esc(&a.attack),
                    esc(&a.norm),
                    a.eps,
                    esc(why)
                );
                continue;
            }
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td></tr>",
                esc(&a.attack),
                esc(&a.norm),
                a.eps,
                a.steps,
                a.attacked,
                pct(a.success_rate),
                pct(a.robust_accuracy),
                a.median_linf.map_or("-".into(), |v| format!("{v:.4}")),
                a.median_l2.map_or("-".into(), |v| format!("{v:.4}")),
                a.queries_per_row,
                a.seconds
            );
        }
        s.push_str("</table>");
    }
    if let Some(m) = &r.membership {
        let _ = write!(
            s,
            "<h2>Membership inference</h2><p>{} members (training rows), {} non-members, {} reference model(s).</p>",
            m.members, m.non_members, m.references
        );
        s.push_str(&roc_chart(rocs));
        s.push_str("<table><tr><th>attack</th><th class=\"num\">AUC</th><th>TPR at 0.1 % FPR</th><th>TPR at 1 % FPR</th><th class=\"num\">advantage</th></tr>");
        for a in &m.attacks {
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"num\">{:.4}</td><td>{}</td><td>{}</td><td class=\"num\">{:.4}</td></tr>",
                esc(&a.attack),
                a.auc,
                pct(Some(a.tpr_at_0_1_pct_fpr)),
                pct(Some(a.tpr_at_1_pct_fpr)),
                a.advantage
            );
        }
        s.push_str("</table>");
    }
    if let Some(e) = &r.extraction {
        let _ = write!(
            s,
            "<h2>Extraction</h2><p>Copies ({}) trained on the model's classes for queries from {} (<code>{}</code>), measured on {} rows: fidelity is the share where the copy gives the model's class, accuracy where it gives the true label.</p>",
            trainer(e.hidden),
            match e.source.as_str() {
                "random" => "uniform draws in each feature's range",
                "profile" => "a normal per feature fitted to the rows",
                _ => "the attacker's own rows",
            },
            esc(&e.source),
            e.rows
        );
        s.push_str(&extraction_chart(e));
        s.push_str("<table><tr><th class=\"num\">queries</th><th class=\"num\">fidelity</th><th class=\"num\">accuracy</th></tr>");
        for p in &e.points {
            let _ = write!(
                s,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                p.queries,
                pct(Some(p.fidelity)),
                pct(Some(p.accuracy))
            );
        }
        s.push_str("</table>");
    }
    if let Some(p) = &r.poisoning {
        let _ = write!(
            s,
            "<h2>Poisoning</h2><p>Models ({}) retrained by aigis on {} training rows, clean and once per poisoning, measured on {} rows. Clean: accuracy {}; the backdoor's trigger (features {}) stamped on the rows not of class {} makes it give that class to {} of them. A backdoor's success is that share for the poisoned model.</p>",
            trainer(p.hidden),
            p.train_rows,
            p.rows,
            pct(Some(p.clean_accuracy)),
            p.trigger_features
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            p.target,
            pct(Some(p.clean_backdoor_rate))
        );
        s.push_str("<table><tr><th>poisoning</th><th class=\"num\">rate</th><th class=\"num\">rows poisoned</th><th class=\"num\">accuracy</th><th class=\"num\">drop</th><th class=\"num\">backdoor success</th></tr>");
        for o in &p.outcomes {
            let _ = write!(
                s,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&o.kind),
                o.rate,
                o.poisoned,
                pct(Some(o.accuracy)),
                pct(Some(o.accuracy_drop)),
                pct(o.backdoor_success)
            );
        }
        s.push_str("</table>");
    }
    if !r.thresholds.is_empty() {
        s.push_str("<h2>Thresholds</h2><table><tr><th>measure</th><th>bound</th><th>value</th><th>verdict</th></tr>");
        for t in &r.thresholds {
            let breach = r
                .breaches
                .iter()
                .find(|b| b.metric == t.metric && b.bound == t.bound && b.threshold == t.value);
            let side = if t.bound == "at_least" { "≥" } else { "≤" };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{side} {}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.metric),
                t.value,
                match breach {
                    Some(b) => b
                        .value
                        .map_or_else(|| "not measured".into(), |v| format!("{v:.4}")),
                    None => "met".into(),
                },
                if breach.is_some() {
                    "<span class=\"fail\">FAIL</span>"
                } else {
                    "<span class=\"pass\">ok</span>"
                }
            );
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>\n");
    s
}

/// SARIF 2.1.0: one `error` result per threshold not met, on the model.
pub fn sarif(model: &str, r: &RedTeam) -> Result<Vec<u8>> {
    let findings: Vec<Finding> = r
        .breaches
        .iter()
        .map(|b| {
            let value = b
                .value
                .map_or_else(|| "not measured".to_owned(), |v| format!("{v:.4}"));
            Finding::new(
                format!("redteam.{}", b.metric),
                Severity::High,
                format!(
                    "{} is {value}, must be {} {}",
                    b.metric,
                    if b.bound == "at_least" {
                        "at least"
                    } else {
                        "at most"
                    },
                    b.threshold
                ),
            )
            .in_file(model.to_owned())
        })
        .collect();
    let placed: Vec<Placed<'_>> = findings
        .iter()
        .map(|finding| Placed {
            finding,
            start_line: None,
            logical: "the model".into(),
        })
        .collect();
    document(
        &placed,
        &|_| "A red-team measure beyond its threshold.",
        json!({ "rows": r.rows, "attacks": r.attacks.len() }),
    )
}
