#!/usr/bin/env python3
"""`aigis explain` against the closed form and against shap's KernelExplainer.

    python3 -m pip install shap scikit-learn skl2onnx onnxruntime
    python3 scripts/explain_vs_shap.py target/debug/aigis [--check] [--rows 5]

1. **Closed form.** A ridge regression on scikit-learn's diabetes data (10 features, so
   aigis evaluates every coalition): each Shapley value must be coef_j (x_j − mean_j), the
   mean over the background, to 1e-4 of the largest (the ONNX model computes in float32).
2. **shap, exact.** The same rows through shap's KernelExplainer with every coalition
   (nsamples = 2^M): equal to aigis's to 1e-4 of the largest.
3. **shap, sampled.** A logistic regression on wine (13 features: aigis samples
   coalitions) and on breast_cancer (30), explaining the probability of the class the
   model gives each row, with the same background rows (no summary: `--background-size
   0`) and the same number of coalitions (2 M + 2048, shap's default), against a reference:
   the exact values on wine (shap with all 8,192 coalitions), shap with 50,000 coalitions
   on breast_cancer. shap runs with `l1_reg=False`: its
   default keeps the ten largest features and sets the others to 0, which are then not
   Shapley values. aigis's error must be within twice shap's own sampling error plus 1 %
   of the largest value. Time per row for both, in the same run (aigis as a process,
   the model loaded each time; in the dev build, tract is unoptimized).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import shap
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def write_csv(path: str, x: np.ndarray) -> None:
    header = ",".join(f"f{j}" for j in range(x.shape[1]))
    np.savetxt(path, x, delimiter=",", header=header, comments="", fmt="%.10g")


def aigis_explain(aigis: str, model: str, data: str, background: str, rows: list[int],
                  extra: list[str]) -> tuple[dict, float]:
    cmd = [aigis, "--json", "explain", model, "--data", data, "--background", background,
           "--background-size", "0", "--rows", ",".join(map(str, rows))] + extra
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"aigis explain failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout), took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--rows", type=int, default=5)
    args = ap.parse_args()
    problems: list[str] = []
    rows = list(range(args.rows))
    np.random.seed(0)  # shap's sampling draws from numpy's global generator
    with tempfile.TemporaryDirectory() as tmp:
        # 1 and 2: ridge on diabetes, exact.
        x, y = load_diabetes(return_X_y=True)
        ridge = Ridge(alpha=1.0).fit(x[:300], y[:300])
        model = os.path.join(tmp, "ridge.onnx")
        with open(model, "wb") as f:
            f.write(to_onnx(ridge, x[:1].astype(np.float32)).SerializeToString())
        test, bg = x[300:300 + args.rows], x[:40]
        write_csv(os.path.join(tmp, "d.csv"), test)
        write_csv(os.path.join(tmp, "bg.csv"), bg)
        out, _ = aigis_explain(args.aigis, model, os.path.join(tmp, "d.csv"),
                               os.path.join(tmp, "bg.csv"), rows, [])
        closed = ridge.coef_ * (test - bg.astype(np.float32).astype(np.float64).mean(axis=0))
        ks = shap.KernelExplainer(ridge.predict, bg)
        exact_shap = np.array(ks.shap_values(test, nsamples=2 ** 10, silent=True, l1_reg=False))
        worst_closed = worst_shap = 0.0
        for i, r in enumerate(out["rows"]):
            got = np.array(r["shap"])
            scale = np.abs(closed[i]).max()
            worst_closed = max(worst_closed, np.abs(got - closed[i]).max() / scale)
            worst_shap = max(worst_shap, np.abs(got - exact_shap[i]).max() / scale)
            if not r["exact"]:
                problems.append("diabetes: not explained exactly with 10 features")
        print(f"diabetes ridge, {len(rows)} rows, exact: largest difference from the closed form "
              f"{worst_closed:.2e}, from shap (all coalitions) {worst_shap:.2e} of the largest value")
        if worst_closed > 1e-4 or worst_shap > 1e-4:
            problems.append(f"diabetes: {worst_closed:.2e} / {worst_shap:.2e} > 1e-4")

        # 3: logistic regressions, sampled.
        for name, loader in (("wine", load_wine), ("breast_cancer", load_breast_cancer)):
            x, y = loader(return_X_y=True)
            rng = np.random.default_rng(0)
            order = rng.permutation(len(x))
            x, y = x[order], y[order]
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x[:100], y[:100])
            model = os.path.join(tmp, f"{name}.onnx")
            onx = to_onnx(clf, x[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
            with open(model, "wb") as f:
                f.write(onx.SerializeToString())
            x32 = x.astype(np.float32).astype(np.float64)
            test, bg = x32[100:100 + args.rows], x32[:50]
            m = x.shape[1]
            nsamples = 2 * m + 2048
            write_csv(os.path.join(tmp, f"{name}.csv"), test)
            write_csv(os.path.join(tmp, f"{name}-bg.csv"), bg)
            out, took = aigis_explain(args.aigis, model, os.path.join(tmp, f"{name}.csv"),
                                      os.path.join(tmp, f"{name}-bg.csv"), rows,
                                      ["--samples", str(nsamples)])
            classes = clf.predict(test)
            t = time.perf_counter()
            sampled = []
            for i in rows:
                c = int(classes[i])
                ke = shap.KernelExplainer(lambda z, c=c: clf.predict_proba(z)[:, c], bg)
                sampled.append(ke.shap_values(test[i:i + 1], nsamples=nsamples, silent=True, l1_reg=False)[0])
            shap_took = time.perf_counter() - t
            sampled = np.array(sampled)
            got = np.array([r["shap"] for r in out["rows"]])
            if [r["column"] for r in out["rows"]] != [int(c) for c in classes]:
                problems.append(f"{name}: aigis explained other classes than the model gives")
            # The reference: every coalition on wine (exact), 50,000 on breast_cancer.
            reference = []
            for i in rows:
                c = int(classes[i])
                ke = shap.KernelExplainer(lambda z, c=c: clf.predict_proba(z)[:, c], bg)
                reference.append(ke.shap_values(test[i:i + 1], nsamples=min(2 ** m, 50_000),
                                                silent=True, l1_reg=False)[0])
            reference = np.array(reference)
            scale = np.abs(reference).max(axis=1, keepdims=True)
            ours = (np.abs(got - reference) / scale).max()
            theirs = (np.abs(sampled - reference) / scale).max()
            what = "the exact values" if 2 ** m <= 50_000 else "shap with 50,000 coalitions"
            print(f"{name} logistic, {m} features, {nsamples} coalitions: largest error against "
                  f"{what}: aigis {ours:.4f}, shap {theirs:.4f} (of the largest value)")
            if ours > 2 * theirs + 0.01:
                problems.append(f"{name}: aigis's error {ours:.4f} beyond 2 x shap's {theirs:.4f} + 0.01")
            print(f"  time per row: aigis {took / len(rows) * 1000:.0f} ms (a process, the model "
                  f"loaded), shap {shap_took / len(rows) * 1000:.0f} ms: {shap_took / took:.1f}x")
    for p in problems:
        print("PROBLEM", p)
    print("explain vs closed form and shap:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
