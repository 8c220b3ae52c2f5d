//! The two empirical distribution functions of a pair of samples, walked together.

/// For each distinct value `t` of either sample, ascending: `t` and how many values of
/// each sample are `≤ t` (scipy's `searchsorted(side="right")` at `t`). Both samples
/// sorted ascending.
pub(crate) fn steps<'a>(
    a: &'a [f64],
    b: &'a [f64],
) -> impl Iterator<Item = (f64, usize, usize)> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let t = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return None,
        };
        while a.get(i).is_some_and(|&x| x <= t) {
            i += 1;
        }
        while b.get(j).is_some_and(|&y| y <= t) {
            j += 1;
        }
        Some((t, i, j))
    })
}
