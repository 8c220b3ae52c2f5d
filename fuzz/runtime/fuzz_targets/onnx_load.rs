//! The gateway's model loading and running path: any bytes as an ONNX model through
//! `aigis_runtime::OnnxRuntime::from_bytes`; when it loads, one run with a zero input for
//! every input of its signature (dimensions the model leaves open set to 1, at most
//! `MAX_ELEMENTS` elements per input, else no run), and the red team's differentiation
//! (`aigis_runtime::grad`) of its graph to each output: a forward and a backward pass over
//! two zero rows, when the graph is one it differentiates. A refusal or a failed run is
//! fine; an
//! abort, a stack overflow, an allocation past `-rss_limit_mb`/`-malloc_limit_mb`, a run
//! past `-timeout` or a panic that escapes the runtime is a crash. Every run that succeeds
//! gives every output of the signature, in its order, under its name.
//!
//! Panics inside tract: `OnnxRuntime` catches them (`catch_unwind` in `from_bytes` and
//! `run`) and returns an error, so the gateway survives them. Which of those this target
//! counts as a crash is set by `AIGIS_FUZZ_PANIC`:
//!
//! - unset (the default, the smoke test's): a failed assertion (`assert!`,
//!   `debug_assert!`, `assert_eq!`, …) or an arithmetic overflow. The fuzz build has
//!   debug assertions and overflow checks and the server's release build has neither:
//!   there such a panic does not happen and tract goes on past a broken invariant, into
//!   its unsafe kernels (a `debug_assert!` in tract-core's matrix product was the shadow
//!   of an out-of-bounds read, see `crates/aigis-runtime/tests/fuzz_findings.rs`). Other
//!   panics (`unwrap` on an error, an index out of bounds) fire in release builds too and
//!   the runtime turns them into errors: they count as the error they become;
//! - `abort`: every panic, contained or not (libfuzzer-sys's own hook), to find each
//!   model tract panics on and refuse it before tract sees it;
//! - `contain`: none that the runtime contains (the gateway's view exactly).
//!
//! A panic that escapes the runtime's API is a crash in every mode. `AIGIS_FUZZ_VERBOSE=1`
//! prints what each input did and every panic.
#![no_main]

use std::sync::{Mutex, Once, OnceLock};

use aigis_runtime::grad::Graph;
use aigis_runtime::{Data, DataType, NamedTensor, OnnxRuntime, Runtime, Tensor, TensorSpec};
use libfuzzer_sys::fuzz_target;

/// The largest input the target builds for one input of the model.
const MAX_ELEMENTS: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Panics {
    /// Assertions and overflows are crashes (see the module docs).
    DebugOnly,
    /// Every panic is a crash.
    Abort,
    /// Only a panic that escapes the runtime is a crash.
    Contain,
}

fn panics() -> Panics {
    static MODE: OnceLock<Panics> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("AIGIS_FUZZ_PANIC").as_deref() {
        Ok("abort") => Panics::Abort,
        Ok("contain") => Panics::Contain,
        _ => Panics::DebugOnly,
    })
}

fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("AIGIS_FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

/// The last panic of this input (location and message), and whether it is a crash even
/// when the runtime contains it.
static LAST_PANIC: Mutex<Option<(String, bool)>> = Mutex::new(None);

/// A panic that only a build with debug assertions and overflow checks has.
fn debug_only(message: &str) -> bool {
    message.starts_with("assertion failed")
        || message.starts_with("assertion `")
        || (message.starts_with("attempt to ") && message.contains("overflow"))
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if panics() == Panics::Abort {
            return; // libfuzzer-sys's hook: print, then abort
        }
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            let fatal = panics() == Panics::DebugOnly && debug_only(message);
            if verbose() {
                eprintln!("onnx_load: panic: {info}");
            }
            // A fatal panic is kept over any that follow it in the same input.
            if let Ok(mut last) = LAST_PANIC.lock()
                && !last.as_ref().is_some_and(|(_, fatal)| *fatal)
            {
                *last = Some((info.to_string(), fatal));
            }
        }));
    });
}

/// A zero tensor for `spec`, open dimensions as 1; `None` when it would be too large.
fn zeros(spec: &TensorSpec) -> Option<Tensor> {
    let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
    let n = shape
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .filter(|n| *n <= MAX_ELEMENTS)?;
    let data = match spec.datatype {
        DataType::Bool => Data::Bool(vec![false; n]),
        DataType::Uint8 => Data::Uint8(vec![0; n]),
        DataType::Int8 => Data::Int8(vec![0; n]),
        DataType::Int32 => Data::Int32(vec![0; n]),
        DataType::Int64 => Data::Int64(vec![0; n]),
        DataType::Fp32 => Data::Fp32(vec![0.0; n]),
        DataType::Fp64 => Data::Fp64(vec![0.0; n]),
        DataType::Bytes => Data::Bytes(vec![String::new(); n]),
    };
    Some(Tensor::new(shape, data).expect("the shape holds exactly its zeros"))
}

/// The graph differentiated from each input to each output, run forward and backward
/// on two zero rows. Nothing here is contained: a panic is a crash.
fn differentiate(data: &[u8], signature: &aigis_runtime::Signature) {
    let Ok(proto) = aigis_runtime::onnx::read_proto(data) else {
        return;
    };
    for input in &signature.inputs {
        for output in &signature.outputs {
            let Ok(graph) = Graph::from_onnx(&proto, Some(&input.name), &output.name) else {
                continue;
            };
            let d = graph.features();
            if d == 0 || d > MAX_ELEMENTS {
                continue;
            }
            let x = vec![0.0; 2 * d];
            let result = graph.loss_gradient(&x, 2, &[0, 0]);
            if let Ok((g, loss)) = &result {
                assert_eq!(g.len(), x.len(), "a gradient has the input's shape");
                assert_eq!(loss.len(), 2, "a loss per row");
            }
            if verbose() {
                eprintln!(
                    "onnx_load: differentiated `{}` to `{}`: {:?}",
                    input.name,
                    output.name,
                    result.map(|r| r.1)
                );
            }
        }
    }
}

fn one_input(data: &[u8]) {
    let model = match OnnxRuntime::from_bytes(data) {
        Ok(model) => model,
        Err(e) => {
            if verbose() {
                eprintln!("onnx_load: refused: {e}");
            }
            return;
        }
    };
    differentiate(data, model.signature());
    let signature = model.signature();
    let mut inputs = Vec::with_capacity(signature.inputs.len());
    for spec in &signature.inputs {
        let Some(tensor) = zeros(spec) else {
            if verbose() {
                eprintln!("onnx_load: loaded; input `{}` too large to run", spec.name);
            }
            return;
        };
        inputs.push(NamedTensor::new(spec.name.clone(), tensor));
    }
    match model.run(inputs) {
        Ok(outputs) => {
            let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
            let want: Vec<&str> = signature.outputs.iter().map(|o| o.name.as_str()).collect();
            assert_eq!(
                names, want,
                "a run gives every output of the signature, in order"
            );
            if verbose() {
                eprintln!("onnx_load: ran: {names:?}");
            }
        }
        Err(e) => {
            if verbose() {
                eprintln!("onnx_load: loaded; the run failed: {e}");
            }
        }
    }
}

fn last_panic() -> Option<(String, bool)> {
    LAST_PANIC.lock().ok().and_then(|mut l| l.take())
}

fuzz_target!(|data: &[u8]| {
    install_panic_hook();
    last_panic();
    let escaped = std::panic::catch_unwind(|| one_input(data)).is_err();
    // Print the panic (the hook above only records it) and abort, as libfuzzer-sys would.
    match last_panic() {
        Some((panic, _)) if escaped => {
            eprintln!("onnx_load: a panic escaped aigis-runtime: {panic}");
            std::process::abort();
        }
        Some((panic, true)) => {
            eprintln!(
                "onnx_load: the runtime contained this panic, but a release build would have \
                 gone on past the broken invariant (AIGIS_FUZZ_PANIC=contain to ignore): {panic}"
            );
            std::process::abort();
        }
        _ if escaped => {
            eprintln!("onnx_load: a panic escaped aigis-runtime");
            std::process::abort();
        }
        _ => {}
    }
});
