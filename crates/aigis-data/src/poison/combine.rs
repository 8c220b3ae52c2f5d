//! Runs the detectors in order and turns their findings into scored rows with reasons.
//!
//! Every reason that applies is kept, each its own: an outlier whose label the model
//! contradicts is an outlier and a likely flip; a member of a trigger group is a backdoor,
//! and a flip too when the label model rejects its label. One reason per kind per row: the
//! outlier reason lists every piece of evidence (forest, column extremes, profile range).
//! Spectral signatures only add weight to a trigger group; alone, per row, they flag the
//! natural tail of skewed classes.

use std::collections::BTreeMap;
use std::time::Instant;

use super::classify::{self, Probabilities};
use super::prep::{self, Prepared, column_name, median};
use super::{
    ClassThreshold, Features, Options, PoisonKind, Preprocessing, Reason, Report, SuspiciousRow,
    Timing, duplicates, extreme, iforest, label_flip, spectral, trigger,
};

type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

struct Run<'a> {
    features: &'a Features,
    data: Prepared,
    reasons: BTreeMap<usize, Vec<Reason>>,
    timings: Vec<Timing>,
    clock: Instant,
}

impl Run<'_> {
    fn add(
        &mut self,
        row: usize,
        kind: PoisonKind,
        score: f64,
        detail: String,
        related: Vec<usize>,
    ) {
        self.reasons.entry(row).or_default().push(Reason {
            kind,
            score: score.clamp(0.0, 1.0),
            detail,
            related_rows: related.into_iter().filter(|&r| r != row).take(20).collect(),
        });
    }

    fn lap(&mut self, detector: &str) {
        self.timings.push(Timing {
            detector: detector.to_owned(),
            seconds: self.clock.elapsed().as_secs_f64(),
        });
        self.clock = Instant::now();
    }

    /// "radius (z = +25.1), texture (z = −9.3)": the row's most extreme columns.
    fn extreme_columns(&self, row: usize, top: usize) -> String {
        let mut cols: Vec<(usize, f64)> = self.data.row(row).iter().copied().enumerate().collect();
        cols.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        cols.iter()
            .take(top)
            .map(|&(j, z)| format!("{} (z = {z:+.1})", self.name(j)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The caller's value in row `i`, kept column `j` (NaN when missing).
    fn raw(&self, i: usize, j: usize) -> f64 {
        let p = self.features.n_cols;
        self.data
            .cols
            .get(j)
            .and_then(|&c| self.features.data.get(i * p + c))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// A standardised value of kept column `j` in the caller's units.
    fn raw_of(&self, j: usize, z: f64) -> f64 {
        self.data
            .params
            .get(j)
            .map_or(f64::NAN, |&(med, scale)| med + z * scale)
    }

    /// The caller's name of kept column `j`.
    fn name(&self, j: usize) -> String {
        column_name(self.features, self.data.cols.get(j).copied().unwrap_or(j))
    }
}

pub(crate) fn run(
    features: &Features,
    labels: Option<&[u32]>,
    opts: &Options,
    progress: Progress<'_>,
) -> Report {
    let mut report = Report::default();
    let n = features.n_rows;
    progress("prepare", 0, n as u64);
    let clock = Instant::now();
    let mut run = Run {
        features,
        data: prep::prepare(features),
        reasons: BTreeMap::new(),
        timings: Vec::new(),
        clock,
    };
    report.preprocessing = Preprocessing {
        rows: n,
        columns: features.n_cols,
        constant_columns: run.data.constant.iter().map(|&j| column_name(features, j)).collect(),
        imputed: run.data.imputed.iter().map(|&(j, c)| (column_name(features, j), c)).collect(),
        scaling: "robust z = (x - median) / (1.4826 MAD, else IQR / 1.349, else standard deviation); missing and infinite cells take the column median".to_owned(),
    };
    run.lap("prepare");
    if run.data.d == 0 && n > 0 {
        report.notes.push("no column varies: outliers, label flips, near duplicates and backdoors were not looked for".to_owned());
    }
    outliers(&mut run, opts, &mut report, progress);
    duplicates_(&mut run, labels, opts, &mut report);
    progress("duplicates", n as u64, n as u64);
    let dense = labels.map(dense_labels);
    match dense {
        Some((y, values)) if values.len() >= 2 && run.data.d > 0 && n >= 3 => {
            labels_and_backdoors(&mut run, &y, &values, opts, &mut report, progress);
        }
        Some(_) => report.notes.push(
            "fewer than two labels, or too few rows: label flips and backdoors were not looked for"
                .to_owned(),
        ),
        None => report
            .notes
            .push("no label column: label flips and backdoors were not looked for".to_owned()),
    }
    report.thresholds.trigger_cell_z = opts.trigger_cell_z;
    report.thresholds.spectral_z = opts.spectral_z;
    for reasons in run.reasons.values() {
        let mut kinds: Vec<PoisonKind> = reasons.iter().map(|r| r.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let c = &mut report.counts;
            *match kind {
                PoisonKind::Outlier => &mut c.outlier,
                PoisonKind::LabelFlip => &mut c.label_flip,
                PoisonKind::Duplicate => &mut c.duplicate,
                PoisonKind::NearDuplicate => &mut c.near_duplicate,
                PoisonKind::Backdoor => &mut c.backdoor,
            } += 1;
        }
    }
    report.rows = std::mem::take(&mut run.reasons)
        .into_iter()
        .map(|(row, mut reasons)| {
            reasons.sort_by(|a, b| b.score.total_cmp(&a.score));
            let score = 1.0 - reasons.iter().map(|r| 1.0 - r.score).product::<f64>();
            SuspiciousRow {
                row,
                score,
                reasons,
            }
        })
        .collect();
    report
        .rows
        .sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    report.timings = run.timings;
    report
}

/// Outliers: the isolation forest with a data-driven cut, each column's extremes
/// (`poison/extreme.rs`), and, given reference ranges, values far outside them; one
/// outlier reason per row with every piece of evidence.
fn outliers(run: &mut Run<'_>, opts: &Options, report: &mut Report, progress: Progress<'_>) {
    let n = run.data.n;
    if run.data.d == 0 || n < 3 {
        return;
    }
    // Per row: (strength, evidence).
    let mut evidence: BTreeMap<usize, (f64, Vec<String>)> = BTreeMap::new();
    let mut note = |row: usize, strength: f64, text: String| {
        let e = evidence.entry(row).or_insert((0.0, Vec::new()));
        e.0 = e.0.max(strength);
        e.1.push(text);
    };
    let total = n as u64;
    let scores = iforest::scores(&run.data, opts.trees, opts.subsample, opts.seed, &|done| {
        progress("outliers", done, total)
    });
    let mut sorted = scores.clone();
    let med = median(&mut sorted).unwrap_or(0.5);
    let mut dev: Vec<f64> = scores.iter().map(|s| (s - med).abs()).collect();
    let mad = median(&mut dev).unwrap_or(0.0) * 1.4826;
    let cut = opts.outlier_min_score.max(med + opts.outlier_mad_k * mad);
    report.thresholds.outlier_score = cut;
    for (i, &s) in scores.iter().enumerate() {
        if s >= cut {
            let detail = format!(
                "isolation score {s:.3} (cut {cut:.3}, median {med:.3}); most extreme columns: {}",
                run.extreme_columns(i, 3)
            );
            note(i, 0.5 + 0.5 * ((s - cut) / (1.0 - cut).max(1e-9)), detail);
        }
    }
    let bulks = extreme::bulks(&run.data);
    report.thresholds.outlier_extreme = opts.outlier_extreme;
    for (i, cells) in extreme::extreme_rows(&run.data, &bulks, opts.outlier_extreme) {
        let strongest = cells.first().map_or(0.0, |c| c.1);
        let list = cells
            .iter()
            .take(3)
            .map(|&(j, s)| {
                let (lo, hi) = bulks
                    .get(j)
                    .copied()
                    .flatten()
                    .map_or((f64::NAN, f64::NAN), |b| {
                        (run.raw_of(j, b.lo), run.raw_of(j, b.hi))
                    });
                format!(
                    "{} = {} ({s:.1} spreads beyond its 1st-99th percentile range [{}, {}])",
                    run.name(j),
                    fmt_value(run.raw(i, j)),
                    fmt_value(lo),
                    fmt_value(hi)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let more = if cells.len() > 3 {
            format!(" and {} more column(s)", cells.len() - 3)
        } else {
            String::new()
        };
        note(
            i,
            0.6 + 0.4 * (1.0 - opts.outlier_extreme / strongest.max(1e-9)),
            format!("far beyond the rest of its column: {list}{more}"),
        );
    }
    let f = run.features;
    if !opts.reference_ranges.is_empty() {
        for (i, row) in f.data.chunks_exact(f.n_cols.max(1)).enumerate() {
            let mut outside = Vec::new();
            for (j, (&x, range)) in row.iter().zip(&opts.reference_ranges).enumerate() {
                let Some((lo, hi)) = *range else { continue };
                let margin = opts.range_margin * (hi - lo);
                if x.is_finite() && (x > hi + margin || x < lo - margin) {
                    outside.push(format!(
                        "{} = {} (reference range [{}, {}])",
                        column_name(f, j),
                        fmt_value(x),
                        fmt_value(lo),
                        fmt_value(hi)
                    ));
                }
            }
            if !outside.is_empty() {
                let count = outside.len();
                outside.truncate(3);
                note(
                    i,
                    0.7,
                    format!(
                        "{count} value(s) more than {:.0} % of the reference's span outside its range: {}",
                        100.0 * opts.range_margin,
                        outside.join(", ")
                    ),
                );
            }
        }
    }
    for (i, (strength, texts)) in evidence {
        run.add(
            i,
            PoisonKind::Outlier,
            strength,
            texts.join("; "),
            Vec::new(),
        );
    }
    run.lap("outliers");
}

/// A value for a person: integers without a fraction, others with up to 4 significant
/// decimals.
fn fmt_value(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

/// A dense class index as the label a person knows: its name when the caller gave
/// names ([`Options::label_names`]), else its number.
fn label_text(names: &[String], values: &[u32], c: usize) -> String {
    values
        .get(c)
        .map_or_else(|| "?".to_owned(), |&v| raw_label(names, v))
}

/// A label value as text: its name when known, else its number.
fn raw_label(names: &[String], v: u32) -> String {
    names
        .get(v as usize)
        .cloned()
        .unwrap_or_else(|| v.to_string())
}

fn duplicates_(run: &mut Run<'_>, labels: Option<&[u32]>, opts: &Options, report: &mut Report) {
    let f = run.features;
    let groups = duplicates::exact(&f.data, f.n_rows, f.n_cols);
    let mut group_of = vec![None; f.n_rows];
    for (g, rows) in groups.iter().enumerate() {
        rows.iter().for_each(|&r| {
            if let Some(slot) = group_of.get_mut(r) {
                *slot = Some(g);
            }
        });
        let mut distinct: Vec<u32> = rows
            .iter()
            .filter_map(|&r| labels.and_then(|l| l.get(r)).copied())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > 1 {
            let list = distinct
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            for &r in rows {
                let own = labels
                    .and_then(|l| l.get(r))
                    .map_or_else(String::new, u32::to_string);
                let detail = format!(
                    "identical to {} other row(s) that carry different labels ({list}; this row: {own})",
                    rows.len() - 1
                );
                run.add(r, PoisonKind::Duplicate, 0.8, detail, rows.clone());
            }
        } else {
            for &r in rows.iter().skip(1) {
                let detail = format!(
                    "identical to an earlier row ({} copies in all, same label)",
                    rows.len()
                );
                run.add(r, PoisonKind::Duplicate, 0.3, detail, rows.clone());
            }
        }
    }
    run.lap("exact duplicates");
    let near = duplicates::near(
        &run.data,
        opts.near_duplicate_rms,
        opts.near_duplicate_nn_fraction,
        opts.seed,
        &group_of,
    );
    let pairs = &near.pairs;
    let spacing = near.typical_rms;
    let mut best: BTreeMap<usize, (f64, String, Vec<usize>)> = BTreeMap::new();
    let baseline = duplicates::MatchBaseline::new(&run.data, opts.seed);
    let mut seen = std::collections::BTreeSet::new();
    for &(i, j, dist) in pairs {
        seen.insert(i);
        seen.insert(j);
        let expected = baseline.expected_matches(&run.data, i, j, opts.near_duplicate_max_expected);
        if expected >= opts.near_duplicate_max_expected {
            continue;
        }
        let (li, lj) = (labels.and_then(|l| l.get(i)), labels.and_then(|l| l.get(j)));
        let conflict = matches!((li, lj), (Some(a), Some(b)) if a != b);
        let mut note = |row: usize, other: usize, score: f64, detail: String| {
            let entry = best.entry(row).or_insert((0.0, String::new(), Vec::new()));
            entry.2.push(other);
            if score > entry.0 {
                entry.0 = score;
                entry.1 = detail;
            }
        };
        if let (true, Some(&a), Some(&b)) = (conflict, li, lj) {
            let (a, b) = (
                raw_label(&opts.label_names, a),
                raw_label(&opts.label_names, b),
            );
            note(
                i,
                j,
                0.6,
                format!(
                    "within {dist:.3} robust σ (RMS per column; rows are typically {spacing:.3} apart) of a row labelled {b} (this row: {a})"
                ),
            );
            note(
                j,
                i,
                0.6,
                format!(
                    "within {dist:.3} robust σ (RMS per column; rows are typically {spacing:.3} apart) of a row labelled {a} (this row: {b})"
                ),
            );
        } else {
            note(
                j,
                i,
                0.25,
                format!(
                    "within {dist:.3} robust σ (RMS per column; rows are typically {spacing:.3} apart) of an earlier row"
                ),
            );
        }
    }
    report.near_duplicates = super::NearDuplicateStats {
        rows: seen.len(),
        explained: seen.iter().filter(|r| !best.contains_key(r)).count(),
        max_expected: opts.near_duplicate_max_expected,
    };
    for (row, (score, detail, related)) in best {
        run.add(row, PoisonKind::NearDuplicate, score, detail, related);
    }
    report.thresholds.near_duplicate_rms = if run.data.d > 0 && f.n_rows > 1 {
        near.cut_rms
    } else {
        opts.near_duplicate_rms
    };
    report.thresholds.near_duplicate_spacing = near.typical_rms;
    run.lap("near duplicates");
}

/// Labels as dense indices `0..k`, and the original value of each index (ascending).
fn dense_labels(labels: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let mut values = labels.to_vec();
    values.sort_unstable();
    values.dedup();
    let y = labels
        .iter()
        .map(|l| values.binary_search(l).unwrap_or(0))
        .collect();
    (y, values)
}

fn labels_and_backdoors(
    run: &mut Run<'_>,
    y: &[usize],
    values: &[u32],
    opts: &Options,
    report: &mut Report,
    progress: Progress<'_>,
) {
    let (n, k) = (run.data.n, values.len());
    progress("labels", 0, n as u64);
    let knn = n <= opts.knn_max_rows;
    let probs: Probabilities = if knn {
        classify::knn(&run.data, y, k, opts.neighbours)
    } else {
        classify::lda(&run.data, y, k, opts.folds, opts.seed)
    };
    report.thresholds.label_model = if knn { "knn" } else { "lda" }.to_owned();
    let t = label_flip::thresholds(&probs, y);
    report.thresholds.class_thresholds = values
        .iter()
        .enumerate()
        .map(|(c, &label)| ClassThreshold {
            label,
            rows: y.iter().filter(|&&v| v == c).count(),
            threshold: t.get(c).copied().unwrap_or(f64::NAN),
        })
        .collect();
    let flips = label_flip::find(&probs, y, &t);
    run.lap("label model");
    progress("backdoors", 0, n as u64);
    let params = trigger::Params {
        cell_z: opts.trigger_cell_z,
        min_group: opts.trigger_min_rows,
        max_fraction: opts.trigger_max_fraction,
        purity: opts.trigger_purity,
        min_disagreement: opts.trigger_min_disagreement,
        seed: opts.seed,
    };
    let groups = trigger::groups(&run.data, y, k, params);
    let spectral = spectral::scores(&run.data, y, k, opts.seed);
    // Rows in a trigger group with the group's label: (group index) of the largest group.
    let mut in_group: BTreeMap<usize, usize> = BTreeMap::new();
    for (g, group) in groups.iter().enumerate() {
        for &r in &group.rows {
            if y.get(r) == Some(&group.label) {
                let larger = in_group.get(&r).is_none_or(|&h| {
                    groups
                        .get(h)
                        .is_some_and(|o| o.rows.len() < group.rows.len())
                });
                if larger {
                    in_group.insert(r, g);
                }
            }
        }
    }
    for (&r, &g) in &in_group {
        let Some(group) = groups.get(g) else { continue };
        let trigger = group
            .items
            .iter()
            .take(6)
            .map(|&(j, z)| format!("{} (z = {z:+.2})", run.name(j)))
            .collect::<Vec<_>>()
            .join(", ");
        let detail = format!(
            "one of {} rows sharing the same unusual values in {} column(s): {trigger}; {:.0} % labelled {}; {} of {} checked look like another label once those columns are ignored (mostly {}; {} of {} other rows labelled {} do), and {} of those values are unusual even for rows labelled {}",
            group.rows.len(),
            group.items.len(),
            100.0 * group.purity,
            label_text(&opts.label_names, values, group.label),
            group.disagree,
            group.checked,
            label_text(&opts.label_names, values, group.resembles),
            group.base_disagree,
            group.base_checked,
            label_text(&opts.label_names, values, group.label),
            group.foreign,
            label_text(&opts.label_names, values, group.resembles),
        );
        let score = 0.7
            + 0.2 * group.disagree as f64 / group.checked.max(1) as f64
            + if spectral.get(r).is_some_and(|&s| s >= opts.spectral_z) {
                0.1
            } else {
                0.0
            };
        run.add(r, PoisonKind::Backdoor, score, detail, group.rows.clone());
    }
    // Spectral signatures only corroborate a trigger group (the score above). On their
    // own, per row, they flagged the natural tail of skewed classes on clean real data
    // (0.4 % of COMPAS, 0.6 % of German credit) and found almost none of the backdoors
    // the trigger groups miss (bench/poison_eval.py), so they report nothing alone.
    // Label noise is natural to real data: report its extent for the whole dataset, and
    // per row only the contradictions that stand out from it (see `label_flip::odds`).
    let mut share = vec![0.0; k];
    for &c in y {
        if let Some(s) = share.get_mut(c) {
            *s += 1.0 / n as f64;
        }
    }
    let expected: f64 = probs
        .p
        .chunks_exact(k)
        .map(|p| 1.0 - p.iter().copied().fold(0.0, f64::max))
        .sum();
    let disagree = probs
        .p
        .chunks_exact(k)
        .zip(y)
        .filter(|(p, c)| p.get(**c).is_some_and(|pc| p.iter().any(|q| q > pc)))
        .count();
    let mut noise = super::LabelNoise {
        rows: n,
        disagreements: disagree,
        expected_disagreements: expected,
        confident: flips.len(),
        reported: 0,
        min_odds: opts.label_flip_min_odds,
    };
    for flip in flips {
        let r = flip.row;
        let given = y.get(r).copied().unwrap_or(0);
        let odds = label_flip::odds(&flip, given, &share);
        if odds < opts.label_flip_min_odds {
            continue;
        }
        noise.reported += 1;
        let said = match &probs.votes {
            Some(votes) => {
                let v = votes.get(r * k + flip.suggested).copied().unwrap_or(0);
                format!(
                    "{v} of its {} nearest neighbours say {}",
                    opts.neighbours.min(n - 1),
                    label_text(&opts.label_names, values, flip.suggested)
                )
            }
            None => format!(
                "the cross-validated linear model says {}",
                label_text(&opts.label_names, values, flip.suggested)
            ),
        };
        let detail = format!(
            "label {}, but {said} (p = {:.3} ≥ class threshold {:.2}; p(label {}) = {:.3} < {:.2}; odds {odds:.0} times what the labels' shares give, cut {:.0}); {} of {} rows' labels are confidently contradicted in all",
            label_text(&opts.label_names, values, given),
            flip.p_suggested,
            t.get(flip.suggested).copied().unwrap_or(f64::NAN),
            label_text(&opts.label_names, values, given),
            flip.p_given,
            t.get(given).copied().unwrap_or(f64::NAN),
            opts.label_flip_min_odds,
            noise.confident,
            n,
        );
        run.add(
            r,
            PoisonKind::LabelFlip,
            flip.p_suggested - flip.p_given,
            detail,
            Vec::new(),
        );
    }
    report.label_noise = Some(noise);
    run.lap("backdoors and label flips");
    progress("backdoors", n as u64, n as u64);
}
