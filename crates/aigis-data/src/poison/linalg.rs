//! The little dense linear algebra the detectors need: a Cholesky solve of a shrunk
//! `d × d` covariance and power iteration for a top eigenvector. `d` is the number of
//! feature columns (tens), so a textbook `O(d³)` loop is instant; a crate such as
//! nalgebra would add minutes of build time on two cores for two functions.

/// Cholesky factor `L` (row-major, lower) of the symmetric positive-definite `a` (`d × d`);
/// `None` when `a` is not positive definite.
pub(crate) fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut sum = *a.get(i * d + j)?;
            for k in 0..j {
                sum -= l.get(i * d + k)? * l.get(j * d + k)?;
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                *l.get_mut(i * d + i)? = sum.sqrt();
            } else {
                *l.get_mut(i * d + j)? = sum / l.get(j * d + j)?;
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b` for `x`, given the Cholesky factor `l`.
pub(crate) fn cholesky_solve(l: &[f64], d: usize, b: &[f64]) -> Option<Vec<f64>> {
    let mut y = vec![0.0; d];
    for i in 0..d {
        let mut sum = *b.get(i)?;
        for k in 0..i {
            sum -= l.get(i * d + k)? * y.get(k)?;
        }
        *y.get_mut(i)? = sum / l.get(i * d + i)?;
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let mut sum = *y.get(i)?;
        for k in i + 1..d {
            sum -= l.get(k * d + i)? * x.get(k)?;
        }
        *x.get_mut(i)? = sum / l.get(i * d + i)?;
    }
    Some(x)
}

/// Unit top eigenvector and eigenvalue of the symmetric positive-semidefinite `a`
/// (`d × d`), by power iteration from a seeded random start.
pub(crate) fn top_eigenvector(a: &[f64], d: usize, seed: u64) -> (Vec<f64>, f64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v: Vec<f64> = (0..d).map(|_| rng.f64() - 0.5).collect();
    let mut lambda = 0.0;
    for _ in 0..200 {
        let w: Vec<f64> = a
            .chunks_exact(d.max(1))
            .map(|row| row.iter().zip(&v).map(|(x, y)| x * y).sum())
            .collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            break;
        }
        let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
        let delta: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        lambda = norm;
        if delta < 1e-10 {
            break;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    (v, lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap();
        let x = cholesky_solve(&l, 3, &[1.0, 2.0, 3.0]).unwrap();
        for (row, b) in a.chunks_exact(3).zip([1.0, 2.0, 3.0]) {
            let ax: f64 = row.iter().zip(&x).map(|(p, q)| p * q).sum();
            assert!((ax - b).abs() < 1e-12);
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn power_iteration_finds_the_top_axis() {
        let a = [1.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 2.0];
        let (v, l) = top_eigenvector(&a, 3, 3);
        assert!((l - 9.0).abs() < 1e-6);
        assert!((v[1].abs() - 1.0).abs() < 1e-6);
    }
}
