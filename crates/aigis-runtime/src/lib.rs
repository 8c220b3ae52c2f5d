//! The aigis model runtime: what the gateway, the red team and the monitors call to run a
//! model, whatever runs it.
//!
//! - [`Runtime`]: a model's [`Signature`] and `run` over named [`Tensor`]s, shared by
//!   every thread of a server (`Send + Sync`);
//! - [`grad::Graph`]: a model's ONNX graph differentiated (exact input gradients of a
//!   loss, for the red team's white-box attacks);
//! - [`rows::RowModel`]: a model fed rows of numbers, one output read back as a matrix
//!   (what the detectors, the red team and the explainers ask);
//! - [`OnnxRuntime`]: in-process ONNX inference with tract (pure Rust), including the
//!   `ai.onnx.ml` operators scikit-learn exports for its common models
//!   ([`onnx::SUPPORTED_ML`]); a model using another operator is refused when it is
//!   loaded, with the operator named. Checked against onnxruntime's outputs on real
//!   skl2onnx exports (`tests/onnxruntime.rs`, models made by
//!   `scripts/make_runtime_models.py`).
//!
//! ```no_run
//! use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Runtime, Tensor};
//!
//! let model = OnnxRuntime::from_bytes(&std::fs::read("digits.onnx")?)?;
//! let input = &model.signature().inputs[0];
//! let x = Tensor::new(vec![1, 64], Data::Fp32(vec![0.0; 64]))?;
//! let outputs = model.run(vec![NamedTensor::new(input.name.clone(), x)])?;
//! println!("{:?}", outputs[0].tensor.data());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod attrs;
pub mod export;
mod forest;
pub mod grad;
mod ml;
pub mod onnx;
pub mod protocol;
pub mod rows;
mod tensor;

pub use onnx::OnnxRuntime;
pub use tensor::{Data, DataType, NamedTensor, Signature, Tensor, TensorSpec};

/// Runs a model. Implementations are shared between threads.
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// The model's inputs and outputs.
    fn signature(&self) -> &Signature;

    /// Runs the model on `inputs` (each input of the signature once, by name) and
    /// returns every output of the signature, in its order.
    fn run(&self, inputs: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error>;

    /// Whether a call waits on another server: such a call is never short enough to run
    /// on an async server's own threads, whatever its past times ([`Pace`]).
    fn remote(&self) -> bool {
        false
    }
}

/// Whether a model call is short enough to run on the async thread that asks for it.
///
/// An async server (tokio) must not hold its threads for long between awaits: tokio's
/// guidance is 10 to 100 µs. A long model call therefore goes to a blocking pool, but that
/// hand-off costs two thread switches and a wake-up, more than a small model's whole call
/// (BENCHMARKS.md, the gateway's profile). `Pace` keeps a moving average of a model's time
/// per input row, from every call it is told of, and says a call may run where it is when
/// its estimate is at most [`Pace::INLINE`]. Until a first call has been timed, and for a
/// model on another server ([`Runtime::remote`]), the answer is no.
#[derive(Debug, Default)]
pub struct Pace {
    /// Nanoseconds per row, averaged; 0 until a call is observed.
    per_row_ns: std::sync::atomic::AtomicU64,
}

impl Pace {
    /// The longest estimated call run inline.
    pub const INLINE: std::time::Duration = std::time::Duration::from_micros(100);

    /// Whether a call of `runtime` on `rows` rows may run on the caller's thread.
    pub fn inline(&self, runtime: &dyn Runtime, rows: u64) -> bool {
        let per_row = self.per_row_ns.load(std::sync::atomic::Ordering::Relaxed);
        !runtime.remote()
            && per_row != 0
            && u128::from(per_row) * u128::from(rows.max(1)) <= Self::INLINE.as_nanos()
    }

    /// Runs `runtime` on `inputs` (a batch of `rows` rows) where it is called, and
    /// [`observe`](Pace::observe)s how long it took.
    pub fn run(
        &self,
        runtime: &dyn Runtime,
        rows: u64,
        inputs: Vec<NamedTensor>,
    ) -> Result<Vec<NamedTensor>, Error> {
        let started = std::time::Instant::now();
        let outputs = runtime.run(inputs);
        self.observe(rows, started.elapsed());
        outputs
    }

    /// Tells of a call on `rows` rows that took `took`. The average weighs the newest call
    /// by 1/4, so a call slowed by the machine pushes the next few to the pool, and calls
    /// timed there bring the model back once it is quick again.
    pub fn observe(&self, rows: u64, took: std::time::Duration) {
        let ns = u64::try_from(took.as_nanos() / u128::from(rows.max(1)))
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self.per_row_ns.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |old| {
                Some(if old == 0 {
                    ns
                } else {
                    (old - old / 4).saturating_add(ns / 4)
                })
            },
        );
    }
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model uses operators the runtime does not run (`domain:op`).
    #[error("the model uses operators aigis's runtime does not support: {}", .0.join(", "))]
    Unsupported(Vec<String>),
    /// The model cannot be read or prepared.
    #[error("cannot load the model: {0}")]
    Model(String),
    /// Inputs that do not fit the model's signature.
    #[error("bad input: {0}")]
    Input(String),
    /// A tensor whose shape and data do not agree.
    #[error("bad tensor: {0}")]
    Shape(String),
    /// The model failed on this input.
    #[error("the model failed: {0}")]
    Run(String),
    /// A model on another server that cannot be reached (or whose circuit is open).
    #[error("the model's server cannot be reached: {0}")]
    Unavailable(String),
    /// A model on another server that answered with an error, or not with its outputs.
    #[error("the model's server answered wrongly: {0}")]
    Upstream(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug)]
    struct Model(bool, Signature);

    impl Runtime for Model {
        fn signature(&self) -> &Signature {
            &self.1
        }
        fn run(&self, _: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
            Ok(Vec::new())
        }
        fn remote(&self) -> bool {
            self.0
        }
    }

    fn model(remote: bool) -> Model {
        Model(
            remote,
            Signature {
                inputs: Vec::new(),
                outputs: Vec::new(),
            },
        )
    }

    #[test]
    fn only_a_timed_quick_local_model_runs_inline() {
        let (local, remote) = (model(false), model(true));
        let pace = Pace::default();
        assert!(!pace.inline(&local, 1), "not timed yet");
        pace.observe(1, Duration::from_micros(20));
        assert!(pace.inline(&local, 1));
        assert!(pace.inline(&local, 5), "5 rows at 20 µs each is 100 µs");
        assert!(!pace.inline(&local, 6), "6 rows is over 100 µs");
        assert!(!pace.inline(&local, u64::MAX));
        assert!(!pace.inline(&remote, 1), "a remote model never runs inline");
    }

    #[test]
    fn a_slow_call_sends_the_next_to_the_pool_until_calls_are_quick_again() {
        let local = model(false);
        let pace = Pace::default();
        pace.observe(10, Duration::from_micros(100));
        assert!(pace.inline(&local, 1));
        pace.observe(1, Duration::from_millis(5));
        assert!(!pace.inline(&local, 1));
        let mut calls = 0;
        while !pace.inline(&local, 1) {
            pace.observe(1, Duration::from_micros(10));
            calls += 1;
            assert!(calls < 50, "never came back");
        }
        assert!(calls > 3, "came back after {calls} quick calls");
        // An absurd time does not overflow.
        pace.observe(0, Duration::MAX);
        assert!(!pace.inline(&local, 1));
    }
}
