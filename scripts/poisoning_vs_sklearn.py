#!/usr/bin/env python3
"""`aigis redteam --train --poison` against scikit-learn's MLPClassifier on the same data.

For digits (8x8 images, pixels scaled to [0, 1]) and breast_cancer (30 features), the
rows are split 60 / 40 into training (`train.csv`) and held-out rows (`test.csv`). A
target model (an MLPClassifier on the training rows, skl2onnx) is what aigis is pointed
at; the poisoning experiment retrains a model on the training rows:

  aigis --json redteam model.onnx --data test.csv --label label --attacks none \
      --train train.csv --poison label-flip=0.1,label-flip=0.3,backdoor=0.01,backdoor=0.05

and here the same experiment runs in scikit-learn, written from the poisonings' own
definitions: a label flip gives round(rate x rows) random training rows another class
drawn uniformly from the others; a backdoor stamps the trigger (digits: the bottom-right
2x2 pixels set to 1; breast_cancer: the last three features set to their largest
training value) on round(rate x rows) random training rows not of the target class
(0) and labels them 0; its success is the share of held-out rows not of class 0 that
the model gives 0 with the trigger stamped. The model is StandardScaler then an
MLPClassifier of 100 hidden units, every other setting its default (what aigis's
trainer follows). Each side draws its own poisoned rows and initialisation, so
scikit-learn runs with five seeds and the range is printed; for --check, aigis's
accuracy after each poisoning must lie within that range widened by 3 points, and its
backdoor success within the range widened by 10 points (a backdoor at 1 % is learned
or not by a few rows), and the clean model's accuracy within 3 points.

    python3 scripts/poisoning_vs_sklearn.py target/debug/aigis [--check]

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
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)

SEEDS = range(5)
PLAN = [("label-flip", 0.1), ("label-flip", 0.3), ("backdoor", 0.01), ("backdoor", 0.05)]
TARGET = 0
ACCURACY_SLACK = 0.03
BACKDOOR_SLACK = 0.10


def write_csv(path, x, y):
    with open(path, "w") as f:
        f.write(",".join([f"f{j}" for j in range(x.shape[1])] + ["label"]) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")


def poison(x, y, k, kind, rate, trigger, rng):
    x, y = x.copy(), y.copy()
    candidates = np.arange(len(y)) if kind == "label-flip" else np.flatnonzero(y != TARGET)
    chosen = rng.permutation(candidates)[:min(len(candidates), int(round(rate * len(y))))]
    for r in chosen:
        if kind == "label-flip":
            other = rng.integers(k - 1)
            y[r] = other + 1 if other >= y[r] else other
        else:
            x[r, trigger[0]] = trigger[1]
            y[r] = TARGET
    return x, y


def measure(model, xt, yt, trigger):
    accuracy = float((model.predict(xt) == yt).mean())
    others = xt[yt != TARGET].copy()
    others[:, trigger[0]] = trigger[1]
    return accuracy, float((model.predict(others) == TARGET).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    ap.add_argument("--check", action="store_true", help="exit 1 outside the bounds")
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("digits", "breast_cancer"):
            if name == "digits":
                x, y = load_digits(return_X_y=True)
                x = x / 16.0
                trigger = (np.array([54, 55, 62, 63]), np.ones(4))
            else:
                x, y = load_breast_cancer(return_X_y=True)
            x = x.astype(np.float32).astype(np.float64)
            xa, xt, ya, yt = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
            if name == "breast_cancer":
                last = np.arange(x.shape[1] - 3, x.shape[1])
                trigger = (last, xa[:, last].max(axis=0))
            k = int(y.max()) + 1
            target = make_pipeline(StandardScaler(), MLPClassifier(random_state=0)).fit(xa, ya)
            onx = convert_sklearn(target, initial_types=[("input", FloatTensorType([None, x.shape[1]]))])
            model = os.path.join(tmp, f"{name}.onnx")
            with open(model, "wb") as f:
                f.write(onx.SerializeToString())
            train, test = os.path.join(tmp, f"{name}-train.csv"), os.path.join(tmp, f"{name}-test.csv")
            write_csv(train, xa, ya)
            write_csv(test, xt, yt)
            cmd = [args.aigis, "--json", "redteam", model, "--data", test, "--label", "label",
                   "--attacks", "none", "--train", train,
                   "--poison", ",".join(f"{kind}={rate}" for kind, rate in PLAN)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr}")
            ours = json.loads(p.stdout)["poisoning"]
            if sorted(ours["trigger_features"]) != sorted(int(j) for j in trigger[0]):
                problems.append(f"{name}: aigis's trigger is on {ours['trigger_features']}, "
                                f"expected {list(map(int, trigger[0]))}")
            clean, theirs = [], {i: [] for i in range(len(PLAN))}
            for seed in SEEDS:
                rng = np.random.default_rng(seed)
                fit = lambda xs, ys: make_pipeline(  # noqa: E731
                    StandardScaler(), MLPClassifier(random_state=seed)).fit(xs, ys)
                clean.append(measure(fit(xa, ya), xt, yt, trigger)[0])
                for i, (kind, rate) in enumerate(PLAN):
                    px, py = poison(xa, ya, k, kind, rate, trigger, rng)
                    theirs[i].append(measure(fit(px, py), xt, yt, trigger))
            print(f"{name}: clean accuracy aigis {ours['clean_accuracy']:.3f}, scikit-learn "
                  f"{min(clean):.3f}-{max(clean):.3f}")
            if not min(clean) - ACCURACY_SLACK <= ours["clean_accuracy"] <= max(clean) + ACCURACY_SLACK:
                problems.append(f"{name}: clean accuracy {ours['clean_accuracy']:.3f} outside "
                                f"{min(clean):.3f}-{max(clean):.3f} +- {ACCURACY_SLACK}")
            for i, (kind, rate) in enumerate(PLAN):
                o = ours["outcomes"][i]
                acc = [a for a, _ in theirs[i]]
                line = (f"  {kind} {rate}: {o['poisoned']} rows; accuracy aigis {o['accuracy']:.3f}, "
                        f"scikit-learn {min(acc):.3f}-{max(acc):.3f}")
                if not min(acc) - ACCURACY_SLACK <= o["accuracy"] <= max(acc) + ACCURACY_SLACK:
                    problems.append(f"{name} {kind} {rate}: accuracy {o['accuracy']:.3f} outside "
                                    f"{min(acc):.3f}-{max(acc):.3f} +- {ACCURACY_SLACK}")
                if kind == "backdoor":
                    bd = [b for _, b in theirs[i]]
                    line += (f"; backdoor success aigis {o['backdoor_success']:.3f}, scikit-learn "
                             f"{min(bd):.3f}-{max(bd):.3f}")
                    if not min(bd) - BACKDOOR_SLACK <= o["backdoor_success"] <= max(bd) + BACKDOOR_SLACK:
                        problems.append(f"{name} {kind} {rate}: backdoor success "
                                        f"{o['backdoor_success']:.3f} outside {min(bd):.3f}-"
                                        f"{max(bd):.3f} +- {BACKDOOR_SLACK}")
                print(line)
    for p in problems:
        print("PROBLEM", p)
    print("poisoning vs scikit-learn:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
