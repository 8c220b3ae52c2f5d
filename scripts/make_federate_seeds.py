#!/usr/bin/env python3
"""Writes the seeds of the `federate_message` fuzz target (fuzz/seeds/federate_message):
one frame (a four-byte big-endian length, then the JSON message) of each kind the
parties send, with plausible fields. The shares and keys are random hex: the target
builds its own genuine round and mixes these in.

    python3 scripts/make_federate_seeds.py
"""

import json
import os
import random
import struct

random.seed(1)


def hexbytes(n):
    return bytes(random.randrange(256) for _ in range(n)).hex()


MESSAGES = {
    "hello": {"type": "hello", "protocol": 1, "features": ["a", "b"], "rows": 40},
    "welcome": {"type": "welcome", "federation": "f", "features": ["a", "b"], "low": [0.0, 0.0],
                "high": [10.0, 10.0], "hidden": 0, "classes": [0.0, 1.0], "rounds": 3},
    "round": {"type": "round", "round": 1, "base": hexbytes(32), "params": [0.5, -0.25, 1e-300, -0.0, 3.0, 2.0],
              "local": {"epochs": 1, "learning_rate": 0.1, "batch_size": 32, "alpha": 0.0001},
              "secure": {"id": 0, "threshold": 2, "clip": 5.0}},
    "update": {"type": "update", "round": 1, "base": hexbytes(32), "delta": [0.1, -0.2, 3e10],
               "rows": 40, "signature": hexbytes(64)},
    "decline": {"type": "decline", "round": 2, "reason": "budget"},
    "keys": {"type": "secure_keys", "round": 1, "keys": {"id": 1, "share_key": hexbytes(32), "mask_key": hexbytes(32)}},
    "shares": {"type": "secure_shares", "round": 1,
               "sealed": [{"from": 0, "to": 1, "ciphertext": hexbytes(83)}, {"from": 0, "to": 2, "ciphertext": hexbytes(83)}]},
    "masked": {"type": "secure_masked", "round": 1, "masked": [1, 18446744073709551615, 0, 42], "signature": hexbytes(64)},
    "unmask": {"type": "secure_unmask", "round": 1, "survivors": [0, 1, 2]},
    "reveal": {"type": "secure_reveal", "round": 1,
               "revealed": {"from": 2, "mask_key_shares": [], "seed_shares": [[0, hexbytes(33)], [1, hexbytes(33)], [2, hexbytes(33)]]}},
    "reveal_dropped": {"type": "secure_reveal", "round": 1,
                       "revealed": {"from": 2, "mask_key_shares": [[1, hexbytes(33)]], "seed_shares": [[0, hexbytes(33)]]}},
    "refused": {"type": "refused", "reason": "no"},
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds", "federate_message")
    os.makedirs(out, exist_ok=True)
    for name, m in MESSAGES.items():
        body = json.dumps(m).encode()
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack(">I", len(body)) + body)


if __name__ == "__main__":
    main()
