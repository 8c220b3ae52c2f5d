#!/usr/bin/env python3
"""Precision and recall of aigis's poisoning detectors on real data with planted poisons.

    pip install scikit-learn numpy cleanlab adversarial-robustness-toolbox packaging
    python3 bench/poison_eval.py target/release/aigis [--out DIR] [--seed 0] [--check]

For scikit-learn's `digits` (1797 x 64) and `breast_cancer` (569 x 30) it plants, on
disjoint random rows (fixed seed):

- 5 % label flips: the label replaced by another class, uniformly;
- 1 % backdoor rows: a fixed trigger stamped on rows of other classes, labelled with a
  target class. digits: the bottom-right 2 x 2 pixels (54, 55, 62, 63) set to 16, the
  pixel maximum, label 7. breast_cancer: three features (mean smoothness, mean fractal
  dimension, smoothness error) set to their column maximum, label 1 (benign);
- 1 % outliers: a row's features multiplied by a factor drawn in [5, 10].

It writes `<name>.csv` (feature columns + `label`) and `<name>_truth.csv` into DIR, runs
`aigis data scan <name>.csv --label label --json`, reads the `poisoning` object, and prints
Markdown tables:

- per planted kind: recall with any reason, and recall with the matching reason;
- per reason aigis gave: how many rows, and the precision against the matching planted
  kind and against any planted row;
- the same for the baselines on the same data: cleanlab's `find_label_issues` (label
  flips; out-of-sample probabilities from 5-fold cross-validated logistic regression on
  standardised features), the spectral signature as computed by ART's
  `SpectralSignatureDefense.spectral_signature_scores` (ART's defence itself needs a
  neural-network classifier's activations; here it runs per class on the standardised raw
  features and removes the top 1.5 x eps of each class, given the true eps = 1 %; a numpy
  copy is used when ART does not import), and scikit-learn's `IsolationForest` with
  `contamination="auto"` (outliers).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

KINDS = ("label_flip", "backdoor", "outlier")


def plant(x: np.ndarray, y: np.ndarray, trigger: list[int], trigger_value: np.ndarray, target: int, seed: int):
    """Returns poisoned copies of x, y and {row index (0-based): kind}."""
    rng = np.random.default_rng(seed)
    x, y = x.astype(float).copy(), y.copy()
    n = len(y)
    classes = np.unique(y)
    n_flip, n_bd, n_out = round(0.05 * n), max(1, round(0.01 * n)), max(1, round(0.01 * n))
    order = rng.permutation(n)
    # Backdoor rows come from other classes than the target, so their label really changes.
    bd = [i for i in order if y[i] != target][:n_bd]
    rest = [i for i in order if i not in set(bd)]
    flips, outliers = rest[:n_flip], rest[n_flip:n_flip + n_out]
    truth = {}
    for i in flips:
        y[i] = rng.choice(classes[classes != y[i]])
        truth[i] = "label_flip"
    for i in bd:
        x[i, trigger] = trigger_value
        y[i] = target
        truth[i] = "backdoor"
    for i in outliers:
        x[i] = x[i] * rng.uniform(5, 10)
        truth[i] = "outlier"
    return x, y, truth


def datasets(seed: int):
    d = load_digits()
    trig = [54, 55, 62, 63]
    yield ("digits", [f"pixel_{j}" for j in range(64)], *plant(d.data, d.target, trig, np.full(4, 16.0), 7, seed))
    b = load_breast_cancer()
    names = [n.replace(" ", "_") for n in b.feature_names]
    trig = [names.index(c) for c in ("mean_smoothness", "mean_fractal_dimension", "smoothness_error")]
    yield ("breast_cancer", names, *plant(b.data, b.target, trig, b.data[:, trig].max(axis=0), 1, seed))


def write(out: str, name: str, names: list[str], x: np.ndarray, y: np.ndarray, truth: dict) -> str:
    path = os.path.join(out, f"{name}.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names + ["label"])
        for row, label in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [int(label)])
    with open(os.path.join(out, f"{name}_truth.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "kind"])
        for i in sorted(truth):
            w.writerow([i + 1, truth[i]])
    return path


def run_aigis(aigis: str, path: str) -> dict[int, set[str]]:
    """{0-based row: {reason kinds}} from `aigis data scan --json`."""
    p = subprocess.run([aigis, "data", "scan", path, "--label", "label", "--json"], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"aigis failed ({p.returncode}): {p.stderr}")
    doc = json.loads(p.stdout)
    return {r["row"] - 1: {x["kind"] for x in r["reasons"]} for r in doc["poisoning"]["rows"]}


def cleanlab_flips(x: np.ndarray, y: np.ndarray, seed: int) -> set[int] | None:
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    probs = cross_val_predict(model, x, y, cv=5, method="predict_proba")
    return set(np.flatnonzero(find_label_issues(y, probs)).tolist())


def spectral_baseline(x: np.ndarray, y: np.ndarray, eps: float) -> tuple[set[int], str]:
    try:
        from art.defences.detector.poison import SpectralSignatureDefense

        scores_of, who = SpectralSignatureDefense.spectral_signature_scores, "ART spectral_signature_scores"
    except Exception:  # ART missing or failing to import (it needs `packaging`)

        def scores_of(m):
            _, _, v = np.linalg.svd(m - m.mean(axis=0), full_matrices=False)
            return np.abs(m @ v[0])[:, None]

        who = "numpy spectral signature"
    z = StandardScaler().fit_transform(x)
    flagged = set()
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        s = scores_of(z[idx]).ravel()
        k = int(round(1.5 * eps * len(idx)))
        flagged |= set(idx[np.argsort(-s)[:k]].tolist())
    return flagged, who


def iforest(x: np.ndarray, seed: int) -> set[int]:
    f = IsolationForest(contamination="auto", random_state=seed).fit(x)
    return set(np.flatnonzero(f.predict(x) == -1).tolist())


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f} %" if b else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="path to the aigis binary")
    ap.add_argument("--out", default="target/poison_eval", help="folder for the CSV files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless, on every dataset, the matching-reason recall is at least "
                         "90 %% for backdoors and outliers and 60 %% for label flips, and at least "
                         "70 %% of all flagged rows are planted ones (CI runs this)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    floors = {"backdoor": 0.9, "outlier": 0.9, "label_flip": 0.6}
    failures = []
    for name, names, x, y, truth in datasets(args.seed):
        path = write(args.out, name, names, x, y, truth)
        found = run_aigis(args.aigis, path)
        planted = {k: {i for i, t in truth.items() if t == k} for k in KINDS}
        print(f"\n### {name} ({len(y)} rows x {x.shape[1]} columns; planted: "
              + ", ".join(f"{len(planted[k])} {k}" for k in KINDS) + ")\n")
        print("| planted kind | rows | aigis recall (any reason) | aigis recall (matching reason) |")
        print("|---|---:|---:|---:|")
        for k in KINDS:
            rows = planted[k]
            any_ = sum(1 for i in rows if i in found)
            match = sum(1 for i in rows if k in found.get(i, ()))
            print(f"| {k} | {len(rows)} | {pct(any_, len(rows))} ({any_}) | {pct(match, len(rows))} ({match}) |")
            if rows and match / len(rows) < floors.get(k, 0.0):
                failures.append(f"{name}: {k} recall {pct(match, len(rows))} < {floors[k]:.0%}")
        print("\n| aigis reason | rows flagged | precision vs matching kind | precision vs any planted |")
        print("|---|---:|---:|---:|")
        reasons = sorted({r for rs in found.values() for r in rs})
        for r in reasons:
            rows = {i for i, rs in found.items() if r in rs}
            match = len(rows & planted.get(r, set())) if r in KINDS else None
            anyp = len(rows & set(truth))
            print(f"| {r} | {len(rows)} | {pct(match, len(rows)) if match is not None else '(not planted)'} | {pct(anyp, len(rows))} |")
        rows = set(found)
        print(f"| **any** | {len(rows)} | | {pct(len(rows & set(truth)), len(rows))} |")
        if rows and len(rows & set(truth)) / len(rows) < 0.7:
            failures.append(f"{name}: only {pct(len(rows & set(truth)), len(rows))} of flagged rows are planted")
        print("\n| baseline (same data) | kind | rows flagged | precision | recall |")
        print("|---|---|---:|---:|---:|")
        base = [("cleanlab find_label_issues (5-fold logistic regression)", "label_flip", cleanlab_flips(x, y, args.seed))]
        spec, who = spectral_baseline(x, y, 0.01)
        base.append((f"{who}, top 1.5 x eps per class (eps = 1 %, oracle)", "backdoor", spec))
        base.append(("scikit-learn IsolationForest(contamination='auto')", "outlier", iforest(x, args.seed)))
        for label, kind, flagged in base:
            if flagged is None:
                print(f"| {label} | {kind} | not installed | | |")
                continue
            hit = len(flagged & planted[kind])
            print(f"| {label} | {kind} | {len(flagged)} | {pct(hit, len(flagged))} | {pct(hit, len(planted[kind]))} |")
    if args.check:
        if failures:
            sys.exit("poison_eval --check FAILED:\n  " + "\n  ".join(failures))
        print("\npoison_eval --check: every floor met")


if __name__ == "__main__":
    main()
