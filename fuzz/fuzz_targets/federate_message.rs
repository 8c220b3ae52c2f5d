//! What a federation's parties send each other, from arbitrary bytes: a frame read by
//! `aigis_federate::wire::receive` (length, then a JSON message), printed and read again
//! to the same message; and the secure-aggregation messages applied to a coordinator's
//! round that is under way (three clients that have shared and masked): a revealed share
//! set or a masked update from a client, which must be refused or used, never panic.
#![no_main]

use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use aigis_federate::secagg::{Client, Revealed, Server, encode};
use aigis_federate::wire::{self, Message};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng as _;

/// Polls a future over in-memory bytes, which never waits, to its end.
fn now<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A coordinator's round after three clients masked their updates, and the shares the
/// first two revealed.
fn round() -> &'static (Server, Vec<Revealed>) {
    static ROUND: OnceLock<(Server, Vec<Revealed>)> = OnceLock::new();
    ROUND.get_or_init(|| {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(7);
        let mut server = Server::new("fuzz", 1, 2, 3);
        let mut clients = Vec::new();
        let mut roster = Vec::new();
        for id in 0..3 {
            let (c, a) = Client::new(id, "fuzz", 1, &mut rng);
            clients.push(c);
            roster.push(a);
        }
        server.roster(roster.clone()).expect("a roster");
        let mut sent = std::collections::BTreeMap::new();
        for (id, c) in clients.iter_mut().enumerate() {
            sent.insert(id as u32, c.share(roster.clone(), 2, &mut rng).expect("shares"));
        }
        let (u2, inbox) = server.route(sent).expect("routed");
        for (id, c) in clients.iter_mut().enumerate() {
            let id = id as u32;
            let y = c
                .mask(&u2, inbox.get(&id).map_or(&[][..], Vec::as_slice), &encode(&[1.0, 2.0, 3.0]).expect("encoded"))
                .expect("masked");
            server.masked(id, y).expect("taken");
        }
        let u3 = server.survivors().expect("survivors");
        let revealed = clients.iter_mut().take(2).map(|c| c.reveal(&u3).expect("revealed")).collect();
        (server, revealed)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    let Ok(Some(message)) = now(wire::receive(&mut reader)) else {
        return;
    };
    let mut out = Vec::new();
    now(wire::send(&mut out, &message)).expect("a message read prints");
    let again = now(wire::receive(&mut out.as_slice())).expect("a printed message reads");
    assert_eq!(again.as_ref(), Some(&message));
    let (server, good) = round();
    match message {
        Message::SecureReveal { revealed, .. } => {
            let mut all = good.clone();
            all.push(revealed);
            let _ = server.unmask(&all);
            let _ = server.unmask(&all[1..]);
        }
        Message::SecureMasked { masked, .. } => {
            let mut s = server.clone();
            let _ = s.masked(0, masked);
        }
        Message::SecureShares { sealed, .. } => {
            let mut s = Server::new("fuzz", 1, 2, 3);
            let _ = s.route(std::iter::once((0u32, sealed)).collect());
        }
        _ => {}
    }
});
