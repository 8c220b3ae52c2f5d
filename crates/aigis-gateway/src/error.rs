//! The two kinds of failure: a gateway that cannot start ([`Error`]), and a request that
//! is refused ([`ApiError`], a status, a stable code and a message that holds no internal
//! detail).

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key with a wrong value; `key` is its dotted name.
    #[error("`{}`: `{key}`: {message}", file.display())]
    Config {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A model file or signature that cannot be read.
    #[error("model `{model}`: cannot read `{}`", path.display())]
    Read {
        model: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A model whose signature is missing, untrusted or does not match its bytes.
    #[error("model `{model}`: {message}")]
    Unverified { model: String, message: String },
    /// An encrypted model that cannot be opened: no key for it, or not authentic.
    #[error("model `{model}`: {message}")]
    Encrypted {
        model: String,
        message: String,
        /// Whether the file failed its authentication (a failed check), rather than a
        /// missing or wrong key.
        tampered: bool,
    },
    /// A model on an upstream server that cannot be reached or described.
    #[error("model `{model}`: {message}")]
    Upstream { model: String, message: String },
    /// A model the runtime refused.
    #[error("model `{model}`")]
    Runtime {
        model: String,
        #[source]
        source: aigis_runtime::Error,
    },
    /// The listening socket.
    #[error("cannot listen on `{addr}`")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// An administrative change that could not be recorded, and so was not applied.
    #[error("the change could not be recorded in the ledger, so it was not applied: {0}")]
    Unrecorded(String),
    /// The admin API's state file cannot be written or put in place.
    #[error("{0}")]
    State(String),
    /// The configuration cannot be read again for a reload.
    #[error("the configuration cannot be read again: {0}")]
    Source(String),
    /// The server stopped on an I/O error.
    #[error("the server stopped")]
    Serve(#[source] std::io::Error),
}

impl aigis_core::Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Unverified { .. } => Some(
                "sign it with `aigis model sign`, or say `verify = false` for this model in [[serve.models]]"
                    .into(),
            ),
            Error::Listen { .. } => Some("is another server on that port?".into()),
            Error::Encrypted {
                tampered: false, ..
            } => Some(
                "encrypt it to the serving key (`aigis model encrypt FILE --to RECIPIENT`) and give that key as `identity` in [[serve.models]], or use the project's (`aigis keys recipient new`)"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl aigis_core::CheckFailure for Error {
    /// A model that fails its signature check: the check ran and the model failed it.
    fn is_check_failure(&self) -> bool {
        matches!(
            self,
            Error::Unverified { .. } | Error::Encrypted { tampered: true, .. }
        )
    }
}

/// Every `code` the gateway sends; the OpenAPI document lists exactly these (a test keeps
/// them equal), and a debug build panics on a code that is not here.
pub const CODES: &[&str] = &[
    "unauthenticated",
    "forbidden",
    "model_not_found",
    "not_found",
    "bad_request",
    "malformed_json",
    "invalid_input",
    "payload_too_large",
    "rate_limited",
    "quota_exceeded",
    "rate_store_unavailable",
    "audit_unavailable",
    "model_timeout",
    "model_error",
    "upstream_unavailable",
    "upstream_error",
    "input_blocked",
    "extraction_suspected",
    "throttled",
    "change_refused",
    "second_factor_required",
    "second_factor_wrong",
    "second_factor_locked",
    "internal",
];

/// A refused request: its status, a stable machine-readable `code`, and a message that
/// names what was wrong in the request (never a path, a key or a stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl From<aigis_runtime::protocol::Invalid> for ApiError {
    /// 422 `invalid_input`, naming the field.
    fn from(e: aigis_runtime::protocol::Invalid) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(CODES.contains(&code), "`{code}` is not in CODES");
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401: no credentials, or credentials that are not valid.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "valid credentials are required: Authorization: Bearer <API key or token>, or a client certificate",
        )
    }

    /// 500, with nothing of what failed.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway failed on this request",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the authorization policy does not allow this call",
        )
    }

    pub fn no_model(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("no model `{name}`"),
        )
    }

    /// 422: a request that parses but does not fit; `field` is where.
    pub fn invalid(field: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("{field}: {message}"),
        )
    }
}

impl ApiError {
    /// 429 with the time after which to retry.
    pub fn retry_after(code: &'static str, message: &str, after: std::time::Duration) -> Self {
        // Whole seconds, rounded up: a client retrying at once would be refused again.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code,
            message: message.to_owned(),
            retry_after: Some(secs.max(1)),
        }
    }
}

/// The Open Inference Protocol's error body, `{"error": "<message>"}`, with the code
/// beside it.
/// The code of a refusal, attached to its response for the audit and the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "code": self.code});
        let mut response = (self.status, axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
