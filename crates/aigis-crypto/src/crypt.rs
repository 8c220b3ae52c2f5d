//! File encryption to one or more recipients, post-quantum safe, streamed in chunks.
//!
//! Any file (a dataset, a model) is encrypted once under a fresh random *file key*; the
//! file key is wrapped for each [`Recipient`] with X-Wing, the hybrid of X25519 and
//! ML-KEM-768 (see [`crate::recipient`]), so reading the file needs breaking both. The
//! payload is cut into chunks sealed with ChaCha20-Poly1305 in the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its
//! Nonce-Reuse Misuse-Resistance", CRYPTO 2015), so memory stays bounded for files of any
//! size and a modified, truncated, reordered, duplicated or extended file is rejected.
//!
//! # Format `aigis-enc/v1` (stable; integers are big-endian)
//!
//! | field | bytes | contents |
//! |---|---|---|
//! | magic | 8 | `AIGISENC` |
//! | version | 1 | `0x01` |
//! | chunk size | 1 | `n`: chunks hold 2^n plaintext bytes, 12 ≤ n ≤ 24 (default 16: 64 KiB) |
//! | recipient count | 2 | `r`, 1 ≤ r ≤ 1024 |
//! | salt | 16 | random |
//! | `r` stanzas | 1176 each | key id (8) ‖ X-Wing ciphertext (1120) ‖ wrapped file key (48) |
//! | header MAC | 32 | HMAC-SHA256(mac key, every header byte before it) |
//! | payload | rest | the chunks |
//!
//! A stanza's key id is the recipient's [`KeyId`]; its X-Wing ciphertext is the ML-KEM-768
//! ciphertext (1088 bytes) then the X25519 ephemeral public key (32); the wrapped file key
//! is ChaCha20-Poly1305 under the wrap key, nonce 12 zero bytes, associated data the key
//! id, of the 32-byte file key. Keys (HKDF-SHA256, RFC 5869, as `HKDF(salt, ikm, info)`):
//!
//! - wrap key = `HKDF("", X-Wing shared secret, "aigis-enc/v1 wrap")` (a fresh
//!   encapsulation per stanza, so the fixed nonce is never reused under one key);
//! - mac key = `HKDF(salt, file key, "aigis-enc/v1 header")`;
//! - payload key = `HKDF(salt, file key, "aigis-enc/v1 payload")`.
//!
//! Chunk `i` (from 0) is ChaCha20-Poly1305 under the payload key with the nonce
//! `7 zero bytes ‖ i as u32 ‖ last`, where `last` is `0x01` for the final chunk and `0x00`
//! otherwise (RustCrypto `aead::stream::StreamBE32`), no associated data, so it is its
//! plaintext plus a 16-byte tag. Every chunk but the last holds exactly 2^n plaintext
//! bytes; the last holds 1 to 2^n, or 0 when the whole plaintext is empty.
//!
//! # What it promises, and what not
//!
//! - The header names its recipients by key id: it does not hide whom a file is for.
//! - There is no sender authentication: any recipient can make a file for the others.
//!   aigis gets authenticity from the signed evidence in the ledger, which names the
//!   ciphertext's and the plaintext's digests.
//! - Decryption checks each chunk before any of its plaintext is handed on. [`decrypt`]
//!   passes authenticated chunks to its writer as it goes, so after an error the writer
//!   may hold an authenticated prefix: discard it. [`decrypt_file`] does that for you: the
//!   output path appears only once the last chunk has authenticated.
//!
//! ```
//! use aigis_crypto::crypt;
//! use aigis_crypto::recipient::Identity;
//!
//! let alice = Identity::generate()?;
//! let mut sealed = Vec::new();
//! crypt::encrypt(&b"rows"[..], &mut sealed, &[alice.recipient().clone()],
//!                crypt::DEFAULT_CHUNK_SIZE, &|_| {})?;
//! let mut opened = Vec::new();
//! let summary = crypt::decrypt(&sealed[..], &mut opened, &[alice], &|_| {})?;
//! assert_eq!((opened.as_slice(), summary.chunks), (&b"rows"[..], 1));
//! # Ok::<(), aigis_crypto::Error>(())
//! ```

mod header;
mod stream;

use std::io::{Read, Write};
use std::path::Path;

use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use aigis_core::Digest;

use crate::recipient::{Identity, KeyId, Recipient};
use crate::{Error, HashingReader, HashingWriter};

pub use header::Header;

/// The first 8 bytes of every encrypted file.
pub const MAGIC: &[u8; 8] = b"AIGISENC";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// The name of the format and its algorithms, for evidence.
pub const ALGORITHM: &str = "aigis-enc/v1 (X-Wing: X25519 + ML-KEM-768; ChaCha20-Poly1305 STREAM)";
/// Plaintext bytes per chunk unless told otherwise: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 16;
/// The smallest chunk size (4 KiB) ...
pub const MIN_CHUNK_SIZE: u32 = 1 << 12;
/// ... and the largest (16 MiB): it bounds the memory a hostile header can ask for.
pub const MAX_CHUNK_SIZE: u32 = 1 << 24;
/// The most recipients one file can have.
pub const MAX_RECIPIENTS: usize = 1024;

/// What an encryption or decryption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub chunk_size: u32,
    pub chunks: u64,
    pub plaintext_bytes: u64,
    /// The whole encrypted file: header and chunks.
    pub ciphertext_bytes: u64,
    /// The key ids the file is encrypted to, in header order.
    pub recipients: Vec<KeyId>,
    /// For decryption: the identity whose stanza opened the file.
    pub opened_by: Option<KeyId>,
    /// SHA-256 of the plaintext and of the encrypted file, computed in the same pass by
    /// [`encrypt_file`] and [`decrypt_file`] (the stream functions leave them `None`).
    pub plaintext_sha256: Option<Digest>,
    pub ciphertext_sha256: Option<Digest>,
}

/// Encrypts `input` to `recipients` into `output`, in chunks of `chunk_size` bytes (a
/// power of two from [`MIN_CHUNK_SIZE`] to [`MAX_CHUNK_SIZE`]). A recipient given twice
/// gets one stanza. `progress` is told how many input bytes each step consumed.
pub fn encrypt<R: Read, W: Write>(
    input: R,
    mut output: W,
    recipients: &[Recipient],
    chunk_size: u32,
    progress: &dyn Fn(u64),
) -> Result<Summary, Error> {
    let log2 = chunk_log2(chunk_size)?;
    let mut file_key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(file_key.as_mut_slice());
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let (bytes, header) = header::seal(log2, salt, recipients, &file_key)?;
    output.write_all(&bytes).map_err(Error::Write)?;
    let payload_key = header::payload_key(&salt, &file_key)?;
    let counts = stream::seal(input, &mut output, &payload_key, chunk_size, progress)?;
    output.flush().map_err(Error::Write)?;
    Ok(Summary {
        chunk_size,
        chunks: counts.chunks,
        plaintext_bytes: counts.plaintext,
        ciphertext_bytes: header.len + counts.ciphertext,
        recipients: header.recipients,
        opened_by: None,
        plaintext_sha256: None,
        ciphertext_sha256: None,
    })
}

/// Decrypts `input` with whichever of `identities` the file is encrypted to, writing
/// each chunk's plaintext to `output` once that chunk has authenticated. On an error
/// `output` may hold an authenticated prefix of the plaintext: discard it (or use
/// [`decrypt_file`], which never shows it).
pub fn decrypt<R: Read, W: Write>(
    mut input: R,
    mut output: W,
    identities: &[Identity],
    progress: &dyn Fn(u64),
) -> Result<Summary, Error> {
    let header::Parsed {
        header,
        stanzas,
        raw,
        mac,
    } = header::read(&mut input)?;
    let (file_key, opened_by) = header::unwrap(&stanzas, identities, &header.recipients)?;
    header::verify_mac(&raw, &mac, &header.salt, &file_key)?;
    progress(header.len);
    let payload_key = header::payload_key(&header.salt, &file_key)?;
    let counts = stream::open(
        input,
        &mut output,
        &payload_key,
        header.chunk_size,
        header.len,
        progress,
    )?;
    output.flush().map_err(Error::Write)?;
    Ok(Summary {
        chunk_size: header.chunk_size,
        chunks: counts.chunks,
        plaintext_bytes: counts.plaintext,
        ciphertext_bytes: header.len + counts.ciphertext,
        recipients: header.recipients,
        opened_by: Some(opened_by),
        plaintext_sha256: None,
        ciphertext_sha256: None,
    })
}

/// Reads and checks the structure of a header, without any key: what `aigis` shows
/// when a file is not for you. The header is not authenticated yet.
pub fn read_header<R: Read>(mut input: R) -> Result<Header, Error> {
    Ok(header::read(&mut input)?.header)
}

/// [`encrypt`] from the file `input` into the file `output`, which appears (mode 0644)
/// only once encryption has finished; on any error it is left as it was.
pub fn encrypt_file(
    input: &Path,
    output: &Path,
    recipients: &[Recipient],
    chunk_size: u32,
    progress: &dyn Fn(u64),
) -> Result<Summary, Error> {
    let file = std::fs::File::open(input).map_err(|e| Error::io(input, e))?;
    let mut reader = HashingReader::new(file);
    crate::fs::write_atomic_with(output, 0o644, |out| {
        let mut writer = HashingWriter::new(out);
        let mut s = encrypt(&mut reader, &mut writer, recipients, chunk_size, progress)
            .map_err(|e| with_paths(e, input, output))?;
        s.plaintext_sha256 = Some(reader.digest());
        s.ciphertext_sha256 = Some(writer.digest());
        Ok(s)
    })
}

/// [`decrypt`] from the file `input` into the file `output`, through a temporary file in
/// `output`'s folder that is renamed into place only after the last chunk authenticated.
/// On any error the temporary file is removed and `output` is left as it was. The
/// output gets mode 0600: it held a secret.
pub fn decrypt_file(
    input: &Path,
    output: &Path,
    identities: &[Identity],
    progress: &dyn Fn(u64),
) -> Result<Summary, Error> {
    let file = std::fs::File::open(input).map_err(|e| Error::io(input, e))?;
    let mut reader = HashingReader::new(std::io::BufReader::with_capacity(256 * 1024, file));
    crate::fs::write_atomic_with(output, 0o600, |out| {
        let mut writer = HashingWriter::new(out);
        let mut s = decrypt(&mut reader, &mut writer, identities, progress)
            .map_err(|e| with_paths(e, input, output))?;
        s.plaintext_sha256 = Some(writer.digest());
        s.ciphertext_sha256 = Some(reader.digest());
        Ok(s)
    })
}

/// Names the file behind a read or write error.
fn with_paths(e: Error, input: &Path, output: &Path) -> Error {
    match e {
        Error::Read(source) => Error::io(input, source),
        Error::Write(source) => Error::io(output, source),
        other => other,
    }
}

fn chunk_log2(chunk_size: u32) -> Result<u8, Error> {
    if !chunk_size.is_power_of_two() || !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(Error::Encrypt(format!(
            "the chunk size {chunk_size} is not a power of two from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE}"
        )));
    }
    u8::try_from(chunk_size.trailing_zeros())
        .map_err(|_| Error::Encrypt("chunk size out of range".into()))
}

#[cfg(test)]
mod tests;
