//! Secure aggregation (Bonawitz et al., "Practical Secure Aggregation for
//! Privacy-Preserving Machine Learning", CCS 2017), the variant secure against an honest
//! but curious coordinator: the coordinator learns the sum of the clients' updates and
//! nothing else about any one of them, and the sum is still right when clients drop out
//! mid-round, as long as `threshold` of them stay.
//!
//! Each client masks its update (fixed-point, in ℤ/2⁶⁴) with a mask shared with every
//! other client (X25519 agreement; the two add it with opposite signs, so it cancels in
//! the sum) and a mask of its own (a random seed). It secret-shares (Shamir, `threshold`
//! of n, over GF(2⁸): the `blahaj` crate) its own seed and its mask key among the others,
//! each share encrypted for its holder (ChaCha20-Poly1305, a key agreed by X25519). Once
//! the masked updates are in, each surviving client reveals, for every other client, the
//! share of its own seed if it sent its masked update, or the share of its mask key if
//! it dropped: never both, which is what keeps a single update hidden. The coordinator
//! rebuilds the seeds and the dropped clients' keys and removes every mask.
//!
//! Shared values and masks are derived by HKDF-SHA256 bound to the federation, the round
//! and the two parties; masks are ChaCha20 streams. A round's keys are fresh.
//!
//! The messages are routed by the coordinator; this module is the arithmetic and the
//! checks of each party, without the network ([`Client`], [`Server`]).
//!
//! What it does not do: it hides updates, it does not check them. A client can spoil the
//! sum (a wild update, a wrong share), and the robust rules, which need to see each
//! update, cannot be combined with it; a client's own norm bound is all that limits it.
//! Against a coordinator that deviates from the protocol (Bonawitz et al.'s active
//! variant), the clients' checks here (a majority threshold, one unmasking set answered
//! once, rosters that keep their own keys) are the part implemented; the consistency
//! round with signatures over the survivor set is not.

use std::collections::{BTreeMap, BTreeSet};

use blahaj::{Share, Sharks};
use chacha20::ChaCha20Rng;
use chacha20poly1305::aead::{Aead as _, KeyInit as _};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::Error;

/// The fixed-point scale: a value `v` is `round(v · 2²⁴)` in ℤ/2⁶⁴.
pub const SCALE: f64 = 16_777_216.0;

/// The largest magnitude encoded (2³⁰): sums of up to 2⁹ such values stay inside the
/// signed range of ℤ/2⁶⁴ with room to spare.
pub const MAX_VALUE: f64 = 1_073_741_824.0;

/// `values` as fixed-point elements of ℤ/2⁶⁴ (two's complement); a value beyond
/// ±[`MAX_VALUE`] or not a number is refused.
pub fn encode(values: &[f64]) -> Result<Vec<u64>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if !(v.is_finite() && v.abs() <= MAX_VALUE) {
                return Err(Error::Options(format!(
                    "value {} of the update ({v}) is beyond what secure aggregation encodes (±{MAX_VALUE})",
                    i + 1
                )));
            }
            Ok(((v * SCALE).round() as i64) as u64)
        })
        .collect()
}

/// The sum [`encode`]d values made, back as numbers.
pub fn decode(sum: &[u64]) -> Vec<f64> {
    sum.iter().map(|&v| (v as i64) as f64 / SCALE).collect()
}

fn derive(secret: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: this cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(info, out.as_mut());
    out
}

/// The mask a seed makes: `len` words of ChaCha20 keyed by the seed.
fn mask(seed: &[u8; 32], len: usize) -> Vec<u64> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    (0..len).map(|_| rng.next_u64()).collect()
}

fn add(acc: &mut [u64], m: &[u64]) {
    acc.iter_mut()
        .zip(m)
        .for_each(|(a, b)| *a = a.wrapping_add(*b));
}

fn sub(acc: &mut [u64], m: &[u64]) {
    acc.iter_mut()
        .zip(m)
        .for_each(|(a, b)| *a = a.wrapping_sub(*b));
}

/// What binds a round's derivations: the federation and the round.
fn context(federation: &str, round: u64) -> Vec<u8> {
    format!("{federation}\n{round}\n").into_bytes()
}

/// The seed of the mask `a` and `b` share (the same from either side).
fn pair_seed(shared: &[u8; 32], ctx: &[u8], a: u32, b: u32) -> Zeroizing<[u8; 32]> {
    let (lo, hi) = (a.min(b), a.max(b));
    let mut info = b"aigis-secagg-mask/v1\n".to_vec();
    info.extend_from_slice(ctx);
    info.extend_from_slice(format!("{lo}\n{hi}\n").as_bytes());
    derive(shared, &info)
}

/// The key of the shares `from` sends `to` (one direction of the pair).
fn share_key(shared: &[u8; 32], ctx: &[u8], from: u32, to: u32) -> Zeroizing<[u8; 32]> {
    let mut info = b"aigis-secagg-share/v1\n".to_vec();
    info.extend_from_slice(ctx);
    info.extend_from_slice(format!("{from}\n{to}\n").as_bytes());
    derive(shared, &info)
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], Error> {
    let v = hex::decode(s).map_err(|_| Error::Protocol(format!("{what} is not hex")))?;
    v.try_into()
        .map_err(|_| Error::Protocol(format!("{what} is not 32 bytes")))
}

/// A client's two public keys for a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advertised {
    /// The client's number in the round (the coordinator's).
    pub id: u32,
    /// The key its shares are encrypted to, hex.
    pub share_key: String,
    /// The key its masks are agreed with, hex.
    pub mask_key: String,
}

/// One client's shares for another, encrypted to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub from: u32,
    pub to: u32,
    /// ChaCha20-Poly1305 of the two shares (the mask key's, then the seed's), hex.
    pub ciphertext: String,
}

/// What a surviving client reveals: for each other client, one share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revealed {
    pub from: u32,
    /// Shares of the mask keys of the clients that dropped after sharing: (client, share).
    pub mask_key_shares: Vec<(u32, String)>,
    /// Shares of the seeds of the clients whose masked update is in: (client, share).
    pub seed_shares: Vec<(u32, String)>,
}

impl Revealed {
    /// The share of client `owner`'s mask key, if revealed.
    pub fn mask_key_share(&self, owner: u32) -> Option<&String> {
        self.mask_key_shares
            .iter()
            .find(|(o, _)| *o == owner)
            .map(|(_, s)| s)
    }

    /// The share of client `owner`'s seed, if revealed.
    pub fn seed_share(&self, owner: u32) -> Option<&String> {
        self.seed_shares
            .iter()
            .find(|(o, _)| *o == owner)
            .map(|(_, s)| s)
    }
}

/// A client's part in one round.
pub struct Client {
    id: u32,
    ctx: Vec<u8>,
    share_secret: StaticSecret,
    mask_secret: Zeroizing<[u8; 32]>,
    seed: Zeroizing<[u8; 32]>,
    roster: Vec<Advertised>,
    threshold: usize,
    /// The shares held for each client (the mask key's, the seed's), its own included.
    held: BTreeMap<u32, (Vec<u8>, Vec<u8>)>,
    /// The clients that shared (U2).
    shared: BTreeSet<u32>,
    revealed: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client numbered `id` in `round` of `federation`: fresh keys and seed from `rng`
    /// (secret: the operating system's, as `aigis_train::dpsgd::secure_rng` gives); what it advertises.
    pub fn new(id: u32, federation: &str, round: u64, rng: &mut ChaCha20Rng) -> (Self, Advertised) {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        let share_secret = StaticSecret::from(*bytes);
        let mut mask_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(mask_secret.as_mut());
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let ad = Advertised {
            id,
            share_key: hex::encode(XPublic::from(&share_secret).as_bytes()),
            mask_key: hex::encode(XPublic::from(&StaticSecret::from(*mask_secret)).as_bytes()),
        };
        let c = Self {
            id,
            ctx: context(federation, round),
            share_secret,
            mask_secret,
            seed,
            roster: Vec::new(),
            threshold: 0,
            held: BTreeMap::new(),
            shared: BTreeSet::new(),
            revealed: false,
        };
        (c, ad)
    }

    /// Given the clients that advertised (U1, this one among them with its own keys) and
    /// the threshold: this client's shares for each of them, sealed to each.
    pub fn share(
        &mut self,
        roster: Vec<Advertised>,
        threshold: usize,
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<Sealed>, Error> {
        let n = roster.len();
        let ids: BTreeSet<u32> = roster.iter().map(|a| a.id).collect();
        if ids.len() != n || n > 255 {
            return Err(Error::Protocol(format!(
                "a roster of {n} clients with {} distinct numbers (at most 255)",
                ids.len()
            )));
        }
        // With two, the sum (which the next round's model shows every client) and one's
        // own update give away the other's.
        if n < 3 {
            return Err(Error::Protocol(format!(
                "a roster of {n} clients: secure aggregation needs 3 or more"
            )));
        }
        // Fewer than half (plus one) would let the coordinator, claiming the others
        // dropped, rebuild both secrets of a client from two disjoint groups.
        if threshold < n / 2 + 1 || threshold > n || threshold < 2 {
            return Err(Error::Protocol(format!(
                "a threshold of {threshold} for {n} clients: it must be more than half of them, and at least 2"
            )));
        }
        let me = roster
            .iter()
            .find(|a| a.id == self.id)
            .ok_or_else(|| Error::Protocol("the roster leaves this client out".into()))?;
        let mine = XPublic::from(&self.share_secret);
        if me.share_key != hex::encode(mine.as_bytes()) {
            return Err(Error::Protocol(
                "the roster has another key for this client".into(),
            ));
        }
        let sharks = Sharks(u8::try_from(threshold).unwrap_or(u8::MAX));
        let mut draw =
            |secret: &[u8]| -> Vec<Share> { sharks.dealer_rng(secret, rng).take(n).collect() };
        let key_shares = draw(self.mask_secret.as_ref());
        let seed_shares = draw(self.seed.as_ref());
        let mut out = Vec::with_capacity(n);
        for (i, a) in roster.iter().enumerate() {
            let (Some(k), Some(s)) = (key_shares.get(i), seed_shares.get(i)) else {
                return Err(Error::Protocol("too few shares dealt".into()));
            };
            let (k, s) = (Vec::<u8>::from(k), Vec::<u8>::from(s));
            if a.id == self.id {
                self.held.insert(self.id, (k, s));
                continue;
            }
            let theirs = XPublic::from(hex32(&a.share_key, "a share key")?);
            let shared = self.share_secret.diffie_hellman(&theirs);
            if !shared.was_contributory() {
                return Err(Error::Protocol(format!(
                    "client {}'s share key is degenerate",
                    a.id
                )));
            }
            let key = share_key(shared.as_bytes(), &self.ctx, self.id, a.id);
            let mut plain = Zeroizing::new(Vec::with_capacity(k.len() + s.len() + 1));
            plain.push(u8::try_from(k.len()).unwrap_or(0));
            plain.extend_from_slice(&k);
            plain.extend_from_slice(&s);
            let ct = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                .encrypt(Nonce::from_slice(&[0u8; 12]), plain.as_slice())
                .map_err(|_| Error::Protocol("sealing a share failed".into()))?;
            out.push(Sealed {
                from: self.id,
                to: a.id,
                ciphertext: hex::encode(ct),
            });
        }
        self.roster = roster;
        self.threshold = threshold;
        Ok(out)
    }

    /// Given the clients that shared (U2, this one among them) and the shares sealed to
    /// this client: `update` masked.
    pub fn mask(
        &mut self,
        shared: &[u32],
        inbox: &[Sealed],
        update: &[u64],
    ) -> Result<Vec<u64>, Error> {
        let shared: BTreeSet<u32> = shared.iter().copied().collect();
        if !shared.contains(&self.id) || shared.len() < self.threshold {
            return Err(Error::Protocol(format!(
                "{} clients shared, this one {}among them, and the threshold is {}",
                shared.len(),
                if shared.contains(&self.id) {
                    ""
                } else {
                    "not "
                },
                self.threshold
            )));
        }
        for v in &shared {
            if !self.roster.iter().any(|a| a.id == *v) {
                return Err(Error::Protocol(format!(
                    "client {v} shared without advertising"
                )));
            }
        }
        for sealed in inbox {
            if sealed.to != self.id
                || !shared.contains(&sealed.from)
                || self.held.contains_key(&sealed.from)
            {
                return Err(Error::Protocol(format!(
                    "shares from client {} for client {} are not this client's to open",
                    sealed.from, sealed.to
                )));
            }
            let from = self.advertised(sealed.from)?;
            let theirs = XPublic::from(hex32(&from.share_key, "a share key")?);
            let shared_secret = self.share_secret.diffie_hellman(&theirs);
            let key = share_key(shared_secret.as_bytes(), &self.ctx, sealed.from, self.id);
            let ct = hex::decode(&sealed.ciphertext)
                .map_err(|_| Error::Protocol("a sealed share is not hex".into()))?;
            let plain = Zeroizing::new(
                ChaCha20Poly1305::new(Key::from_slice(key.as_ref()))
                    .decrypt(Nonce::from_slice(&[0u8; 12]), ct.as_slice())
                    .map_err(|_| {
                        Error::Protocol(format!(
                            "the shares from client {} do not open",
                            sealed.from
                        ))
                    })?,
            );
            let (len, rest) = plain
                .split_first()
                .ok_or_else(|| Error::Protocol("an empty share".into()))?;
            let (k, s) = rest.split_at_checked(usize::from(*len)).ok_or_else(|| {
                Error::Protocol(format!(
                    "the shares from client {} are malformed",
                    sealed.from
                ))
            })?;
            self.held.insert(sealed.from, (k.to_vec(), s.to_vec()));
        }
        if let Some(v) = shared.iter().find(|v| !self.held.contains_key(v)) {
            return Err(Error::Protocol(format!(
                "no shares from client {v}, which shared"
            )));
        }
        let mut y = update.to_vec();
        add(&mut y, &mask(&self.seed, update.len()));
        let mine = StaticSecret::from(*self.mask_secret);
        for v in shared.iter().filter(|&&v| v != self.id) {
            let theirs = XPublic::from(hex32(&self.advertised(*v)?.mask_key, "a mask key")?);
            let dh = mine.diffie_hellman(&theirs);
            let m = mask(
                &pair_seed(dh.as_bytes(), &self.ctx, self.id, *v),
                update.len(),
            );
            if self.id < *v {
                add(&mut y, &m);
            } else {
                sub(&mut y, &m);
            }
        }
        self.shared = shared;
        Ok(y)
    }

    /// Given the clients whose masked update is in (U3): for each client that shared,
    /// the share of its seed if it is in U3, of its mask key if not. Refused when U3 is
    /// not a part of U2 of at least the threshold with this client in it, and a second
    /// time: answering two different U3s could reveal both secrets of one client.
    pub fn reveal(&mut self, survivors: &[u32]) -> Result<Revealed, Error> {
        let u3: BTreeSet<u32> = survivors.iter().copied().collect();
        if self.revealed {
            return Err(Error::Protocol(
                "asked to reveal shares a second time".into(),
            ));
        }
        if !u3.contains(&self.id) || u3.len() < self.threshold || !u3.is_subset(&self.shared) {
            return Err(Error::Protocol(format!(
                "asked to unmask with {} survivors (threshold {}), not all of whom shared",
                u3.len(),
                self.threshold
            )));
        }
        self.revealed = true;
        let mut out = Revealed {
            from: self.id,
            mask_key_shares: Vec::new(),
            seed_shares: Vec::new(),
        };
        for v in &self.shared {
            let Some((k, s)) = self.held.get(v) else {
                continue;
            };
            if u3.contains(v) {
                out.seed_shares.push((*v, hex::encode(s)));
            } else {
                out.mask_key_shares.push((*v, hex::encode(k)));
            }
        }
        Ok(out)
    }

    fn advertised(&self, id: u32) -> Result<&Advertised, Error> {
        self.roster
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Error::Protocol(format!("client {id} is not in the roster")))
    }
}

/// Each client's sealed shares, by client.
pub type Inboxes = BTreeMap<u32, Vec<Sealed>>;

/// The coordinator's part: it checks and routes what the clients send, and unmasks the
/// sum.
#[derive(Debug, Clone)]
pub struct Server {
    ctx: Vec<u8>,
    threshold: usize,
    roster: Vec<Advertised>,
    shared: BTreeSet<u32>,
    masked: BTreeMap<u32, Vec<u64>>,
    len: usize,
}

impl Server {
    /// A round of `federation` whose sums are of `len` values, needing `threshold`
    /// clients at every step.
    pub fn new(federation: &str, round: u64, threshold: usize, len: usize) -> Self {
        Self {
            ctx: context(federation, round),
            threshold,
            roster: Vec::new(),
            shared: BTreeSet::new(),
            masked: BTreeMap::new(),
            len,
        }
    }

    fn enough(&self, n: usize, step: &str) -> Result<(), Error> {
        if n < self.threshold {
            return Err(Error::Quorum(format!(
                "{n} client(s) {step}, and secure aggregation needs {}",
                self.threshold
            )));
        }
        Ok(())
    }

    /// The roster (U1) from the advertisements received.
    pub fn roster(&mut self, advertised: Vec<Advertised>) -> Result<Vec<Advertised>, Error> {
        self.enough(advertised.len(), "advertised keys")?;
        let mut ids = BTreeSet::new();
        for a in &advertised {
            hex32(&a.share_key, "a share key")?;
            hex32(&a.mask_key, "a mask key")?;
            if !ids.insert(a.id) {
                return Err(Error::Protocol(format!("client {} advertised twice", a.id)));
            }
        }
        self.roster = advertised;
        Ok(self.roster.clone())
    }

    /// Each client's inbox from the sealed shares of those that sent them (U2); U2.
    pub fn route(
        &mut self,
        sent: BTreeMap<u32, Vec<Sealed>>,
    ) -> Result<(Vec<u32>, Inboxes), Error> {
        let roster: BTreeSet<u32> = self.roster.iter().map(|a| a.id).collect();
        let mut u2 = BTreeSet::new();
        for (from, sealed) in &sent {
            let to: BTreeSet<u32> = sealed.iter().map(|s| s.to).collect();
            let others: BTreeSet<u32> = roster.iter().copied().filter(|v| v != from).collect();
            // A client that did not seal for every other one, or sealed under another
            // name, is left out of the round.
            if roster.contains(from)
                && to == others
                && sealed.iter().all(|s| s.from == *from)
                && sealed.len() == others.len()
            {
                u2.insert(*from);
            }
        }
        self.enough(u2.len(), "shared their keys")?;
        let mut inbox: BTreeMap<u32, Vec<Sealed>> = BTreeMap::new();
        for from in &u2 {
            for s in sent.get(from).into_iter().flatten() {
                if u2.contains(&s.to) {
                    inbox.entry(s.to).or_default().push(s.clone());
                }
            }
        }
        self.shared = u2.clone();
        Ok((u2.into_iter().collect(), inbox))
    }

    /// Takes client `id`'s masked update; whether it is one the round can use.
    pub fn masked(&mut self, id: u32, y: Vec<u64>) -> Result<(), Error> {
        if !self.shared.contains(&id) || y.len() != self.len || self.masked.contains_key(&id) {
            return Err(Error::Protocol(format!(
                "a masked update of {} values from client {id}, which is not one expected",
                y.len()
            )));
        }
        self.masked.insert(id, y);
        Ok(())
    }

    /// The clients whose masked update is in (U3).
    pub fn survivors(&self) -> Result<Vec<u32>, Error> {
        self.enough(self.masked.len(), "sent their masked update")?;
        Ok(self.masked.keys().copied().collect())
    }

    /// The sum of the survivors' updates, from the shares revealed; the clients whose
    /// masks were removed as dropped.
    pub fn unmask(&self, revealed: &[Revealed]) -> Result<(Vec<u64>, Vec<u32>), Error> {
        let u3: BTreeSet<u32> = self.masked.keys().copied().collect();
        let helpers: BTreeSet<u32> = revealed
            .iter()
            .map(|r| r.from)
            .filter(|f| u3.contains(f))
            .collect();
        self.enough(helpers.len(), "revealed their shares")?;
        let dropped: Vec<u32> = self.shared.difference(&u3).copied().collect();
        let sharks = Sharks(u8::try_from(self.threshold).unwrap_or(u8::MAX));
        let recover = |owner: u32,
                       pick: &dyn Fn(&Revealed) -> Option<&String>|
         -> Result<Zeroizing<[u8; 32]>, Error> {
            let mut xs = BTreeSet::new();
            let mut shares = Vec::new();
            for r in revealed.iter().filter(|r| helpers.contains(&r.from)) {
                let Some(h) = pick(r) else { continue };
                let bytes =
                    hex::decode(h).map_err(|_| Error::Protocol("a share is not hex".into()))?;
                let share = Share::try_from(bytes.as_slice())
                    .map_err(|e| Error::Protocol(format!("a share of client {owner}: {e}")))?;
                // One share a point: a repeated point would break the interpolation.
                if bytes.first().is_some_and(|x| xs.insert(*x)) {
                    shares.push(share);
                }
            }
            let secret = sharks.recover(shares.iter()).map_err(|e| {
                Error::Quorum(format!("client {owner}'s secret cannot be rebuilt: {e}"))
            })?;
            let arr: [u8; 32] = secret
                .as_slice()
                .try_into()
                .map_err(|_| Error::Protocol(format!("client {owner}'s secret is not 32 bytes")))?;
            Ok(Zeroizing::new(arr))
        };
        let mut sum = vec![0u64; self.len];
        for y in self.masked.values() {
            add(&mut sum, y);
        }
        for u in &u3 {
            let seed = recover(*u, &|r| r.seed_share(*u))?;
            sub(&mut sum, &mask(&seed, self.len));
        }
        for v in &dropped {
            let key = StaticSecret::from(*recover(*v, &|r| r.mask_key_share(*v))?);
            let advertised = self
                .roster
                .iter()
                .find(|a| a.id == *v)
                .ok_or_else(|| Error::Protocol(format!("client {v} is not in the roster")))?;
            if hex::encode(XPublic::from(&key).as_bytes()) != advertised.mask_key {
                return Err(Error::Protocol(format!(
                    "the shares of client {v}'s mask key rebuild another key"
                )));
            }
            for u in &u3 {
                let theirs = XPublic::from(hex32(
                    &self
                        .roster
                        .iter()
                        .find(|a| a.id == *u)
                        .map(|a| a.mask_key.clone())
                        .unwrap_or_default(),
                    "a mask key",
                )?);
                let dh = key.diffie_hellman(&theirs);
                let m = mask(&pair_seed(dh.as_bytes(), &self.ctx, *u, *v), self.len);
                // u added the pair's mask if u < v, took it away otherwise.
                if u < v {
                    sub(&mut sum, &m);
                } else {
                    add(&mut sum, &m);
                }
            }
        }
        Ok((sum, dropped))
    }
}

#[cfg(test)]
mod tests;
