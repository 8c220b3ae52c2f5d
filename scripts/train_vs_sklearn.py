#!/usr/bin/env python3
"""aigis train against scikit-learn's MLPClassifier, and its ONNX against onnxruntime.

    python3 -m pip install scikit-learn onnx onnxruntime
    python3 scripts/train_vs_sklearn.py target/debug/aigis [--check]

On breast_cancer, wine and digits (a stratified 70/30 split), `aigis train` writes an MLP
(100 hidden units) and a softmax regression. Each model must pass onnx's full checker
and run in onnxruntime, whose labels are the argmax of its probabilities and whose accuracy
on the training rows is the one aigis reported (float32 may move a borderline row: one row's
slack). scikit-learn's MLPClassifier with the same settings (StandardScaler, the same
hidden units, alpha, learning rate and epochs) is trained with five seeds; `--check` exits
1 unless aigis's test accuracy lies within scikit-learn's range with 3 points' slack.

With `--validation-fraction 0.1` (stopping on a stratified held-out tenth's accuracy),
aigis's MLP must lie within the range of scikit-learn's with `early_stopping=True,
validation_fraction=0.1` over five seeds, with the same slack.

Then DP-SGD (`aigis train --dp --epsilon 8`, the features' bounds taken from each
dataset's range, rounded outward): the model must pass the same checks in onnxruntime
(a row beyond its bounds answered as the row at them, as training clamped it), its ε
must be at most 8 and equal dp_accounting's PLD ε for the run's sampling rate, noise and
steps (to 1e-3 relative), and its test accuracy must be at least 0.8 (ε = 8 loses a few
points here: `bench/dp_train_bench.py` measures it beside Opacus).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    problems = []
    print("| data | model | aigis test accuracy | scikit-learn, 5 seeds | epochs |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine),
                             ("digits", load_digits)):
            x, y = loader(return_X_y=True)
            xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
            path = os.path.join(tmp, f"{name}.csv")
            header = ",".join([f"f{j}" for j in range(x.shape[1])] + ["label"])
            np.savetxt(path, np.c_[xtr, ytr], delimiter=",", header=header, comments="", fmt="%.10g")
            for model, hidden in (("mlp", 100), ("softmax", 0)):
                out = os.path.join(tmp, f"{name}-{model}.onnx")
                r = subprocess.run([args.aigis, "--json", "train", path, "--label", "label",
                                    "--model", model, "-o", out], capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"aigis train failed ({r.returncode}): {r.stderr}")
                said = json.loads(r.stdout)
                onnx.checker.check_model(onnx.load(out), full_check=True)
                session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
                labels, probabilities = session.run(None, {"input": xte.astype(np.float32)})
                if not np.array_equal(labels, probabilities.argmax(axis=1)):
                    problems.append(f"{name} {model}: labels are not the probabilities' argmax")
                if not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5):
                    problems.append(f"{name} {model}: probabilities do not add up to 1")
                classes = np.array(said["classes"])
                ours = float((classes[labels] == yte).mean())
                train_labels, _ = session.run(None, {"input": xtr.astype(np.float32)})
                train_acc = float((classes[train_labels] == ytr).mean())
                if abs(train_acc - said["training_accuracy"]) > 1.0 / len(ytr) + 1e-12:
                    problems.append(f"{name} {model}: onnxruntime's training accuracy {train_acc} "
                                    f"is not aigis's {said['training_accuracy']}")
                theirs = []
                for seed in range(5):
                    clf = MLPClassifier(hidden_layer_sizes=(hidden,) if hidden else (),
                                        alpha=1e-4, learning_rate_init=1e-3, max_iter=200,
                                        random_state=seed)
                    theirs.append(make_pipeline(StandardScaler(), clf).fit(xtr, ytr).score(xte, yte))
                lo, hi = min(theirs), max(theirs)
                print(f"| {name} | {model} | {ours:.3f} | {lo:.3f} to {hi:.3f} | {said['epochs']} |")
                if not lo - 0.03 <= ours <= hi + 0.03:
                    problems.append(f"{name} {model}: aigis {ours:.3f} outside scikit-learn's "
                                    f"{lo:.3f} to {hi:.3f} (3 points' slack)")
            early_stopping_check(args.aigis, tmp, name, xtr, xte, ytr, yte, path, problems)
            dp_check(args.aigis, tmp, name, x, xtr, xte, ytr, yte, path, problems)
    for p in problems:
        print("PROBLEM", p)
    print("train vs scikit-learn and onnxruntime:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems and args.check else 0


def early_stopping_check(aigis, tmp, name, xtr, xte, ytr, yte, path, problems):
    out = os.path.join(tmp, f"{name}-early.onnx")
    r = subprocess.run([aigis, "--json", "train", path, "--label", "label",
                        "--validation-fraction", "0.1", "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"aigis train --validation-fraction failed ({r.returncode}): {r.stderr}")
    said = json.loads(r.stdout)
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    labels = session.run(["label"], {"input": xte.astype(np.float32)})[0]
    ours = float((np.array(said["classes"])[labels] == yte).mean())
    theirs = []
    for seed in range(5):
        clf = MLPClassifier(hidden_layer_sizes=(100,), alpha=1e-4, learning_rate_init=1e-3,
                            max_iter=200, early_stopping=True, validation_fraction=0.1,
                            random_state=seed)
        theirs.append(make_pipeline(StandardScaler(), clf).fit(xtr, ytr).score(xte, yte))
    lo, hi = min(theirs), max(theirs)
    print(f"| {name} | mlp, early stopping on 10 % | {ours:.3f} | {lo:.3f} to {hi:.3f} "
          f"| {said['epochs']} (held-out {said['validation_accuracy']:.3f}) |")
    if not lo - 0.03 <= ours <= hi + 0.03:
        problems.append(f"{name} early stopping: aigis {ours:.3f} outside scikit-learn's "
                        f"{lo:.3f} to {hi:.3f} (3 points' slack)")


def dp_check(aigis, tmp, name, x, xtr, xte, ytr, yte, path, problems):
    import dp_accounting
    from dp_accounting.pld import privacy_loss_distribution as pld

    lo, hi = np.floor(x.min(axis=0)), np.ceil(x.max(axis=0))
    hi = np.where(hi > lo, hi, lo + 1)
    bounds = [f"--bounds=f{j}={lo[j]:g}:{hi[j]:g}" for j in range(x.shape[1])]
    out = os.path.join(tmp, f"{name}-dp.onnx")
    r = subprocess.run([aigis, "--json", "train", path, "--label", "label", "--dp",
                        "--epsilon", "8", "--delta", "1e-5", "-o", out,
                        "--classes", ",".join(str(c) for c in sorted(set(ytr) | set(yte)))] + bounds,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"aigis train --dp failed ({r.returncode}): {r.stderr}")
    said = json.loads(r.stdout)
    dp = said["dp"]
    onnx.checker.check_model(onnx.load(out), full_check=True)
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    classes = np.array(said["classes"])
    labels, probabilities = session.run(None, {"input": xte.astype(np.float32)})
    if not np.array_equal(labels, probabilities.argmax(axis=1)):
        problems.append(f"{name} dp: labels are not the probabilities' argmax")
    ours = float((classes[labels] == yte).mean())
    train_labels, _ = session.run(None, {"input": xtr.astype(np.float32)})
    train_acc = float((classes[train_labels] == ytr).mean())
    if abs(train_acc - said["training_accuracy"]) > 1.0 / len(ytr) + 1e-12:
        problems.append(f"{name} dp: onnxruntime's training accuracy {train_acc} is not "
                        f"aigis's {said['training_accuracy']}")
    # Beyond the bounds: answered as at them.
    far, edge = xte[:5].copy(), xte[:5].copy()
    far[:, 0], edge[:, 0] = hi[0] + 1e6, hi[0]
    p_far = session.run(["probabilities"], {"input": far.astype(np.float32)})[0]
    p_edge = session.run(["probabilities"], {"input": edge.astype(np.float32)})[0]
    if not np.array_equal(p_far, p_edge):
        problems.append(f"{name} dp: a row beyond its bounds is not answered as at them")
    # The ε spent, by dp_accounting's PLD for the same run.
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            dp["sampling_rate"], dp_accounting.GaussianDpEvent(dp["noise_multiplier"])),
        dp["steps"])
    accountant = dp_accounting.pld.PLDAccountant(
        neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE,
        value_discretization_interval=1e-4)
    theirs = accountant.compose(event).get_epsilon(1e-5)
    print(f"| {name} | mlp, DP ε = 8 | {ours:.3f} | ε {dp['epsilon']:.4f} "
          f"(dp_accounting {theirs:.4f}), σ {dp['noise_multiplier']} | {dp['steps']} steps |")
    if not dp["epsilon"] <= 8.0:
        problems.append(f"{name} dp: spent ε {dp['epsilon']} above the 8 asked")
    if abs(dp["epsilon"] - theirs) > 1e-3 * theirs:
        problems.append(f"{name} dp: ε {dp['epsilon']} is not dp_accounting's {theirs}")
    if ours < 0.8:
        problems.append(f"{name} dp: test accuracy {ours:.3f} below 0.8 at ε = 8")


if __name__ == "__main__":
    sys.exit(main())
