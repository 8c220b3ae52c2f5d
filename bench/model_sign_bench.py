#!/usr/bin/env python3
"""Model-signing throughput: `aigis model sign` beside OpenSSF model-signing
(`python3 -m model_signing sign key`) and plain `sha256sum` on the same files, same run.

    pip install model-signing pyopenssl cryptography
    cargo build --release -p aigis
    python3 bench/model_sign_bench.py target/release/aigis [--files 8] [--mb 512]
    python3 bench/model_sign_bench.py target/debug/aigis --smoke    # CI: tiny, one run

The model is a temporary folder of `--files` random files of `--mb` MB each. Everyone signs
(or hashes) the whole folder with one ECDSA P-256 key; the first run warms the page
cache, then the best of `--runs` counts. After every run, warm-up included and outside
the timing, the signature that run wrote is verified by both tools (`aigis model verify`
and `python -m model_signing verify key`; aigis's shards signature through model_signing's
`verifying.Config` API, as its command line verifies per-file signatures only), and
`sha256sum`'s digests are compared with hashlib's; the script fails if any check does.
So every figure is the time of a job whose output was checked. Printed: seconds, MB/s
and "x": the tool's time / aigis's (files) time, above 1 meaning aigis is faster.
`sha256sum` is one process hashing the files one after the other: the single-core
baseline that parallel hashing is measured against. Numbers for BENCHMARKS.md come from
a release build; a debug build is only a smoke test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def write_model(root: str, files: int, mb: float) -> int:
    size = max(1, int(mb * 1_000_000))
    block = os.urandom(min(size, 1 << 20))
    for i in range(files):
        with open(os.path.join(root, f"shard-{i:03d}.bin"), "wb") as f:
            left = size
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n
            # Different content per file, so no two digests are alike.
            f.write(i.to_bytes(4, "little"))
    return files * (size + 4)


def write_keys(root: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = os.path.join(root, "p256.pem")
    public = os.path.join(root, "p256.pub")
    with open(private, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(public, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def run(cmd: list[str], cwd: str | None = None) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def best_of(cmd: list[str], runs: int, check, cwd: str) -> float:
    """The best time of `runs` runs after a warm-up; `check(stdout)` runs after each one,
    untimed, and must accept what that run wrote."""
    check(run(cmd, cwd))  # warm-up, not counted
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        out = run(cmd, cwd)
        best = min(best, time.perf_counter() - start)
        check(out)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="path to the aigis binary")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--mb", type=float, default=512, help="MB per file")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shard-size", type=int, default=100_000_000,
                    help="shard size for the `aigis --method shards` row")
    ap.add_argument("--smoke", action="store_true", help="4 files of 0.2 MB, one run")
    args = ap.parse_args()
    if args.smoke:
        args.files, args.mb, args.runs, args.shard_size = 4, 0.2, 1, 50_000
    aigis = os.path.abspath(args.aigis)

    work = tempfile.mkdtemp(prefix="aigis-sign-bench-")
    try:
        model = os.path.join(work, "model")
        os.mkdir(model)
        total = write_model(model, args.files, args.mb)
        private, public = write_keys(work)
        ours = os.path.join(work, "aigis.sig")
        ours_shards = os.path.join(work, "aigis-shards.sig")
        theirs = os.path.join(work, "model_signing.sig")
        sign_aigis = [aigis, "-q", "model", "sign", model, "--signing-key", private, "--signature", ours]
        sign_aigis_shards = [aigis, "-q", "model", "sign", model, "--signing-key", private, "--signature", ours_shards,
                             "--shard-size", str(args.shard_size)]
        sign_ms = [sys.executable, "-m", "model_signing", "sign", "key",
                   "--private_key", private, "--signature", theirs, model]
        files = sorted(os.path.join(model, f) for f in os.listdir(model))
        sha256sum = ["sha256sum", *files]
        digests = {}
        for path in files:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            digests[path] = h.hexdigest()

        # model_signing's CLI verifies with per-file hashing only; its API reads the
        # method (files or shards, and the shard size) from the signature itself.
        ms_verify_api = ("import sys, model_signing; model_signing.verifying.Config()"
                         ".use_elliptic_key_verifier(public_key=sys.argv[1]).verify(sys.argv[3], sys.argv[2])")

        def verified_by_both(signature: str, shards: bool = False):
            """Both verifiers must accept `signature` for the model as it is."""
            def check(_stdout: str) -> None:
                if shards:
                    run([sys.executable, "-c", ms_verify_api, public, signature, model], work)
                else:
                    run([sys.executable, "-m", "model_signing", "verify", "key", "--public_key", public,
                         "--signature", signature, model], work)
                run([aigis, "-q", "model", "verify", model, "--key", public, "--signature", signature], work)
            return check

        def sha256sum_matches(out: str) -> None:
            got = {path: digest for digest, path in (line.split("  ", 1) for line in out.splitlines())}
            if got != digests:
                sys.exit("sha256sum's digests differ from hashlib's")

        rows = [
            ("aigis model sign (files)", best_of(sign_aigis, args.runs, verified_by_both(ours), work)),
            (f"aigis model sign (shards of {args.shard_size})",
             best_of(sign_aigis_shards, args.runs, verified_by_both(ours_shards, shards=True), work)),
            ("model_signing sign key", best_of(sign_ms, args.runs, verified_by_both(theirs), work)),
            ("sha256sum (one core)", best_of(sha256sum, args.runs, sha256sum_matches, work)),
        ]
        base = rows[0][1]
        print(f"{args.files} files, {total / 1e6:.1f} MB, {os.cpu_count()} cores, "
              f"best of {args.runs}; every signature verified by aigis and model_signing")
        print(f"{'tool':<40} {'seconds':>9} {'MB/s':>9} {'x':>8}   (x = the tool's time / aigis's, files)")
        for name, secs in rows:
            print(f"{name:<40} {secs:>9.3f} {total / 1e6 / secs:>9.1f} {secs / base:>8.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
