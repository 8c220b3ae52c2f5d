#!/usr/bin/env python3
"""Checks aigis evidence with third-party verifiers.

- DSSE: securesystemslib (the DSSE reference implementation's Python home) verifies every
  envelope aigis wrote, with the project's Ed25519 public key.
- in-toto: in-toto-attestation (the in-toto reference library) parses and validates every
  payload as a Statement v1.

Usage: python3 scripts/interop.py path/to/aigis
Needs: pip install securesystemslib in-toto-attestation
Exits non-zero if any envelope or statement is refused, or a tampered one is accepted.
"""
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import json_format
from in_toto_attestation.v1 import statement as intoto
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey


def aigis(binary, project, *args, stdin=None):
    out = subprocess.run(
        [binary, "--project", str(project), *args],
        input=stdin, capture_output=True, check=True,
    )
    return out.stdout


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        aigis(binary, project, "init", str(project))
        (project / "model.onnx").write_bytes(b"\x08\x07model")
        (project / "eval.json").write_text(json.dumps({"accuracy": 0.93, "dataset": "holdout"}))
        for ptype in ["https://example.com/eval/v1", "https://slsa.dev/provenance/v1"]:
            aigis(binary, project, "attest", "--subject", str(project / "model.onnx"),
                  "--predicate-type", ptype, "--predicate", str(project / "eval.json"))
        aigis(binary, project, "keys", "rotate")  # adds a rotation statement signed by the old key

        keyring = json.loads(aigis(binary, project, "--json", "keys", "show"))["keyring"]
        keys = []
        for k in keyring:
            raw = base64.b64decode(k["verifier_key"].split("+", 2)[2])
            assert raw[0] == 1, "an Ed25519 verifier key"
            keys.append(SSlibKey(k["key_id"], "ed25519", "ed25519", {"public": raw[1:].hex()}))

        size = json.loads(aigis(binary, project, "--json", "ledger", "status"))["size"]
        for index in range(size):
            raw = aigis(binary, project, "evidence", "show", str(index), "--raw")
            envelope = Envelope.from_dict(json.loads(raw))
            verified = envelope.verify(keys, 1)
            statement = json_format.Parse(envelope.payload, intoto.spb.Statement())
            intoto.Statement.copy_from_pb(statement).validate()
            print(f"entry {index}: DSSE signature verified by securesystemslib (key {list(verified)[0][:16]}…); "
                  f"in-toto Statement v1 valid ({statement.predicate_type})")

            tampered = json.loads(raw)
            payload = json.loads(envelope.payload)
            payload["predicateType"] = "https://example.com/forged/v1"
            tampered["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
            try:
                Envelope.from_dict(tampered).verify(keys, 1)
            except VerificationError:
                pass
            else:
                sys.exit(f"entry {index}: securesystemslib accepted a tampered envelope")
    print(f"ok: {size} envelopes and statements accepted by third-party verifiers; tampered copies refused")


if __name__ == "__main__":
    main()
