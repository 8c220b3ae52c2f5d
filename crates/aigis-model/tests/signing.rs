//! Known-answer tests of `aigis_model::signing` against OpenSSF model-signing 1.1: keys
//! and signatures made by the reference implementation
//! (`scripts/make_model_signing_fixtures.py`, in `tests/data/model-signing/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use aigis_core::CheckFailure as _;
use std::path::{Path, PathBuf};

use aigis_model::signing::{
    Bundle, Manifest, Method, SignOptions, SignerKey, VerifierKey, sign_model, verify_model,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/model-signing")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

#[test]
fn keys_read_and_print_as_openssl_does() {
    for (name, alg) in [
        ("p256", "ecdsa-p256-sha256"),
        ("p384", "ecdsa-p384-sha384"),
        ("ed25519", "ed25519"),
    ] {
        let private = SignerKey::from_pem(&read(&format!("{name}.pem"))).unwrap();
        let public = VerifierKey::from_pem(&read(&format!("{name}.pub"))).unwrap();
        assert_eq!(private.public(), public, "{name}");
        assert_eq!(public.algorithm(), alg);
        // The hint model-signing writes is the SHA-256 of exactly these PEM bytes.
        assert_eq!(public.to_pem(), read(&format!("{name}.pub")), "{name}");
    }
}

#[test]
fn verifies_signatures_made_by_model_signing() {
    for (sig, key, method) in [
        ("model.p256.sig", "p256.pub", Method::Files),
        (
            "model.p384-shards.sig",
            "p384.pub",
            Method::Shards { shard_size: 100 },
        ),
    ] {
        let bundle = std::fs::read(fixture(sig)).unwrap();
        let key = VerifierKey::from_pem(&read(key)).unwrap();
        let r = verify_model(&fixture("model"), &bundle, std::slice::from_ref(&key)).unwrap();
        assert!(r.passed(), "{sig}: {:?}", r.changes);
        assert_eq!(r.serialization.method, method);
        assert_eq!(r.key_id, key.hint());
        assert_eq!(r.model_name, "model");
        // The hint in the bundle is the key's.
        assert_eq!(
            Bundle::from_json(&bundle).unwrap().key_hint,
            Some(key.hint())
        );
    }
}

#[test]
fn signs_the_same_root_digest_and_statement_as_model_signing() {
    for (sig, key, method) in [
        ("model.p256.sig", "p256.pem", Method::Files),
        (
            "model.p384-shards.sig",
            "p384.pem",
            Method::Shards { shard_size: 100 },
        ),
    ] {
        let theirs = Bundle::from_json(&std::fs::read(fixture(sig)).unwrap()).unwrap();
        let theirs = Manifest::from_statement_json(&theirs.envelope.payload).unwrap();
        let key = SignerKey::from_pem(&read(key)).unwrap();
        let opts = SignOptions {
            method,
            ..SignOptions::default()
        };
        let ours = sign_model(&fixture("model"), &key, &opts, &|_| {}).unwrap();
        assert_eq!(ours.manifest.resources, theirs.resources, "{sig}");
        assert_eq!(ours.manifest.root_digest(), theirs.root_digest(), "{sig}");
        // model-signing's CLI also lists the signature file; the rest is the same.
        let mut their_ignores = theirs.serialization.ignore_paths.clone();
        their_ignores.retain(|p| !p.ends_with(".sig"));
        their_ignores.sort();
        assert_eq!(ours.manifest.serialization.ignore_paths, their_ignores);
    }
}

#[test]
fn a_signature_checked_with_another_model_signing_key_fails() {
    let bundle = std::fs::read(fixture("model.p256.sig")).unwrap();
    let wrong = VerifierKey::from_pem(&read("p384.pub")).unwrap();
    let e = verify_model(&fixture("model"), &bundle, &[wrong]).unwrap_err();
    assert!(e.is_check_failure(), "{e}");
}
