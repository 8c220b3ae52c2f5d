use rand::SeedableRng as _;

use super::*;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A round among `n` clients with `updates`; `drop_after_share` never send their masked
/// update, `drop_after_mask` never reveal. The coordinator's sum and the transcript.
struct Run {
    sum: Vec<f64>,
    dropped: Vec<u32>,
    masked: BTreeMap<u32, Vec<u64>>,
    revealed: Vec<Revealed>,
    sealed: Vec<Sealed>,
}

fn run(
    updates: &[Vec<f64>],
    threshold: usize,
    drop_after_share: &[u32],
    drop_after_mask: &[u32],
) -> Result<Run, Error> {
    let n = updates.len();
    let len = updates.first().map_or(0, Vec::len);
    let mut r = rng(42);
    let mut server = Server::new("fed", 3, threshold, len);
    let mut clients = Vec::new();
    let mut ads = Vec::new();
    for id in 0..n as u32 {
        let (c, a) = Client::new(id + 10, "fed", 3, &mut r);
        clients.push(c);
        ads.push(a);
    }
    let roster = server.roster(ads)?;
    let mut sent = BTreeMap::new();
    for c in &mut clients {
        let s = c.share(roster.clone(), threshold, &mut r)?;
        sent.insert(c.id, s);
    }
    let sealed: Vec<Sealed> = sent.values().flatten().cloned().collect();
    let (u2, inbox) = server.route(sent)?;
    let mut masked = BTreeMap::new();
    for (c, x) in clients.iter_mut().zip(updates) {
        if drop_after_share.contains(&c.id) {
            continue;
        }
        let y = c.mask(
            &u2,
            inbox.get(&c.id).map_or(&[][..], Vec::as_slice),
            &encode(x)?,
        )?;
        masked.insert(c.id, y.clone());
        server.masked(c.id, y)?;
    }
    let u3 = server.survivors()?;
    let mut revealed = Vec::new();
    for c in &mut clients {
        if u3.contains(&c.id) && !drop_after_mask.contains(&c.id) {
            revealed.push(c.reveal(&u3)?);
        }
    }
    let (sum, dropped) = server.unmask(&revealed)?;
    Ok(Run {
        sum: decode(&sum),
        dropped,
        masked,
        revealed,
        sealed,
    })
}

fn updates(n: usize, len: usize) -> Vec<Vec<f64>> {
    let mut g = fastrand::Rng::with_seed(9);
    (0..n)
        .map(|_| (0..len).map(|_| 20.0 * (g.f64() - 0.5)).collect())
        .collect()
}

fn sum_of(updates: &[Vec<f64>], ids: &[usize]) -> Vec<f64> {
    let len = updates.first().map_or(0, Vec::len);
    let mut s = vec![0.0; len];
    for &i in ids {
        for (a, b) in s.iter_mut().zip(&updates[i]) {
            *a += b;
        }
    }
    s
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn the_sum_is_the_sum_with_and_without_dropouts() -> Result<(), Error> {
    let ups = updates(6, 50);
    let all = run(&ups, 4, &[], &[])?;
    assert!(close(&all.sum, &sum_of(&ups, &[0, 1, 2, 3, 4, 5])));
    assert!(all.dropped.is_empty());
    // Two drop after sharing their keys (their pairwise masks are in the others'
    // updates): the sum of the four others, the two dropped masks removed.
    let two = run(&ups, 4, &[11, 14], &[])?;
    assert_eq!(two.dropped, vec![11, 14]);
    assert!(
        close(&two.sum, &sum_of(&ups, &[0, 2, 3, 5])),
        "{:?}",
        two.sum
    );
    // One drops after sharing and one after sending its masked update: the second's
    // update stays in the sum, the four remaining helpers (the threshold) reveal for it.
    let late = run(&ups, 4, &[11], &[13])?;
    assert!(
        close(&late.sum, &sum_of(&ups, &[0, 2, 3, 4, 5])),
        "{:?}",
        late.sum
    );
    // Below the threshold nothing is revealed: the round fails rather than guess.
    assert!(matches!(
        run(&ups, 4, &[11, 14, 15], &[]),
        Err(Error::Quorum(_))
    ));
    Ok(())
}

#[test]
fn the_coordinator_cannot_recover_one_clients_update() -> Result<(), Error> {
    let ups = updates(5, 4000);
    let r = run(&ups, 3, &[], &[])?;
    // What it holds of client 10: its masked update, and the shares of its seed (never of
    // its mask key, since it survived).
    let y = &r.masked[&10];
    assert!(r.revealed.iter().all(|rv| rv.mask_key_share(10).is_none()));
    // Removing the seed's mask (which it can rebuild) still leaves the pairwise masks:
    // what remains is as uniform as noise, and unrelated to the update.
    let sharks = Sharks(3);
    let shares: Vec<Share> = r
        .revealed
        .iter()
        .filter_map(|rv| rv.seed_share(10))
        .map(|h| Share::try_from(hex::decode(h).unwrap_or_default().as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Protocol(e.to_string()))?;
    let seed: [u8; 32] = sharks
        .recover(shares.iter())
        .map_err(|e| Error::Protocol(e.to_string()))?
        .try_into()
        .map_err(|_| Error::Protocol("seed".into()))?;
    let mut rest = y.clone();
    sub(&mut rest, &mask(&seed, y.len()));
    let x = encode(&ups[0])?;
    // Each bit of the remainder is set about half the time (a uniform word), where the
    // update's own high bits are all equal (small numbers).
    for bit in [0, 17, 40, 63] {
        let ones = rest.iter().filter(|w| (*w >> bit) & 1 == 1).count() as f64 / rest.len() as f64;
        assert!((ones - 0.5).abs() < 0.04, "bit {bit}: {ones}");
    }
    let close_words = rest
        .iter()
        .zip(&x)
        .filter(|(a, b)| a.wrapping_sub(**b) < (1 << 40) || b.wrapping_sub(**a) < (1 << 40))
        .count();
    assert!(
        close_words < 10,
        "{close_words} of the remainder's words are near the update's"
    );
    // Nor does it hold any share it could open: every sealed share is to a client, under
    // a key the coordinator does not have.
    assert!(r.sealed.iter().all(|s| s.from != s.to));
    // The mask key of a surviving client cannot be rebuilt from what was revealed.
    let key_shares: Vec<Share> = r
        .revealed
        .iter()
        .filter_map(|rv| rv.mask_key_share(10))
        .filter_map(|h| Share::try_from(hex::decode(h).unwrap_or_default().as_slice()).ok())
        .collect();
    assert!(sharks.recover(key_shares.iter()).is_err());
    Ok(())
}

#[test]
fn clients_refuse_what_would_reveal_both_secrets() -> Result<(), Error> {
    let mut r = rng(1);
    let (mut a, ad_a) = Client::new(0, "fed", 1, &mut r);
    let (mut b, ad_b) = Client::new(1, "fed", 1, &mut r);
    let (mut c, ad_c) = Client::new(2, "fed", 1, &mut r);
    let roster = vec![ad_a.clone(), ad_b.clone(), ad_c.clone()];
    // A threshold of half or less would let two disjoint groups rebuild both secrets.
    assert!(a.share(roster.clone(), 1, &mut r).is_err());
    // Two clients would each learn the other's update from the sum.
    assert!(a.share(roster[..2].to_vec(), 2, &mut r).is_err());
    let mut server = Server::new("fed", 1, 2, 3);
    server.roster(roster.clone())?;
    let mut sent = BTreeMap::new();
    for cl in [&mut a, &mut b, &mut c] {
        let s = cl.share(roster.clone(), 2, &mut r)?;
        sent.insert(cl.id, s);
    }
    let (u2, inbox) = server.route(sent)?;
    for cl in [&mut a, &mut b, &mut c] {
        let y = cl.mask(&u2, &inbox[&cl.id], &[1, 2, 3])?;
        server.masked(cl.id, y)?;
    }
    // An unmasking set without this client, or below the threshold, or naming a client
    // that never shared, is refused.
    assert!(a.reveal(&[1, 2]).is_err());
    assert!(a.reveal(&[0]).is_err());
    assert!(a.reveal(&[0, 1, 7]).is_err());
    // Once answered, a second (different) set is refused.
    let first = a.reveal(&[0, 1, 2])?;
    assert_eq!(first.seed_shares.len(), 3);
    assert!(a.reveal(&[0, 1]).is_err());
    // The roster may not leave a client out or change its key.
    let (mut d, _) = Client::new(3, "fed", 1, &mut r);
    assert!(d.share(roster.clone(), 2, &mut r).is_err());
    let mut swapped = roster.clone();
    swapped[0].share_key = ad_b.share_key.clone();
    let (mut e, _) = Client::new(0, "fed", 1, &mut r);
    assert!(e.share(swapped, 2, &mut r).is_err());
    Ok(())
}

#[test]
fn tampered_or_misrouted_shares_are_refused() -> Result<(), Error> {
    let mut r = rng(2);
    let mut clients = Vec::new();
    let mut roster = Vec::new();
    for id in 0..3 {
        let (c, a) = Client::new(id, "fed", 1, &mut r);
        clients.push(c);
        roster.push(a);
    }
    let mut server = Server::new("fed", 1, 2, 2);
    server.roster(roster.clone())?;
    let mut sent = BTreeMap::new();
    for c in &mut clients {
        sent.insert(c.id, c.share(roster.clone(), 2, &mut r)?);
    }
    let (u2, inbox) = server.route(sent.clone())?;
    let mut bad = inbox[&0].clone();
    let mut ct = hex::decode(&bad[0].ciphertext).unwrap_or_default();
    ct[3] ^= 1;
    bad[0].ciphertext = hex::encode(ct);
    match clients[0].mask(&u2, &bad, &[1, 2]) {
        Err(Error::Protocol(m)) => assert!(m.contains("do not open"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Shares meant for another client.
    assert!(clients[0].mask(&u2, &inbox[&1], &[1, 2]).is_err());
    // Missing a client's shares.
    assert!(clients[1].mask(&u2, &inbox[&1][..1], &[1, 2]).is_err());
    // A client that did not seal for everyone is left out of U2.
    let mut partial = sent.clone();
    if let Some(s) = partial.get_mut(&2) {
        s.pop();
    }
    let mut s2 = Server::new("fed", 1, 2, 2);
    s2.roster(roster)?;
    let (u2, _) = s2.route(partial)?;
    assert_eq!(u2, vec![0, 1]);
    // A masked update of the wrong length or from a stranger.
    assert!(s2.masked(0, vec![1]).is_err());
    assert!(s2.masked(9, vec![1, 2]).is_err());
    Ok(())
}

#[test]
fn fixed_point_round_trips_and_refuses_what_it_cannot_hold() -> Result<(), Error> {
    let v = [
        0.0,
        -0.0,
        1.5,
        -3.25,
        1e-7,
        -123456.789,
        MAX_VALUE,
        -MAX_VALUE,
    ];
    let back = decode(&encode(&v)?);
    for (a, b) in v.iter().zip(&back) {
        assert!((a - b).abs() <= 0.5 / SCALE, "{a} {b}");
    }
    // Sums wrap and unwrap: −1 + 3 = 2.
    let mut s = encode(&[-1.0])?;
    add(&mut s, &encode(&[3.0])?);
    assert_eq!(decode(&s), vec![2.0]);
    for bad in [f64::NAN, f64::INFINITY, MAX_VALUE * 2.0] {
        assert!(encode(&[bad]).is_err());
    }
    Ok(())
}

/// Whatever a coordinator or a client sends, the other side answers with an error, never
/// a panic or a wrong sum: random and truncated shares, keys and ciphertexts.
#[test]
fn garbage_from_either_side_is_an_error() -> Result<(), Error> {
    let mut g = fastrand::Rng::with_seed(5);
    let mut junk =
        |n: usize| -> String { hex::encode((0..n).map(|_| g.u8(..)).collect::<Vec<u8>>()) };
    let mut r = rng(3);
    let mut clients = Vec::new();
    let mut roster = Vec::new();
    for id in 0..3 {
        let (c, a) = Client::new(id, "fed", 1, &mut r);
        clients.push(c);
        roster.push(a);
    }
    let mut server = Server::new("fed", 1, 2, 3);
    // Keys that are not 32 bytes of hex.
    let mut bad = roster.clone();
    bad[1].mask_key = junk(31);
    assert!(server.roster(bad).is_err());
    server.roster(roster.clone())?;
    let mut sent = BTreeMap::new();
    for c in &mut clients {
        sent.insert(c.id, c.share(roster.clone(), 2, &mut r)?);
    }
    let (u2, inbox) = server.route(sent)?;
    for n in [0, 1, 16, 17, 60, 200] {
        let mut forged = inbox[&0].clone();
        forged[0].ciphertext = junk(n);
        assert!(clients[0].mask(&u2, &forged, &[1, 2, 3]).is_err());
    }
    for c in &mut clients {
        let y = c.mask(&u2, &inbox[&c.id], &[1, 2, 3])?;
        server.masked(c.id, y)?;
    }
    let u3 = server.survivors()?;
    let good: Vec<Revealed> = clients
        .iter_mut()
        .map(|c| c.reveal(&u3))
        .collect::<Result<_, _>>()?;
    for n in [0, 1, 2, 33, 34, 40] {
        let mut forged = good.clone();
        for f in &mut forged {
            f.seed_shares = vec![(0, junk(n)), (1, junk(n)), (2, junk(n))];
        }
        // Shares that do not rebuild a 32-byte seed, or rebuild a wrong one: an error or
        // a sum that is not the true one; never a panic.
        let _ = server.unmask(&forged);
    }
    // Shares all at one point: not enough distinct shares to rebuild.
    let mut same = good.clone();
    let first = same[0].seed_shares.clone();
    for f in &mut same {
        f.seed_shares = first.clone();
    }
    assert!(server.unmask(&same).is_err());
    let (sum, _) = server.unmask(&good)?;
    assert_eq!(sum, vec![3, 6, 9]);
    Ok(())
}
