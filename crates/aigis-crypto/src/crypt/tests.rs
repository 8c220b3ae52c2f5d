use super::*;
use crate::keyfile::KdfParams;
use crate::recipient;

const CHUNK: usize = MIN_CHUNK_SIZE as usize;
/// Header bytes for one recipient: 28 fixed, one 1176-byte stanza, a 32-byte MAC.
const HEADER_1: usize = 28 + 1176 + 32;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal(plain: &[u8], to: &[&Identity], chunk: u32) -> Vec<u8> {
    let recipients: Vec<Recipient> = to.iter().map(|i| i.recipient().clone()).collect();
    let mut out = Vec::new();
    let s = encrypt(plain, &mut out, &recipients, chunk, &|_| {}).unwrap();
    assert_eq!(s.ciphertext_bytes, out.len() as u64);
    assert_eq!(s.plaintext_bytes, plain.len() as u64);
    out
}

/// Decrypts; on error also checks that what reached the writer is an authenticated
/// prefix of `plain` made of whole chunks.
fn open(sealed: &[u8], ids: &[Identity], plain: &[u8]) -> Result<Summary, Error> {
    let mut out = Vec::new();
    let r = decrypt(sealed, &mut out, ids, &|_| {});
    match &r {
        Ok(_) => assert_eq!(out, plain),
        Err(_) => {
            assert!(
                plain.starts_with(&out),
                "unauthenticated bytes were written"
            );
            assert_eq!(out.len() % CHUNK, 0);
        }
    }
    r
}

fn chunk_start(i: usize) -> usize {
    HEADER_1 + i * (CHUNK + 16)
}

#[test]
fn round_trips_at_every_size_around_the_chunk_size() {
    let alice = Identity::generate().unwrap();
    for (n, chunks) in [
        (0, 1),
        (1, 1),
        (CHUNK - 1, 1),
        (CHUNK, 1),
        (CHUNK + 1, 2),
        (3 * CHUNK, 3),
        (5 * CHUNK + 77, 6),
    ] {
        let plain = data(n);
        let sealed = seal(&plain, &[&alice], MIN_CHUNK_SIZE);
        assert_eq!(sealed.len(), HEADER_1 + n + 16 * chunks, "size {n}");
        let s = open(&sealed, std::slice::from_ref(&alice), &plain).unwrap();
        assert_eq!((s.chunks, s.plaintext_bytes), (chunks as u64, n as u64));
        assert_eq!(s.opened_by, Some(alice.key_id()));
        assert_eq!(s.recipients, vec![alice.key_id()]);
    }
    // The default 64 KiB chunks.
    for n in [0, 1, 65_535, 65_536, 65_537, 300_000] {
        let plain = data(n);
        let sealed = seal(&plain, &[&alice], DEFAULT_CHUNK_SIZE);
        let mut out = Vec::new();
        let s = decrypt(&sealed[..], &mut out, std::slice::from_ref(&alice), &|_| {}).unwrap();
        assert_eq!((out, s.chunk_size), (plain, DEFAULT_CHUNK_SIZE));
    }
}

#[test]
fn each_recipient_decrypts_and_no_one_else() {
    let (alice, bob, eve) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    let plain = data(2 * CHUNK + 3);
    // Bob twice: one stanza.
    let sealed = seal(&plain, &[&alice, &bob, &bob], MIN_CHUNK_SIZE);
    let header = read_header(&sealed[..]).unwrap();
    assert_eq!(header.recipients, vec![alice.key_id(), bob.key_id()]);
    assert_eq!(header.len, (28 + 2 * 1176 + 32) as u64);
    let by_bob = open(&sealed, &[eve, bob], &plain).unwrap();
    assert_eq!(by_bob.recipients.len(), 2);
    assert!(open(&sealed, &[alice], &plain).is_ok());
    let eve = Identity::generate().unwrap();
    let err = open(&sealed, &[eve], &plain).unwrap_err();
    assert!(matches!(err, Error::NotForYou { .. }));
    assert!(!err.is_tampered());
    let text = err.to_string();
    assert!(
        text.starts_with("not encrypted to any of your keys"),
        "{text}"
    );
    assert!(text.contains(&header.recipients[0].to_string()), "{text}");
}

#[test]
fn every_modified_byte_is_rejected() {
    let alice = Identity::generate().unwrap();
    let plain = data(3 * CHUNK + 100);
    let sealed = seal(&plain, &[&alice], MIN_CHUNK_SIZE);
    let ids = [alice];
    // Every header byte, and a stride through the payload that hits each chunk's first
    // and last bytes.
    let payload = (HEADER_1..sealed.len()).step_by(61);
    let edges = (0..4).flat_map(|i| [chunk_start(i), chunk_start(i + 1) - 1]);
    for at in (0..HEADER_1).chain(payload).chain(edges) {
        let Some(byte) = sealed.get(at) else { continue };
        let mut bad = sealed.clone();
        bad[at] = byte ^ 0x01;
        let err = open(&bad, &ids, &plain).unwrap_err();
        // Flipping a key id makes the only stanza someone else's.
        let key_id = 28..36;
        assert!(
            err.is_tampered() || (key_id.contains(&at) && matches!(err, Error::NotForYou { .. })),
            "byte {at}: {err}"
        );
    }
}

#[test]
fn each_kind_of_damage_gets_its_own_message() {
    let alice = Identity::generate().unwrap();
    let plain = data(4 * CHUNK + 10);
    let sealed = seal(&plain, &[&alice], MIN_CHUNK_SIZE);
    let ids = [alice];
    let msg = |bytes: &[u8]| open(bytes, &ids, &plain).unwrap_err().to_string();
    let flip = |at: usize| {
        let mut b = sealed.clone();
        b[at] ^= 0x80;
        b
    };

    assert!(msg(&[]).starts_with("not an aigis encrypted file"));
    assert!(msg(b"PK\x03\x04 a zip file").starts_with("not an aigis encrypted file"));
    assert!(msg(&flip(8)).contains("version 129 is not supported"));
    assert!(msg(&flip(9)).contains("chunk size"));
    assert!(msg(&flip(100)).starts_with("the key stanza for"));
    assert!(msg(&flip(20)).starts_with("the header failed authentication"));
    assert!(msg(&flip(HEADER_1 - 1)).starts_with("the header failed authentication"));
    let want = format!("chunk 3 (at byte {}) failed authentication", chunk_start(3));
    assert!(msg(&flip(chunk_start(3) + 5)).starts_with(&want));

    // Truncation: inside the header, right after it, at each chunk boundary, mid-chunk.
    assert!(
        msg(&sealed[..500]).starts_with("truncated: the file ends inside the header's stanza 0")
    );
    assert!(
        msg(&sealed[..HEADER_1 - 3])
            .starts_with("truncated: the file ends inside the header's MAC")
    );
    assert!(msg(&sealed[..HEADER_1]).starts_with("truncated: the file ends after its header"));
    for i in 1..=4 {
        let m = msg(&sealed[..chunk_start(i)]);
        let want = format!("truncated: the file ends after chunk {}", i - 1);
        assert!(m.starts_with(&want), "{m}");
    }
    assert!(msg(&sealed[..chunk_start(2) + 8]).contains("less than its 16-byte tag"));
    assert!(msg(&sealed[..chunk_start(2) + 100]).starts_with("chunk 2 "));
    assert!(msg(&sealed[..sealed.len() - 1]).starts_with("chunk 4 "));

    // Reordered, duplicated and dropped chunks.
    let chunk = |i: usize| sealed[chunk_start(i)..chunk_start(i + 1)].to_vec();
    let mut swapped = sealed[..chunk_start(1)].to_vec();
    swapped.extend(chunk(2));
    swapped.extend(chunk(1));
    swapped.extend_from_slice(&sealed[chunk_start(3)..]);
    assert!(msg(&swapped).starts_with("chunk 1 "));
    let mut duplicated = sealed[..chunk_start(2)].to_vec();
    duplicated.extend(chunk(1));
    duplicated.extend_from_slice(&sealed[chunk_start(2)..]);
    assert!(msg(&duplicated).starts_with("chunk 2 "));
    let mut dropped = sealed[..chunk_start(1)].to_vec();
    dropped.extend_from_slice(&sealed[chunk_start(2)..]);
    assert!(msg(&dropped).starts_with("chunk 1 "));

    // Appended bytes: after a full last chunk they are named as such; after a short one
    // they make the last chunk fail.
    let exact = data(2 * CHUNK);
    let full_last = seal(&exact, &[&ids[0]], MIN_CHUNK_SIZE);
    let mut appended = full_last.clone();
    appended.extend_from_slice(b"more");
    let m = open(&appended, &ids, &exact).unwrap_err();
    assert!(matches!(m, Error::TrailingData { chunk: 1, .. }), "{m}");
    assert!(m.to_string().contains("appended"));
    let mut appended = sealed.clone();
    appended.push(0);
    assert!(msg(&appended).starts_with("chunk 4 "));

    // The header of one file on the payload of another, both for the same key.
    let other = seal(&plain, &[&ids[0]], MIN_CHUNK_SIZE);
    let mut spliced = other[..HEADER_1].to_vec();
    spliced.extend_from_slice(&sealed[HEADER_1..]);
    assert!(msg(&spliced).starts_with("chunk 0 "));
}

#[test]
fn an_empty_last_chunk_after_others_is_refused() {
    // aigis never writes one (a full last chunk carries the flag), but a recipient could
    // forge one; it must not pass as a second encoding of the same plaintext.
    let alice = Identity::generate().unwrap();
    let mut file_key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(file_key.as_mut_slice());
    let salt = [9u8; 16];
    let (mut bytes, _) = header::seal(12, salt, &[alice.recipient().clone()], &file_key).unwrap();
    let key = header::payload_key(&salt, &file_key).unwrap();
    use chacha20poly1305::aead::KeyInit as _;
    use chacha20poly1305::aead::stream::{NewStream as _, StreamBE32, StreamPrimitive as _};
    let s = StreamBE32::from_aead(
        chacha20poly1305::ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.as_slice())),
        &Default::default(),
    );
    let mut c0 = data(CHUNK);
    s.encrypt_in_place(0, false, b"", &mut c0).unwrap();
    let mut c1 = Vec::new();
    s.encrypt_in_place(1, true, b"", &mut c1).unwrap();
    bytes.extend(c0);
    bytes.extend(c1);
    let err = open(&bytes, &[alice], &data(CHUNK)).unwrap_err();
    assert!(err.to_string().contains("empty last chunk"), "{err}");
}

#[test]
fn bad_parameters_are_refused_before_writing() {
    let alice = Identity::generate().unwrap();
    let to = [alice.recipient().clone()];
    for chunk in [0, 1000, 2048, 1 << 25, u32::MAX] {
        let mut out = Vec::new();
        let err = encrypt(&b"x"[..], &mut out, &to, chunk, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("chunk size"), "{err}");
        assert!(out.is_empty());
    }
    let mut out = Vec::new();
    let err = encrypt(&b"x"[..], &mut out, &[], DEFAULT_CHUNK_SIZE, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("no recipient"), "{err}");
}

#[test]
fn files_appear_only_when_whole_and_authentic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = Identity::generate().unwrap();
    let plain = data(3 * CHUNK + 5);
    std::fs::write(d.join("plain"), &plain).unwrap();
    let total = std::cell::Cell::new(0);
    let s = encrypt_file(
        &d.join("plain"),
        &d.join("sealed"),
        &[alice.recipient().clone()],
        MIN_CHUNK_SIZE,
        &|n| total.set(total.get() + n),
    )
    .unwrap();
    assert_eq!((s.chunks, total.get()), (4, plain.len() as u64));
    let sealed_digest = crate::sha256_file(&d.join("sealed")).unwrap();
    assert_eq!(s.plaintext_sha256, Some(Digest::of(&plain)));
    assert_eq!(s.ciphertext_sha256, Some(sealed_digest));
    let ids = [alice];
    let opened = decrypt_file(&d.join("sealed"), &d.join("out"), &ids, &|_| {}).unwrap();
    assert_eq!(opened.plaintext_sha256, Some(Digest::of(&plain)));
    assert_eq!(opened.ciphertext_sha256, Some(sealed_digest));
    assert_eq!(std::fs::read(d.join("out")).unwrap(), plain);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("out"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A file damaged in its last chunk: the earlier chunks authenticate, yet neither a
    // new output nor a temporary file is left, and an existing output is untouched.
    let mut bad = std::fs::read(d.join("sealed")).unwrap();
    let last = bad.len() - 3;
    bad[last] ^= 1;
    std::fs::write(d.join("bad"), &bad).unwrap();
    let err = decrypt_file(&d.join("bad"), &d.join("new"), &ids, &|_| {}).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 3, .. }), "{err}");
    assert!(!d.join("new").exists());
    std::fs::write(d.join("keep"), b"old").unwrap();
    assert!(decrypt_file(&d.join("bad"), &d.join("keep"), &ids, &|_| {}).is_err());
    assert_eq!(std::fs::read(d.join("keep")).unwrap(), b"old");
    let mut names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bad", "keep", "out", "plain", "sealed"]);

    // A missing input names its path.
    let err = decrypt_file(&d.join("nope"), &d.join("x"), &ids, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn a_sealed_identity_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipient.key");
    let fast = KdfParams {
        m_cost_kib: 256,
        t_cost: 1,
        p_cost: 1,
    };
    let id = Identity::generate().unwrap();
    let plain = data(CHUNK + 1);
    let sealed = seal(&plain, &[&id], MIN_CHUNK_SIZE);
    recipient::save(&path, &id, Some("pw"), fast).unwrap();
    drop(id);
    assert!(recipient::load(&path, None).is_err());
    let loaded = recipient::load(&path, Some("pw")).unwrap();
    open(&sealed, &[loaded], &plain).unwrap();
}
