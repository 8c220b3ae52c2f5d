#!/usr/bin/env python3
"""`aigis serve` end to end, over a real socket, driven by a real client of the standard
protocol (NVIDIA's tritonclient, HTTP, the Open Inference Protocol v2).

On a throwaway project: the digits MLP (tests/data/runtime/digits_mlp.onnx, made by
scripts/make_runtime_models.py) is signed with `aigis model sign`, an API key made with
`aigis keys api new`, and `aigis serve` started on a free loopback port. Then:

- health, readiness and the model's metadata through tritonclient;
- inference on 360 held-out digits, once with tritonclient's default binary tensors and
  once with JSON tensors: every label equal to onnxruntime's on the same rows, every
  probability within 1e-5;
- refusals: no key and a wrong key (401), a wrong shape and an unknown input (422), an
  unknown model (404), a body over the limit (413), each with its JSON `code`;
- schemathesis, from the served OpenAPI document (`/openapi.json`), with the key: every
  operation with generated requests (fixed seed), no 5xx, and every status code, content
  type and response body as the document says;
- SIGTERM: the server stops, exit 0;
- the audit: the project's ledger holds a signed `gateway-call` record for every call
  tritonclient and the raw checks made (at least those), none holding the key, and
  `aigis ledger verify` passes.

    python3 scripts/serve_e2e.py target/debug/aigis

Needs tritonclient[http], schemathesis, onnxruntime, scikit-learn and numpy (pip). Exits 1 on any
difference, printing each.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np
import onnxruntime as ort
import tritonclient.http as httpclient
from sklearn import datasets
from sklearn.model_selection import train_test_split
from tritonclient.utils import InferenceServerException

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "tests", "data", "runtime", "digits_mlp.onnx")

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def raw(url, key=None, body=None, method="GET"):
    """A plain HTTP call: (status, JSON body)."""
    req = urllib.request.Request(url, data=body, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    args = ap.parse_args()
    aigis = os.path.abspath(args.aigis)

    work = tempfile.mkdtemp(prefix="aigis-serve-")
    env = dict(os.environ, AIGIS_PROJECT=work)
    run = lambda *a: subprocess.run([aigis, *a], cwd=work, env=env, check=True, capture_output=True, text=True)
    server = None
    try:
        run("init", work, "--name", "serve-e2e")
        os.makedirs(os.path.join(work, "models"))
        shutil.copy(MODEL, os.path.join(work, "models", "digits.onnx"))
        run("model", "sign", "models/digits.onnx")
        made = json.loads(run("keys", "api", "new", "--name", "ci", "--json").stdout)
        key = made["key"]
        with open(os.path.join(work, "aigis.toml"), "a") as f:
            f.write(
                "\n[serve]\nplain = true\nmax_body_bytes = 1048576\n"
                '\n[[serve.models]]\nname = "digits"\npath = "models/digits.onnx"\n'
                f'\n[[serve.api_keys]]\nname = "ci"\nsha256 = "{made["sha256"]}"\n'
            )
        server = subprocess.Popen(
            [aigis, "serve", "--listen", "127.0.0.1:0"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        address = server.stdout.readline().strip()
        check(address.startswith("http://127.0.0.1:"), f"the server says where it listens ({address})")
        host = address.removeprefix("http://")
        # tritonclient adds its own headers to the dict it is given: a fresh one per call.
        def auth():
            return {"Authorization": f"Bearer {key}"}

        client = httpclient.InferenceServerClient(url=host)
        check(client.is_server_live(), "live")
        check(client.is_server_ready(), "ready")
        check(client.is_model_ready("digits", headers=auth()), "the model is ready")
        meta = client.get_model_metadata("digits", headers=auth())
        check(
            meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 64]}],
            f"metadata from the model's signature ({meta['inputs']})",
        )

        digits = datasets.load_digits()
        _, X, _, _ = train_test_split((digits.data / 16.0).astype(np.float32), digits.target, test_size=0.2, random_state=1)
        sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
        want_label, want_proba = sess.run(None, {"X": X})
        want_proba = np.array([[m[c] for c in sorted(m)] for m in want_proba], dtype=np.float32)
        for binary in (True, False):
            inp = httpclient.InferInput("X", list(X.shape), "FP32")
            inp.set_data_from_numpy(X, binary_data=binary)
            outs = [
                httpclient.InferRequestedOutput("output_label", binary_data=binary),
                httpclient.InferRequestedOutput("output_probability", binary_data=binary),
            ]
            result = client.infer("digits", [inp], outputs=outs, headers=auth())
            label = result.as_numpy("output_label")
            proba = result.as_numpy("output_probability")
            kind = "binary" if binary else "JSON"
            check(label is not None and np.array_equal(label.astype(np.int64), want_label), f"{len(X)} labels equal onnxruntime's ({kind} tensors)")
            check(
                proba is not None and proba.shape == want_proba.shape and float(np.max(np.abs(proba - want_proba))) < 1e-5,
                f"probabilities within 1e-5 of onnxruntime's ({kind} tensors)",
            )

        def refused(call, status, what):
            try:
                call()
                check(False, f"{what}: refused with {status}")
            except InferenceServerException as e:
                check(str(e.status()) == str(status), f"{what}: {e.status()} ({e.message()})")

        one = httpclient.InferInput("X", [1, 64], "FP32")
        one.set_data_from_numpy(X[:1], binary_data=False)
        refused(lambda: client.infer("digits", [one]), 401, "no key")
        refused(lambda: client.infer("digits", [one], headers={"Authorization": "Bearer aigis_wrong"}), 401, "a wrong key")
        refused(lambda: client.infer("nope", [one], headers=auth()), 404, "an unknown model")
        bad = httpclient.InferInput("X", [1, 63], "FP32")
        bad.set_data_from_numpy(X[:1, :63].copy(), binary_data=False)
        refused(lambda: client.infer("digits", [bad], headers=auth()), 422, "a wrong shape")

        url = f"{address}/v2/models/digits/infer"
        status, body = raw(url, key, json.dumps({"inputs": [{"name": "Y", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]}).encode(), "POST")
        check((status, body.get("code")) == (422, "invalid_input") and body["error"].startswith("inputs[0].name"), f"an unknown input: {status} {body}")
        big = json.dumps({"inputs": [{"name": "X", "shape": [5000, 64], "datatype": "FP32", "data": [0.5] * 320000}]}).encode()
        status, body = raw(url, key, big, "POST")
        check((status, body.get("code")) == (413, "payload_too_large"), f"a body over the limit: {status} {body}")
        status, body = raw(url, None, b"{}", "POST")
        check((status, body.get("code")) == (401, "unauthenticated"), f"raw call without a key: {status}")

        # The served document, with the model name this server has, so generated calls
        # reach the model instead of a 404.
        status, doc = raw(f"{address}/openapi.json")
        check(status == 200 and doc.get("openapi") == "3.1.0", "the OpenAPI document is served")
        doc["components"]["parameters"]["name"]["schema"] = {"type": "string", "enum": ["digits"]}
        schema_file = os.path.join(work, "openapi.json")
        with open(schema_file, "w") as f:
            json.dump(doc, f)
        st = shutil.which("st") or os.path.join(os.path.dirname(sys.executable), "st")
        fuzz = subprocess.run(
            [
                st, "run", schema_file, "--url", address,
                "-H", f"Authorization: Bearer {key}",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", "40", "--seed", "1", "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        tail = "\n".join(fuzz.stdout.strip().splitlines()[-14:])
        check(fuzz.returncode == 0, f"schemathesis against /openapi.json: exit {fuzz.returncode}\n{tail}")
        if fuzz.returncode != 0:
            print(fuzz.stdout[-4000:], file=sys.stderr)

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=15)
        check(code == 0, f"SIGTERM stops the server (exit {code})")
        server = None

        listed = run("--json", "evidence", "list", "--predicate-type", "https://aigis.dev/predicate/gateway-call/v1").stdout
        entries = [json.loads(line) for line in listed.splitlines() if line.strip()]
        # tritonclient: 2 readiness and metadata calls, 2 inferences, 4 refusals; raw: 3.
        check(len(entries) >= 11, f"the ledger holds a gateway-call record per call ({len(entries)} records)")
        ledger_text = open(os.path.join(work, ".aigis", "ledger.db"), "rb").read()
        check(key.encode() not in ledger_text, "no API key in the ledger")
        verify = subprocess.run([aigis, "ledger", "verify"], cwd=work, env=env, capture_output=True, text=True)
        check(verify.returncode == 0, f"aigis ledger verify: exit {verify.returncode}")
    finally:
        if server is not None:
            server.kill()
            print(server.stderr.read(), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
