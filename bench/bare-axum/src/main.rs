//! The limit for `bench/serve_bench.py`: `POST /v2/models/{name}/infer` (the Open
//! Inference Protocol v2, JSON tensors, flat or nested) answered by a bare axum handler
//! that parses the body with serde_json, runs the model with `aigis_runtime::OnnxRuntime`
//! (inline or in `spawn_blocking`, by the gateway's rule: `aigis_runtime::Pace`) and
//! answers JSON, with no guard of any kind.
//!
//!     bare-axum MODEL.onnx [ADDR] [NAME]     # ADDR 127.0.0.1:0, NAME digits by default
//!
//! Prints `listening http://ADDR` on stdout once it accepts connections.

use std::sync::Arc;

use aigis_runtime::{Data, NamedTensor, OnnxRuntime, Pace, Tensor};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<Input>,
}

#[derive(Deserialize)]
struct Input {
    name: String,
    shape: Vec<usize>,
    datatype: String,
    data: Value,
}

#[derive(Serialize)]
struct InferResponse {
    model_name: String,
    model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<Output>,
}

#[derive(Serialize)]
struct Output {
    name: String,
    datatype: &'static str,
    shape: Vec<usize>,
    data: Value,
}

struct App {
    name: String,
    runtime: Arc<OnnxRuntime>,
    pace: Pace,
}

fn flatten(v: &Value, out: &mut Vec<f32>) -> Result<(), ()> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        leaf => {
            out.push(leaf.as_f64().ok_or(())? as f32);
            Ok(())
        }
    }
}

fn bad(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": msg}))).into_response()
}

async fn infer(State(app): State<Arc<App>>, Path(name): Path<String>, body: Bytes) -> Response {
    if name != app.name {
        return bad(StatusCode::NOT_FOUND, "no such model");
    }
    let Ok(request) = serde_json::from_slice::<InferRequest>(&body) else {
        return bad(StatusCode::BAD_REQUEST, "malformed JSON");
    };
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        if input.datatype != "FP32" {
            return bad(StatusCode::BAD_REQUEST, "FP32 inputs only");
        }
        let mut flat = Vec::new();
        if flatten(&input.data, &mut flat).is_err() {
            return bad(StatusCode::BAD_REQUEST, "data is not numbers");
        }
        match Tensor::new(input.shape, Data::Fp32(flat)) {
            Ok(t) => inputs.push(NamedTensor::new(input.name, t)),
            Err(_) => return bad(StatusCode::BAD_REQUEST, "shape and data disagree"),
        }
    }
    // The gateway's rule (aigis_runtime::Pace): a call timed under 100 µs runs here, a
    // longer one in the blocking pool.
    let rows = inputs
        .first()
        .and_then(|i| i.tensor.shape().first().copied())
        .map_or(1, |r| r as u64);
    let answer = if app.pace.inline(&*app.runtime, rows) {
        Ok(app.pace.run(&*app.runtime, rows, inputs))
    } else {
        let app = app.clone();
        tokio::task::spawn_blocking(move || app.pace.run(&*app.runtime, rows, inputs)).await
    };
    let outputs = match answer {
        Ok(Ok(outputs)) => outputs,
        _ => {
            return bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the model failed on this input",
            );
        }
    };
    let outputs = outputs
        .into_iter()
        .map(|t| {
            let datatype = t.tensor.datatype().as_str();
            let (shape, data) = t.tensor.into_parts();
            Output {
                name: t.name,
                datatype,
                shape,
                data: data.into_json(),
            }
        })
        .collect();
    axum::Json(InferResponse {
        model_name: app.name.clone(),
        model_version: "1",
        id: request.id,
        outputs,
    })
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .ok_or("usage: bare-axum MODEL.onnx [ADDR] [NAME]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let name = args.next().unwrap_or_else(|| "digits".into());
    let runtime = Arc::new(OnnxRuntime::from_bytes(&std::fs::read(&model)?)?);
    let app = Arc::new(App {
        name,
        runtime,
        pace: Pace::default(),
    });
    let router = Router::new()
        .route("/v2/models/{name}/infer", post(infer))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
