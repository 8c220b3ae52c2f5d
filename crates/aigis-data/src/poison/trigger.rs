//! Trigger groups: a small set of rows that share the *same unusual values* in two or
//! more columns and (almost) all carry one label — the raw-feature footprint of a backdoor
//! ("stamp these pixels white, label it 7").
//!
//! 1. A cell is *unusual* when its robust z-score is at least `cell_z` in magnitude; its
//!    item is `(column, z rounded to 0.01)`, so exact repeats of a rare value meet.
//! 2. Items seen in at least `min_group` rows and at most `max_group_fraction × n` rows are
//!    kept (a value shared by a large part of the data is not a trigger).
//! 3. Pairs of kept items are counted per row (at most 24 items per row, the most extreme);
//!    each pair seen in `min_group` rows or more defines a candidate group: the rows having
//!    both values.
//! 4. A candidate whose majority label covers at least `purity` of its rows, and whose size
//!    is at most `max_group_fraction × n`, is a candidate group; groups with the same rows
//!    are merged and their trigger is every item most (90 %) of the group shares.
//! 5. The candidate is a trigger group when at least `min_disagreement` of its members look
//!    like *another* label once the trigger columns are ignored: a 10-NN vote among up to
//!    2,000 random rows outside the group, on the other columns. This is what separates a
//!    backdoor (images of many digits, stamped and relabelled 7) from a natural group (a few
//!    zeros that share two stroke pixels): on raw features the trigger itself makes the
//!    stamped rows each other's neighbours, so the scan's label model alone would agree
//!    with the poisoned label.
//!    5b. And they must look like another label clearly more often than rows of the
//!    group's label outside the group do, by the same vote ([`stands_out`]): on data whose
//!    features say little about the label (UCI Adult's numeric columns) most rows of a
//!    minority label look like the majority, and a natural subgroup (a degree and a capital
//!    gain, all earning >50K) is no backdoor.
//! 6. And the trigger must be foreign to the label the members resemble (the majority vote
//!    of step 5's dissenters): at least one trigger value is `cell_z` robust σ or more from
//!    that label's rows. Rows relabelled wholesale but carrying values that are ordinary for
//!    their true class (a rare class's typical values, mislabelled together) are label
//!    flips, not a backdoor: nothing was stamped on them.
//!
//! Steps 1–4 run twice: with items exact to 0.01 robust σ, and with items a tenth of the
//! column's range wide, so that a trigger stamped with a little noise (no two rows share
//! the exact values) still meets in one item.
//!
//! Cost: two passes over the cells plus hash counting of the few unusual items, so it
//! scales to millions of rows. Catches: fixed-value triggers of two or more columns, and
//! such triggers with noise up to about a tenth of the column's range, whatever the
//! classifier thinks. Misses: single-column triggers, triggers made of ordinary values (a
//! combination that is rare only jointly), noise wider than an item or straddling two,
//! groups smaller than `min_group`, and clean-label backdoors (rows already of the target
//! label, stamped): step 5 needs the label to be wrong.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::classify::CLIP;
use super::prep::{Prepared, class_profile, sample_indices};

const ITEMS_PER_ROW: usize = 24;

/// A detected trigger group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Rows with both values of the seed pair (ascending).
    pub rows: Vec<usize>,
    /// Dense index of the majority label.
    pub label: usize,
    /// Share of `rows` carrying `label`.
    pub purity: f64,
    /// The trigger: `(kept column index, robust z)` shared by ≥ 90 % of the rows.
    pub items: Vec<(usize, f64)>,
    /// Members checked in step 5, and how many of them look like another label.
    pub checked: usize,
    pub disagree: usize,
    /// The same vote for rows of `label` outside the group (step 5b): checked, and how
    /// many look like another label.
    pub base_checked: usize,
    pub base_disagree: usize,
    /// The label most dissenting members look like (step 6).
    pub resembles: usize,
    /// Trigger items at least `cell_z` robust σ from the rows of `resembles`.
    pub foreign: usize,
}

/// Parameters (from [`super::Options`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub cell_z: f64,
    pub min_group: usize,
    pub max_fraction: f64,
    pub purity: f64,
    pub min_disagreement: f64,
    pub seed: u64,
}

/// Candidate groups of one resolution: rows → (majority label, purity, trigger items as
/// `(kept column, z)` shared by 90 % of the rows).
type Candidates = BTreeMap<Vec<usize>, (usize, f64, Vec<(usize, f64)>)>;

/// Steps 1–4 at one resolution: a cell's item is `(column, ⌊z / width⌋)`.
fn candidates(
    data: &Prepared,
    y: &[usize],
    classes: usize,
    params: Params,
    widths: &[f64],
    out: &mut Candidates,
) {
    let min_group = params.min_group.max(2);
    let max_size = ((params.max_fraction * data.n as f64).floor() as usize).max(min_group);
    let key = |j: usize, z: f64| {
        let w = widths.get(j).copied().unwrap_or(0.01);
        (j as u32, (z / w).floor() as i64)
    };
    // 1–2: unusual items and their counts.
    let mut counts: HashMap<(u32, i64), u32> = HashMap::new();
    for row in data.rows() {
        for (j, &z) in row.iter().enumerate() {
            if z.abs() >= params.cell_z {
                *counts.entry(key(j, z)).or_insert(0) += 1;
            }
        }
    }
    let mut kept: Vec<(u32, i64)> = counts
        .into_iter()
        .filter(|&(_, c)| c as usize >= min_group && c as usize <= max_size)
        .map(|(k, _)| k)
        .collect();
    kept.sort_unstable();
    let id: HashMap<(u32, i64), u32> = kept
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u32))
        .collect();
    if id.is_empty() || data.d == 0 {
        return;
    }
    // 3: each row's kept items, then the rows of each pair of items.
    let row_items: Vec<Vec<u32>> = data
        .rows()
        .map(|row| {
            let mut items: Vec<(f64, u32)> = row
                .iter()
                .enumerate()
                .filter(|&(_, z)| z.abs() >= params.cell_z)
                .filter_map(|(j, &z)| id.get(&key(j, z)).map(|&i| (z.abs(), i)))
                .collect();
            items.sort_by(|a, b| b.0.total_cmp(&a.0));
            items.truncate(ITEMS_PER_ROW);
            let mut ids: Vec<u32> = items.into_iter().map(|(_, i)| i).collect();
            ids.sort_unstable();
            ids
        })
        .collect();
    let mut sets: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (i, items) in row_items.iter().enumerate() {
        for (a, &p) in items.iter().enumerate() {
            // (Single items as groups, for one-column triggers, were tried: natural values
            // of one column shared by one label abound in real tables, and the stamped
            // value is seldom rare alone, so they found almost none and cost much.)
            for &q in items.iter().skip(a + 1) {
                sets.entry((p, q)).or_default().push(i);
            }
        }
    }
    // 4: pure groups, merged by identical rows.
    for rows in sets.into_values() {
        if rows.len() < min_group || rows.len() > max_size || out.contains_key(&rows) {
            continue;
        }
        let mut votes = vec![0usize; classes];
        for &i in &rows {
            if let Some(v) = y.get(i).and_then(|&c| votes.get_mut(c)) {
                *v += 1;
            }
        }
        let Some((label, &top)) = votes
            .iter()
            .enumerate()
            .max_by_key(|&(c, v)| (*v, usize::MAX - c))
        else {
            continue;
        };
        let purity = top as f64 / rows.len() as f64;
        if purity < params.purity {
            continue;
        }
        let mut shared: BTreeMap<u32, usize> = BTreeMap::new();
        for &i in &rows {
            for &item in row_items.get(i).map_or(&[][..], Vec::as_slice) {
                *shared.entry(item).or_insert(0) += 1;
            }
        }
        let items: Vec<(usize, f64)> = shared
            .into_iter()
            .filter(|&(_, c)| c as f64 >= 0.9 * rows.len() as f64)
            .filter_map(|(item, _)| kept.get(item as usize))
            .map(|&(j, k)| {
                let w = widths.get(j as usize).copied().unwrap_or(0.01);
                (j as usize, (k as f64 + 0.5) * w)
            })
            .collect();
        out.insert(rows, (label, purity, items));
    }
}

/// Finds trigger groups.
pub(crate) fn groups(data: &Prepared, y: &[usize], classes: usize, params: Params) -> Vec<Group> {
    // Two resolutions: exact repeats of a value (to 0.01 robust σ), and, for triggers
    // stamped with noise, a tenth of the column's range.
    let exact = vec![0.01; data.d];
    let coarse: Vec<f64> = (0..data.d)
        .map(|j| {
            let (lo, hi) = data
                .rows()
                .filter_map(|r| r.get(j))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            (0.1 * (hi - lo)).max(0.01)
        })
        .collect();
    let mut merged = Candidates::new();
    candidates(data, y, classes, params, &exact, &mut merged);
    // Wide items meet by chance far more often than exact values: on a million rows,
    // hundreds of little groups of 4-30 rows share two tail buckets and one label. A wide
    // group must hold at least one row in 10,000.
    let wide = Params {
        min_group: params.min_group.max(data.n / 10_000),
        ..params
    };
    candidates(data, y, classes, wide, &coarse, &mut merged);
    let mut rng = fastrand::Rng::with_seed(params.seed);
    // Step 5b's vote depends only on the label and the columns left out: natural groups
    // often share both (a degree and a capital gain), so it is computed once for each.
    let mut baselines: HashMap<(usize, Vec<usize>), (usize, usize)> = HashMap::new();
    let mut profiles: HashMap<usize, Option<Vec<(f64, f64)>>> = HashMap::new();
    let mut of_label: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in y.iter().enumerate() {
        if let Some(rows) = of_label.get_mut(c) {
            rows.push(i);
        }
    }
    merged
        .into_iter()
        .filter_map(|(rows, (label, purity, items))| {
            // A backdoor is a small part of its label; a group holding most of a label's
            // rows is that label's own region of the feature space.
            if 2 * rows.len() > of_label.get(label).map_or(0, Vec::len) {
                return None;
            }
            // A first look at 40 members: a group whose members nearly all look like
            // their own label (a class's own tail, met in the coarse pass) stops here.
            let (checked, disagree, _) =
                look_elsewhere(data, y, classes, &rows, &rows, &items, 40, &mut rng);
            if (disagree as f64) < 0.5 * params.min_disagreement * checked.max(1) as f64 {
                return None;
            }
            let (checked, disagree, resembles) =
                look_elsewhere(data, y, classes, &rows, &rows, &items, 200, &mut rng);
            if (disagree as f64) < params.min_disagreement * checked.max(1) as f64 {
                return None;
            }
            // Step 5b: the same vote for rows of the group's label outside the group.
            let columns: Vec<usize> = items.iter().map(|&(j, _)| j).collect();
            let (base_checked, base_disagree) =
                *baselines.entry((label, columns)).or_insert_with(|| {
                    let peers: Vec<usize> = of_label
                        .get(label)
                        .map_or(&[][..], Vec::as_slice)
                        .iter()
                        .copied()
                        .filter(|i| rows.binary_search(i).is_err())
                        .collect();
                    let (c, d, _) =
                        look_elsewhere(data, y, classes, &rows, &peers, &items, 200, &mut rng);
                    (c, d)
                });
            if !stands_out(disagree, checked, base_disagree, base_checked) {
                return None;
            }
            // Step 6: is the trigger foreign to the label the members resemble? (The
            // group's own rows carry another label, so the profile of that label's rows is
            // the same for every group: computed once.)
            let profile = profiles
                .entry(resembles)
                .or_insert_with(|| {
                    let others: Vec<usize> = (0..data.n)
                        .filter(|&i| y.get(i) == Some(&resembles))
                        .collect();
                    class_profile(data, &others, &mut rng)
                })
                .clone()?;
            let foreign = items
                .iter()
                .filter(|&&(j, z)| {
                    profile
                        .get(j)
                        .is_some_and(|&(loc, scale)| ((z - loc) / scale).abs() >= params.cell_z)
                })
                .count();
            (foreign > 0).then_some(Group {
                rows,
                label,
                purity,
                items,
                checked,
                disagree,
                base_checked,
                base_disagree,
                resembles,
                foreign,
            })
        })
        .collect()
}

/// Step 5b: whether the group's members look like another label clearly more often than
/// ordinary rows of the group's label do. On data whose features say little about the
/// label (UCI Adult's six numeric columns), most rows of a minority label have neighbours
/// of the majority label, so "looks like another label" is the norm there, and a natural
/// subgroup (high capital gains, all earning >50K) is no backdoor. The group must close at
/// least half of the gap between its label's own rate and certainty, and do so by three
/// standard errors (two-proportion test).
pub(crate) fn stands_out(
    disagree: usize,
    checked: usize,
    base: usize,
    base_checked: usize,
) -> bool {
    if checked == 0 || base_checked == 0 {
        return checked > 0;
    }
    let g = disagree as f64 / checked as f64;
    let b = base as f64 / base_checked as f64;
    let pooled = (disagree + base) as f64 / (checked + base_checked) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / checked as f64 + 1.0 / base_checked as f64))
        .sqrt()
        .max(1e-9);
    g - b >= 0.5 * (1.0 - b) && (g - b) / se >= 3.0
}

/// Step 5: how many of (up to `members` of) `candidates` does a 10-NN vote on the non-trigger
/// columns, among up to 2,000 rows outside the group `rows`, give another label than
/// their own? Returns `(checked, disagreeing, the label most disagreeing members were
/// given)`.
#[expect(
    clippy::too_many_arguments,
    reason = "the vote needs the data, labels, group, candidates, trigger, sample size and rng"
)]
fn look_elsewhere(
    data: &Prepared,
    y: &[usize],
    classes: usize,
    rows: &[usize],
    candidates: &[usize],
    items: &[(usize, f64)],
    members: usize,
    rng: &mut fastrand::Rng,
) -> (usize, usize, usize) {
    const REFERENCE: usize = 2000;
    const K: usize = 10;
    let trigger: Vec<usize> = items.iter().map(|&(j, _)| j).collect();
    let clip = |v: f64| v.clamp(-CLIP, CLIP);
    let dist = |a: usize, b: usize| -> f64 {
        let (x, z) = (data.row(a), data.row(b));
        x.iter()
            .zip(z)
            .enumerate()
            .filter(|(j, _)| !trigger.contains(j))
            .map(|(_, (u, v))| (clip(*u) - clip(*v)).powi(2))
            .sum()
    };
    // Enough draws that about REFERENCE fall outside the group (at most 5 % of the rows).
    let draws = REFERENCE + (REFERENCE * rows.len()).div_ceil(data.n.max(1)) * 2 + 16;
    let reference: Vec<usize> = sample_indices(rng, data.n, draws)
        .into_iter()
        .filter(|i| rows.binary_search(i).is_err())
        .take(REFERENCE)
        .collect();
    let members: Vec<usize> = sample_indices(rng, candidates.len(), members)
        .into_iter()
        .filter_map(|k| candidates.get(k).copied())
        .collect();
    let said: Vec<Option<usize>> = members
        .par_iter()
        .map(|&m| {
            // A peer of step 5b may be in the reference sample: not its own neighbour.
            let mut near: Vec<(f64, usize)> = reference
                .iter()
                .filter(|&&r| r != m)
                .map(|&r| (dist(m, r), r))
                .collect();
            let k = K.min(near.len());
            if k == 0 {
                return None;
            }
            near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            let mut votes = vec![0usize; classes];
            for &(_, r) in near.iter().take(k) {
                if let Some(v) = y.get(r).and_then(|&c| votes.get_mut(c)) {
                    *v += 1;
                }
            }
            let said = votes
                .iter()
                .enumerate()
                .max_by_key(|&(c, v)| (*v, usize::MAX - c));
            said.map(|(c, _)| c)
                .filter(|&c| Some(c) != y.get(m).copied())
        })
        .collect();
    let mut tally = vec![0usize; classes];
    for &c in said.iter().flatten() {
        if let Some(t) = tally.get_mut(c) {
            *t += 1;
        }
    }
    let resembles = tally
        .iter()
        .enumerate()
        .max_by_key(|&(c, v)| (*v, usize::MAX - c))
        .map_or(0, |(c, _)| c);
    (members.len(), said.iter().flatten().count(), resembles)
}

#[cfg(test)]
mod tests {
    use super::super::prep::prepare;
    use super::super::testdata::gaussian_clusters;
    use super::*;

    const PARAMS: Params = Params {
        cell_z: 3.0,
        min_group: 4,
        max_fraction: 0.05,
        purity: 0.9,
        min_disagreement: 0.5,
        seed: 1,
    };

    #[test]
    fn finds_a_small_triggered_group() {
        let (mut f, labels) = gaussian_clusters(2000, 6, 4, 13);
        let mut y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let planted: Vec<usize> = (0..20).map(|k| k * 97 + 5).collect();
        for &i in &planted {
            f.data[i * 6 + 1] = 40.0;
            f.data[i * 6 + 4] = -35.0;
            y[i] = 2;
        }
        let g = groups(&prepare(&f), &y, 4, PARAMS);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].rows, planted);
        assert_eq!(g[0].label, 2);
        assert_eq!(
            g[0].items.iter().map(|i| i.0).collect::<Vec<_>>(),
            vec![1, 4]
        );
    }

    #[test]
    fn a_trigger_stamped_with_noise_is_found() {
        let (mut f, labels) = gaussian_clusters(2000, 6, 4, 13);
        let mut y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        let mut rng = fastrand::Rng::with_seed(2);
        let planted: Vec<usize> = (0..20).map(|k| k * 97 + 5).collect();
        for &i in &planted {
            // No two rows share a value: each is the trigger plus up to 0.5 of noise.
            f.data[i * 6 + 1] = 40.0 - rng.f64() * 0.5;
            f.data[i * 6 + 4] = -35.0 + rng.f64() * 0.5;
            y[i] = 2;
        }
        let g = groups(&prepare(&f), &y, 4, PARAMS);
        let found: Vec<usize> = g.iter().flat_map(|g| g.rows.clone()).collect();
        let hits = planted.iter().filter(|i| found.contains(i)).count();
        assert!(hits >= 16, "{hits} of 20: {g:?}");
        assert!(found.iter().all(|i| planted.contains(i)), "{g:?}");
    }

    #[test]
    fn a_group_must_stand_out_from_its_labels_own_rows() {
        // Digits-like: the label's own rows almost never look like another label.
        assert!(stands_out(18, 18, 4, 200));
        // Adult-like: 70 % of the label's own rows look like another label; a group at
        // 93 % of 15 is within chance, at 95 % of 200 it is not.
        assert!(!stands_out(14, 15, 140, 200));
        assert!(stands_out(190, 200, 140, 200));
        // Closing less than half the gap to certainty is not enough, however many rows.
        assert!(!stands_out(1600, 2000, 1400, 2000));
    }

    #[test]
    fn clean_continuous_data_has_no_groups() {
        let (f, labels) = gaussian_clusters(5000, 10, 3, 17);
        let y: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
        assert!(groups(&prepare(&f), &y, 3, PARAMS).is_empty());
    }
}
