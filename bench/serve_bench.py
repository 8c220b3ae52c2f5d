#!/usr/bin/env python3
"""The inference gateway under load: `aigis serve` with every guard on, beside a bare axum
handler on the same runtime (the limit) and FastAPI + uvicorn + onnxruntime behind nginx
(what users deploy today), all three up at once and measured in one run, with `wrk` on
loopback.

The model is the digits MLP (tests/data/runtime/digits_mlp.onnx, scikit-learn, skl2onnx).
Every request is the same `POST /v2/models/digits/infer`: one row of scikit-learn's
digits (scaled to [0, 1] as the model was trained, the first row of serve_e2e.py's held-out
split), as Open Inference Protocol v2 JSON. The servers:

- `bare`: bench/bare-axum, axum parsing the body with serde_json and running the model with
  `aigis_runtime::OnnxRuntime` in `spawn_blocking`, as the gateway does; plain HTTP, no guard.
- `aigis-jwt`: `aigis serve` (release build) in a throwaway project: the model signed with
  `aigis model sign` and verified at load, TLS (rustls; certificates made with
  `cryptography`), a JWT issuer (RS256, a JWKS file, the token made by PyJWT) and an API key,
  Cedar authorization (`[serve.authz]`: a permit and a forbid on the batch size), rate
  limits set far above the load (`rate = "1000000/s"`, `burst = 100000`), the input checked
  against the model's signature, Prometheus metrics, and the audit: every call a signed
  `gateway-call` record in the project's ledger before its answer leaves. wrk sends the JWT.
- `aigis-key`: the same server, the same run, with the API key instead of the JWT.
- `aigis-buffered` (only when named in `--servers`): another `aigis serve` configured as
  `aigis-jwt` but with `[serve.audit] mode = "buffered"` (answers do not wait for their
  ledger record), with the JWT. Under sustained load beyond what its ledger writer drains,
  its queue fills and it refuses calls (503 `audit_unavailable`), which count as failures.
- `python`: FastAPI (pydantic request model, `async def` handler) on uvicorn (uvloop,
  httptools, 2 workers: one per core), onnxruntime with one thread per worker, behind nginx
  (TLS with the same certificate, keep-alive to the upstream, access log off).

Before anything is timed, every server answers one request, and its label must equal
onnxruntime's on the same row. Then wrk (one thread, so the load generator takes at most
one of the machine's cores) sweeps the connection counts (`--connections`, 1 to 64 by
default), `--duration` seconds each, interleaving the servers at each count so that
whatever else the machine does falls on all of them alike. Latencies are wrk's (from its
Lua `done` hook), in µs. Reported:

- overhead at concurrency 1: p50 and p99 minus the bare server's;
- requests per second at a p99 bound of 1 ms and of 5 ms: the highest rate of the sweep
  whose p99 stays within the bound (wrk is closed-loop: more connections, more load);
- saturation: the highest rate of the sweep;
- resident memory (VmRSS from /proc, summed over the server's processes: for `python`,
  nginx and uvicorn with their workers): idle after start, the peak under load, at the end
  of a `--rss-minutes` soak per server at `--rss-connections`, and idle after the load;
- for aigis: its own `X-Aigis-Overhead-Us` over 200 sequential calls, the mean time of each
  guard at one connection and at its saturation point (from its Prometheus metrics,
  scraped before and after each point), the ledger's entries after the run (at least one
  per answered request wrk counted), and `aigis ledger verify`.

Against the issue's goals: aigis's saturation ≥ 70% of bare's, ≤ 250 µs added p99 at
concurrency 1, ≥ 10× python's saturation.

    apt-get install -y wrk nginx-light
    pip install fastapi "uvicorn[standard]" onnxruntime scikit-learn numpy pyjwt cryptography
    cargo build --release -p aigis
    cargo build --release --manifest-path bench/bare-axum/Cargo.toml   # or let the script do it
    python3 bench/serve_bench.py                       # 10 s per point, 10 min RSS soak each
    python3 bench/serve_bench.py --duration 10 --rss-minutes 1
    python3 bench/serve_bench.py --smoke               # seconds per point: checks it all works

Needs about 2 minutes plus 7 × `--duration` × the servers' count plus `--rss-minutes` per
soaked server (`--rss-servers`, default all but aigis-key, which shares aigis-jwt's process). The
ledger takes about 2 KB per call, in the system's temporary folder: about 1.7 GB for
`--duration 10 --rss-minutes 1`, several GB with the defaults; it is removed at the end
(kept with the logs when something failed).

Prints a markdown table and writes the results as JSON (`--out`, target/serve_bench.json by
default). Exits 1 if a server does not start, answers wrongly, or wrk counts any failed
request (socket error, timeout or non-2xx answer); 2 if a tool is missing.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "tests", "data", "runtime", "digits_mlp.onnx")
BARE_DIR = os.path.join(ROOT, "bench", "bare-axum")
# scripts/test_pki.py: imported where used, after main() has said which modules are missing.
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from serve_process import start_serve  # noqa: E402  (the standard library only)
ROUTE = "/v2/models/digits/infer"

GOALS = {"saturation_vs_bare": 0.70, "added_p99_us": 250, "vs_python": 10.0}

failures: list[str] = []


def fail(what: str) -> None:
    print(f"FAIL  {what}", file=sys.stderr)
    failures.append(what)


def log(what: str) -> None:
    print(what, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Certificates (scripts/test_pki.py, shared with scripts/serve_e2e.py).


def make_server_cert(ca):
    """The servers' certificate: for 127.0.0.1 and localhost."""
    from cryptography import x509
    from test_pki import make_leaf

    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    return make_leaf(ca, "gateway", sans, False)


def write(path: str, data, mode: str = "w") -> str:
    with open(path, mode) as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------------------------
# Processes and memory.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def rss_kib(roots: list[int]) -> int:
    """VmRSS summed over the processes under `roots`, in KiB."""
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def processes(roots: list[int]) -> list[dict]:
    """Each process counted in `rss_kib`: pid, name, VmRSS in KiB."""
    out = []
    for root in roots:
        for pid in process_tree(root):
            try:
                fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
                out.append({"pid": pid, "name": fields["Name"].strip(), "rss_kib": int(fields.get("VmRSS", "0 kB").split()[0])})
            except OSError:
                pass
    return out


def wait_answering(url: str, body: bytes, headers: dict, context, deadline_s: float, proc) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            if post(url, body, headers, context)[0] == 200:
                return
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {deadline_s:.0f} s")


def post(url: str, body: bytes, headers: dict, context):
    """(status, headers, the body as JSON, or as text when it is not JSON)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            status, got, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, got, raw = e.code, dict(e.headers), e.read()
    try:
        return status, got, json.loads(raw)
    except ValueError:
        return status, got, raw.decode(errors="replace")


class Server:
    def __init__(self, name: str, what: str, url: str, roots, headers: dict, context, procs):
        self.name = name
        self.what = what
        self.url = url
        self.roots = roots  # a callable: the pids whose process trees are the server
        self.headers = headers
        self.context = context
        self.procs = procs  # what to stop, in order
        self.rss: dict[str, int] = {}
        self.peak = 0
        self.metrics: str | None = None  # aigis's Prometheus endpoint

    def memory(self) -> int:
        return rss_kib(self.roots())


def stop(procs, timeout: float = 15) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------------------------------------
# The three servers.


def start_bare(binary: str, work: str) -> Server:
    proc = subprocess.Popen([binary, MODEL, "127.0.0.1:0", "digits"], stdout=subprocess.PIPE,
                            stderr=open(os.path.join(work, "bare.log"), "w"), text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        stop([proc])
        raise RuntimeError(f"bare-axum did not start: {line!r}; see {work}/bare.log")
    url = line.split()[1] + ROUTE
    return Server("bare", "axum + aigis_runtime, plain HTTP, no guards", url, lambda: [proc.pid], {}, None, [proc])


def start_aigis(binary: str, work: str, tls_files: dict, buffered: bool = False) -> tuple[Server, Server, dict]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from test_pki import pem_key

    tag = "aigis-buffered" if buffered else "aigis"
    project = os.path.join(work, tag)
    os.makedirs(project)
    env = dict(os.environ, AIGIS_PROJECT=project)

    def run(*a):
        return subprocess.run([binary, *a], cwd=project, env=env, check=True, capture_output=True, text=True)

    run("init", project, "--name", "serve-bench")
    os.makedirs(os.path.join(project, "models"))
    shutil.copy(MODEL, os.path.join(project, "models", "digits.onnx"))
    run("model", "sign", "models/digits.onnx")
    made = json.loads(run("keys", "api", "new", "--name", "bench-key", "--json").stdout)

    issuer = "https://issuer.bench.test"
    jwt_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(jwt_key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    write(os.path.join(project, "jwks.json"), json.dumps({"keys": [jwk]}))
    now = int(time.time())
    claims = {"iss": issuer, "aud": "aigis", "sub": "bench-jwt", "iat": now, "exp": now + 2 * 86400}
    token = jwt.encode(claims, pem_key(jwt_key), algorithm="RS256", headers={"kid": "k1"})

    shutil.copy(tls_files["chain"], os.path.join(project, "gw.pem"))
    shutil.copy(tls_files["key"], os.path.join(project, "gw.key"))
    write(os.path.join(project, "policies.cedar"),
          'permit (principal, action == Aigis::Action::"infer", resource == Aigis::Model::"digits");\n'
          'permit (principal, action == Aigis::Action::"metadata", resource);\n'
          'forbid (principal, action == Aigis::Action::"infer", resource) when { context.rows > 1000 };\n')
    with open(os.path.join(project, "aigis.toml"), "a") as f:
        f.write(
            '\n[serve]\ntls = { cert = "gw.pem", key = "gw.key" }\n'
            '\n[[serve.models]]\nname = "digits"\npath = "models/digits.onnx"\n'
            f'\n[[serve.api_keys]]\nname = "bench-key"\nsha256 = "{made["sha256"]}"\n'
            f'\n[serve.auth.jwt]\nissuer = "{issuer}"\njwks = "jwks.json"\naudience = "aigis"\nalgorithms = ["RS256"]\n'
            '\n[serve.authz]\npolicies = "policies.cedar"\n'
            '\n[serve.limits]\nrate = "1000000/s"\nburst = 100000\n'
            '\n[serve.metrics]\nlisten = "127.0.0.1:0"\n'
            + ('\n[serve.audit]\nmode = "buffered"\n' if buffered else "")
        )
    proc, started = start_serve(binary, project, env, log=os.path.join(work, f"{tag}.log"))
    # Nothing more is expected on stdout, but never let a full pipe block the server.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    url = started["listening"] + ROUTE
    context = ssl.create_default_context(cafile=tls_files["ca"])
    audit = "audit (buffered: answers do not wait for the ledger)" if buffered else "audit (each answer waits for its record)"
    what = f"aigis serve: TLS, {{auth}}, Cedar, rate limits, validation, metrics, {audit}"
    roots = lambda: [proc.pid]  # noqa: E731
    jwt_server = Server("aigis-buffered" if buffered else "aigis-jwt", what.format(auth="JWT (RS256)"), url, roots,
                        {"Authorization": f"Bearer {token}"}, context, [proc])
    key_server = Server("aigis-key", what.format(auth="API key"), url, roots,
                        {"Authorization": f"Bearer {made['key']}"}, context, [])
    jwt_server.metrics = key_server.metrics = started.get("metrics")
    return jwt_server, key_server, {"project": project, "env": env, "proc": proc, "tag": tag}


PYTHON_APP = '''
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"])
app = FastAPI()


class Input(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[Input]


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: InferRequest):
    if name != "digits":
        raise HTTPException(404, "no such model")
    feeds = {i.name: np.asarray(i.data, dtype=np.float32).reshape(i.shape) for i in request.inputs}
    label, proba = session.run(None, feeds)
    proba = [[row[k] for k in sorted(row)] for row in proba]
    out = {"model_name": name, "model_version": "1", "outputs": [
        {"name": "output_label", "datatype": "INT64", "shape": list(label.shape), "data": label.tolist()},
        {"name": "output_probability", "datatype": "FP32", "shape": [len(proba), len(proba[0]) if proba else 0],
         "data": [float(p) for row in proba for p in row]},
    ]}
    if request.id is not None:
        out["id"] = request.id
    return out
'''


def start_python(work: str, tls_files: dict, workers: int) -> Server:
    app_dir = os.path.join(work, "python")
    os.makedirs(os.path.join(app_dir, "tmp"))
    write(os.path.join(app_dir, "bench_app.py"), f"MODEL = {MODEL!r}\n" + PYTHON_APP)
    app_port, nginx_port = free_port(), free_port()
    uvicorn = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_app:app", "--host", "127.0.0.1", "--port", str(app_port),
         "--workers", str(workers), "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"],
        cwd=app_dir, stdout=subprocess.DEVNULL, stderr=open(os.path.join(app_dir, "uvicorn.log"), "w"))
    t = os.path.join(app_dir, "tmp")
    conf = write(os.path.join(app_dir, "nginx.conf"), f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes auto;
daemon off;
pid {app_dir}/nginx.pid;
error_log {app_dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    keepalive_requests 1000000;
    upstream app {{
        server 127.0.0.1:{app_port};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{nginx_port} ssl;
        ssl_certificate {tls_files["chain"]};
        ssl_certificate_key {tls_files["key"]};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", app_dir], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(app_dir, "nginx.log"), "w"))
    context = ssl.create_default_context(cafile=tls_files["ca"])
    url = f"https://127.0.0.1:{nginx_port}{ROUTE}"
    return Server("python", f"FastAPI + uvicorn ({workers} workers) + onnxruntime, behind nginx (TLS)", url,
                  lambda: [uvicorn.pid, nginx.pid], {}, context, [nginx, uvicorn])


# ---------------------------------------------------------------------------------------
# wrk.

LUA = """wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %.1f, "p90": %.1f, "p99": %.1f, "p999": %.1f, "max": %.1f, "mean": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def lua_script(work: str, server: Server, body: str) -> str:
    auth = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in server.headers.items())
    return write(os.path.join(work, f"{server.name}.lua"), LUA.format(body=body, auth=auth))


def run_wrk(server: Server, script: str, connections: int, seconds: float, threads: int, sample_every: float = 0.5,
            series: list | None = None) -> dict:
    cmd = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
           "--timeout", "5s", "-s", script, server.url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    peak = 0
    while proc.poll() is None:
        rss = server.memory()
        peak = max(peak, rss)
        if series is not None:
            series.append((round(time.monotonic() - start, 1), rss))
        try:
            proc.wait(timeout=sample_every)
        except subprocess.TimeoutExpired:
            pass
    out, err = proc.communicate()
    server.peak = max(server.peak, peak)
    found = re.search(r"^WRKJSON (.*)$", out, re.M)
    if proc.returncode != 0 or not found:
        fail(f"wrk against {server.name} at {connections} connections: exit {proc.returncode}: {err.strip() or out[-500:]}")
        return {"connections": connections, "requests": 0, "rps": 0.0, "errors": -1, "rss_peak_kib": peak}
    r = json.loads(found.group(1))
    r["connections"] = connections
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    r["rss_peak_kib"] = peak
    if r["errors"]:
        fail(f"{server.name} at {connections} connections: {r['errors']} failed requests "
             f"(connect {r['connect']}, read {r['read']}, write {r['write']}, non-2xx {r['status']}, timeout {r['timeout']})")
    if r["requests"] == 0:
        fail(f"{server.name} at {connections} connections: no request completed")
    return r


# ---------------------------------------------------------------------------------------


def the_row():
    import numpy as np
    import onnxruntime as ort
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    digits = datasets.load_digits()
    _, X, _, _ = train_test_split((digits.data / 16.0).astype(np.float32), digits.target, test_size=0.2, random_state=1)
    row = X[:1]
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"X": row})
    proba = [proba[0][k] for k in sorted(proba[0])]
    body = json.dumps({"inputs": [{"name": "X", "shape": [1, 64], "datatype": "FP32", "data": [float(v) for v in row[0]]}]},
                      separators=(",", ":"))
    return body, int(label[0]), proba


def check_answer(server: Server, body: str, want_label: int, want_proba) -> dict:
    status, _, answer = post(server.url, body.encode(), server.headers, server.context)
    outputs = {o["name"]: o for o in (answer or {}).get("outputs", [])} if isinstance(answer, dict) else {}
    label = outputs.get("output_label", {}).get("data", [None])[0]
    proba = outputs.get("output_probability", {}).get("data", [])
    diff = max((abs(a - b) for a, b in zip(proba, want_proba)), default=None) if len(proba) == len(want_proba) else None
    ok = status == 200 and label == want_label
    (log if ok else fail)(f"{'ok    ' if ok else ''}{server.name}: status {status}, label {label} "
                          f"(onnxruntime: {want_label}), max |probability difference| {diff}")
    return {"status": status, "label": label, "want": want_label, "max_proba_diff": diff, "ok": ok}


def gateway_overhead(server: Server, body: str, n: int = 200) -> dict:
    """aigis's own X-Aigis-Overhead-Us (time in aigis, the model call excluded), n calls on one connection."""
    host, port = server.url.split("://")[1].split("/")[0].split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=server.context, timeout=10)
    seen = []
    for _ in range(n):
        conn.request("POST", ROUTE, body=body, headers={"Content-Type": "application/json", **server.headers})
        r = conn.getresponse()
        r.read()
        v = r.getheader("X-Aigis-Overhead-Us")
        if r.status != 200 or v is None:
            fail(f"{server.name}: overhead probe got {r.status}, header {v!r}")
            break
        seen.append(int(v))
    conn.close()
    seen.sort()
    if not seen:
        return {}
    return {"calls": len(seen), "p50_us": seen[len(seen) // 2], "p99_us": seen[min(len(seen) - 1, int(len(seen) * 0.99))]}


def scrape(url: str) -> dict:
    """aigis's per-stage and overhead histograms: {(metric, stage): value} of their _sum and _count."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^aigis_gateway_(stage_duration_seconds|overhead_seconds)_(sum|count)(?:\{stage="([^"]+)"\})? (\S+)$',
                         text, re.M):
        out[(m.group(1) + "_" + m.group(2), m.group(3) or "-")] = float(m.group(4))
    return out


def stage_means(before: dict, after: dict) -> dict:
    """Mean µs per call of each stage between two scrapes."""
    means = {}
    for (metric, stage), total in after.items():
        if not metric.endswith("_sum"):
            continue
        count_key = (metric.replace("_sum", "_count"), stage)
        n = after.get(count_key, 0) - before.get(count_key, 0)
        if n > 0:
            name = "overhead (all but the model call)" if metric.startswith("overhead") else stage
            means[name] = {"mean_us": round((total - before.get((metric, stage), 0.0)) / n * 1e6, 1), "calls": int(n)}
    return means


def summarize(servers: list[Server], sweep: dict) -> dict:
    out = {}
    for s in servers:
        points = sweep[s.name]
        good = [p for p in points if p.get("errors") == 0 and p.get("requests")]
        one = next((p for p in points if p["connections"] == 1), None)
        best = lambda bound: max((p["rps"] for p in good if p["p99"] <= bound), default=0.0)  # noqa: E731
        out[s.name] = {
            "c1_p50_us": one and one.get("p50"),
            "c1_p99_us": one and one.get("p99"),
            "rps_p99_1ms": best(1000),
            "rps_p99_5ms": best(5000),
            "saturation_rps": max((p["rps"] for p in good), default=0.0),
            "saturation_at": max(good, key=lambda p: p["rps"])["connections"] if good else None,
        }
    return out


def kib(n) -> str:
    return f"{n / 1024:.1f} MiB" if n else "—"


def table(servers: list[Server], summary: dict, sweep: dict, goals: dict, extras: dict) -> str:
    bare = summary.get("bare", {})
    lines = [
        "| server | c=1 p50 | c=1 p99 | added p50 / p99 vs bare | RPS @ p99 ≤ 1 ms | RPS @ p99 ≤ 5 ms | saturation RPS (conns) | RSS idle → peak → soak end → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in servers:
        m = summary[s.name]
        added = "—"
        if s.name != "bare" and bare.get("c1_p50_us") is not None and m["c1_p50_us"] is not None:
            added = f"+{m['c1_p50_us'] - bare['c1_p50_us']:.0f} / +{m['c1_p99_us'] - bare['c1_p99_us']:.0f} µs"
        rss = s.rss
        lines.append(
            f"| {s.name} | {m['c1_p50_us'] or 0:.0f} µs | {m['c1_p99_us'] or 0:.0f} µs | {added} | {m['rps_p99_1ms']:,.0f} | "
            f"{m['rps_p99_5ms']:,.0f} | {m['saturation_rps']:,.0f} ({m['saturation_at']}) | "
            f"{kib(rss.get('idle'))} → {kib(rss.get('peak'))} → {kib(rss.get('soak_end'))} → {kib(rss.get('after'))} |"
        )
    conns = sorted({p["connections"] for pts in sweep.values() for p in pts})
    lines += ["", "Sweep (RPS / p99 µs), wrk closed-loop, per connection count:", "",
              "| server | " + " | ".join(f"c={c}" for c in conns) + " |", "|---|" + "---|" * len(conns)]
    for s in servers:
        by = {p["connections"]: p for p in sweep[s.name]}
        lines.append(f"| {s.name} | " + " | ".join(
            f"{by[c]['rps']:,.0f} / {by[c].get('p99', 0):,.0f}" if c in by else "—" for c in conns) + " |")
    if goals:
        lines += ["", "Goals (the issue's (b) is aigis-jwt; the other aigis rows beside it):", ""]
        for g in goals.values():
            lines.append(f"- {g['goal']}: {g['measured']} — {'met' if g['met'] else 'NOT met'}")
    for k, v in extras.items():
        lines.append(f"- {k}: {v}")
    return "\n".join(lines)


def evaluate_goals(summary: dict) -> dict:
    goals = {}
    bare, py = summary.get("bare"), summary.get("python")
    for name in ("aigis-jwt", "aigis-key", "aigis-buffered"):
        a = summary.get(name)
        if not a or not bare:
            continue
        ratio = a["saturation_rps"] / bare["saturation_rps"] if bare["saturation_rps"] else 0.0
        goals[f"{name}_saturation"] = {
            "goal": f"{name} saturation ≥ {GOALS['saturation_vs_bare']:.0%} of bare's",
            "measured": f"{ratio:.0%} ({a['saturation_rps']:,.0f} vs {bare['saturation_rps']:,.0f} RPS)",
            "value": ratio, "met": ratio >= GOALS["saturation_vs_bare"]}
        if a["c1_p99_us"] is not None and bare["c1_p99_us"] is not None:
            added = a["c1_p99_us"] - bare["c1_p99_us"]
            goals[f"{name}_added_p99"] = {
                "goal": f"{name} adds ≤ {GOALS['added_p99_us']} µs p99 at concurrency 1",
                "measured": f"+{added:.0f} µs", "value": added, "met": added <= GOALS["added_p99_us"]}
        if py and py["saturation_rps"]:
            x = a["saturation_rps"] / py["saturation_rps"]
            goals[f"{name}_vs_python"] = {
                "goal": f"{name} saturation ≥ {GOALS['vs_python']:.0f}× python's",
                "measured": f"{x:.1f}× ({a['saturation_rps']:,.0f} vs {py['saturation_rps']:,.0f} RPS)",
                "value": x, "met": x >= GOALS["vs_python"]}
    return goals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aigis", default=os.path.join(ROOT, "target", "release", "aigis"), help="the aigis binary")
    ap.add_argument("--bare", default=os.path.join(BARE_DIR, "target", "release", "bare-axum"),
                    help="the bare-axum binary (built with cargo if missing)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per sweep point (default 10)")
    ap.add_argument("--rss-minutes", type=float, default=10.0, help="minutes of load per server for the RSS soak (default 10; 0 skips it)")
    ap.add_argument("--rss-connections", type=int, default=16, help="connections during the RSS soak (default 16)")
    ap.add_argument("--rss-servers", default="all",
                    help="the servers soaked, comma-separated (default all; each soak writes its ledger: "
                         "aigis-jwt at 16 connections for 10 min is about 10 GB)")
    ap.add_argument("--connections", default="1,2,4,8,16,32,64", help="the sweep's connection counts")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: the load generator on one core)")
    ap.add_argument("--python-workers", type=int, default=os.cpu_count() or 2, help="uvicorn workers (default: one per core)")
    ap.add_argument("--servers", default="bare,aigis-jwt,aigis-key,python",
                    help="which servers to measure (also: aigis-buffered)")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "serve_bench.json"), help="the JSON results")
    ap.add_argument("--smoke", action="store_true", help="2 s per point at 1 and 8 connections, no soak: checks that everything works")
    args = ap.parse_args()
    if args.smoke:
        args.duration, args.rss_minutes, args.connections = 2.0, 0.0, "1,8"
    conns = [int(c) for c in args.connections.split(",")]
    wanted = args.servers.split(",")

    tools = ["wrk"] + (["nginx"] if "python" in wanted else [])
    missing = [t for t in tools if not shutil.which(t)]
    for mod in ("numpy", "onnxruntime", "sklearn", "jwt", "cryptography", "fastapi", "uvicorn"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"python module {mod}")
    if not os.path.exists(args.aigis) and any(n.startswith("aigis") for n in wanted):
        missing.append(f"{args.aigis} (cargo build --release -p aigis)")
    if missing:
        log("missing: " + ", ".join(missing) + "\n(see this script's docstring for how to install them)")
        return 2
    if not os.path.exists(args.bare) and "bare" in wanted:
        log("building bench/bare-axum (cargo build --release)")
        subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(BARE_DIR, "Cargo.toml")], check=True)

    body, want_label, want_proba = the_row()
    work = tempfile.mkdtemp(prefix="aigis-serve-bench-")
    os.chmod(work, 0o755)
    started: list[Server] = []
    aigis_infos: list[dict] = []
    result = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "load_before": os.getloadavg()},
              "args": vars(args), "request_bytes": len(body)}
    try:
        # TLS for aigis and nginx: one CA, one server certificate for 127.0.0.1.
        from test_pki import make_ca, pem_cert, pem_key

        ca = make_ca("aigis serve-bench CA")
        cert, key = make_server_cert(ca)
        tls_files = {"ca": write(os.path.join(work, "ca.pem"), pem_cert(ca[0]), "wb"),
                     "chain": write(os.path.join(work, "gw.pem"), pem_cert(cert) + pem_cert(ca[0]), "wb"),
                     "key": write(os.path.join(work, "gw.key"), pem_key(key), "wb")}

        servers: list[Server] = []
        try:
            if "bare" in wanted:
                servers.append(start_bare(args.bare, work))
            if "aigis-jwt" in wanted or "aigis-key" in wanted:
                jwt_s, key_s, info = start_aigis(args.aigis, work, tls_files)
                aigis_infos.append(info)
                servers += [s for s in (jwt_s, key_s) if s.name in wanted]
            if "aigis-buffered" in wanted:
                buf_s, _, info = start_aigis(args.aigis, work, tls_files, buffered=True)
                aigis_infos.append(info)
                servers.append(buf_s)
            if "python" in wanted:
                servers.append(start_python(work, tls_files, args.python_workers))
        except Exception as e:  # a server that does not start is a failure, whichever
            fail(f"a server did not start: {e}")
            for s in servers:
                stop(s.procs)
            stop([i["proc"] for i in aigis_infos])
            return 1
        started = servers
        for s in servers:
            try:
                wait_answering(s.url, body.encode(), s.headers, s.context, 60, s.procs[0] if s.procs else None)
            except RuntimeError as e:
                fail(f"{s.name} did not start answering: {e}")
        if failures:
            return 1

        # Correct answers before anything is timed.
        result["checks"] = {s.name: check_answer(s, body, want_label, want_proba) for s in servers}
        if failures:
            return 1
        result["processes_idle"] = {}
        for s in servers:
            s.rss["idle"] = s.memory()
            result["processes_idle"][s.name] = processes(s.roots())
        result["gateway_overhead_header"] = {s.name: gateway_overhead(s, body) for s in servers if s.name.startswith("aigis")}

        scripts = {s.name: lua_script(work, s, body) for s in servers}
        log(f"warm-up: {min(2.0, args.duration):.0f} s per server at 8 connections")
        for s in servers:
            run_wrk(s, scripts[s.name], 8, min(2.0, args.duration), args.wrk_threads)
        sweep: dict[str, list] = {s.name: [] for s in servers}
        stages: dict[str, dict] = {}  # aigis's mean time per stage, per server and connection count
        for c in conns:
            for s in servers:
                before = scrape(s.metrics) if s.metrics else None
                r = run_wrk(s, scripts[s.name], c, args.duration, args.wrk_threads)
                if before is not None:
                    stages.setdefault(s.name, {})[c] = r["stages"] = stage_means(before, scrape(s.metrics))
                sweep[s.name].append(r)
                log(f"{s.name:10s} c={c:3d}: {r['rps']:9,.0f} RPS  p50 {r.get('p50', 0):7,.0f} µs  p99 {r.get('p99', 0):7,.0f} µs"
                    f"  errors {r['errors']}  RSS peak {kib(r['rss_peak_kib'])}")

        soak = {}
        by_name = {s.name: s for s in servers}
        if args.rss_minutes > 0:
            soaked = None if args.rss_servers == "all" else set(args.rss_servers.split(","))
            for s in servers:
                if s.name == "aigis-key" and "aigis-jwt" in by_name:  # the same process
                    continue
                if soaked is not None and s.name not in soaked:
                    continue
                log(f"RSS soak: {s.name}, {args.rss_minutes:g} min at {args.rss_connections} connections")
                series: list = []
                r = run_wrk(s, scripts[s.name], args.rss_connections, args.rss_minutes * 60, args.wrk_threads,
                            sample_every=2.0, series=series)
                s.rss["soak_end"] = series[-1][1] if series else 0
                soak[s.name] = {"wrk": r, "rss_kib": series}
                log(f"  {r['rps']:,.0f} RPS, p99 {r.get('p99', 0):,.0f} µs; RSS {kib(series[0][1] if series else 0)} → "
                    f"{kib(max((v for _, v in series), default=0))} max → {kib(s.rss['soak_end'])} at the end")
        time.sleep(1 if args.smoke else 10)
        for s in servers:
            s.rss["peak"] = s.peak
            s.rss["after"] = s.memory()
        if "aigis-key" in by_name and "soak_end" in by_name.get("aigis-jwt", by_name["aigis-key"]).rss:
            by_name["aigis-key"].rss["soak_end"] = by_name["aigis-jwt"].rss["soak_end"]

        summary = summarize(servers, sweep)
        goals = evaluate_goals(summary)
        extras = {}
        order = ["authenticate", "parse", "authorize", "model", "rate_limit", "validate", "inspect", "model_call", "audit"]
        for name, by_c in stages.items():
            for c in sorted({min(by_c), summary[name]["saturation_at"] or min(by_c)}):
                means = by_c.get(c, {})
                keys = sorted(means, key=lambda k: order.index(k) if k in order else len(order))
                extras[f"{name}, mean time per stage at {c} connection(s) (aigis's metrics)"] = ", ".join(
                    f"{k} {means[k]['mean_us']:,.0f} µs" for k in keys)
        if result.get("gateway_overhead_header"):
            extras["aigis's own X-Aigis-Overhead-Us, 200 sequential calls (p50 / p99)"] = ", ".join(
                f"{n}: {v.get('p50_us')} / {v.get('p99_us')} µs" for n, v in result["gateway_overhead_header"].items())

        # The audit: every request wrk counted is a gateway-call record in the ledger.
        # A stop (SIGTERM) writes what a buffered audit still holds before exiting, one
        # record at a time: give it a minute.
        result["audit"] = {}
        for info in aigis_infos:
            stop([info["proc"]], timeout=60)
            code = info["proc"].returncode
            if code != 0:
                fail(f"{info['tag']}: aigis serve exited {code} on SIGTERM")
            status = subprocess.run([args.aigis, "--json", "ledger", "status"], cwd=info["project"],
                                    env=info["env"], capture_output=True, text=True)
            entries = json.loads(status.stdout)["size"] if status.returncode == 0 else None
            names = ("aigis-buffered",) if info["tag"] == "aigis-buffered" else ("aigis-jwt", "aigis-key")
            # Answered calls (wrk counts non-2xx answers among its requests; a call the audit
            # could not take is refused, and so not recorded).
            ok = lambda r: r.get("requests", 0) - max(0, r.get("status", 0))  # noqa: E731
            counted = sum(ok(p) for n in names for p in sweep.get(n, [])) + sum(
                ok(v["wrk"]) for n, v in soak.items() if n in names)
            db = os.path.join(info["project"], ".aigis", "ledger.db")
            db_bytes = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
            t0 = time.monotonic()
            verify = subprocess.run([args.aigis, "ledger", "verify"], cwd=info["project"], env=info["env"],
                                    capture_output=True, text=True)
            verify_s = time.monotonic() - t0
            if entries is None or entries < counted:
                fail(f"{info['tag']}: the ledger holds {entries} entries for {counted} answered timed requests")
            if verify.returncode != 0:
                fail(f"{info['tag']}: aigis ledger verify: exit {verify.returncode}: {verify.stderr[-500:]}")
            result["audit"][info["tag"]] = {"ledger_entries": entries, "timed_requests": counted, "ledger_bytes": db_bytes,
                                            "verify_exit": verify.returncode, "verify_s": round(verify_s, 2)}
            extras[f"audit, {info['tag']}"] = (
                f"{entries:,} ledger entries for {counted:,} answered timed requests (warm-ups and checks besides), "
                f"{db_bytes / 1e6:,.0f} MB; `aigis ledger verify` exit {verify.returncode} in {verify_s:.1f} s")

        result.update({
            "servers": {s.name: s.what for s in servers},
            "sweep": sweep, "summary": summary, "stages": stages, "goals": goals, "soak": soak,
            "rss_kib": {s.name: s.rss for s in servers},
            "load_after": os.getloadavg(), "failures": failures,
            "tools": {"wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].strip(),
                      "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()},
        })
        md = table(servers, summary, sweep, goals, extras)
        result["markdown"] = md
        print(md)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write(args.out, json.dumps(result, indent=1, default=str))
        log(f"\nresults: {args.out}")
    finally:
        for s in started:
            stop(s.procs)
        stop([i["proc"] for i in aigis_infos])
        if failures:
            log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        log(f"\n{len(failures)} failure(s)")
        return 1
    if args.smoke:
        log("smoke: every server answered correctly and wrk counted no failed request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
