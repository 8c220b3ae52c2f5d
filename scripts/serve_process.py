"""What the scripts that drive `aigis serve` share (serve_e2e.py, upstream_kserve.py,
feedback_vs_sklearn.py, serve_drift_vs_scipy.py, bench/serve_bench.py): starting it, a
JSON call to it, the digits model and onnxruntime's answers on it, and the list of failed
checks. The standard library only, but for `digits_reference`."""

import json
import os
import subprocess
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The digits MLP (scikit-learn, skl2onnx; made by scripts/make_runtime_models.py).
MODEL = os.path.join(ROOT, "tests", "data", "runtime", "digits_mlp.onnx")

failures = []


def check(ok, what):
    """Prints the check; a failed one is kept in `failures`."""
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def digits_reference(sess, x):
    """onnxruntime's labels and probabilities for rows `x` (its ZipMap's maps as rows,
    by class), from a session on MODEL."""
    import numpy as np

    label, proba = sess.run(None, {"X": x})
    return np.asarray(label, dtype=np.int64), np.array([[m[c] for c in sorted(m)] for m in proba], dtype=np.float32)


def start_serve(aigis, cwd, env, log=None):
    """`aigis --json serve --listen 127.0.0.1:0` in `cwd`.

    Returns the process (its stdout a pipe: `--json serve` prints reload events there)
    and the start document (`listening`, and `metrics` and `admin` when configured).
    stderr goes to the file `log` when given, else to a pipe. If the server stops or
    prints an error instead, it is killed and RuntimeError says why.
    """
    stderr = open(log, "w") if log else subprocess.PIPE
    proc = subprocess.Popen([aigis, "--json", "serve", "--listen", "127.0.0.1:0"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)

    def fail(what):
        proc.kill()
        proc.wait()
        said = open(log).read()[-3000:] if log else proc.stderr.read()
        raise RuntimeError(f"aigis serve {what}: {said}")

    # The document may span several lines.
    text = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            fail("stopped")
        text += line
        try:
            started = json.loads(text)
            break
        except json.JSONDecodeError:
            continue
    if "listening" not in started:
        fail(f"did not start ({json.dumps(started)})")
    return proc, started


def http(url, key, body=None):
    """The status and JSON answer of a GET (no body) or a POST."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
