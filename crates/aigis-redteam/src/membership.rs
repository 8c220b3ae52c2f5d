//! Membership inference: does a model's answer on a row tell whether the row was in its
//! training set?
//!
//! Each attack gives every row a score (higher: more likely a member) from the model's
//! class scores and the row's true class; its power is read from the ROC curve of the
//! scores of known members (training rows) against known non-members (held-out rows):
//! the area under it, and the true-positive rate at a low false-positive rate (0.1 %
//! and 1 %), the measure Carlini et al. (LiRA, 2022) showed matters: an attack that is
//! sure about a few rows leaks more than its AUC says.
//!
//! - `loss` (Yeom et al. 2018): minus the row's cross-entropy;
//! - `confidence` (Salem et al. 2019): the model's highest class probability, which needs
//!   no label;
//! - with reference models (trained the same way on data without these rows):
//!   `reference` (Watson et al. 2022, difficulty calibration): the reference models' mean
//!   loss on the row minus the target's, so rows every model finds easy stop looking like
//!   members; and `lira_offline` (Carlini et al. 2022, offline with a fixed variance): the
//!   target's logit-scaled confidence `ln p − ln(1 − p)` less the references' mean, over
//!   the references' pooled standard deviation.

use crate::Error;
use crate::evasion::cross_entropy;

/// The false-positive rates the true-positive rate is reported at.
pub const FPRS: [f64; 2] = [0.001, 0.01];

/// An attack's ROC over members and non-members.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Roc {
    /// The area under the curve (ties count one half), as scikit-learn's
    /// `roc_auc_score`.
    pub auc: f64,
    /// At each of [`FPRS`], the largest true-positive rate of a threshold whose
    /// false-positive rate is at most it.
    pub tpr_at: Vec<(f64, f64)>,
    /// The largest `TPR − FPR` over thresholds (the membership advantage).
    pub advantage: f64,
    /// The curve's points `(fpr, tpr)`, from (0, 0) to (1, 1), at most
    /// [`Roc::MAX_POINTS`] (thinned evenly).
    pub points: Vec<(f64, f64)>,
}

impl Roc {
    /// The most points kept for a plot.
    pub const MAX_POINTS: usize = 201;
}

/// The ROC of `members`' scores against `non_members'`.
pub fn roc(members: &[f64], non_members: &[f64]) -> Result<Roc, Error> {
    if members.is_empty() || non_members.is_empty() {
        return Err(Error::Options(
            "membership inference needs at least one member and one non-member row".into(),
        ));
    }
    if members.iter().chain(non_members).any(|s| s.is_nan()) {
        return Err(Error::Model(
            "a membership score is not a number (the model answered NaN)".into(),
        ));
    }
    let mut all: Vec<(f64, bool)> = members
        .iter()
        .map(|&s| (s, true))
        .chain(non_members.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (p, n) = (members.len() as f64, non_members.len() as f64);
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    // Twice the area in counts (whole numbers, exact), divided once at the end.
    let mut area2 = 0.0;
    let mut i = 0;
    while i < all.len() {
        // Every row at this score is on the same side of any threshold.
        let s = all.get(i).map_or(0.0, |a| a.0);
        let (tp0, fp0) = (tp, fp);
        while let Some(&(v, member)) = all.get(i) {
            if v.total_cmp(&s).is_ne() {
                break;
            }
            if member {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        area2 += (fp - fp0) * (tp0 + tp);
        points.push((fp / n, tp / p));
    }
    let auc = area2 / (2.0 * p * n);
    let tpr_at = FPRS
        .iter()
        .map(|&f| {
            let best = points
                .iter()
                .filter(|(x, _)| *x <= f)
                .map(|&(_, y)| y)
                .fold(0.0, f64::max);
            (f, best)
        })
        .collect();
    let advantage = points.iter().map(|(x, y)| y - x).fold(0.0, f64::max);
    let thinned = if points.len() <= Roc::MAX_POINTS {
        points
    } else {
        let last = points.len() - 1;
        (0..Roc::MAX_POINTS)
            .filter_map(|j| points.get(j * last / (Roc::MAX_POINTS - 1)).copied())
            .collect()
    };
    Ok(Roc {
        auc,
        tpr_at,
        advantage,
        points: thinned,
    })
}

/// A row's probability of its class from the model's scores (a softmax when they are
/// not probabilities), and `ln p − ln(1 − p)` computed from the other classes so that
/// a confident float32 answer keeps its information.
fn confidence_and_logit(scores: &[f64], k: usize, classes: &[usize]) -> (Vec<f64>, Vec<f64>) {
    // The loss is ln(1 + others / p) (or the softmax's); p = exp(-loss).
    let loss = cross_entropy(scores, k, classes);
    let p: Vec<f64> = loss.iter().map(|l| (-l).exp()).collect();
    // ln(p / (1 - p)) = -ln(e^loss - 1) = -ln(expm1(loss)).
    let logit = loss
        .iter()
        .map(|l| -(l.exp_m1().max(1e-300)).ln())
        .collect();
    (p, logit)
}

/// The attacks' names, in the order [`attack`] gives them.
pub const SIGNALS: [&str; 4] = ["loss", "confidence", "reference", "lira_offline"];

/// Each attack's scores for rows: the target's class scores (`k` per row), the rows'
/// classes, and each reference model's class scores for the same rows. The reference
/// attacks are given only with references.
pub fn attack(
    target: &[f64],
    k: usize,
    classes: &[usize],
    references: &[(Vec<f64>, usize)],
) -> Vec<(&'static str, Vec<f64>)> {
    let loss = cross_entropy(target, k, classes);
    let (_, logit) = confidence_and_logit(target, k, classes);
    let top: Vec<usize> = target
        .chunks(k.max(1))
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |m| m.0)
        })
        .collect();
    let (confidence, _) = confidence_and_logit(target, k, &top);
    let mut out = vec![
        ("loss", loss.iter().map(|l| -l).collect::<Vec<_>>()),
        ("confidence", confidence),
    ];
    if references.is_empty() {
        return out;
    }
    let rows = classes.len();
    let m = references.len() as f64;
    let mut ref_loss = vec![0.0; rows];
    let mut ref_logit = vec![Vec::with_capacity(references.len()); rows];
    for (scores, rk) in references {
        let l = cross_entropy(scores, *rk, classes);
        let (_, lg) = confidence_and_logit(scores, *rk, classes);
        for ((acc, v), (all, g)) in ref_loss
            .iter_mut()
            .zip(&l)
            .zip(ref_logit.iter_mut().zip(lg))
        {
            *acc += v / m;
            all.push(g);
        }
    }
    out.push((
        "reference",
        ref_loss.iter().zip(&loss).map(|(r, t)| r - t).collect(),
    ));
    // The pooled deviation of the references' logits around each row's mean.
    let means: Vec<f64> = ref_logit
        .iter()
        .map(|v| v.iter().sum::<f64>() / m)
        .collect();
    let (mut ss, mut df) = (0.0, 0.0);
    for (v, mean) in ref_logit.iter().zip(&means) {
        ss += v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>();
        df += m - 1.0;
    }
    // One reference has no spread: the scale is then 1 (the ranking is the same).
    let sd = if df > 0.0 && ss > 0.0 {
        (ss / df).sqrt()
    } else {
        1.0
    };
    out.push((
        "lira_offline",
        logit
            .iter()
            .zip(&means)
            .map(|(t, mu)| (t - mu) / sd)
            .collect(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roc_of_separated_tied_and_reversed_scores() {
        let r = roc(&[3.0, 4.0], &[1.0, 2.0]).unwrap();
        assert_eq!(r.auc, 1.0);
        assert_eq!(r.tpr_at, vec![(0.001, 1.0), (0.01, 1.0)]);
        assert_eq!(r.advantage, 1.0);
        let r = roc(&[1.0, 2.0], &[3.0, 4.0]).unwrap();
        assert_eq!(r.auc, 0.0);
        assert_eq!(r.tpr_at, vec![(0.001, 0.0), (0.01, 0.0)]);
        // Every score equal: the diagonal, AUC one half.
        let r = roc(&[1.0; 3], &[1.0; 5]).unwrap();
        assert_eq!(r.auc, 0.5);
        assert_eq!(r.points, vec![(0.0, 0.0), (1.0, 1.0)]);
        // Mann–Whitney with a tie: pairs (m, n) with m > n count 1, ties 1/2.
        let r = roc(&[2.0, 1.0], &[1.0, 0.0]).unwrap();
        assert!((r.auc - (1.0 + 1.0 + 0.5 + 1.0) / 4.0).abs() < 1e-15);
        assert!(roc(&[], &[1.0]).is_err());
        assert!(roc(&[f64::NAN], &[1.0]).is_err());
    }

    #[test]
    fn a_long_curve_is_thinned_to_its_ends() {
        let members: Vec<f64> = (0..1000).map(|i| f64::from(i) + 0.5).collect();
        let non: Vec<f64> = (0..1000).map(f64::from).collect();
        let r = roc(&members, &non).unwrap();
        assert_eq!(r.points.len(), Roc::MAX_POINTS);
        assert_eq!(r.points.first(), Some(&(0.0, 0.0)));
        assert_eq!(r.points.last(), Some(&(1.0, 1.0)));
    }

    #[test]
    fn signals_from_probabilities_and_references() {
        // Two rows, two classes; row 0 confident in its class, row 1 not.
        let target = [0.999, 0.001, 0.4, 0.6];
        let classes = [0, 0];
        let s = attack(&target, 2, &classes, &[]);
        assert_eq!(s.len(), 2);
        assert!((s[0].1[0] - 0.999f64.ln()).abs() < 1e-12);
        // The top probability, whatever the label.
        assert!((s[1].1[1] - 0.6).abs() < 1e-12);
        // A reference as confident as the target cancels it out.
        let s = attack(&target, 2, &classes, &[(target.to_vec(), 2)]);
        assert_eq!(s[2].0, "reference");
        assert!(s[2].1.iter().all(|v| v.abs() < 1e-12));
        assert!(s[3].1.iter().all(|v| v.abs() < 1e-9));
        // The logit: ln(0.999 / 0.001).
        let (_, logit) = confidence_and_logit(&target, 2, &classes);
        assert!((logit[0] - (0.999f64 / 0.001).ln()).abs() < 1e-9);
    }
}
