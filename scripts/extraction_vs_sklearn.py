#!/usr/bin/env python3
"""`aigis redteam --extract` against scikit-learn's MLPClassifier on the same queries.

For each dataset scikit-learn ships (digits, wine, breast_cancer) a target model (an
MLPClassifier, 64 hidden units, on 40 % of the rows; skl2onnx) is attacked: the attacker
holds 30 % of the rows without labels (`pool.csv`, N rows) and asks the model about the
first 50, 150 and all of them (fewer rows than that barely move a copy from its random
start, so their fidelity is the start's); the other 30 % (`test.csv`, with labels) measure the copy. aigis runs

  aigis --json redteam model.onnx --data test.csv --label label --attacks none \
      --extract 50,150,N --extract-from pool.csv --surrogate-hidden H

and here the same copy is trained by scikit-learn: the first N pool rows, labelled with
onnxruntime's classes, standardized by their own mean and deviation (StandardScaler, as
aigis does), an MLPClassifier with H hidden units (H = 0: no hidden layer) and every
other setting its default, fidelity measured on the test rows against onnxruntime's
classes. scikit-learn's copy depends on its random_state, so it is trained with ten and
the range printed; aigis's fidelity at each budget must lie within that range widened by
--slack points (3 by default) for --check, its accuracy too, and the curve must not fall
by more than the slack as the budget grows.

    python3 scripts/extraction_vs_sklearn.py target/debug/aigis [--check]

Needs numpy, scikit-learn, skl2onnx and onnxruntime (pip).
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
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)

SEEDS = list(range(10))


def classes_of(model, x):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    label = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return np.asarray(label).astype(int)


def write_csv(path, x, y=None):
    with open(path, "w") as f:
        cols = [f"f{j}" for j in range(x.shape[1])] + ([] if y is None else ["label"])
        f.write(",".join(cols) + "\n")
        for i, row in enumerate(x):
            cells = [repr(float(v)) for v in row] + ([] if y is None else [str(int(y[i]))])
            f.write(",".join(cells) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", nargs="?", default="target/debug/aigis")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--slack", type=float, default=3.0, help="points beyond scikit-learn's range")
    args = ap.parse_args()
    binary = os.path.abspath(args.aigis)
    failures = []
    datasets = [("digits", load_digits, 16.0), ("wine", load_wine, None),
                ("breast_cancer", load_breast_cancer, None)]
    with tempfile.TemporaryDirectory(prefix="aigis-extraction-") as work:
        for name, load, scale in datasets:
            data = load()
            x = data.data.astype(np.float32)
            if scale:
                x = x / scale
            y = data.target
            x_train, x_rest, y_train, y_rest = train_test_split(
                x, y, train_size=0.4, random_state=0, stratify=y)
            x_pool, x_test, _, y_test = train_test_split(
                x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
            # The target standardizes its own input, as a served tabular model would.
            from sklearn.pipeline import make_pipeline
            target = make_pipeline(StandardScaler(), MLPClassifier(
                hidden_layer_sizes=(64,), max_iter=500, random_state=0))
            target.fit(x_train, y_train)
            onx = convert_sklearn(target, initial_types=[("X", FloatTensorType([None, x.shape[1]]))],
                                  options={id(target): {"zipmap": False}})
            d = os.path.join(work, name)
            os.makedirs(d)
            model = os.path.join(d, "model.onnx")
            with open(model, "wb") as f:
                f.write(onx.SerializeToString())
            write_csv(os.path.join(d, "pool.csv"), x_pool)
            write_csv(os.path.join(d, "test.csv"), x_test, y_test)
            pool_classes = classes_of(model, x_pool)
            test_classes = classes_of(model, x_test)
            n = len(x_pool)
            budgets = sorted({b for b in (50, 150, n) if b <= n})
            for hidden in [100, 0]:
                cmd = [binary, "--json", "redteam", model, "--data", "test.csv", "--label", "label",
                       "--attacks", "none", "--extract", ",".join(map(str, budgets)),
                       "--extract-from", "pool.csv", "--surrogate-hidden", str(hidden)]
                p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stdout}{p.stderr}")
                ours = json.loads(p.stdout)["extraction"]["points"]
                print(f"\n{name} ({x.shape[1]} features, {len(x_test)} test rows), copy "
                      f"{'logistic' if hidden == 0 else f'{hidden} hidden'}:")
                print("| queries | aigis fidelity | scikit-learn fidelity (10 seeds) | "
                      "aigis accuracy | scikit-learn accuracy |")
                print("|---|---|---|---|---|")
                last = None
                for point, b in zip(ours, budgets):
                    q = x_pool[:b]
                    labels = pool_classes[:b]
                    fid, acc = [], []
                    for seed in SEEDS:
                        if len(set(labels)) < 2:
                            break
                        scaler = StandardScaler().fit(q)
                        clf = MLPClassifier(hidden_layer_sizes=(hidden,) if hidden else (),
                                            random_state=seed)
                        clf.fit(scaler.transform(q), labels)
                        pred = clf.predict(scaler.transform(x_test))
                        fid.append(float(np.mean(pred == test_classes)))
                        acc.append(float(np.mean(pred == y_test)))
                    lo, hi = min(fid), max(fid)
                    print(f"| {b} | {100 * point['fidelity']:.1f} % | {100 * lo:.1f}–{100 * hi:.1f} % | "
                          f"{100 * point['accuracy']:.1f} % | {100 * min(acc):.1f}–{100 * max(acc):.1f} % |")
                    slack = args.slack / 100
                    if point["queries"] != b:
                        failures.append(f"{name} H={hidden}: a point at {point['queries']} queries, not {b}")
                    if not (lo - slack <= point["fidelity"] <= hi + slack):
                        failures.append(f"{name} H={hidden} N={b}: aigis fidelity {point['fidelity']:.3f} "
                                        f"outside scikit-learn's {lo:.3f}–{hi:.3f} ± {args.slack} points")
                    if not (min(acc) - slack <= point["accuracy"] <= max(acc) + slack):
                        failures.append(f"{name} H={hidden} N={b}: aigis accuracy {point['accuracy']:.3f} "
                                        f"outside scikit-learn's {min(acc):.3f}–{max(acc):.3f} ± {args.slack} points")
                    if last is not None and point["fidelity"] < last - slack:
                        failures.append(f"{name} H={hidden}: fidelity falls from {last:.3f} to "
                                        f"{point['fidelity']:.3f} at {b} queries")
                    last = point["fidelity"]
    if args.check:
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("\nok: aigis's extraction curves lie within scikit-learn's on the same queries")


if __name__ == "__main__":
    main()
