//! A client: it joins a coordinator it knows by key, trains each round's model on its own
//! rows, and sends back only the change, signed. With its own differential privacy the
//! change is clipped and noised before it leaves, and the client stops answering once
//! its budget would be exceeded: it accounts for itself, trusting nothing the
//! coordinator says about sampling.

use std::sync::Arc;
use std::time::Duration;

use aigis_crypto::{PublicKey, SigningKey};
use aigis_train::dpsgd::{Bounds, secure_rng};
use aigis_train::federated::{self, Architecture, Local};
use aigis_train::privacy::{self, Mechanism};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tokio_rustls::TlsConnector;

use crate::secagg;
use crate::wire::{self, Message};
use crate::{Error, tls};

/// The client's own differential privacy.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientDp {
    /// Each update's L2 norm bound.
    pub clip: f64,
    /// The noise's deviation over the bound.
    pub noise_multiplier: f64,
    /// The δ of the guarantee.
    pub delta: f64,
    /// The most ε the client spends; `None`: no limit (the ε spent is still reported).
    pub epsilon: Option<f64>,
}

/// What the client brings.
#[derive(Debug)]
pub struct Settings {
    /// `host:port`.
    pub address: String,
    /// The coordinator's key: the only one accepted at the other end.
    pub coordinator: PublicKey,
    /// The table's features, in order.
    pub features: Vec<String>,
    /// The rows (row-major), their count and their labels' values.
    pub x: Vec<f64>,
    pub rows: usize,
    pub labels: Vec<f64>,
    pub dp: Option<ClientDp>,
    /// Take part only in securely aggregated rounds (a round the coordinator sends
    /// without secure aggregation ends this client's part).
    pub require_secure: bool,
    /// How long to keep trying to reach the coordinator (it may not listen yet).
    pub connect_timeout: Duration,
    /// The seed of the local shuffles (each round's is this and the round).
    pub seed: u64,
}

/// What the client is told and does.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// It joined the federation.
    Joined { federation: String, rounds: u64 },
    /// It trained in `round`; `epsilon`: what its privacy guarantee is now.
    Trained {
        round: u64,
        clipped: bool,
        epsilon: Option<f64>,
    },
    /// It declined `round`.
    Declined { round: u64, reason: String },
}

/// What the client came away with.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub federation: String,
    pub features: Vec<String>,
    pub architecture: Architecture,
    /// The final model's parameters, and their SHA-256.
    pub params: Vec<f64>,
    pub model: String,
    /// The federation's rounds, and those this client trained in.
    pub rounds: u64,
    pub trained: u64,
    /// The ε spent, with its own DP (by the tighter of PLD and RDP).
    pub epsilon: Option<f64>,
}

/// The ε after `rounds` updates at `dp`: each a Gaussian mechanism on the whole table
/// (sampling rate 1), composed.
pub fn epsilon_after(dp: &ClientDp, rounds: u64) -> Result<f64, Error> {
    if rounds == 0 {
        return Ok(0.0);
    }
    let m = Mechanism {
        sampling_rate: 1.0,
        noise_multiplier: dp.noise_multiplier,
        steps: rounds,
    };
    let bad = |e: privacy::Error| Error::Options(format!("the client's privacy accounting: {e}"));
    let rdp = privacy::epsilon(&m, dp.delta, &[]).map_err(bad)?.epsilon;
    let (pld, _) =
        privacy::pld::epsilon(&m, dp.delta, privacy::pld::DEFAULT_INTERVAL).map_err(bad)?;
    Ok(rdp.min(pld))
}

async fn connect(address: &str, within: Duration) -> Result<TcpStream, Error> {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect(address).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::Io(std::io::Error::new(
                    e.kind(),
                    format!(
                        "could not reach the coordinator at {address} within {} s: {e}",
                        within.as_secs_f64()
                    ),
                )));
            }
            Err(_) => sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Joins the federation at `s.address` with the client's `key`, trains until it is over,
/// and returns the final model.
pub async fn join(
    key: &SigningKey,
    s: Settings,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Result<Outcome, Error> {
    if s.rows == 0 || s.x.len() != s.rows * s.features.len() || s.labels.len() != s.rows {
        return Err(Error::Options(format!(
            "{} values and {} labels for {} rows of {} features",
            s.x.len(),
            s.labels.len(),
            s.rows,
            s.features.len()
        )));
    }
    if let Some(dp) = &s.dp {
        epsilon_after(dp, 1)?;
        if !(dp.clip.is_finite() && dp.clip > 0.0) {
            return Err(Error::Options(format!(
                "a client clip of {} (it must be above 0)",
                dp.clip
            )));
        }
    }
    // The DP noise, and secure aggregation's keys and seeds.
    let mut rng = secure_rng()?;
    let config = tls::client_config(key, &s.coordinator)?;
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = connect(&s.address, s.connect_timeout).await?;
    // Request and answer, one after the other: no waiting on Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("aigis-federate").map_err(|e| Error::Tls(e.to_string()))?;
    let stream = timeout(Duration::from_secs(30), connector.connect(name, tcp))
        .await
        .map_err(|_| Error::Tls("the handshake with the coordinator timed out".into()))?
        .map_err(|e| Error::Tls(format!("the handshake with the coordinator failed: {e}")))?;
    let (mut r, mut w) = tokio::io::split(stream);
    wire::send(
        &mut w,
        &Message::Hello {
            protocol: wire::PROTOCOL,
            features: s.features.clone(),
            rows: s.rows as u64,
        },
    )
    .await?;
    // TLS 1.3 ends the client's handshake before the server has checked the client's
    // key: a coordinator that does not accept this key says so in the first read.
    let first = wire::receive(&mut r).await.map_err(|e| match e {
        Error::Io(io) if io.to_string().contains("alert") => Error::Tls(format!(
            "the coordinator ended the handshake ({io}): is this project's key (`aigis keys show`) one of its --client keys?"
        )),
        other => other,
    })?;
    let (federation, arch, rounds, y) = match first {
        Some(Message::Welcome {
            federation,
            features,
            low,
            high,
            hidden,
            classes,
            rounds,
        }) => {
            if features != s.features {
                return Err(Error::Protocol(format!(
                    "the federation's features ({}) are not this table's ({})",
                    features.join(", "),
                    s.features.join(", ")
                )));
            }
            let arch = Architecture {
                hidden: usize::try_from(hidden).unwrap_or(usize::MAX),
                classes: classes.len(),
                bounds: Bounds { low, high },
            };
            arch.check()?;
            let mut y = Vec::with_capacity(s.rows);
            for (i, v) in s.labels.iter().enumerate() {
                match classes.iter().position(|c| c == v) {
                    Some(c) => y.push(c),
                    None => {
                        let reason = format!(
                            "row {} of this table has the label {v}, which is not one of the federation's classes ({classes:?})",
                            i + 1
                        );
                        let _ = wire::send(
                            &mut w,
                            &Message::Refused {
                                reason: reason.clone(),
                            },
                        )
                        .await;
                        return Err(Error::Options(reason));
                    }
                }
            }
            (federation, arch, rounds, y)
        }
        Some(Message::Refused { reason }) => return Err(Error::Refused(reason)),
        Some(m) => {
            return Err(Error::Protocol(format!(
                "a {} message instead of welcome",
                m.kind()
            )));
        }
        None => {
            return Err(Error::Protocol(
                "the coordinator closed the connection before welcome".into(),
            ));
        }
    };
    on_event(Event::Joined {
        federation: federation.clone(),
        rounds,
    });
    let mut trained = 0u64;
    // The ε spent after `n` rounds, with the client's own DP.
    let spent = |n: u64| s.dp.as_ref().map(|dp| epsilon_after(dp, n)).transpose();
    // The securely aggregated round under way: its number, base, this client's state in
    // it and its encoded update.
    let mut pending: Option<(u64, String, secagg::Client, Vec<u64>)> = None;
    let out_of_turn = |m: &Message| {
        Error::Protocol(format!(
            "a {} message for round {:?} out of turn",
            m.kind(),
            m.round()
        ))
    };
    loop {
        let message = wire::receive(&mut r).await?.ok_or_else(|| {
            Error::Protocol(
                "the coordinator closed the connection before the federation was done".into(),
            )
        })?;
        match message {
            Message::Round {
                round,
                base,
                params,
                local,
                secure,
            } => {
                pending = None;
                if s.require_secure && secure.is_none() {
                    let reason =
                        "this client takes part only in securely aggregated rounds".to_string();
                    let _ = wire::send(
                        &mut w,
                        &Message::Refused {
                            reason: reason.clone(),
                        },
                    )
                    .await;
                    return Err(Error::Refused(format!(
                        "round {round} is not securely aggregated, and this client requires it"
                    )));
                }
                if params.len() != arch.parameters() || wire::digest(&params) != base {
                    return Err(Error::Protocol(format!(
                        "round {round}'s model is not the one it names ({} parameters for a network of {})",
                        params.len(),
                        arch.parameters()
                    )));
                }
                if let Some(limit) = s.dp.as_ref().and_then(|d| d.epsilon)
                    && let Some(next) = spent(trained + 1)?
                    && next > limit
                {
                    let reason = format!(
                        "its privacy budget: another round would spend ε {next:.3} of the {limit} allowed"
                    );
                    wire::send(
                        &mut w,
                        &Message::Decline {
                            round,
                            reason: reason.clone(),
                        },
                    )
                    .await?;
                    on_event(Event::Declined { round, reason });
                    continue;
                }
                let settings = Local {
                    epochs: usize::try_from(local.epochs).unwrap_or(usize::MAX),
                    learning_rate: local.learning_rate,
                    batch_size: usize::try_from(local.batch_size).unwrap_or(usize::MAX),
                    alpha: local.alpha,
                };
                let mut delta = federated::local_update(
                    &arch,
                    &params,
                    &s.x,
                    s.rows,
                    &y,
                    &settings,
                    s.seed ^ round,
                )?;
                let mut clipped = false;
                if let Some(dp) = &s.dp {
                    clipped =
                        federated::privatize(&mut delta, dp.clip, dp.noise_multiplier, &mut rng)?;
                }
                let rows = s.rows as u64;
                if let Some(sr) = secure {
                    // The coordinator sees only the sum: each client bounds its own update,
                    // weighs it by its rows, and adds its rows as the last value.
                    if let Some(c) = sr.clip {
                        clipped |= aigis_train::aggregate::clip_norm(&mut delta, c);
                    }
                    let mut weighted: Vec<f64> = delta.iter().map(|v| v * rows as f64).collect();
                    weighted.push(rows as f64);
                    let encoded = secagg::encode(&weighted)?;
                    let (state, keys) = secagg::Client::new(sr.id, &federation, round, &mut rng);
                    wire::send(&mut w, &Message::SecureKeys { round, keys }).await?;
                    pending = Some((round, base, state, encoded));
                } else {
                    let digest = wire::digest(&delta);
                    let signature = hex::encode(key.sign(&wire::update_statement(
                        &federation,
                        round,
                        &base,
                        &digest,
                        rows,
                    )));
                    wire::send(
                        &mut w,
                        &Message::Update {
                            round,
                            base,
                            delta,
                            rows,
                            signature,
                        },
                    )
                    .await?;
                }
                trained += 1;
                on_event(Event::Trained {
                    round,
                    clipped,
                    epsilon: spent(trained)?,
                });
            }
            Message::Done {
                rounds,
                model,
                params,
            } => {
                if params.len() != arch.parameters() || wire::digest(&params) != model {
                    return Err(Error::Protocol(
                        "the final model is not the one it names".into(),
                    ));
                }
                let _ = w.shutdown().await;
                let epsilon = spent(trained)?;
                return Ok(Outcome {
                    federation,
                    features: s.features,
                    architecture: arch,
                    params,
                    model,
                    rounds,
                    trained,
                    epsilon,
                });
            }
            Message::SecureRoster {
                round,
                threshold,
                roster,
            } => {
                let Some((r, _, state, _)) = pending.as_mut().filter(|p| p.0 == round) else {
                    return Err(out_of_turn(&Message::SecureRoster {
                        round,
                        threshold,
                        roster,
                    }));
                };
                let sealed = state.share(
                    roster,
                    usize::try_from(threshold).unwrap_or(usize::MAX),
                    &mut rng,
                )?;
                wire::send(&mut w, &Message::SecureShares { round: *r, sealed }).await?;
            }
            Message::SecureInbox {
                round,
                shared,
                sealed,
            } => {
                let Some((r, base, state, encoded)) = pending.as_mut().filter(|p| p.0 == round)
                else {
                    return Err(out_of_turn(&Message::SecureInbox {
                        round,
                        shared,
                        sealed,
                    }));
                };
                let masked = state.mask(&shared, &sealed, encoded)?;
                let digest = wire::digest_words(&masked);
                let signature =
                    hex::encode(key.sign(&wire::masked_statement(&federation, *r, base, &digest)));
                wire::send(
                    &mut w,
                    &Message::SecureMasked {
                        round: *r,
                        masked,
                        signature,
                    },
                )
                .await?;
            }
            Message::SecureUnmask { round, survivors } => {
                let Some((r, _, state, _)) = pending.as_mut().filter(|p| p.0 == round) else {
                    return Err(out_of_turn(&Message::SecureUnmask { round, survivors }));
                };
                let revealed = state.reveal(&survivors)?;
                wire::send(
                    &mut w,
                    &Message::SecureReveal {
                        round: *r,
                        revealed,
                    },
                )
                .await?;
            }
            Message::Refused { reason } => return Err(Error::Refused(reason)),
            m => {
                return Err(Error::Protocol(format!(
                    "an unexpected {} message",
                    m.kind()
                )));
            }
        }
    }
}
