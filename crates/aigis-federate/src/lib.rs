//! `aigis federate`: federated learning between parties that keep their rows.
//!
//! A coordinator ([`coordinator::run`]) holds the model; clients ([`client::join`]) hold
//! their own tables. Each round the coordinator samples clients, sends them the model,
//! and each sampled client trains it on its rows ([`aigis_train::federated`]) and sends
//! back only the change, signed with its project key; the coordinator combines the
//! changes that arrive before the round's deadline by a rule that may withstand
//! poisoning clients ([`aigis_train::aggregate`]). Every round is reported to the caller
//! (which records it as evidence) before the next begins.
//!
//! The parties talk over TLS 1.3, each authenticated by its project's Ed25519 key as a
//! raw public key ([`tls`]), in length-framed JSON messages ([`wire`]).

#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod coordinator;
pub mod secagg;
#[cfg(feature = "net")]
pub mod tls;
pub mod wire;

/// Why a federation could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TLS set-up or handshake failed (named).
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer sent what the protocol does not allow.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The settings or data do not fit (named).
    #[error("{0}")]
    Options(String),
    /// The other party refused this one, saying why.
    #[error("refused by the other party: {0}")]
    Refused(String),
    /// Too few clients joined, or answered a round, for the federation to go on.
    #[error("{0}")]
    Quorum(String),
    /// Training failed.
    #[cfg(feature = "net")]
    #[error("{0}")]
    Train(#[from] aigis_train::mlp::Error),
    /// The caller could not record a round: the federation stops rather than go on
    /// unrecorded.
    #[error("recording round {round}: {message}")]
    Record { round: u64, message: String },
}
