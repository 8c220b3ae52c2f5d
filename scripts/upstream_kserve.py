#!/usr/bin/env python3
"""`aigis serve` in upstream mode in front of KServe's own model server (the `kserve` PyPI
package, the reference Python implementation of the Open Inference Protocol v2 and of
KServe's v1 protocol), driven by NVIDIA's tritonclient.

A KServe `ModelServer` is started on a free loopback port with three models, all the
digits MLP (tests/data/runtime/digits_mlp.onnx) run by onnxruntime:

- `digits`: the v2 protocol (`/v2/models/digits/infer`), both outputs, its signature
  given through KServe's metadata (`get_input_types`, `get_output_types`);
- `digits-proba` and `digits-label`: the v1 protocol (`/v1/models/<name>:predict`),
  answering each row's probabilities, and each row's label.

`aigis serve` (plain HTTP on loopback, an API key) serves each of them as an upstream
model, and tritonclient asks aigis. Checked:

- 360 held-out digits in one batch and 20 one row at a time, through each of the three:
  every label equal to onnxruntime's run directly on the same rows, every probability
  within 1e-6;
- the v2 model's metadata, as aigis serves it, is the one KServe gave;
- with KServe stopped, a call is refused at once with 503 `upstream_unavailable`, not
  left hanging;
- the project's ledger holds a `gateway-call` record for each call, and `aigis ledger
  verify` passes.

    python3 scripts/upstream_kserve.py target/debug/aigis

Needs kserve, tritonclient[http], onnxruntime, scikit-learn and numpy (pip). Exits 1 on
any difference, printing each.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import urllib.error
import urllib.request

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import MODEL, check, digits_reference, failures, start_serve  # noqa: E402


def kserve_child(port):
    """The KServe model server: runs until killed."""
    import kserve
    from kserve import InferOutput, InferRequest, InferResponse

    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])

    class Digits(kserve.Model):
        def __init__(self, name, answer):
            super().__init__(name)
            self.answer = answer  # "v2", "proba" or "label"
            self.ready = True

        def load(self):
            self.ready = True
            return True

        def get_input_types(self):
            return [{"name": "X", "datatype": "FP32", "shape": [-1, 64]}]

        def get_output_types(self):
            return [
                {"name": "output_label", "datatype": "INT64", "shape": [-1]},
                {"name": "output_probability", "datatype": "FP32", "shape": [-1, 10]},
            ]

        def predict(self, payload, headers=None, response_headers=None):
            if isinstance(payload, InferRequest):
                x = payload.inputs[0].as_numpy().astype(np.float32).reshape(-1, 64)
                label, proba = digits_reference(sess, x)
                outputs = []
                for name, datatype, value in (("output_label", "INT64", label), ("output_probability", "FP32", proba)):
                    out = InferOutput(name=name, shape=list(value.shape), datatype=datatype)
                    out.set_data_from_numpy(value, binary_data=False)
                    outputs.append(out)
                # The protocol makes `id` optional; KServe's response type needs one.
                return InferResponse(model_name=self.name, infer_outputs=outputs, response_id=payload.id or str(uuid.uuid4()))
            x = np.asarray(payload["instances"], dtype=np.float32).reshape(-1, 64)
            label, proba = digits_reference(sess, x)
            return {"predictions": (label if self.answer == "label" else proba).tolist()}

    models = [Digits("digits", "v2"), Digits("digits-proba", "proba"), Digits("digits-label", "label")]
    kserve.ModelServer(http_port=port, grpc_port=free_port(), enable_grpc=False, workers=1).start(models)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", nargs="?", help="the aigis binary")
    ap.add_argument("--kserve-child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.kserve_child:
        # KServe reads its own options from the command line: leave it none of ours.
        sys.argv = sys.argv[:1]
        kserve_child(args.kserve_child)
        return
    if not args.aigis:
        ap.error("the aigis binary is needed")
    aigis = os.path.abspath(args.aigis)

    import tritonclient.http as httpclient
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    work = tempfile.mkdtemp(prefix="aigis-upstream-kserve-")
    env = dict(os.environ, AIGIS_PROJECT=work)
    run = lambda *a: subprocess.run([aigis, *a], cwd=work, env=env, check=True, capture_output=True, text=True)
    kport = free_port()
    kserve = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--kserve-child", str(kport)],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "kserve.log"), "w"),
    )
    server = None
    try:
        if not wait_http(f"http://127.0.0.1:{kport}/v2/models/digits/ready"):
            raise SystemExit("KServe's model server did not start: " + open(os.path.join(work, "kserve.log")).read()[-3000:])
        with urllib.request.urlopen(f"http://127.0.0.1:{kport}/v2/models/digits") as r:
            kserve_meta = json.loads(r.read())

        run("init", work, "--name", "upstream-kserve")
        made = json.loads(run("keys", "api", "new", "--name", "ci", "--json").stdout)
        key = made["key"]
        spec_in = '[{ name = "X", datatype = "FP32", shape = [-1, 64] }]'
        with open(os.path.join(work, "aigis.toml"), "a") as f:
            f.write(
                "\n[serve]\nplain = true\ntimeout_ms = 5000\n"
                f'\n[[serve.api_keys]]\nname = "ci"\nsha256 = "{made["sha256"]}"\n'
                '\n[[serve.models]]\nname = "digits"\nverify = false\n'
                f'[serve.models.upstream]\nurl = "http://127.0.0.1:{kport}/v2/models/digits"\n'
                '\n[[serve.models]]\nname = "digits-proba"\nverify = false\n'
                f'[serve.models.upstream]\nurl = "http://127.0.0.1:{kport}/v1/models/digits-proba"\nprotocol = "v1"\n'
                f'inputs = {spec_in}\noutputs = [{{ name = "output_probability", datatype = "FP32", shape = [-1, 10] }}]\n'
                '\n[[serve.models]]\nname = "digits-label"\nverify = false\n'
                f'[serve.models.upstream]\nurl = "http://127.0.0.1:{kport}/v1/models/digits-label"\nprotocol = "v1"\n'
                f'inputs = {spec_in}\noutputs = [{{ name = "output_label", datatype = "INT64", shape = [-1] }}]\n'
            )
        server, started = start_serve(aigis, work, env)
        host = started["listening"].removeprefix("http://")

        def auth():
            return {"Authorization": f"Bearer {key}"}

        client = httpclient.InferenceServerClient(url=host)
        meta = client.get_model_metadata("digits", headers=auth())
        check(
            meta["inputs"] == kserve_meta["inputs"] and meta["outputs"] == kserve_meta["outputs"],
            f"the v2 model's metadata through aigis is KServe's ({meta['inputs']}, {[o['name'] for o in meta['outputs']]})",
        )

        digits = datasets.load_digits()
        _, X, _, _ = train_test_split((digits.data / 16.0).astype(np.float32), digits.target, test_size=0.2, random_state=1)
        sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
        want_label, want_proba = digits_reference(sess, X)
        calls = 0

        def infer(model, x, outputs):
            nonlocal calls
            inp = httpclient.InferInput("X", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=False)
            requested = [httpclient.InferRequestedOutput(o, binary_data=False) for o in outputs]
            calls += 1
            result = client.infer(model, [inp], outputs=requested, headers=auth())
            return [result.as_numpy(o) for o in outputs]

        cases = [
            ("digits", "v2", ["output_label", "output_probability"]),
            ("digits-proba", "v1, probabilities", ["output_probability"]),
            ("digits-label", "v1, labels", ["output_label"]),
        ]
        for model, kind, outputs in cases:
            got = {o: [] for o in outputs}
            # One batch of 360, then 20 rows one at a time.
            for part in [X] + [X[i : i + 1] for i in range(20)]:
                for o, value in zip(outputs, infer(model, part, outputs)):
                    got[o].append(np.asarray(value))
            for o in outputs:
                value = np.concatenate(got[o])
                want = np.concatenate([want_label, want_label[:20]]) if o == "output_label" else np.concatenate([want_proba, want_proba[:20]])
                if o == "output_label":
                    same = value.shape == want.shape and bool(np.all(value.astype(np.int64) == want))
                    check(same, f"{kind} ({model}): {len(want)} labels through aigis equal onnxruntime's")
                else:
                    diff = float(np.max(np.abs(value.astype(np.float64) - want))) if value.shape == want.shape else float("inf")
                    check(diff <= 1e-6, f"{kind} ({model}): {len(want)} rows of probabilities within 1e-6 of onnxruntime's (max {diff:.2e})")

        # KServe gone: refused at once, with the code.
        kserve.terminate()
        kserve.wait(timeout=30)
        body = json.dumps({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": X[0].tolist()}]}).encode()
        req = urllib.request.Request(f"http://{host}/v2/models/digits/infer", data=body, method="POST")
        req.add_header("Authorization", f"Bearer {key}")
        req.add_header("Content-Type", "application/json")
        t0 = time.time()
        try:
            urllib.request.urlopen(req, timeout=30)
            status, code = 200, None
        except urllib.error.HTTPError as e:
            status, code = e.code, json.loads(e.read() or b"null").get("code")
        took = time.time() - t0
        calls += 1
        check(status == 503 and code == "upstream_unavailable" and took < 5, f"KServe stopped: {status} `{code}` in {took:.2f} s")

        server.terminate()
        server.wait(timeout=30)
        listed = run("--json", "evidence", "list", "--predicate-type", "https://aigis.dev/predicate/gateway-call/v1").stdout
        entries = [json.loads(line) for line in listed.splitlines() if line.strip()]
        check(len(entries) >= calls, f"a gateway-call record for each of the {calls} calls ({len(entries)} records)")
        verify = subprocess.run([aigis, "ledger", "verify"], cwd=work, env=env, capture_output=True, text=True)
        check(verify.returncode == 0, "aigis ledger verify passes")
    finally:
        for p in (server, kserve):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    if failures:
        print(f"\n{len(failures)} check(s) failed; the project is kept in {work}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
