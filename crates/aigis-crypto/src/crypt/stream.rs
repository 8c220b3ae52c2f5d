//! The payload: ChaCha20-Poly1305 in the STREAM construction, one chunk at a time.
//!
//! The nonces come from RustCrypto's `aead::stream::StreamBE32` (a 32-bit big-endian
//! chunk counter and a last-chunk flag after a 7-byte prefix, zero here because every
//! file has its own payload key); this module only decides where chunks begin and end,
//! which chunk is the last, and what to say when one does not authenticate.

use std::io::{ErrorKind, Read, Write};

use chacha20poly1305::aead::KeyInit as _;
use chacha20poly1305::aead::stream::{NewStream as _, StreamBE32, StreamPrimitive as _};
use chacha20poly1305::{ChaCha20Poly1305, Key};

use crate::Error;

const TAG_LEN: usize = 16;

/// Bytes and chunks a pass has handled.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub chunks: u64,
    pub plaintext: u64,
    pub ciphertext: u64,
}

fn stream(key: &[u8; 32]) -> StreamBE32<ChaCha20Poly1305> {
    StreamBE32::from_aead(
        ChaCha20Poly1305::new(Key::from_slice(key)),
        &Default::default(),
    )
}

fn position(index: u64) -> Result<u32, Error> {
    u32::try_from(index)
        .map_err(|_| Error::Encrypt("more than 2^32 chunks: use a larger chunk size".into()))
}

/// Encrypts `input` chunk by chunk into `output`. Reads one chunk ahead, because the
/// last chunk is only known once the input ends; memory is two chunks.
pub(super) fn seal<R: Read, W: Write>(
    mut input: R,
    output: &mut W,
    key: &[u8; 32],
    chunk_size: u32,
    progress: &dyn Fn(u64),
) -> Result<Counts, Error> {
    let stream = stream(key);
    let chunk = chunk_size as usize;
    let mut cur = Vec::with_capacity(chunk + TAG_LEN);
    let mut next = Vec::with_capacity(chunk + TAG_LEN);
    fill(&mut input, &mut cur, chunk)?;
    let mut counts = Counts::default();
    loop {
        let last = cur.len() < chunk || {
            fill(&mut input, &mut next, chunk)?;
            next.is_empty()
        };
        let plain = cur.len() as u64;
        stream
            .encrypt_in_place(position(counts.chunks)?, last, b"", &mut cur)
            .map_err(|_| Error::Encrypt("chunk encryption failed".into()))?;
        output.write_all(&cur).map_err(Error::Write)?;
        progress(plain);
        counts.chunks += 1;
        counts.plaintext += plain;
        counts.ciphertext += cur.len() as u64;
        if last {
            return Ok(counts);
        }
        std::mem::swap(&mut cur, &mut next);
    }
}

/// Decrypts chunks from `input` into `output`, each written only after it authenticated.
/// `offset` is where the payload starts in the file, for error messages.
pub(super) fn open<R: Read, W: Write>(
    mut input: R,
    output: &mut W,
    key: &[u8; 32],
    chunk_size: u32,
    offset: u64,
    progress: &dyn Fn(u64),
) -> Result<Counts, Error> {
    let stream = stream(key);
    let full = chunk_size as usize + TAG_LEN;
    let mut cur = Vec::with_capacity(full);
    let mut next = Vec::with_capacity(full);
    fill(&mut input, &mut cur, full)?;
    let mut counts = Counts::default();
    loop {
        let index = counts.chunks;
        let at = offset + counts.ciphertext;
        let pos = position(index).map_err(|_| Error::Format("more than 2^32 chunks".into()))?;
        // The chunk is the last one if the file ends with it. A short chunk must be the
        // last; a full one is the last only if nothing follows.
        let at_end = cur.len() < full || {
            fill(&mut input, &mut next, full)?;
            next.is_empty()
        };
        let len = cur.len() as u64;
        if cur.len() < TAG_LEN {
            // (An empty `cur` after chunk 0 cannot happen: a full chunk followed by nothing
            // is taken as the last one above.)
            return Err(Error::Truncated(if cur.is_empty() {
                format!("the file ends after its header (byte {at}), with no chunk")
            } else {
                format!("chunk {index} (byte {at}) has {len} bytes, less than its 16-byte tag")
            }));
        }
        if stream.decrypt_in_place(pos, at_end, b"", &mut cur).is_err() {
            // Tell truncation at a chunk boundary and appended bytes from modification:
            // the chunk authenticates with the other value of the last-chunk flag.
            // (ChaCha20-Poly1305 checks the tag before decrypting, so `cur` is intact.)
            let flipped = stream.decrypt_in_place(pos, !at_end, b"", &mut cur).is_ok();
            return Err(match (flipped, at_end) {
                (true, true) => Error::Truncated(format!(
                    "the file ends after chunk {index} (byte {}), which is not the last chunk",
                    at + len
                )),
                (true, false) => Error::TrailingData {
                    chunk: index,
                    offset: at + len,
                },
                (false, _) => Error::ChunkAuth { index, offset: at },
            });
        }
        if at_end && cur.is_empty() && index > 0 {
            // Only an empty file has an empty last chunk; aigis never writes another.
            return Err(Error::Format(format!(
                "chunk {index} (byte {at}) is an empty last chunk"
            )));
        }
        output.write_all(&cur).map_err(Error::Write)?;
        progress(len);
        counts.chunks += 1;
        counts.plaintext += cur.len() as u64;
        counts.ciphertext += len;
        if at_end {
            return Ok(counts);
        }
        std::mem::swap(&mut cur, &mut next);
    }
}

/// Replaces `buf`'s contents with up to `n` bytes from `input`: fewer only at its end.
fn fill<R: Read>(input: &mut R, buf: &mut Vec<u8>, n: usize) -> Result<(), Error> {
    buf.clear();
    buf.resize(n, 0);
    let got = read_full(input, buf)?;
    buf.truncate(got);
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(super) fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Read(e)),
        }
    }
    Ok(got)
}
