//! The numerics of federated learning (McMahan et al., 2017): a network every party
//! builds alike from public settings ([`Architecture`]), its parameters as one flat
//! vector, a client's local training from the round's model ([`local_update`]), and the
//! client's own differential privacy: its update clipped and noised before it leaves
//! ([`privatize`]), each round it joins a Gaussian mechanism on everything it holds
//! (accounted by [`crate::privacy`] at a sampling rate of 1, since a client cannot trust
//! the coordinator's sampling). How a round's updates become one is
//! [`crate::aggregate`]; the network between the parties is the `aigis-federate` crate.

use ndarray::{Array1, Array2, Axis};
use rand_distr::{Distribution as _, StandardNormal};

use crate::dpsgd::Bounds;
use crate::mlp::{Error, Mlp, check_rows, glorot, layer_gradients};

/// The network every party builds: its inputs are scaled by public bounds (each party's
/// own means would differ, and would leak), so the model needs nothing from any party's
/// rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Hidden units (0: multinomial logistic regression).
    pub hidden: usize,
    /// The classes (label values 0 to classes − 1).
    pub classes: usize,
    /// Each feature's public range (as `aigis train --dp` takes it).
    pub bounds: Bounds,
}

impl Architecture {
    /// The features the network takes.
    pub fn features(&self) -> usize {
        self.bounds.low.len()
    }

    fn sizes(&self) -> Vec<usize> {
        if self.hidden > 0 {
            vec![self.features(), self.hidden, self.classes]
        } else {
            vec![self.features(), self.classes]
        }
    }

    /// Checks the settings: two classes or more, a feature or more, bounds that are numbers
    /// with the low below the high.
    pub fn check(&self) -> Result<(), Error> {
        let f = self.features();
        if f == 0 || self.bounds.high.len() != f || self.classes < 2 {
            return Err(Error::Options(format!(
                "a network of {f} features ({} high bounds) and {} classes: it needs a feature and two classes or more",
                self.bounds.high.len(),
                self.classes
            )));
        }
        if let Some(j) = (0..f).find(|&j| {
            let (l, h) = (self.bounds.low.get(j), self.bounds.high.get(j));
            !matches!((l, h), (Some(l), Some(h)) if l < h && (h - l).is_finite())
        }) {
            return Err(Error::Options(format!(
                "feature {}: its bounds must be finite numbers, the low below the high, their distance finite",
                j + 1
            )));
        }
        Ok(())
    }

    /// The number of parameters: every layer's weights, then its biases.
    pub fn parameters(&self) -> usize {
        self.sizes()
            .windows(2)
            .map(|p| match p {
                &[i, o] => i * o + o,
                _ => 0,
            })
            .sum()
    }

    /// The first round's parameters: Glorot-uniform from `seed`.
    pub fn init(&self, seed: u64) -> Result<Vec<f64>, Error> {
        self.check()?;
        let layers = glorot(&self.sizes(), &mut fastrand::Rng::with_seed(seed));
        Ok(flatten(&layers))
    }

    /// The network whose parameters are `params`.
    pub fn model(&self, params: &[f64]) -> Result<Mlp, Error> {
        self.check()?;
        if params.len() != self.parameters() {
            return Err(Error::Options(format!(
                "{} parameters for a network of {}",
                params.len(),
                self.parameters()
            )));
        }
        if let Some(j) = params.iter().position(|v| !v.is_finite()) {
            return Err(Error::Diverged(format!(
                "parameter {} is not a finite number",
                j + 1
            )));
        }
        let low = Array1::from(self.bounds.low.clone());
        let high = Array1::from(self.bounds.high.clone());
        let mut at = 0;
        let mut layers = Vec::new();
        for p in self.sizes().windows(2) {
            let &[i, o] = p else { continue };
            let w = params.get(at..at + i * o).unwrap_or(&[]).to_vec();
            let b = params
                .get(at + i * o..at + i * o + o)
                .unwrap_or(&[])
                .to_vec();
            at += i * o + o;
            let w = Array2::from_shape_vec((i, o), w).map_err(|e| Error::Options(e.to_string()))?;
            layers.push((w, Array1::from(b)));
        }
        Ok(Mlp {
            mean: (&low + &high) / 2.0,
            scale: (&high - &low) / 2.0,
            bounds: Some((low, high)),
            layers,
            epochs: 0,
            validation_accuracy: None,
        })
    }
}

/// A network's parameters as one vector: each layer's weights (row-major), then biases.
fn flatten(layers: &[(Array2<f64>, Array1<f64>)]) -> Vec<f64> {
    layers
        .iter()
        .flat_map(|(w, b)| w.iter().chain(b.iter()).copied().collect::<Vec<_>>())
        .collect()
}

/// A client's local training in a round.
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    /// Passes over the client's rows.
    pub epochs: usize,
    /// Plain SGD's step (FedAvg's local optimizer).
    pub learning_rate: f64,
    /// Rows a step.
    pub batch_size: usize,
    /// The L2 penalty.
    pub alpha: f64,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            epochs: 1,
            learning_rate: 0.1,
            batch_size: 32,
            alpha: 1e-4,
        }
    }
}

/// A client's update in a round: `epochs` passes of minibatch SGD from the round's model
/// `global` over its `rows` rows of `x` labelled `y` (shuffled by `seed`), returned as the
/// change to every parameter.
pub fn local_update(
    arch: &Architecture,
    global: &[f64],
    x: &[f64],
    rows: usize,
    y: &[usize],
    s: &Local,
    seed: u64,
) -> Result<Vec<f64>, Error> {
    check_rows(x, rows, y, arch.classes)?;
    let mut model = arch.model(global)?;
    if x.len() / rows != arch.features() {
        return Err(Error::Options(format!(
            "rows of {} features for a network of {}",
            x.len() / rows,
            arch.features()
        )));
    }
    if !(s.learning_rate.is_finite() && s.learning_rate > 0.0)
        || s.batch_size == 0
        || s.epochs == 0
        || !(s.alpha.is_finite() && s.alpha >= 0.0)
    {
        return Err(Error::Options(format!(
            "local training of {} epoch(s), batches of {}, a learning rate of {} and an L2 penalty of {}: each must be positive (the penalty may be 0)",
            s.epochs, s.batch_size, s.learning_rate, s.alpha
        )));
    }
    let xs = model.standardize(x, rows)?;
    let mut onehot = Array2::<f64>::zeros((rows, arch.classes));
    for (i, &c) in y.iter().enumerate() {
        if let Some(v) = onehot.get_mut((i, c)) {
            *v = 1.0;
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut order: Vec<usize> = (0..rows).collect();
    for epoch in 0..s.epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(s.batch_size) {
            let xb = xs.select(Axis(0), chunk);
            let yb = onehot.select(Axis(0), chunk);
            let n = chunk.len() as f64;
            let outs = model.forward(&xb);
            let Some(p) = outs.last() else { break };
            let delta = (p - &yb) / n;
            let grads = layer_gradients(&model, &xb, &outs, delta);
            for ((w, b), (gw, gb)) in model.layers.iter_mut().zip(grads) {
                let gw = gw + &(&*w * (s.alpha / n));
                w.scaled_add(-s.learning_rate, &gw);
                b.scaled_add(-s.learning_rate, &gb);
            }
        }
        if !model.finite() {
            return Err(Error::Diverged(format!(
                "local training diverged in epoch {} (a weight is not a finite number): lower the learning rate",
                epoch + 1
            )));
        }
    }
    Ok(flatten(&model.layers)
        .iter()
        .zip(global)
        .map(|(new, old)| new - old)
        .collect())
}

/// The client's own differential privacy: `update` bounded to an L2 norm of `clip` and
/// Gaussian noise of deviation `noise_multiplier · clip` added to every coordinate, drawn
/// from `rng` (secret: [`crate::dpsgd::secure_rng`]). Whether the bound cut it.
pub fn privatize(
    update: &mut [f64],
    clip: f64,
    noise_multiplier: f64,
    rng: &mut chacha20::ChaCha20Rng,
) -> Result<bool, Error> {
    if !(clip.is_finite() && clip > 0.0 && noise_multiplier.is_finite() && noise_multiplier > 0.0) {
        return Err(Error::Options(format!(
            "a client clip of {clip} and noise multiplier of {noise_multiplier}: each must be above 0"
        )));
    }
    let cut = crate::aggregate::clip_norm(update, clip);
    let std = noise_multiplier * clip;
    for v in update.iter_mut() {
        let z: f64 = StandardNormal.sample(rng);
        *v += std * z;
    }
    Ok(cut)
}

#[cfg(test)]
mod tests;
