//! A compliance report as one self-contained HTML page: a summary chart (an inline SVG
//! bar per group, no script), then every control with its requirements, the entries that
//! prove them and what to do about a gap.

use std::fmt::Write as _;

use crate::compliance::{Report, Standing, Status};

/// `text` escaped for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

const MET: &str = "#2e7d32";
const PARTIAL: &str = "#f9a825";
const MISSING: &str = "#c62828";

fn colour(s: Status) -> &'static str {
    match s {
        Status::Met => MET,
        Status::Partial => PARTIAL,
        Status::Missing => MISSING,
    }
}

/// The summary chart: one stacked bar per group (met, partial, missing), to scale.
fn chart(report: &Report) -> String {
    let row = 26;
    let label = 230;
    let width = 420.0;
    let height = row * (report.groups.len() + 1) + 10;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"controls met, partial and missing per group\">",
        label + 480
    );
    for (i, (group, n)) in report.groups.iter().enumerate() {
        let y = i * row + 4;
        let total = (n.met + n.partial + n.missing).max(1) as f64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text>",
            y + 16,
            esc(group)
        );
        let mut x = label as f64;
        for (count, fill) in [(n.met, MET), (n.partial, PARTIAL), (n.missing, MISSING)] {
            if count == 0 {
                continue;
            }
            let w = width * count as f64 / total;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"{fill}\"><title>{count}</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"12\" fill=\"#fff\">{count}</text>",
                x + 4.0,
                y + 15
            );
            x += w;
        }
    }
    let y = report.groups.len() * row + 4;
    let mut x = label;
    for (name, fill) in [("met", MET), ("partial", PARTIAL), ("missing", MISSING)] {
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"14\" height=\"14\" fill=\"{fill}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{name}</text>",
            x + 18,
            y + 12
        );
        x += 90;
    }
    svg.push_str("</svg>");
    svg
}

/// The report as an HTML page.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} — compliance report</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;color:#222}}\
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;text-align:left}}\
.s{{color:#fff;padding:.1em .5em;border-radius:.3em;font-size:.85em}}code{{font-size:.9em}}.g{{color:#666;font-size:.9em}}</style></head><body>\n\
<h1>{name}</h1>\n<p class=\"g\">{version} — {source}</p>\n<p>{scope}</p>\n\
<p><b>{met}</b> met, <b>{partial}</b> partial, <b>{missing}</b> missing of {total} controls. Project <code>{project}</code>, \
made {at}, bound to the ledger checkpoint of <b>{size}</b> entries. Mapping <code>sha256:{mapping}</code>.</p>\n\
<p class=\"g\">Check it offline: <code>aigis report verify REPORT.json --key PROJECT.vkey</code> (the signed report, not this page).</p>\n{chart}\n",
        name = esc(&report.framework.name),
        version = esc(&report.framework.version),
        source = esc(&report.framework.source),
        scope = esc(&report.framework.scope),
        met = s.met,
        partial = s.partial,
        missing = s.missing,
        total = s.met + s.partial + s.missing,
        project = esc(&report.project),
        at = esc(&report.generated_at),
        size = report.checkpoint_size,
        mapping = esc(&report.framework.mapping_sha256),
        chart = chart(report),
    );
    h.push_str("<table><tr><th>control</th><th>status</th><th>evidence</th></tr>\n");
    for c in &report.controls {
        let _ = write!(
            h,
            "<tr id=\"{id}\"><td><b>{id}</b><br><span class=\"g\">{group}</span><br>{title}</td><td><span class=\"s\" style=\"background:{colour}\">{status}</span></td><td><ul>",
            id = esc(&c.id),
            group = esc(&c.group),
            title = esc(&c.title),
            colour = colour(c.status),
            status = c.status.as_str(),
        );
        for r in &c.requirements {
            let cite = match (r.evidence, &r.kind, r.age_days) {
                (Some(i), Some(k), Some(age)) => format!(
                    " — <code>aigis evidence show {i}</code> ({}, {age} days old)",
                    esc(k)
                ),
                _ => String::new(),
            };
            let mark = match r.standing {
                Standing::Satisfied => "✔",
                Standing::Failing => "✘ failing",
                Standing::Stale => "✘ stale",
                Standing::Absent => "✘ absent",
            };
            let _ = write!(h, "<li>{mark} {}{cite}", esc(&r.what));
            if r.standing != Standing::Satisfied {
                let _ = write!(h, "<br><span class=\"g\">{}</span>", esc(&r.detail));
            }
            if let Some(fix) = &r.fix {
                let _ = write!(h, "<br>To do: <code>{}</code>", esc(fix));
            }
            h.push_str("</li>");
        }
        h.push_str("</ul></td></tr>\n");
    }
    h.push_str("</table>\n");
    if !report.not_counted.is_empty() {
        h.push_str("<h2>Entries not counted</h2><ul>");
        for (i, why) in &report.not_counted {
            let _ = write!(h, "<li>#{i}: {}</li>", esc(why));
        }
        h.push_str("</ul>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
