//! Likely flipped labels, by confident learning (Northcutt, Jiang & Chuang 2021).
//!
//! Given out-of-sample probabilities `p[i][j]` (see [`super::classify`]), each class `j`
//! gets a threshold `t_j`, the mean probability of `j` over the rows labelled `j` — the
//! model's own idea of "confident" for that class, which adapts to classes that are
//! harder than others. A row labelled `y` is flagged when `p[i][y] < t_y` *and* some
//! other class `j` has `p[i][j] ≥ t_j` (the row lands off the diagonal of the confident
//! joint) and `j` is also the model's most probable class, above `y`; the suggested
//! label is that `j`.
//!
//! Catches: labels that disagree with what similar rows say. Misses: flips into a class
//! the features cannot tell apart (the model is not confident about any other class), and
//! flips in regions where most labels are flipped. Each flagged row is reported on its own
//! only when its contradiction stands out from the label noise natural to the data
//! ([`odds`]); the scan reports the rest as a dataset-level statistic.

use super::classify::Probabilities;

/// One flagged row.
#[derive(Debug, Clone)]
pub(crate) struct Flip {
    pub row: usize,
    /// Dense index of the class the model suggests.
    pub suggested: usize,
    /// Probability of the given label.
    pub p_given: f64,
    /// Probability of the suggested label.
    pub p_suggested: f64,
}

/// How strongly a flagged row's neighbourhood contradicts its label, beyond what the
/// labels' shares alone would: `(p_suggested / p_given) / (share_suggested / share_given)`,
/// a Bayes factor. Real data has label noise wherever its features say little about the
/// label: on UCI Adult's numeric columns confident learning flags 7.6 % of the clean rows,
/// on German credit 16 %, almost all because a minority label sits among majority-label
/// neighbours, which the shares predict. A row is reported on its own only when its
/// neighbours are far surer than that ([`super::Options::label_flip_min_odds`]); the
/// others count in [`super::LabelNoise`].
pub(crate) fn odds(flip: &Flip, given: usize, share: &[f64]) -> f64 {
    let prior = match (share.get(flip.suggested), share.get(given)) {
        (Some(&s), Some(&g)) if s > 0.0 && g > 0.0 => s / g,
        _ => 1.0,
    };
    (flip.p_suggested / flip.p_given.max(1e-12)) / prior
}

/// Per-class thresholds `t_j` (NaN for a class with no rows).
pub(crate) fn thresholds(probs: &Probabilities, y: &[usize]) -> Vec<f64> {
    let k = probs.k.max(1);
    let mut sum = vec![0.0; k];
    let mut count = vec![0usize; k];
    for (row, &c) in probs.p.chunks_exact(k).zip(y) {
        if let (Some(s), Some(n), Some(p)) = (sum.get_mut(c), count.get_mut(c), row.get(c)) {
            *s += p;
            *n += 1;
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| if n == 0 { f64::NAN } else { s / n as f64 })
        .collect()
}

/// Slack in comparing a probability with a class threshold: on cleanly separated data
/// every row of a class has the same probability and their mean, the threshold, can come
/// out a rounding error above it.
const TOLERANCE: f64 = 1e-9;

/// Rows off the diagonal of the confident joint.
pub(crate) fn find(probs: &Probabilities, y: &[usize], t: &[f64]) -> Vec<Flip> {
    let k = probs.k.max(1);
    let mut out = Vec::new();
    for (row, (p, &given)) in probs.p.chunks_exact(k).zip(y).enumerate() {
        let (Some(&p_given), Some(&t_given)) = (p.get(given), t.get(given)) else {
            continue;
        };
        if p_given >= t_given {
            continue;
        }
        let best = p
            .iter()
            .zip(t)
            .enumerate()
            .filter(|&(j, (pj, tj))| j != given && *pj >= tj - TOLERANCE)
            .max_by(|a, b| a.1.0.total_cmp(b.1.0));
        // The suggestion must also be the model's first choice and beat the given label:
        // a class with a single row has a threshold as low as its one probability, which
        // every row would otherwise "confidently" reach.
        let first_choice = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(j, _)| j);
        if let Some((suggested, (&p_suggested, _))) = best
            && first_choice == Some(suggested)
            && p_suggested > p_given
        {
            out.push(Flip {
                row,
                suggested,
                p_given,
                p_suggested,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::classify::knn;
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    #[test]
    fn finds_planted_flips_and_little_else() {
        let (f, labels) = gaussian_clusters(1000, 5, 4, 11);
        let mut y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let planted = [3usize, 100, 333, 600, 999];
        for &i in &planted {
            y[i] = (y[i] + 1) % 4;
        }
        let p = prepare(&f);
        let probs = knn(&p, &y, 4, 10);
        let t = thresholds(&probs, &y);
        assert!(t.iter().all(|v| *v > 0.5));
        let flips = find(&probs, &y, &t);
        let rows: Vec<usize> = flips.iter().map(|f| f.row).collect();
        for i in planted {
            assert!(rows.contains(&i), "row {i} not found in {rows:?}");
            let flip = flips.iter().find(|f| f.row == i).unwrap();
            assert_eq!(flip.suggested, labels[i] as usize);
        }
        assert!(rows.len() <= 10, "{rows:?}");
    }

    #[test]
    fn clean_labels_give_no_flips() {
        let (f, labels) = gaussian_clusters(500, 5, 3, 2);
        let y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let probs = knn(&prepare(&f), &y, 3, 10);
        let t = thresholds(&probs, &y);
        assert!(find(&probs, &y, &t).len() <= 2);
    }

    #[test]
    fn a_one_row_class_does_not_claim_every_row() {
        let (f, labels) = gaussian_clusters(300, 4, 2, 5);
        let mut y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        y[7] = 2; // a third class with a single row (an empty label, say)
        let probs = knn(&prepare(&f), &y, 3, 10);
        let t = thresholds(&probs, &y);
        let flips = find(&probs, &y, &t);
        assert!(flips.iter().all(|f| f.suggested != 2), "{flips:?}");
        assert!(flips.iter().all(|f| f.p_suggested > f.p_given));
        assert!(flips.len() <= 3, "{flips:?}");
    }
}
