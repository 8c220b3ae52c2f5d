#!/usr/bin/env python3
"""Drift while serving against scipy's Kolmogorov–Smirnov test, end to end.

`aigis serve` (plain HTTP on loopback, a throwaway project) serves the breast-cancer
gradient-boosting model of tests/data/runtime with `[serve.models.profile]` (the training
split's profile, made by `aigis data profile`) and `[serve.models.drift]`. The rest of
scikit-learn's breast_cancer rows are sent through it, in calls of 1 to 8 rows, twice
(each in a window of its own): as they are, and with two of every three features scaled
by `--scale`. Then, for every feature of each window (`GET /v2/models/cancer/drift`):

- the gateway computes KS between two quantile sketches (the profile's, which
  summarizes a training split larger than it holds, and the window's) and states the
  statistic's error: scipy's `ks_2samp` statistic on the raw rows must lie within it;
- the p-values at both ends of that error must hold scipy's asymptotic p-value
  (`ks_2samp(method="asymp")`) between them;
- a feature called `drift` must have scipy's p-value below alpha, one called `stable`
  at or above it (an `inconclusive` one may go either way: that is what it says);
- the first window is `stable` and the second `drift`.

Stopped by SIGTERM, the gateway records its open windows as signed `monitor-window`
evidence; `aigis monitor report --json` must give the same statistics back from the
ledger alone.

    pip install scikit-learn scipy numpy
    cargo build -p aigis
    python3 scripts/serve_drift_vs_scipy.py target/debug/aigis

Exits 1 on any difference, printing each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import ROOT, check, failures, http, start_serve  # noqa: E402

RUNTIME = os.path.join(ROOT, "tests", "data", "runtime")
ALPHA = 0.05


def compare(what, train, sent, window):
    """One window's features against scipy's test of the rows sent in it."""
    from scipy.stats import ks_2samp

    features = window["features"]
    check(len(features) == train.shape[1], f"{what}: {len(features)} features tested")
    check(window["rows"] == len(sent), f"{what}: {window['rows']} rows in the window (sent {len(sent)})")
    for j, f in enumerate(features):
        exact = ks_2samp(train[:, j], sent[:, j], method="asymp")
        d, p = float(exact.statistic), float(exact.pvalue)
        name = f"{what}: {f['name']}"
        if f["statistic"] is None:
            check(False, f"{name}: not tested ({f['status']})")
            continue
        err = f["error"]
        check(abs(f["statistic"] - d) <= err + 1e-9,
              f"{name}: KS {f['statistic']:.5f} ± {err:.5f} holds scipy's {d:.5f}")
        lo, hi = f["p_value_low"], f["p_value_high"]
        check(lo - 1e-12 <= p <= hi + 1e-12, f"{name}: p-values [{lo:.3g}, {hi:.3g}] hold scipy's {p:.3g}")
        if f["status"] == "drift":
            check(p < ALPHA, f"{name}: drift, scipy's p {p:.3g} < {ALPHA}")
        elif f["status"] == "stable":
            check(p >= ALPHA, f"{name}: stable, scipy's p {p:.3g} >= {ALPHA}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    ap.add_argument("--scale", type=float, default=1.3, help="the factor of the moved features (two of every three)")
    args = ap.parse_args()
    aigis = os.path.abspath(args.aigis)
    from sklearn.datasets import load_breast_cancer

    x = load_breast_cancer().data.astype(np.float32)
    rng = np.random.default_rng(20261203)
    order = rng.permutation(len(x))
    # 300 training rows: more than the profile's sketch holds (k = 200), so its error
    # is stated; the other 269 are the traffic.
    train, rest = x[order[:300]], x[order[300:]]
    moved = rest.copy()
    moved[:, np.arange(x.shape[1]) % 3 != 0] *= np.float32(args.scale)

    work = tempfile.mkdtemp(prefix="aigis-serve-drift-")
    env = dict(os.environ, AIGIS_PROJECT=work)

    def run(*a):
        return subprocess.run([aigis, *a], cwd=work, env=env, check=True, capture_output=True, text=True)

    run("init", work, "--name", "serve-drift")
    header = ",".join(f"f{j}" for j in range(x.shape[1]))
    np.savetxt(os.path.join(work, "train.csv"), train, delimiter=",", header=header, comments="", fmt="%.9g")
    run("data", "profile", "train.csv", "-o", "train.profile.json")
    made = json.loads(run("keys", "api", "new", "--name", "ci", "--json").stdout)
    with open(os.path.join(work, "aigis.toml"), "a") as f:
        f.write('\n[serve]\nplain = true\n'
                f'\n[[serve.api_keys]]\nname = "ci"\nsha256 = "{made["sha256"]}"\n'
                f'\n[[serve.models]]\nname = "cancer"\npath = "{os.path.join(RUNTIME, "cancer_gbc.onnx")}"\n'
                'verify = false\n'
                '[serve.models.profile]\nfile = "train.profile.json"\ntolerance = 10.0\naction = "flag"\n'
                # Windows of 20 s: each of the two traffics in one window of its own.
                '[serve.models.drift]\nwindow_s = 20\nwindows = 10\nmin_rows = 30\n')
    server, started = start_serve(aigis, work, env, log=os.path.join(work, "serve.log"))
    base, key = started["listening"], made["key"]
    seen = []
    try:
        for what, rows in [("as they are", rest), (f"two of three features x{args.scale}", moved)]:
            # Into a window of its own: wait for the next one to start, with time to spare.
            now = time.time()
            time.sleep(20 - now % 20 + 0.2)
            i = 0
            while i < len(rows):
                size = int(rng.integers(1, 9))
                part = rows[i:i + size]
                i += size
                status, answer = http(f"{base}/v2/models/cancer/infer", key,
                                      {"inputs": [{"name": "X", "shape": list(part.shape), "datatype": "FP32",
                                                   "data": part.ravel().tolist()}]})
                if status != 200:
                    raise RuntimeError(f"an inference answered {status}: {answer}")
            status, drift = http(f"{base}/v2/models/cancer/drift", key)
            if status != 200:
                raise RuntimeError(f"GET /drift answered {status}: {drift}")
            window = drift["windows"][-1]
            start = window["start"]
            compare(f"GET /drift, traffic {what}", train, rows, window)
            seen.append((what, rows, start, window))
    finally:
        server.terminate()
        code = server.wait(timeout=30)
    check(code == 0, f"aigis serve stopped on SIGTERM with exit code {code}")
    check([w["verdict"] for _, _, _, w in seen] == ["stable", "drift"],
          f"the verdicts: {[w['verdict'] for _, _, _, w in seen]} (stable, then drift)")

    report = json.loads(run("--json", "monitor", "report", "--from", "1h").stdout)
    models = {m["model"]: m for m in report["models"]}
    recorded = {w["start"]: w for w in models.get("cancer", {}).get("drift", [])}
    for what, rows, start, window in seen:
        w = recorded.get(start)
        check(w is not None, f"monitor report: the window of the traffic {what} ({start}) was recorded")
        if w is None:
            continue
        same = [(f["name"], f["statistic"], f["p_value_low"], f["p_value_high"]) for f in w["features"]]
        served = [(f["name"], f["statistic"], f["p_value_low"], f["p_value_high"]) for f in window["features"]]
        check(same == served and w["verdict"] == window["verdict"],
              f"monitor report: the window of the traffic {what} has the statistics the gateway served")
        check(w.get("instance") == started["instance"],
              f"monitor report: the window of the traffic {what} names the gateway that recorded it "
              f"({w.get('instance')}, started as {started['instance']})")
    check(not report["unreadable"], f"monitor report: nothing left out ({report['unreadable']})")
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
