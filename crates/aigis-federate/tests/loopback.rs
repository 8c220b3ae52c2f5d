//! A coordinator and clients as tasks over loopback TLS (the CLI's tests run them as
//! separate processes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::time::Duration;

use aigis_crypto::SigningKey;
use aigis_federate::Error;
use aigis_federate::client::{self, ClientDp, Event};
use aigis_federate::coordinator::{self, Party, RoundRecord};
use aigis_federate::wire::{self, LocalTraining};
use aigis_train::aggregate::Rule;
use aigis_train::dpsgd::Bounds;
use tokio::net::TcpListener;

/// Two noisy blobs; client `c` holds mostly class `c % 2`.
fn table(c: usize, rows: usize) -> (Vec<f64>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(c as u64 + 11);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for r in 0..rows {
        let class = if r % 4 == 0 { 1 - c % 2 } else { c % 2 };
        let centre = if class == 0 { -1.0 } else { 1.0 };
        x.push(centre + rng.f64() - 0.5);
        x.push(-centre + rng.f64() - 0.5);
        y.push(class);
    }
    (x, y)
}

fn settings(clients: &[SigningKey], rule: Rule, rounds: u64) -> coordinator::Settings {
    coordinator::Settings {
        federation: "test".into(),
        clients: clients
            .iter()
            .enumerate()
            .map(|(i, k)| Party {
                name: format!("client-{i}"),
                key: k.public(),
            })
            .collect(),
        features: None,
        bounds: Box::new(|f: &[String]| {
            Ok(Bounds {
                low: vec![-3.0; f.len()],
                high: vec![3.0; f.len()],
            })
        }),
        hidden: 0,
        classes: vec![0.0, 1.0],
        rounds,
        per_round: clients.len(),
        min_updates: rule.least_updates(),
        min_clients: clients.len(),
        join_timeout: Duration::from_secs(20),
        round_timeout: Duration::from_secs(20),
        handshake_timeout: Duration::from_secs(5),
        local: LocalTraining {
            epochs: 5,
            learning_rate: 0.2,
            batch_size: 16,
            alpha: 0.0,
        },
        rule,
        clip: None,
        secure: false,
        seed: 1,
    }
}

fn client_settings(address: &str, coordinator: &SigningKey, c: usize) -> client::Settings {
    let (x, y) = table(c, 40);
    client::Settings {
        address: address.into(),
        coordinator: coordinator.public(),
        features: vec!["a".into(), "b".into()],
        x,
        rows: 40,
        labels: y.iter().map(|&c| c as f64).collect(),
        dp: None,
        require_secure: false,
        connect_timeout: Duration::from_secs(10),
        seed: c as u64,
    }
}

/// The coordinator as a task: its outcome and the rounds it reported.
fn spawn_coordinator(
    listener: TcpListener,
    coord: SigningKey,
    s: coordinator::Settings,
) -> tokio::task::JoinHandle<(Result<coordinator::Outcome, Error>, Vec<RoundRecord>)> {
    tokio::spawn(async move {
        let mut records: Vec<RoundRecord> = Vec::new();
        let mut keep = |r: &RoundRecord| {
            records.push(r.clone());
            Ok(())
        };
        let out = coordinator::run(listener, &coord, s, &mut keep, &mut |_| {}).await;
        (out, records)
    })
}

async fn listen() -> Result<(TcpListener, String), Error> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let a = l.local_addr()?.to_string();
    Ok((l, a))
}

#[tokio::test]
async fn fedavg_over_tls_learns_and_every_round_is_signed() -> Result<(), Error> {
    let coord = SigningKey::generate();
    let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
    let (listener, address) = listen().await?;
    let s = settings(&keys, Rule::Mean, 5);
    let parties = s.clients.clone();
    let coord_pub = coord.public();
    let server = spawn_coordinator(listener, coord, s);
    let mut joins = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        let mut cs = client_settings(&address, &SigningKey::generate(), i);
        cs.coordinator = coord_pub;
        joins.push(tokio::spawn(async move {
            let mut events = Vec::new();
            let out = client::join(&k, cs, &mut |e| events.push(e)).await;
            (out, events)
        }));
    }
    let mut finals = Vec::new();
    for j in joins {
        let (out, events) = j.await.map_err(|e| Error::Options(e.to_string()))?;
        let out = out?;
        assert_eq!(out.trained, 5);
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Trained { .. }))
                .count(),
            5
        );
        finals.push(out.model);
    }
    let (out, records) = server.await.map_err(|e| Error::Options(e.to_string()))?;
    let out = out?;
    assert!(
        finals.iter().all(|m| *m == out.model),
        "every client has the final model"
    );
    assert_eq!(records.len(), 5);
    // The lineage: each round starts from the last one's model, and each update's
    // signature verifies with its client's key over the statement.
    let mut base = wire::digest(&out.architecture.init(1)?);
    for r in &records {
        assert_eq!(r.base, base);
        assert_eq!(r.updates.len(), 3);
        for u in &r.updates {
            let key = parties.iter().find(|p| p.name == u.client).map(|p| p.key);
            let sig = hex::decode(&u.signature).unwrap_or_default();
            let st = wire::update_statement("test", r.round, &r.base, &u.digest, u.rows);
            assert!(key.is_some_and(|k| k.verify(&st, &sig)), "{u:?}");
        }
        base = r.model.clone();
    }
    assert_eq!(base, out.model);
    // It learned what no client holds alone.
    let model = out.architecture.model(&out.params)?;
    let (mut right, mut total) = (0, 0);
    for c in 0..3 {
        let (x, y) = table(c, 40);
        right += model
            .predict(&x, 40)?
            .iter()
            .zip(&y)
            .filter(|(p, t)| p == t)
            .count();
        total += 40;
    }
    assert!(right * 10 > total * 9, "{right} of {total}");
    Ok(())
}

#[tokio::test]
async fn a_key_not_given_is_refused_in_the_handshake_both_ways() -> Result<(), Error> {
    let coord = SigningKey::generate();
    let member = SigningKey::generate();
    let (listener, address) = listen().await?;
    let mut s = settings(std::slice::from_ref(&member), Rule::Mean, 1);
    s.join_timeout = Duration::from_secs(4);
    let coord_pub = coord.public();
    let server = tokio::spawn(async move {
        coordinator::run(listener, &coord, s, &mut |_| Ok(()), &mut |_| {}).await
    });
    // A stranger's key: the coordinator ends the handshake.
    let mut cs = client_settings(&address, &SigningKey::generate(), 0);
    cs.coordinator = coord_pub;
    let stranger = client::join(&SigningKey::generate(), cs, &mut |_| {}).await;
    assert!(stranger.is_err(), "{stranger:?}");
    // A member that expects another coordinator: it ends the handshake itself.
    let cs = client_settings(&address, &SigningKey::generate(), 0);
    match client::join(&member, cs, &mut |_| {}).await {
        Err(Error::Tls(m)) => assert!(m.contains("not one this party was given"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Nobody joined: the coordinator gives up, naming the quorum.
    match server.await.map_err(|e| Error::Options(e.to_string()))? {
        Err(Error::Quorum(m)) => assert!(m.contains("0 of the 1"), "{m}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_client_with_its_own_dp_stops_at_its_budget_and_the_round_goes_on() -> Result<(), Error> {
    let coord = SigningKey::generate();
    let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
    let (listener, address) = listen().await?;
    let mut s = settings(&keys, Rule::Median, 4);
    s.min_updates = 2;
    let coord_pub = coord.public();
    let server = spawn_coordinator(listener, coord, s);
    let dp = ClientDp {
        clip: 1.0,
        noise_multiplier: 2.0,
        delta: 1e-5,
        epsilon: Some(
            client::epsilon_after(
                &ClientDp {
                    clip: 1.0,
                    noise_multiplier: 2.0,
                    delta: 1e-5,
                    epsilon: None,
                },
                2,
            )? + 1e-9,
        ),
    };
    let mut joins = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        let mut cs = client_settings(&address, &SigningKey::generate(), i);
        cs.coordinator = coord_pub;
        if i == 0 {
            cs.dp = Some(dp.clone());
        }
        joins.push(tokio::spawn(async move {
            let mut events = Vec::new();
            let out = client::join(&k, cs, &mut |e| events.push(e)).await;
            (out, events)
        }));
    }
    let mut first = None;
    for j in joins {
        let (out, events) = j.await.map_err(|e| Error::Options(e.to_string()))?;
        first.get_or_insert((out?, events));
    }
    let Some((out, events)) = first else { panic!() };
    assert_eq!(out.trained, 2);
    let declined = events
        .iter()
        .filter(|e| matches!(e, Event::Declined { .. }))
        .count();
    assert_eq!(declined, 2, "{events:?}");
    assert!(out.epsilon.is_some_and(|e| e <= dp.epsilon.unwrap_or(0.0)));
    let (res, records) = server.await.map_err(|e| Error::Options(e.to_string()))?;
    res?;
    assert_eq!(records.len(), 4);
    let absent: Vec<usize> = records.iter().map(|r| r.absent.len()).collect();
    assert_eq!(absent, vec![0, 0, 1, 1]);
    assert!(
        records
            .iter()
            .skip(2)
            .all(|r| r.absent.iter().all(|a| a.reason.starts_with("declined")))
    );
    Ok(())
}

/// A client driven by hand, past the handshake, hello (two features, 40 rows) and
/// welcome: its connection and the federation's name.
async fn hand_join(
    address: &str,
    key: &SigningKey,
    coordinator: &aigis_crypto::PublicKey,
) -> Result<
    (
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        String,
    ),
    Error,
> {
    use aigis_federate::wire::Message;
    use rustls::pki_types::ServerName;
    let config = aigis_federate::tls::client_config(key, coordinator)?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = ServerName::try_from("aigis-federate").map_err(|e| Error::Tls(e.to_string()))?;
    let mut tls = connector.connect(name, tcp).await?;
    wire::send(
        &mut tls,
        &Message::Hello {
            protocol: wire::PROTOCOL,
            features: vec!["a".into(), "b".into()],
            rows: 40,
        },
    )
    .await?;
    let Some(Message::Welcome { federation, .. }) = wire::receive(&mut tls).await? else {
        return Err(Error::Protocol("no welcome".into()));
    };
    Ok((tls, federation))
}

/// A client that follows secure aggregation through sharing its keys in round 1, then
/// drops: its pairwise masks are in the others' masked updates, and must be removed.
async fn dropping_client(
    address: String,
    key: SigningKey,
    coordinator: aigis_crypto::PublicKey,
) -> Result<(), Error> {
    use aigis_federate::secagg;
    use aigis_federate::wire::Message;
    let (mut tls, federation) = hand_join(&address, &key, &coordinator).await?;
    let Some(Message::Round {
        round,
        secure: Some(sr),
        ..
    }) = wire::receive(&mut tls).await?
    else {
        return Err(Error::Protocol("no secure round".into()));
    };
    let mut rng = aigis_train::dpsgd::secure_rng()?;
    let (mut state, keys) = secagg::Client::new(sr.id, &federation, round, &mut rng);
    wire::send(&mut tls, &Message::SecureKeys { round, keys }).await?;
    let Some(Message::SecureRoster {
        roster, threshold, ..
    }) = wire::receive(&mut tls).await?
    else {
        return Err(Error::Protocol("no roster".into()));
    };
    let sealed = state.share(roster, threshold as usize, &mut rng)?;
    wire::send(&mut tls, &Message::SecureShares { round, sealed }).await?;
    // Its inbox arrives; it never sends its masked update.
    let _ = wire::receive(&mut tls).await?;
    Ok(())
}

async fn federation(
    secure: bool,
    with_dropout: bool,
) -> Result<(coordinator::Outcome, Vec<RoundRecord>), Error> {
    let coord = SigningKey::generate();
    let keys: Vec<SigningKey> = (0..4)
        .map(|i| SigningKey::from_seed(&[i as u8 + 1; 32]))
        .collect();
    let (listener, address) = listen().await?;
    let members = if with_dropout { &keys[..] } else { &keys[..3] };
    let mut s = settings(members, Rule::Mean, 3);
    s.secure = secure;
    s.min_updates = 2;
    s.round_timeout = Duration::from_secs(10);
    let coord_pub = coord.public();
    let server = spawn_coordinator(listener, coord, s);
    let mut joins = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        if i == 3 {
            if with_dropout {
                joins.push(tokio::spawn(dropping_client(address.clone(), k, coord_pub)));
            }
            continue;
        }
        let mut cs = client_settings(&address, &SigningKey::generate(), i);
        cs.coordinator = coord_pub;
        cs.require_secure = secure;
        joins.push(tokio::spawn(async move {
            client::join(&k, cs, &mut |_| {}).await.map(|_| ())
        }));
    }
    let (out, records) = server.await.map_err(|e| Error::Options(e.to_string()))?;
    let out = out?;
    for j in joins {
        j.await.map_err(|e| Error::Options(e.to_string()))??;
    }
    Ok((out, records))
}

#[tokio::test]
async fn secure_aggregation_makes_the_plain_mean_even_when_a_client_drops() -> Result<(), Error> {
    let (plain, _) = federation(false, false).await?;
    let (secure, records) = federation(true, true).await?;
    // The same model, to the fixed point's precision, though the coordinator saw only
    // masked updates, and one client dropped after its masks were in the others'.
    assert_eq!(plain.params.len(), secure.params.len());
    let worst = plain
        .params
        .iter()
        .zip(&secure.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "{worst}");
    assert_eq!(records[0].updates.len(), 3);
    assert_eq!(records[0].absent.len(), 1);
    assert!(
        records[0].absent[0].reason.starts_with("left"),
        "{:?}",
        records[0].absent
    );
    // What was recorded of each update is its masked form, unweighted by any row count.
    assert!(records[0].updates.iter().all(|u| u.rows == 0));
    Ok(())
}

#[tokio::test]
async fn a_client_that_requires_secure_aggregation_refuses_a_plain_round() -> Result<(), Error> {
    let coord = SigningKey::generate();
    let keys: Vec<SigningKey> = (0..1).map(|_| SigningKey::generate()).collect();
    let (listener, address) = listen().await?;
    let s = settings(&keys, Rule::Mean, 1);
    let coord_pub = coord.public();
    let server = tokio::spawn(async move {
        coordinator::run(listener, &coord, s, &mut |_| Ok(()), &mut |_| {}).await
    });
    let mut cs = client_settings(&address, &SigningKey::generate(), 0);
    cs.coordinator = coord_pub;
    cs.require_secure = true;
    let k = keys
        .into_iter()
        .next()
        .ok_or(Error::Options("no key".into()))?;
    match client::join(&k, cs, &mut |_| {}).await {
        Err(Error::Refused(m)) => assert!(m.contains("not securely aggregated"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        server
            .await
            .map_err(|e| Error::Options(e.to_string()))?
            .is_err()
    );
    Ok(())
}

/// An update made from the round's federation, number, base and parameter count.
type Forge = fn(&SigningKey, &str, u64, &str, usize) -> wire::Message;

/// A client that answers round 1 with what `forge` makes of the round (its number, base
/// and parameters), signed with its key.
async fn rogue(
    address: String,
    key: SigningKey,
    coordinator: aigis_crypto::PublicKey,
    forge: Forge,
) -> Result<(), Error> {
    use aigis_federate::wire::Message;
    let (mut tls, federation) = hand_join(&address, &key, &coordinator).await?;
    let Some(Message::Round {
        round,
        base,
        params,
        ..
    }) = wire::receive(&mut tls).await?
    else {
        return Err(Error::Protocol("no round".into()));
    };
    wire::send(
        &mut tls,
        &forge(&key, &federation, round, &base, params.len()),
    )
    .await?;
    // The coordinator's answer: refused.
    match wire::receive(&mut tls).await? {
        Some(Message::Refused { .. }) => Ok(()),
        other => Err(Error::Protocol(format!("not refused: {other:?}"))),
    }
}

fn signed(
    key: &SigningKey,
    federation: &str,
    round: u64,
    base: &str,
    delta: Vec<f64>,
    rows: u64,
) -> wire::Message {
    let digest = wire::digest(&delta);
    let signature = hex::encode(key.sign(&wire::update_statement(
        federation, round, base, &digest, rows,
    )));
    wire::Message::Update {
        round,
        base: base.into(),
        delta,
        rows,
        signature,
    }
}

#[tokio::test]
async fn forged_updates_are_rejected_and_their_clients_dropped() -> Result<(), Error> {
    let forgeries: [(Forge, &str); 5] = [
        // Claiming a hundred times its rows, to outweigh the others in the mean.
        (
            |k, f, r, b, n| signed(k, f, r, b, vec![0.0; n], 4000),
            "from 4000 rows",
        ),
        // Trained from another model.
        (
            |k, f, r, _, n| signed(k, f, r, &"00".repeat(32), vec![0.0; n], 40),
            "not the round's",
        ),
        // Signed for another federation (a replay from elsewhere).
        (
            |k, _, r, b, n| signed(k, "other", r, b, vec![0.0; n], 40),
            "does not verify",
        ),
        // The wrong size.
        (
            |k, f, r, b, n| signed(k, f, r, b, vec![0.0; n + 1], 40),
            "values for a model of",
        ),
        // Signed by another key.
        (
            |_, f, r, b, n| signed(&SigningKey::generate(), f, r, b, vec![0.0; n], 40),
            "does not verify",
        ),
    ];
    for (forge, reason) in forgeries {
        let coord = SigningKey::generate();
        let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
        let (listener, address) = listen().await?;
        let mut s = settings(&keys, Rule::Mean, 2);
        s.min_updates = 2;
        let coord_pub = coord.public();
        let server = spawn_coordinator(listener, coord, s);
        let mut tasks = Vec::new();
        for (i, k) in keys.into_iter().enumerate() {
            if i == 2 {
                tasks.push(tokio::spawn(rogue(address.clone(), k, coord_pub, forge)));
                continue;
            }
            let mut cs = client_settings(&address, &SigningKey::generate(), i);
            cs.coordinator = coord_pub;
            tasks.push(tokio::spawn(async move {
                client::join(&k, cs, &mut |_| {}).await.map(|_| ())
            }));
        }
        let (out, records) = server.await.map_err(|e| Error::Options(e.to_string()))?;
        out?;
        for t in tasks {
            t.await.map_err(|e| Error::Options(e.to_string()))??;
        }
        // Round 1 went on with the two honest updates; the forger was absent from it and
        // is gone from round 2.
        assert_eq!(records[0].updates.len(), 2, "{reason}");
        assert!(
            records[0].absent[0].reason.contains(reason),
            "{:?}",
            records[0].absent
        );
        assert_eq!(records[1].sampled.len(), 2);
    }
    Ok(())
}
