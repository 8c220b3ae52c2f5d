#!/usr/bin/env python3
"""`aigis explain --lime` against the `lime` package's LimeTabularExplainer.

For a logistic regression on wine (13 features) and on breast_cancer (30), both tools
explain the probability of the class the model gives each of the first five test rows,
with the training rows as background (`lime`'s `training_data`; aigis's `--background
train.csv --background-size 0`), their defaults otherwise: quartile bins, 5,000
neighbours, ten features, ridge regression. Both draw at random, so each runs with ten
seeds and the mean weight of each feature (0 where a run left it out) is compared:

- the five features with the largest mean weight by aigis must include at least four of
  lime's five;
- each feature's mean weights must agree within 0.05 of the row's largest weight plus
  four standard errors of their difference.

    python3 -m pip install --no-deps lime    # it needs numpy, scipy, scikit-learn only
    python3 scripts/explain_vs_lime.py target/debug/aigis [--check]

Needs numpy, scikit-learn, skl2onnx, onnxruntime and lime (pip).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnxruntime as ort
from lime.lime_tabular import LimeTabularExplainer
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")

SEEDS = range(10)
ROWS = 5


def write_csv(path, x):
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(x.shape[1])) + "\n")
        for row in x:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", nargs="?", default="target/debug/aigis")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.aigis)
    failures = []
    with tempfile.TemporaryDirectory(prefix="aigis-lime-") as work:
        for name, load in [("wine", load_wine), ("breast_cancer", load_breast_cancer)]:
            x, y = load(return_X_y=True)
            x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.3, random_state=0,
                                                           stratify=y)
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            model.fit(x_train, y_train)
            onx = to_onnx(model, x_train[:1].astype(np.float32),
                          options={id(model): {"zipmap": False}})
            d = os.path.join(work, name)
            os.makedirs(d)
            path = os.path.join(d, "model.onnx")
            with open(path, "wb") as f:
                f.write(onx.SerializeToString())
            write_csv(os.path.join(d, "train.csv"), x_train)
            write_csv(os.path.join(d, "test.csv"), x_test[:ROWS])
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            out = [o.name for o in sess.get_outputs()]

            def proba(batch):
                return sess.run([out[1]], {sess.get_inputs()[0].name:
                                           np.asarray(batch, dtype=np.float32)})[0].astype(float)

            k = x.shape[1]
            ours = np.zeros((len(SEEDS), ROWS, k))
            theirs = np.zeros((len(SEEDS), ROWS, k))
            for si, seed in enumerate(SEEDS):
                cmd = [binary, "--json", "explain", "model.onnx", "--data", "test.csv",
                       "--background", "train.csv", "--background-size", "0", "--rows",
                       ",".join(map(str, range(ROWS))), "--lime", "--top", "10", "--seed",
                       str(seed), "--samples", str(2 * k + 64)]
                p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"`{' '.join(cmd)}` failed: {p.stdout}{p.stderr}")
                v = json.loads(p.stdout)
                explainer = LimeTabularExplainer(x_train, mode="classification",
                                                 random_state=seed)
                for r, row in enumerate(v["rows"]):
                    for w in row["lime"]["weights"]:
                        ours[si, r, int(w["feature"][1:])] = w["weight"]
                    label = int(row["column"])
                    e = explainer.explain_instance(x_test[r], proba, labels=(label,),
                                                   num_features=10, num_samples=5000)
                    for j, w in e.as_map()[label]:
                        theirs[si, r, j] = w
            print(f"\n{name} ({k} features), rows 0-{ROWS - 1}, {len(SEEDS)} seeds each:")
            print("| row | lime's top five | aigis's top five | shared | largest mean difference "
                  "(of the largest weight) | allowed |")
            print("|---|---|---|---|---|---|")
            for r in range(ROWS):
                mo, mt = ours[:, r].mean(0), theirs[:, r].mean(0)
                top_o = [int(j) for j in np.argsort(-np.abs(mo))[:5]]
                top_t = [int(j) for j in np.argsort(-np.abs(mt))[:5]]
                shared = len(set(top_o) & set(top_t))
                scale = np.abs(mt).max()
                se = np.sqrt(ours[:, r].var(0, ddof=1) / len(SEEDS)
                             + theirs[:, r].var(0, ddof=1) / len(SEEDS))
                diff = np.abs(mo - mt)
                allowed = 0.05 * scale + 4 * se
                worst = int(np.argmax(diff - allowed))
                print(f"| {r} | {top_t} | {top_o} | {shared} | {diff.max() / scale:.3f} | "
                      f"{'ok' if (diff <= allowed).all() else f'feature {worst} over'} |")
                if shared < 4:
                    failures.append(f"{name} row {r}: {shared} of lime's top five features "
                                    f"among aigis's ({top_t} vs {top_o})")
                if (diff > allowed).any():
                    failures.append(f"{name} row {r}: feature {worst}'s mean weight {mo[worst]:.4f} "
                                    f"vs lime's {mt[worst]:.4f} (allowed {allowed[worst]:.4f})")
    if args.check:
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("\nok: aigis's LIME weights agree with the lime package's")


if __name__ == "__main__":
    main()
