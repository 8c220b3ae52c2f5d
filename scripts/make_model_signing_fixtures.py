#!/usr/bin/env python3
"""Writes tests/data/model-signing/: test keys, a tiny model and signatures of it made by
OpenSSF model-signing (the reference implementation), the known-answer vectors of
`aigis_model::signing`.

Usage: python3 scripts/make_model_signing_fixtures.py
Needs: pip install model-signing pyopenssl cryptography  (model-signing 1.1.x)

The keys are test keys, fresh on every run (so are the ECDSA signatures): rerun only to
replace the whole folder, never to edit one file.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import model_signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "model-signing"


def write_keys(name, key):
    (OUT / f"{name}.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (OUT / f"{name}.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    model = OUT / "model"
    (model / "sub").mkdir(parents=True)
    (model / "a.bin").write_bytes(bytes(range(256)) * 4)
    (model / "sub" / "b.txt").write_text("hello model\n")
    (model / "empty").write_bytes(b"")
    write_keys("p256", ec.generate_private_key(ec.SECP256R1()))
    write_keys("p384", ec.generate_private_key(ec.SECP384R1()))
    write_keys("ed25519", ed25519.Ed25519PrivateKey.generate())

    # The command line, as a user runs it: files method, git paths ignored.
    subprocess.run(
        [sys.executable, "-m", "model_signing", "sign", "key",
         "--private_key", str(OUT / "p256.pem"),
         "--signature", str(OUT / "model.p256.sig"), str(model)],
        check=True,
    )
    # The library: the shards method with 100-byte shards.
    hashing = model_signing.hashing.Config().use_shard_serialization(shard_size=100)
    (
        model_signing.signing.Config()
        .use_elliptic_key_signer(private_key=OUT / "p384.pem")
        .set_hashing_config(hashing)
        .sign(model, OUT / "model.p384-shards.sig")
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
