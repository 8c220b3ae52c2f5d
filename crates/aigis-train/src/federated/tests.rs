use rand::SeedableRng as _;

use super::*;
use crate::aggregate::{Rule, Update, aggregate};

fn arch(features: usize, hidden: usize, classes: usize) -> Architecture {
    Architecture {
        hidden,
        classes,
        bounds: Bounds {
            low: vec![-3.0; features],
            high: vec![3.0; features],
        },
    }
}

/// Two Gaussian blobs per class, split among `clients` so that each holds mostly one
/// class (the non-IID split FedAvg is known for).
fn blobs(clients: usize, rows: usize) -> Vec<(Vec<f64>, Vec<usize>)> {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut normal = || {
        let (u, v) = (rng.f64().max(1e-12), rng.f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    (0..clients)
        .map(|c| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for r in 0..rows {
                let class = if r % 5 == 0 { 1 - c % 2 } else { c % 2 };
                let centre = if class == 0 { -1.0 } else { 1.0 };
                x.push(centre + 0.5 * normal());
                x.push(-centre + 0.5 * normal());
                y.push(class);
            }
            (x, y)
        })
        .collect()
}

#[test]
fn parameters_round_trip_through_the_model() -> Result<(), Error> {
    for (h, want) in [(0, 4 * 3 + 3), (5, 4 * 5 + 5 + 5 * 3 + 3)] {
        let a = arch(4, h, 3);
        assert_eq!(a.parameters(), want);
        let p = a.init(9)?;
        assert_eq!(p.len(), want);
        let m = a.model(&p)?;
        assert_eq!(flatten(&m.layers), p);
        // The same seed, the same start: every party builds the same first model.
        assert_eq!(a.init(9)?, p);
    }
    assert!(arch(4, 0, 3).model(&[0.0; 3]).is_err());
    assert!(arch(4, 0, 3).model(&[f64::NAN; 15]).is_err());
    assert!(arch(0, 0, 3).init(1).is_err());
    assert!(arch(2, 0, 1).init(1).is_err());
    Ok(())
}

#[test]
fn a_local_update_is_the_change_sgd_makes() -> Result<(), Error> {
    let a = arch(2, 4, 2);
    let global = a.init(1)?;
    let data = blobs(1, 60);
    let (x, y) = data.first().cloned().unwrap_or_default();
    let s = Local {
        epochs: 3,
        ..Local::default()
    };
    let delta = local_update(&a, &global, &x, 60, &y, &s, 5)?;
    assert_eq!(delta.len(), global.len());
    assert!(delta.iter().any(|d| d.abs() > 1e-3));
    let before = a.model(&global)?;
    let after: Vec<f64> = global.iter().zip(&delta).map(|(g, d)| g + d).collect();
    let trained = a.model(&after)?;
    let right = |m: &Mlp| -> Result<usize, Error> {
        Ok(m.predict(&x, 60)?
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count())
    };
    assert!(
        right(&trained)? > right(&before)?.max(48),
        "{}",
        right(&trained)?
    );
    // Deterministic given the seed.
    assert_eq!(local_update(&a, &global, &x, 60, &y, &s, 5)?, delta);
    for bad in [
        Local {
            epochs: 0,
            ..s.clone()
        },
        Local {
            batch_size: 0,
            ..s.clone()
        },
        Local {
            learning_rate: f64::NAN,
            ..s.clone()
        },
    ] {
        assert!(local_update(&a, &global, &x, 60, &y, &bad, 5).is_err());
    }
    // Rows of the wrong width, labels beyond the classes.
    assert!(local_update(&a, &global, &x[..90], 30, &y[..30], &s, 5).is_err());
    let wide = arch(3, 4, 2);
    assert!(local_update(&wide, &wide.init(1)?, &x, 60, &y, &s, 5).is_err());
    let diverging = Local {
        learning_rate: 1e300,
        ..s.clone()
    };
    assert!(matches!(
        local_update(&a, &global, &x, 60, &y, &diverging, 5),
        Err(Error::Diverged(_))
    ));
    Ok(())
}

#[test]
fn federated_averaging_learns_what_no_client_holds_alone() -> Result<(), Error> {
    // Four clients, each mostly one class: averaged rounds learn both.
    let a = arch(2, 0, 2);
    let data = blobs(4, 50);
    let mut global = a.init(2)?;
    for round in 0..10 {
        let mut ups = Vec::new();
        for (i, (x, y)) in data.iter().enumerate() {
            let values = local_update(
                &a,
                &global,
                x,
                50,
                y,
                &Local::default(),
                round * 10 + i as u64,
            )?;
            ups.push(Update { values, rows: 50 });
        }
        let agg = aggregate(&ups, Rule::Mean, None).map_err(Error::Options)?;
        global
            .iter_mut()
            .zip(&agg.values)
            .for_each(|(g, d)| *g += d);
    }
    let m = a.model(&global)?;
    let (mut right, mut total) = (0, 0);
    for (x, y) in &data {
        right += m
            .predict(x, 50)?
            .iter()
            .zip(y)
            .filter(|(p, t)| p == t)
            .count();
        total += 50;
    }
    assert!(right as f64 / total as f64 > 0.9, "{right} of {total}");
    Ok(())
}

#[test]
fn privatize_clips_then_adds_the_stated_noise() -> Result<(), Error> {
    let mut rng = chacha20::ChaCha20Rng::seed_from_u64(4);
    let mut big = vec![3.0, 4.0];
    let mut zeros = vec![0.0; 20_000];
    assert!(privatize(&mut big, 1.0, 1e-9, &mut rng)?);
    assert!(
        (big[0] - 0.6).abs() < 1e-6 && (big[1] - 0.8).abs() < 1e-6,
        "{big:?}"
    );
    assert!(!privatize(&mut zeros, 2.0, 1.5, &mut rng)?);
    let n = zeros.len() as f64;
    let mean = zeros.iter().sum::<f64>() / n;
    let sd = (zeros.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.05 && (sd - 3.0).abs() < 0.05, "{mean} {sd}");
    assert!(privatize(&mut big, 0.0, 1.0, &mut rng).is_err());
    assert!(privatize(&mut big, 1.0, 0.0, &mut rng).is_err());
    Ok(())
}
