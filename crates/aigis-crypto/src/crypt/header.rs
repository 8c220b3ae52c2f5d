//! The header of an encrypted file: parsing, the per-recipient key stanzas, the MAC and
//! the key schedule. The layout is in the parent module's documentation.

use std::io::Read;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{MAGIC, MAX_CHUNK_SIZE, MAX_RECIPIENTS, MIN_CHUNK_SIZE, VERSION, stream::read_full};
use crate::Error;
use crate::recipient::{CIPHERTEXT_LEN, Identity, KeyId, Recipient};

const SALT_LEN: usize = 16;
const WRAPPED_LEN: usize = 32 + 16;
const STANZA_LEN: usize = 8 + CIPHERTEXT_LEN + WRAPPED_LEN;
const MAC_LEN: usize = 32;

/// What a header says, before it is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub chunk_size: u32,
    /// The key ids of the stanzas, in order.
    pub recipients: Vec<KeyId>,
    /// Bytes in the header, MAC included: where the first chunk starts.
    pub len: u64,
    pub(super) salt: [u8; SALT_LEN],
}

/// One recipient's copy of the file key.
pub(super) struct Stanza {
    key_id: KeyId,
    kem_ct: [u8; CIPHERTEXT_LEN],
    wrapped: [u8; WRAPPED_LEN],
}

/// The header bytes (MAC included) for a new file, and what they say.
pub(super) fn seal(
    log2: u8,
    salt: [u8; SALT_LEN],
    recipients: &[Recipient],
    file_key: &[u8; 32],
) -> Result<(Vec<u8>, Header), Error> {
    let mut unique: Vec<&Recipient> = Vec::with_capacity(recipients.len());
    for r in recipients {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    if unique.is_empty() {
        return Err(Error::Encrypt("there is no recipient to encrypt to".into()));
    }
    if unique.len() > MAX_RECIPIENTS {
        return Err(Error::Encrypt(format!(
            "{} recipients: at most {MAX_RECIPIENTS} are allowed",
            unique.len()
        )));
    }
    let count =
        u16::try_from(unique.len()).map_err(|_| Error::Encrypt("too many recipients".into()))?;
    let mut out = Vec::with_capacity(28 + unique.len() * STANZA_LEN + MAC_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(log2);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&salt);
    for r in &unique {
        let (kem_ct, shared) = r.encapsulate();
        let id = r.key_id();
        let wrapped = wrap_cipher(&shared)?
            .encrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: file_key,
                    aad: &id.0,
                },
            )
            .map_err(|_| Error::Encrypt("wrapping the file key failed".into()))?;
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&kem_ct);
        out.extend_from_slice(&wrapped);
    }
    let tag = mac(&salt, file_key)?
        .chain_update(&out)
        .finalize()
        .into_bytes();
    out.extend_from_slice(&tag);
    let header = Header {
        version: VERSION,
        chunk_size: 1 << log2,
        recipients: unique.iter().map(|r| r.key_id()).collect(),
        len: out.len() as u64,
        salt,
    };
    Ok((out, header))
}

/// A parsed header: what it says, its stanzas, its bytes before the MAC, and the MAC.
pub(super) struct Parsed {
    pub header: Header,
    pub stanzas: Vec<Stanza>,
    pub raw: Vec<u8>,
    pub mac: [u8; MAC_LEN],
}

/// Parses a header, checking its structure (not yet its MAC).
pub(super) fn read<R: Read>(input: &mut R) -> Result<Parsed, Error> {
    let mut raw = Vec::with_capacity(28 + STANZA_LEN);
    let magic: [u8; 8] = take(input, &mut raw, "magic").map_err(|e| match e {
        Error::Truncated(_) => Error::NotEncrypted(format!(
            "it is shorter than the {}-byte magic `{}`",
            MAGIC.len(),
            magic_text()
        )),
        other => other,
    })?;
    if &magic != MAGIC {
        return Err(Error::NotEncrypted(format!(
            "it does not start with `{}`",
            magic_text()
        )));
    }
    let [version, log2] = take(input, &mut raw, "version")?;
    if version != VERSION {
        return Err(Error::Version {
            found: version,
            supported: VERSION,
        });
    }
    let chunk_size = 1u32
        .checked_shl(u32::from(log2))
        .filter(|c| (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(c))
        .ok_or_else(|| {
            Error::Format(format!(
                "the chunk size 2^{log2} is outside 2^12 to 2^24 (byte 9)"
            ))
        })?;
    let count = usize::from(u16::from_be_bytes(take(
        input,
        &mut raw,
        "recipient count",
    )?));
    if count == 0 || count > MAX_RECIPIENTS {
        return Err(Error::Format(format!(
            "{count} recipients: a file has 1 to {MAX_RECIPIENTS} (bytes 10-11)"
        )));
    }
    let salt = take(input, &mut raw, "salt")?;
    let mut stanzas = Vec::with_capacity(count);
    for i in 0..count {
        let field = format!("stanza {i}");
        stanzas.push(Stanza {
            key_id: KeyId(take(input, &mut raw, &field)?),
            kem_ct: take(input, &mut raw, &field)?,
            wrapped: take(input, &mut raw, &field)?,
        });
    }
    let mut mac_raw = Vec::with_capacity(MAC_LEN);
    let mac: [u8; MAC_LEN] = take(input, &mut mac_raw, "MAC").map_err(|e| match e {
        Error::Truncated(_) => Error::Truncated(format!(
            "the file ends inside the header's MAC (bytes {}..{})",
            raw.len(),
            raw.len() + MAC_LEN
        )),
        other => other,
    })?;
    let header = Header {
        version,
        chunk_size,
        recipients: stanzas.iter().map(|s| s.key_id).collect(),
        len: (raw.len() + MAC_LEN) as u64,
        salt,
    };
    Ok(Parsed {
        header,
        stanzas,
        raw,
        mac,
    })
}

/// The file key from the first stanza one of `identities` opens, and whose it was.
pub(super) fn unwrap(
    stanzas: &[Stanza],
    identities: &[Identity],
    recipients: &[KeyId],
) -> Result<(Zeroizing<[u8; 32]>, KeyId), Error> {
    let mut failed = None;
    for identity in identities {
        let id = identity.key_id();
        for stanza in stanzas.iter().filter(|s| s.key_id == id) {
            let shared = identity.decapsulate(&stanza.kem_ct);
            let opened = wrap_cipher(&shared)?.decrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: &stanza.wrapped,
                    aad: &id.0,
                },
            );
            match opened.map(Zeroizing::new) {
                Ok(key) => {
                    let mut file_key = Zeroizing::new([0u8; 32]);
                    if key.len() == 32 {
                        file_key.copy_from_slice(&key);
                        return Ok((file_key, id));
                    }
                    failed = Some(id);
                }
                Err(_) => failed = Some(id),
            }
        }
    }
    match failed {
        Some(id) => Err(Error::StanzaAuth(id.to_string())),
        None => Err(Error::NotForYou {
            recipients: recipients
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", "),
            yours: identities
                .iter()
                .map(|i| format!("`{}`", i.key_id()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Checks the header MAC (in constant time) over `raw`, the header bytes before it.
pub(super) fn verify_mac(
    raw: &[u8],
    tag: &[u8; MAC_LEN],
    salt: &[u8; SALT_LEN],
    file_key: &[u8; 32],
) -> Result<(), Error> {
    mac(salt, file_key)?
        .chain_update(raw)
        .verify_slice(tag)
        .map_err(|_| Error::HeaderAuth)
}

pub(super) fn payload_key(
    salt: &[u8; SALT_LEN],
    file_key: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    hkdf(salt, file_key, b"aigis-enc/v1 payload")
}

fn mac(salt: &[u8; SALT_LEN], file_key: &[u8; 32]) -> Result<Hmac<Sha256>, Error> {
    let key = hkdf(salt, file_key, b"aigis-enc/v1 header")?;
    <Hmac<Sha256> as hmac::Mac>::new_from_slice(key.as_slice())
        .map_err(|_| Error::Encrypt("bad MAC key length".into()))
}

fn wrap_cipher(shared: &[u8; 32]) -> Result<ChaCha20Poly1305, Error> {
    let key = hkdf(&[], shared, b"aigis-enc/v1 wrap")?;
    Ok(ChaCha20Poly1305::new(Key::from_slice(key.as_slice())))
}

fn hkdf(salt: &[u8], ikm: &[u8; 32], info: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm.as_mut_slice())
        .map_err(|_| Error::Encrypt("bad HKDF output length".into()))?;
    Ok(okm)
}

/// Reads exactly `N` bytes of the header's `field`, appending them to `raw`.
fn take<R: Read, const N: usize>(
    input: &mut R,
    raw: &mut Vec<u8>,
    field: &str,
) -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    let n = read_full(input, &mut buf)?;
    if n < N {
        return Err(Error::Truncated(format!(
            "the file ends inside the header's {field}, after {} bytes",
            raw.len() + n
        )));
    }
    raw.extend_from_slice(&buf);
    Ok(buf)
}

fn magic_text() -> String {
    String::from_utf8_lossy(MAGIC).into_owned()
}
