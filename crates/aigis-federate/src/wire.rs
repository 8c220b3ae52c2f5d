//! What the parties say to each other: JSON messages, each framed by its length (four
//! bytes, big-endian), with a bound on a frame's size read before anything is allocated.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::Error;
use crate::secagg::{Advertised, Revealed, Sealed};

/// The protocol's version, sent in [`Message::Hello`].
pub const PROTOCOL: u32 = 1;

/// The largest frame read: 64 MiB, a model of eight million parameters as JSON.
pub const MAX_FRAME: u32 = 64 << 20;

/// A client's local training, as the coordinator sets it for a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTraining {
    pub epochs: u64,
    pub learning_rate: f64,
    pub batch_size: u64,
    pub alpha: f64,
}

/// A round under secure aggregation, as one client is told it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureRound {
    /// The client's number in the round.
    pub id: u32,
    /// The clients that must stay to the end for the sum to be unmasked.
    pub threshold: u64,
    /// The L2 bound each client puts on its own update (the coordinator cannot: it sees
    /// only the sum).
    pub clip: Option<f64>,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Client → coordinator, first: its protocol, its table's features (in order) and
    /// rows.
    Hello {
        protocol: u32,
        features: Vec<String>,
        rows: u64,
    },
    /// Coordinator → client: the federation it joined and the network every party builds.
    Welcome {
        federation: String,
        features: Vec<String>,
        low: Vec<f64>,
        high: Vec<f64>,
        hidden: u64,
        /// The label's values, in the order of the model's class indices.
        classes: Vec<f64>,
        rounds: u64,
    },
    /// Coordinator → client: train from `params` (whose SHA-256 is `base`).
    Round {
        round: u64,
        base: String,
        params: Vec<f64>,
        local: LocalTraining,
        /// Present when the round is securely aggregated.
        secure: Option<SecureRound>,
    },
    /// Client → coordinator: the change it proposes, its rows, and its signature of both
    /// ([`update_statement`]).
    Update {
        round: u64,
        base: String,
        delta: Vec<f64>,
        rows: u64,
        signature: String,
    },
    /// Client → coordinator: it will not train this round (its privacy budget is spent,
    /// say).
    Decline { round: u64, reason: String },
    /// Coordinator → client: the federation is over; the final model.
    Done {
        rounds: u64,
        model: String,
        params: Vec<f64>,
    },
    /// Either way: the other party is refused, and why; the connection closes.
    Refused { reason: String },
    /// Secure aggregation, client → coordinator: the round's public keys.
    SecureKeys { round: u64, keys: Advertised },
    /// Coordinator → client: the clients that advertised keys (U1).
    SecureRoster {
        round: u64,
        threshold: u64,
        roster: Vec<Advertised>,
    },
    /// Client → coordinator: its shares, sealed to each other client.
    SecureShares { round: u64, sealed: Vec<Sealed> },
    /// Coordinator → client: the clients that shared (U2) and their shares for it.
    SecureInbox {
        round: u64,
        shared: Vec<u32>,
        sealed: Vec<Sealed>,
    },
    /// Client → coordinator: its masked update, signed ([`masked_statement`]).
    SecureMasked {
        round: u64,
        masked: Vec<u64>,
        signature: String,
    },
    /// Coordinator → client: the clients whose masked update is in (U3).
    SecureUnmask { round: u64, survivors: Vec<u32> },
    /// Client → coordinator: the shares that unmask the sum.
    SecureReveal { round: u64, revealed: Revealed },
}

impl Message {
    /// The message's name, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::Round { .. } => "round",
            Message::Update { .. } => "update",
            Message::Decline { .. } => "decline",
            Message::Done { .. } => "done",
            Message::Refused { .. } => "refused",
            Message::SecureKeys { .. } => "secure_keys",
            Message::SecureRoster { .. } => "secure_roster",
            Message::SecureShares { .. } => "secure_shares",
            Message::SecureInbox { .. } => "secure_inbox",
            Message::SecureMasked { .. } => "secure_masked",
            Message::SecureUnmask { .. } => "secure_unmask",
            Message::SecureReveal { .. } => "secure_reveal",
        }
    }

    /// The round a message belongs to, when it belongs to one.
    pub fn round(&self) -> Option<u64> {
        match self {
            Message::Round { round, .. }
            | Message::Update { round, .. }
            | Message::Decline { round, .. }
            | Message::SecureKeys { round, .. }
            | Message::SecureRoster { round, .. }
            | Message::SecureShares { round, .. }
            | Message::SecureInbox { round, .. }
            | Message::SecureMasked { round, .. }
            | Message::SecureUnmask { round, .. }
            | Message::SecureReveal { round, .. } => Some(*round),
            Message::Hello { .. }
            | Message::Welcome { .. }
            | Message::Done { .. }
            | Message::Refused { .. } => None,
        }
    }
}

/// SHA-256 of parameters as little-endian `f64`s, in lower-case hex: how a model or an
/// update is named in messages and evidence.
pub fn digest(values: &[f64]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// SHA-256 of a masked update's words, little-endian, in lower-case hex.
pub fn digest_words(values: &[u64]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// What a client signs for its masked update under secure aggregation: the federation,
/// the round, the model it trained from and the masked update's digest.
pub fn masked_statement(federation: &str, round: u64, base: &str, masked: &str) -> Vec<u8> {
    format!("aigis-federate-masked/v1\n{federation}\n{round}\n{base}\n{masked}\n").into_bytes()
}

/// What a client signs for its update: the federation, the round, the model it trained
/// from, its update's digest and its rows, so that an update cannot be replayed into
/// another round or federation, or its weight changed.
pub fn update_statement(
    federation: &str,
    round: u64,
    base: &str,
    delta: &str,
    rows: u64,
) -> Vec<u8> {
    format!("aigis-federate-update/v1\n{federation}\n{round}\n{base}\n{delta}\n{rows}\n")
        .into_bytes()
}

/// Writes `message` as one frame.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, message: &Message) -> Result<(), Error> {
    let body = serde_json::to_vec(message).map_err(|e| Error::Protocol(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME)
        .ok_or_else(|| {
            Error::Protocol(format!(
                "a {} message of {} bytes is above the {MAX_FRAME}-byte frame limit",
                message.kind(),
                body.len()
            ))
        })?;
    // One write of the whole frame: a length written alone would be a segment of its
    // own, which the peer acknowledges late.
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub async fn receive<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Message>, Error> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(Error::Protocol(format!(
            "a frame of {len} bytes is above the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| Error::Protocol(format!("a message that is not one ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_ones_are_refused() -> Result<(), Error> {
        let m = Message::Update {
            round: 3,
            base: "ab".into(),
            delta: vec![0.1, -2.5e-300, 1e300],
            rows: 7,
            signature: "00".into(),
        };
        let mut buf = Vec::new();
        send(&mut buf, &m).await?;
        let mut r = buf.as_slice();
        assert_eq!(receive(&mut r).await?, Some(m));
        assert_eq!(receive(&mut r).await?, None);
        // Over the limit: refused before the body is read.
        let mut big = (MAX_FRAME + 1).to_be_bytes().to_vec();
        big.extend_from_slice(b"{}");
        assert!(receive(&mut big.as_slice()).await.is_err());
        // Not a message, an unknown field, a truncated body.
        for body in [
            &b"{\"type\":\"nope\"}"[..],
            b"{\"type\":\"decline\",\"round\":1,\"reason\":\"\",\"x\":1}",
            b"[1",
        ] {
            let mut f = (body.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(body);
            assert!(receive(&mut f.as_slice()).await.is_err(), "{body:?}");
        }
        let mut cut = 10u32.to_be_bytes().to_vec();
        cut.extend_from_slice(b"{}");
        assert!(receive(&mut cut.as_slice()).await.is_err());
        Ok(())
    }

    #[test]
    fn the_digest_is_of_the_exact_values() {
        assert_ne!(digest(&[0.0]), digest(&[-0.0]));
        assert_eq!(digest(&[]), hex::encode(Sha256::digest(b"")));
    }
}
