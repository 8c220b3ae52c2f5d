//! The coordinator: it accepts the clients it was given, sends each round's model to a
//! sample of them, and combines the updates that arrive, signed, before the round's
//! deadline. A client that does not answer in time is a straggler: the round goes on
//! without it, as long as enough others answered.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aigis_crypto::{PublicKey, SigningKey};
use aigis_train::aggregate::{self, Rule, Update};
use aigis_train::dpsgd::Bounds;
use aigis_train::federated::Architecture;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;

use crate::secagg;
use crate::wire::{self, LocalTraining, Message};
use crate::{Error, tls};

/// A client the coordinator accepts: its name (for reports) and its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    pub name: String,
    pub key: PublicKey,
}

/// Each feature's bounds, given the features' names (the first client's, when the
/// coordinator was not told them).
pub type BoundsFor = Box<dyn Fn(&[String]) -> Result<Bounds, String> + Send + Sync>;

/// How the federation runs.
pub struct Settings {
    /// The federation's name, in every signed update (so none is replayed into another).
    pub federation: String,
    /// The clients accepted.
    pub clients: Vec<Party>,
    /// The features, in order; `None`: the first client's.
    pub features: Option<Vec<String>>,
    /// The features' public bounds.
    pub bounds: BoundsFor,
    /// Hidden units (0: softmax regression).
    pub hidden: usize,
    /// The label's values, in the order of the model's class indices.
    pub classes: Vec<f64>,
    /// Rounds.
    pub rounds: u64,
    /// Clients sampled a round (all connected ones when fewer are).
    pub per_round: usize,
    /// The fewest updates a round needs (at least what the rule needs).
    pub min_updates: usize,
    /// The clients that must have joined before the first round.
    pub min_clients: usize,
    /// How long to wait for them.
    pub join_timeout: Duration,
    /// How long a round waits for its updates.
    pub round_timeout: Duration,
    /// How long a connection has to finish its TLS handshake and say hello.
    pub handshake_timeout: Duration,
    /// The clients' local training.
    pub local: LocalTraining,
    /// How updates are combined.
    pub rule: Rule,
    /// Each update's L2 norm bound, before the rule (under secure aggregation, each
    /// client bounds its own).
    pub clip: Option<f64>,
    /// Secure aggregation ([`crate::secagg`]): the coordinator learns only each round's
    /// sum. Only with the mean.
    pub secure: bool,
    /// The seed of the first model.
    pub seed: u64,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("federation", &self.federation)
            .field("clients", &self.clients)
            .field("rounds", &self.rounds)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

/// One client's update in a round, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientUpdate {
    pub client: String,
    pub key_id: String,
    pub rows: u64,
    /// SHA-256 of the update ([`wire::digest`]).
    pub digest: String,
    /// The client's Ed25519 signature of [`wire::update_statement`], hex.
    pub signature: String,
    /// Whether the rule used it (Krum and multi-Krum choose).
    pub selected: bool,
    /// Whether its norm was bounded.
    pub clipped: bool,
}

/// A sampled client whose update is not in the round, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Absent {
    pub client: String,
    pub key_id: String,
    pub reason: String,
}

/// One round, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRecord {
    pub round: u64,
    /// The model the round started from (SHA-256 of its parameters).
    pub base: String,
    /// The clients sampled.
    pub sampled: Vec<String>,
    pub updates: Vec<ClientUpdate>,
    pub absent: Vec<Absent>,
    /// The rule, as `--aggregate` names it.
    pub rule: String,
    /// SHA-256 of the aggregate update.
    pub aggregate: String,
    /// SHA-256 of the model the round made.
    pub model: String,
    pub seconds: f64,
}

/// What the federation made.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub federation: String,
    pub features: Vec<String>,
    pub architecture: Architecture,
    pub params: Vec<f64>,
    /// SHA-256 of the final parameters.
    pub model: String,
    pub rounds: Vec<RoundRecord>,
}

enum Event {
    Joined {
        conn: u64,
        party: usize,
        features: Vec<String>,
        rows: u64,
        tx: mpsc::UnboundedSender<Message>,
    },
    Incoming {
        conn: u64,
        message: Message,
    },
    Left {
        conn: u64,
        reason: String,
    },
    /// A connection that never became a client (its handshake or hello failed).
    Turned {
        peer: String,
        reason: String,
    },
}

struct Connected {
    conn: u64,
    tx: mpsc::UnboundedSender<Message>,
    /// The rows it said it holds when it joined.
    rows: u64,
}

/// Checks the settings (as [`run`] does first), so a caller can refuse them before it
/// listens.
pub fn check(s: &Settings) -> Result<(), Error> {
    let bad = |m: String| Err(Error::Options(m));
    if s.clients.is_empty() {
        return bad("no client is allowed to join: name one or more by their keys".into());
    }
    for (i, a) in s.clients.iter().enumerate() {
        if let Some(b) = s.clients.iter().skip(i + 1).find(|b| b.key == a.key) {
            return bad(format!(
                "clients {} and {} have the same key {}",
                a.name,
                b.name,
                a.key.key_id()
            ));
        }
    }
    s.rule.check().map_err(Error::Options)?;
    if s.rounds == 0 || s.per_round == 0 {
        return bad(format!(
            "{} round(s) of {} client(s): each must be 1 or more",
            s.rounds, s.per_round
        ));
    }
    if s.rule.least_updates() > s.per_round {
        return bad(format!(
            "{} needs {} updates a round, and {} client(s) are sampled a round",
            s.rule,
            s.rule.least_updates(),
            s.per_round
        ));
    }
    if s.min_updates < s.rule.least_updates() {
        return bad(format!(
            "rounds of at least {} update(s), but {} needs {}",
            s.min_updates,
            s.rule,
            s.rule.least_updates()
        ));
    }
    if s.min_updates > s.per_round
        || s.min_clients < s.min_updates
        || s.min_clients > s.clients.len()
    {
        return bad(format!(
            "{} update(s) needed of {} sampled a round, with {} of {} client(s) joined first: need updates ≤ sampled, and updates ≤ joined ≤ clients",
            s.min_updates,
            s.per_round,
            s.min_clients,
            s.clients.len()
        ));
    }
    if s.secure && s.rule != Rule::Mean {
        return bad(format!(
            "secure aggregation with {}: the coordinator sees only the sum of the updates, and a robust rule needs each one (use the mean, with --clip-norm bounding each client's own update)",
            s.rule
        ));
    }
    if s.secure && s.per_round < 3 {
        return bad(format!(
            "secure aggregation among {} client(s) a round: with fewer than 3, the sum and one's own update give away the other's",
            s.per_round
        ));
    }
    let l = &s.local;
    if l.epochs == 0
        || l.batch_size == 0
        || !(l.learning_rate.is_finite() && l.learning_rate > 0.0)
        || !(l.alpha.is_finite() && l.alpha >= 0.0)
    {
        return bad(format!(
            "local training of {} epoch(s), batches of {}, a learning rate of {}, an L2 penalty of {}: each must be positive (the penalty may be 0)",
            l.epochs, l.batch_size, l.learning_rate, l.alpha
        ));
    }
    let mut sorted = s.classes.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    if sorted.len() < 2 || sorted.len() != s.classes.len() || sorted.iter().any(|c| !c.is_finite())
    {
        return bad(format!(
            "the classes {:?}: a classifier needs two or more distinct numbers",
            s.classes
        ));
    }
    Ok(())
}

/// Runs the federation on `listener` with the coordinator's `key`. `on_round` is given
/// each round once it is made and before the next starts; an error from it stops the
/// federation. `note` is told what happens (joins, stragglers, refusals).
pub async fn run(
    listener: TcpListener,
    key: &SigningKey,
    s: Settings,
    on_round: &mut (dyn FnMut(&RoundRecord) -> Result<(), String> + Send),
    note: &mut (dyn FnMut(&str) + Send),
) -> Result<Outcome, Error> {
    check(&s)?;
    let keys: Vec<PublicKey> = s.clients.iter().map(|p| p.key).collect();
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(key, &keys)?));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let parties = Arc::new(s.clients.clone());
    let handshake = s.handshake_timeout;
    let accept = tokio::spawn(async move {
        let mut next = 0u64;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            next += 1;
            tokio::spawn(connection(
                stream,
                acceptor.clone(),
                Arc::clone(&parties),
                next,
                events_tx.clone(),
                handshake,
            ));
        }
    });
    let result = federate(&s, &mut events, on_round, note).await;
    accept.abort();
    result
}

struct State<'a> {
    s: &'a Settings,
    connected: BTreeMap<usize, Connected>,
    features: Option<Vec<String>>,
    arch: Option<Architecture>,
}

impl State<'_> {
    fn party_of(&self, conn: u64) -> Option<usize> {
        self.connected
            .iter()
            .find(|(_, c)| c.conn == conn)
            .map(|(&p, _)| p)
    }

    fn name(&self, party: usize) -> (String, String) {
        self.s.clients.get(party).map_or_else(
            || ("?".into(), "?".into()),
            |p| (p.name.clone(), p.key.key_id()),
        )
    }

    fn joined(
        &mut self,
        conn: u64,
        party: usize,
        features: Vec<String>,
        rows: u64,
        tx: mpsc::UnboundedSender<Message>,
        note: &mut (dyn FnMut(&str) + Send),
    ) {
        let (name, _) = self.name(party);
        let refuse = |reason: String, note: &mut (dyn FnMut(&str) + Send)| {
            note(&format!("refused {name}: {reason}"));
            let _ = tx.send(Message::Refused { reason });
        };
        if self.connected.contains_key(&party) {
            return refuse(format!("{name} is already connected"), note);
        }
        if rows == 0 {
            return refuse("a table of 0 rows".into(), note);
        }
        match &self.features {
            Some(f) if *f != features => {
                return refuse(
                    format!(
                        "its features ({}) are not the federation's ({}), in that order",
                        features.join(", "),
                        f.join(", ")
                    ),
                    note,
                );
            }
            _ => {}
        }
        if self.arch.is_none() {
            let arch = (self.s.bounds)(&features)
                .map_err(|e| e.to_string())
                .and_then(|bounds| {
                    let arch = Architecture {
                        hidden: self.s.hidden,
                        classes: self.s.classes.len(),
                        bounds,
                    };
                    arch.check().map(|()| arch).map_err(|e| e.to_string())
                });
            match arch {
                Ok(a) => {
                    self.arch = Some(a);
                    self.features = Some(features.clone());
                }
                Err(e) => {
                    return refuse(
                        format!("the federation's bounds for its features: {e}"),
                        note,
                    );
                }
            }
        }
        let (Some(arch), Some(f)) = (&self.arch, &self.features) else {
            return;
        };
        let welcome = Message::Welcome {
            federation: self.s.federation.clone(),
            features: f.clone(),
            low: arch.bounds.low.clone(),
            high: arch.bounds.high.clone(),
            hidden: arch.hidden as u64,
            classes: self.s.classes.clone(),
            rounds: self.s.rounds,
        };
        if tx.send(welcome).is_ok() {
            note(&format!("{name} joined ({rows} rows)"));
            self.connected.insert(party, Connected { conn, tx, rows });
        }
    }

    fn left(
        &mut self,
        conn: u64,
        reason: &str,
        note: &mut (dyn FnMut(&str) + Send),
    ) -> Option<usize> {
        let party = self.party_of(conn)?;
        self.connected.remove(&party);
        note(&format!("{} left: {reason}", self.name(party).0));
        Some(party)
    }

    /// Drops a client that broke the protocol, telling it why.
    fn expel(&mut self, party: usize, reason: String, note: &mut (dyn FnMut(&str) + Send)) {
        if let Some(c) = self.connected.remove(&party) {
            note(&format!("dropped {}: {reason}", self.name(party).0));
            let _ = c.tx.send(Message::Refused { reason });
        }
    }
}

async fn federate(
    s: &Settings,
    events: &mut mpsc::UnboundedReceiver<Event>,
    on_round: &mut (dyn FnMut(&RoundRecord) -> Result<(), String> + Send),
    note: &mut (dyn FnMut(&str) + Send),
) -> Result<Outcome, Error> {
    let mut st = State {
        s,
        connected: BTreeMap::new(),
        features: s.features.clone(),
        arch: None,
    };
    // The first round waits for enough clients.
    let deadline = Instant::now() + s.join_timeout;
    while st.connected.len() < s.min_clients {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Joined {
                conn,
                party,
                features,
                rows,
                tx,
            })) => {
                st.joined(conn, party, features, rows, tx, note);
            }
            Ok(Some(Event::Left { conn, reason })) => {
                st.left(conn, &reason, note);
            }
            Ok(Some(Event::Turned { peer, reason })) => {
                note(&format!("turned away {peer}: {reason}"))
            }
            Ok(Some(Event::Incoming { conn, message })) => {
                if let Some(p) = st.party_of(conn) {
                    st.expel(
                        p,
                        format!("a {} message before any round", message.kind()),
                        note,
                    );
                }
            }
            Ok(None) => return Err(Error::Quorum("the listener stopped".into())),
            Err(_) => {
                return Err(Error::Quorum(format!(
                    "{} of the {} client(s) needed joined within {} s",
                    st.connected.len(),
                    s.min_clients,
                    s.join_timeout.as_secs_f64()
                )));
            }
        }
    }
    let arch = st
        .arch
        .clone()
        .ok_or_else(|| Error::Options("no client's features fixed the network".into()))?;
    let mut params = arch.init(s.seed)?;
    let mut records = Vec::new();
    let mut sampler = fastrand::Rng::new();
    for round in 1..=s.rounds {
        let started = Instant::now();
        if st.connected.len() < s.min_updates {
            return Err(Error::Quorum(format!(
                "round {round}: {} client(s) connected, and a round needs {} update(s)",
                st.connected.len(),
                s.min_updates
            )));
        }
        let mut live: Vec<usize> = st.connected.keys().copied().collect();
        sampler.shuffle(&mut live);
        live.truncate(s.per_round);
        live.sort_unstable();
        let base = wire::digest(&params);
        for p in &live {
            if let Some(c) = st.connected.get(p) {
                let id = live.iter().position(|q| q == p).unwrap_or(0);
                let _ = c.tx.send(Message::Round {
                    round,
                    base: base.clone(),
                    params: params.clone(),
                    local: s.local.clone(),
                    secure: s.secure.then(|| wire::SecureRound {
                        id: u32::try_from(id).unwrap_or(u32::MAX),
                        threshold: threshold_of(s, live.len()) as u64,
                        clip: s.clip,
                    }),
                });
            }
        }
        let mut absent: Vec<Absent> = Vec::new();
        let deadline = Instant::now() + s.round_timeout;
        let mut waiting: Vec<usize> = live.clone();
        let mut got: Vec<(usize, Update, String, String)> = Vec::new();
        let announced: BTreeMap<usize, u64> =
            st.connected.iter().map(|(p, c)| (*p, c.rows)).collect();
        let parameters = arch.parameters();
        let (updates, secure_sum) = if s.secure {
            let sum = secure_round(
                s,
                &mut st,
                events,
                round,
                &base,
                &live,
                parameters,
                &mut got,
                &mut absent,
                note,
            )
            .await?;
            (Vec::new(), Some(sum))
        } else {
            collect(
                &mut st,
                events,
                round,
                deadline,
                "update",
                &mut waiting,
                &mut absent,
                note,
                &mut |p, m| match m {
                    Message::Update {
                        round: r,
                        base: b,
                        delta,
                        rows,
                        signature,
                    } if r == round => {
                        // The mean weighs by rows: an update may not claim more (or
                        // fewer) than the table the client joined with.
                        if announced.get(&p) != Some(&rows) {
                            return Err(format!(
                                "an update from {rows} rows, from a client that joined with {}",
                                announced.get(&p).copied().unwrap_or(0)
                            ));
                        }
                        let d =
                            verify(s, p, round, &base, &b, &delta, rows, &signature, parameters)?;
                        got.push((
                            p,
                            Update {
                                values: delta,
                                rows,
                            },
                            d,
                            signature,
                        ));
                        Ok(())
                    }
                    other => Err(format!(
                        "an unexpected {} message in round {round}",
                        other.kind()
                    )),
                },
            )
            .await?;
            (got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(), None)
        };
        if got.len() < s.min_updates {
            return Err(Error::Quorum(format!(
                "round {round}: {} update(s) arrived of the {} needed ({} sampled)",
                got.len(),
                s.min_updates,
                live.len()
            )));
        }
        let agg = match secure_sum {
            Some(values) => aggregate::Aggregate {
                values,
                selected: (0..got.len()).collect(),
                clipped: Vec::new(),
            },
            None => aggregate::aggregate(&updates, s.rule, s.clip)
                .map_err(|e| Error::Options(format!("round {round}: {e}")))?,
        };
        params
            .iter_mut()
            .zip(&agg.values)
            .for_each(|(p, d)| *p += d);
        if params.iter().any(|v| !v.is_finite()) {
            return Err(Error::Train(aigis_train::mlp::Error::Diverged(format!(
                "round {round} made a parameter that is not a finite number: lower the learning rate or bound the updates"
            ))));
        }
        let record = RoundRecord {
            round,
            base,
            sampled: live.iter().map(|&p| st.name(p).0).collect(),
            updates: got
                .iter()
                .enumerate()
                .map(|(i, (p, u, d, sig))| {
                    let (client, key_id) = st.name(*p);
                    ClientUpdate {
                        client,
                        key_id,
                        rows: u.rows,
                        digest: d.clone(),
                        signature: sig.clone(),
                        selected: agg.selected.contains(&i),
                        clipped: agg.clipped.contains(&i),
                    }
                })
                .collect(),
            absent,
            rule: s.rule.name().into(),
            aggregate: wire::digest(&agg.values),
            model: wire::digest(&params),
            seconds: started.elapsed().as_secs_f64(),
        };
        on_round(&record).map_err(|message| Error::Record { round, message })?;
        records.push(record);
    }
    let model = wire::digest(&params);
    for c in st.connected.values() {
        let _ = c.tx.send(Message::Done {
            rounds: s.rounds,
            model: model.clone(),
            params: params.clone(),
        });
    }
    // Each client closes once it has the model; waiting for that is what makes sure it
    // was delivered (a few seconds at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !st.connected.is_empty() {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Left { conn, .. })) => {
                if let Some(p) = st.party_of(conn) {
                    st.connected.remove(&p);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok(Outcome {
        federation: s.federation.clone(),
        features: st.features.clone().unwrap_or_default(),
        architecture: arch,
        params,
        model,
        rounds: records,
    })
}

/// The clients a securely aggregated round of `sampled` needs to the end: more than half
/// (so that no two disjoint groups can each unmask a client), and at least the updates a
/// round needs.
fn threshold_of(s: &Settings, sampled: usize) -> usize {
    s.min_updates.max(sampled / 2 + 1)
}

fn absent_of(st: &State<'_>, p: usize, reason: String) -> Absent {
    let (client, key_id) = st.name(p);
    Absent {
        client,
        key_id,
        reason,
    }
}

/// Waits until each of `waiting` has answered this phase of `round` (what `take`
/// accepts) or `deadline` passes; those that did not are stragglers, those that left or
/// declined are absent, and one whose answer `take` refuses is dropped from the
/// federation. Joins and departures are handled meanwhile.
#[allow(
    clippy::too_many_arguments,
    reason = "the round's state and what it waits for"
)]
async fn collect(
    st: &mut State<'_>,
    events: &mut mpsc::UnboundedReceiver<Event>,
    round: u64,
    deadline: Instant,
    what: &str,
    waiting: &mut Vec<usize>,
    absent: &mut Vec<Absent>,
    note: &mut (dyn FnMut(&str) + Send),
    take: &mut (dyn FnMut(usize, Message) -> Result<(), String> + Send),
) -> Result<(), Error> {
    while !waiting.is_empty() {
        let event = match timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => return Err(Error::Quorum("the listener stopped".into())),
            Err(_) => break,
        };
        match event {
            Event::Joined {
                conn,
                party,
                features,
                rows,
                tx,
            } => {
                st.joined(conn, party, features, rows, tx, note);
            }
            Event::Turned { peer, reason } => note(&format!("turned away {peer}: {reason}")),
            Event::Left { conn, reason } => {
                if let Some(p) = st.left(conn, &reason, note)
                    && let Some(i) = waiting.iter().position(|&w| w == p)
                {
                    waiting.remove(i);
                    absent.push(absent_of(st, p, format!("left: {reason}")));
                }
            }
            Event::Incoming { conn, message } => {
                let Some(p) = st.party_of(conn) else { continue };
                let waited = waiting.contains(&p);
                match message {
                    Message::Decline { round: r, reason } if r == round && waited => {
                        waiting.retain(|&w| w != p);
                        note(&format!(
                            "{} declined round {round}: {reason}",
                            st.name(p).0
                        ));
                        absent.push(absent_of(st, p, format!("declined: {reason}")));
                    }
                    m if waited && m.round() == Some(round) => {
                        waiting.retain(|&w| w != p);
                        if let Err(reason) = take(p, m) {
                            absent.push(absent_of(st, p, format!("rejected: {reason}")));
                            st.expel(p, reason, note);
                        }
                    }
                    m if m.round().is_some_and(|r| r <= round) => {
                        note(&format!(
                            "{}: a late {} for round {}, ignored",
                            st.name(p).0,
                            m.kind(),
                            m.round().unwrap_or(round)
                        ));
                    }
                    m => {
                        let reason = format!("an unexpected {} message in round {round}", m.kind());
                        if waited {
                            waiting.retain(|&w| w != p);
                            absent.push(absent_of(st, p, format!("rejected: {reason}")));
                        }
                        st.expel(p, reason, note);
                    }
                }
            }
        }
    }
    for p in waiting.drain(..) {
        note(&format!(
            "{} is a straggler in round {round} ({what})",
            st.name(p).0
        ));
        absent.push(absent_of(
            st,
            p,
            format!("straggler: no {what} within the round's time"),
        ));
    }
    Ok(())
}

/// A round by secure aggregation among the sampled `live`: the four exchanges of
/// [`secagg`], each with its own deadline; the sum of the updates each weighted by its
/// rows, over the rows. `got` is given each masked update that is in the sum.
#[allow(clippy::too_many_arguments, reason = "the round's state")]
async fn secure_round(
    s: &Settings,
    st: &mut State<'_>,
    events: &mut mpsc::UnboundedReceiver<Event>,
    round: u64,
    base: &str,
    live: &[usize],
    parameters: usize,
    got: &mut Vec<(usize, Update, String, String)>,
    absent: &mut Vec<Absent>,
    note: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<f64>, Error> {
    if live.len() < 3 {
        // With two, the sum and one's own update give away the other's.
        return Err(Error::Quorum(format!(
            "round {round}: {} client(s) connected, and secure aggregation needs 3 or more",
            live.len()
        )));
    }
    let threshold = threshold_of(s, live.len());
    let mut server = secagg::Server::new(&s.federation, round, threshold, parameters + 1);
    let id_of = |p: usize| {
        live.iter()
            .position(|&q| q == p)
            .and_then(|i| u32::try_from(i).ok())
    };
    let party = |id: u32| live.get(id as usize).copied();
    let send = |st: &State<'_>, p: usize, m: Message| {
        if let Some(c) = st.connected.get(&p) {
            let _ = c.tx.send(m);
        }
    };
    let failed = |e: Error| match e {
        Error::Quorum(m) => Error::Quorum(format!("round {round}: {m}")),
        other => other,
    };
    // 1. Each client's keys (after its local training).
    let mut waiting = live.to_vec();
    let mut advertised = Vec::new();
    let deadline = Instant::now() + s.round_timeout;
    collect(
        st,
        events,
        round,
        deadline,
        "keys",
        &mut waiting,
        absent,
        note,
        &mut |p, m| match m {
            Message::SecureKeys { keys, .. } if Some(keys.id) == id_of(p) => {
                advertised.push(keys);
                Ok(())
            }
            other => Err(format!(
                "an unexpected {} (or keys under another number)",
                other.kind()
            )),
        },
    )
    .await?;
    let roster = server.roster(advertised).map_err(failed)?;
    let u1: Vec<usize> = roster.iter().filter_map(|a| party(a.id)).collect();
    for &p in &u1 {
        send(
            st,
            p,
            Message::SecureRoster {
                round,
                threshold: threshold as u64,
                roster: roster.clone(),
            },
        );
    }
    // 2. Their shares, sealed to each other.
    let mut waiting = u1;
    let mut sent = BTreeMap::new();
    let deadline = Instant::now() + s.round_timeout;
    collect(
        st,
        events,
        round,
        deadline,
        "shares",
        &mut waiting,
        absent,
        note,
        &mut |p, m| match m {
            Message::SecureShares { sealed, .. } => {
                sent.insert(id_of(p).unwrap_or(u32::MAX), sealed);
                Ok(())
            }
            other => Err(format!("an unexpected {}", other.kind())),
        },
    )
    .await?;
    let (u2, inbox) = server.route(sent).map_err(failed)?;
    for id in &u2 {
        if let Some(p) = party(*id) {
            let sealed = inbox.get(id).cloned().unwrap_or_default();
            send(
                st,
                p,
                Message::SecureInbox {
                    round,
                    shared: u2.clone(),
                    sealed,
                },
            );
        }
    }
    // 3. The masked updates, each signed.
    let mut waiting: Vec<usize> = u2.iter().filter_map(|&id| party(id)).collect();
    let deadline = Instant::now() + s.round_timeout;
    collect(
        st,
        events,
        round,
        deadline,
        "masked update",
        &mut waiting,
        absent,
        note,
        &mut |p, m| match m {
            Message::SecureMasked {
                masked, signature, ..
            } => {
                let id = id_of(p).ok_or("an unknown client")?;
                let digest = wire::digest_words(&masked);
                let statement = wire::masked_statement(&s.federation, round, base, &digest);
                let key = s.clients.get(p).map(|c| c.key).ok_or("an unknown client")?;
                let sig = hex::decode(&signature)
                    .map_err(|_| "a signature that is not hex".to_string())?;
                if !key.verify(&statement, &sig) {
                    return Err(
                        "a masked update whose signature does not verify with the client's key"
                            .into(),
                    );
                }
                server.masked(id, masked).map_err(|e| e.to_string())?;
                got.push((
                    p,
                    Update {
                        values: Vec::new(),
                        rows: 0,
                    },
                    digest,
                    signature,
                ));
                Ok(())
            }
            other => Err(format!("an unexpected {}", other.kind())),
        },
    )
    .await?;
    let u3 = server.survivors().map_err(failed)?;
    got.retain(|(p, ..)| id_of(*p).is_some_and(|id| u3.contains(&id)));
    for id in &u3 {
        if let Some(p) = party(*id) {
            send(
                st,
                p,
                Message::SecureUnmask {
                    round,
                    survivors: u3.clone(),
                },
            );
        }
    }
    // 4. The shares that unmask the sum.
    let mut waiting: Vec<usize> = u3.iter().filter_map(|&id| party(id)).collect();
    let mut revealed = Vec::new();
    let deadline = Instant::now() + s.round_timeout;
    collect(
        st,
        events,
        round,
        deadline,
        "shares revealed",
        &mut waiting,
        absent,
        note,
        &mut |p, m| match m {
            Message::SecureReveal { revealed: r, .. } if Some(r.from) == id_of(p) => {
                revealed.push(r);
                Ok(())
            }
            other => Err(format!(
                "an unexpected {} (or shares under another number)",
                other.kind()
            )),
        },
    )
    .await?;
    let (sum, dropped) = server.unmask(&revealed).map_err(failed)?;
    if !dropped.is_empty() {
        note(&format!(
            "round {round}: the masks of {} client(s) that dropped after sharing were removed",
            dropped.len()
        ));
    }
    let values = secagg::decode(&sum);
    let rows = values.last().copied().unwrap_or(0.0);
    if rows.is_nan() || rows < 0.5 {
        return Err(Error::Protocol(format!(
            "round {round}: the secure sum counts {rows} rows"
        )));
    }
    Ok(values.iter().take(parameters).map(|v| v / rows).collect())
}

/// Checks an update; its digest.
#[allow(
    clippy::too_many_arguments,
    reason = "the update's fields and what they must match"
)]
fn verify(
    s: &Settings,
    party: usize,
    round: u64,
    base: &str,
    claimed_base: &str,
    delta: &[f64],
    rows: u64,
    signature: &str,
    parameters: usize,
) -> Result<String, String> {
    if claimed_base != base {
        return Err(format!(
            "an update from model {claimed_base}, not the round's {base}"
        ));
    }
    if delta.len() != parameters {
        return Err(format!(
            "an update of {} values for a model of {parameters}",
            delta.len()
        ));
    }
    if rows == 0 {
        return Err("an update from 0 rows".into());
    }
    let digest = wire::digest(delta);
    let statement = wire::update_statement(&s.federation, round, base, &digest, rows);
    let key = s
        .clients
        .get(party)
        .map(|p| p.key)
        .ok_or_else(|| "an unknown client".to_string())?;
    let sig = hex::decode(signature).map_err(|_| "a signature that is not hex".to_string())?;
    if !key.verify(&statement, &sig) {
        return Err("an update whose signature does not verify with the client's key".into());
    }
    Ok(digest)
}

async fn connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    parties: Arc<Vec<Party>>,
    conn: u64,
    events: mpsc::UnboundedSender<Event>,
    handshake: Duration,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Each message waits for its answer: no holding a small segment back for the peer's
    // delayed acknowledgement (Nagle's algorithm).
    let _ = stream.set_nodelay(true);
    let turned = |reason: String| {
        let _ = events.send(Event::Turned {
            peer: peer.clone(),
            reason,
        });
    };
    let tls = match timeout(handshake, acceptor.accept(stream)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return turned(format!("its TLS handshake failed: {e}")),
        Err(_) => return turned("its TLS handshake timed out".into()),
    };
    let party = tls::peer_key(tls.get_ref().1.peer_certificates())
        .ok()
        .and_then(|k| parties.iter().position(|p| p.key == k));
    let Some(party) = party else {
        return turned("it presented no key this coordinator was given".into());
    };
    let (mut r, mut w) = tokio::io::split(tls);
    let hello = timeout(handshake, wire::receive(&mut r)).await;
    let (features, rows) = match hello {
        Ok(Ok(Some(Message::Hello {
            protocol,
            features,
            rows,
        }))) if protocol == wire::PROTOCOL => (features, rows),
        other => {
            let reason = match other {
                Ok(Ok(Some(Message::Hello { protocol, .. }))) => {
                    format!(
                        "protocol {protocol}; this coordinator speaks {}",
                        wire::PROTOCOL
                    )
                }
                Ok(Ok(Some(m))) => format!("a {} message before hello", m.kind()),
                Ok(Ok(None)) => return turned("it closed the connection before hello".into()),
                Ok(Err(e)) => format!("{e}"),
                Err(_) => "no hello in time".into(),
            };
            turned(reason.clone());
            let _ = wire::send(&mut w, &Message::Refused { reason }).await;
            let _ = w.shutdown().await;
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let last = matches!(m, Message::Done { .. } | Message::Refused { .. });
            if wire::send(&mut w, &m).await.is_err() || last {
                break;
            }
        }
        let _ = w.shutdown().await;
    });
    if events
        .send(Event::Joined {
            conn,
            party,
            features,
            rows,
            tx,
        })
        .is_err()
    {
        return;
    }
    loop {
        match wire::receive(&mut r).await {
            Ok(Some(message)) => {
                if events.send(Event::Incoming { conn, message }).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = events.send(Event::Left {
                    conn,
                    reason: "closed the connection".into(),
                });
                return;
            }
            Err(e) => {
                let _ = events.send(Event::Left {
                    conn,
                    reason: e.to_string(),
                });
                return;
            }
        }
    }
}
