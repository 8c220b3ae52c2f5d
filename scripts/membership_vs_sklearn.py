#!/usr/bin/env python3
"""`aigis redteam`'s membership inference against scikit-learn's ROC on the same scores.

For each model, the attacks' scores are computed here from onnxruntime's probabilities,
as the published attacks define them, and their ROC by scikit-learn (`roc_auc_score`,
`roc_curve`); aigis computes both from its own runtime's answers. They must agree:

  loss          minus the cross-entropy of the row's label (Yeom et al. 2018)
  confidence    the highest class probability (Salem et al. 2019)
  reference     the reference models' mean loss minus the target's (Watson et al. 2022)
  lira_offline  ln p - ln(1 - p) of the label's probability, less the references' mean,
                over their pooled standard deviation (Carlini et al. 2022, offline,
                fixed variance)

AUC, the true-positive rate at a false-positive rate of at most 0.1 % and 1 % (the
largest over scikit-learn's thresholds), and the advantage (the largest TPR - FPR).

Models: the committed fixtures (tests/data/redteam/mia_*, made by
scripts/make_redteam_models.py: an MLP overfit on 150 digits, two reference MLPs), and
a logistic regression (C = 1) fitted here on 120 breast_cancer rows (a binary LinearClassifier),
120 others held out, no references.

The two runtimes (tract in aigis, onnxruntime here) round float32 differently, so two
rows whose scores are within rounding of each other may swap; the tolerances allow for
that (--check: AUC within 1e-3, each TPR within one row, advantage within 1e-2), and
the script prints the largest differences seen.

    python3 scripts/membership_vs_sklearn.py target/debug/aigis [--check]

Needs numpy, scikit-learn, skl2onnx and onnxruntime (pip).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from sklearn.metrics import roc_auc_score, roc_curve

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "data", "redteam")


def probabilities(model, x):
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    for o in outputs:
        if isinstance(o, list):  # ZipMap: a list of {class: probability}
            return np.array([[d[k] for k in sorted(d)] for d in o], dtype=np.float64)
        if getattr(o, "ndim", 0) == 2 and o.dtype.kind == "f":
            return o.astype(np.float64)
    raise SystemExit(f"{model}: no probability output")


def loss_and_logit(p, y):
    """Cross-entropy from the other classes (ln(1 + others / p)) and ln p - ln(1 - p)."""
    py = p[np.arange(len(y)), y]
    others = np.clip(p, 0, None).sum(axis=1) - np.clip(py, 0, None)
    loss = np.log1p(others / np.maximum(py, 1e-300))
    logit = -np.log(np.maximum(np.expm1(loss), 1e-300))
    return loss, logit


def signals(target, refs, x, y):
    p = probabilities(target, x)
    loss, logit = loss_and_logit(p, y)
    top = p.argmax(axis=1)
    conf = np.exp(-loss_and_logit(p, top)[0])
    out = {"loss": -loss, "confidence": conf}
    if refs:
        rl = np.array([loss_and_logit(probabilities(r, x), y)[0] for r in refs])
        rg = np.array([loss_and_logit(probabilities(r, x), y)[1] for r in refs])
        out["reference"] = rl.mean(axis=0) - loss
        mean = rg.mean(axis=0)
        ss, df = ((rg - mean) ** 2).sum(), (len(refs) - 1) * len(y)
        sd = np.sqrt(ss / df) if df > 0 and ss > 0 else 1.0
        out["lira_offline"] = (logit - mean) / sd
    return out


def sklearn_roc(members, non):
    truth = np.r_[np.ones(len(members)), np.zeros(len(non))]
    scores = np.r_[members, non]
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    at = {f: float(tpr[fpr <= f].max()) for f in (0.001, 0.01)}
    return {"auc": roc_auc_score(truth, scores), "tpr_at_0_1_pct_fpr": at[0.001],
            "tpr_at_1_pct_fpr": at[0.01], "advantage": float((tpr - fpr).max())}


def read_csv(path):
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    return d[:, :-1], d[:, -1].astype(int)


def cancer_case(workdir):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    m, n = order[:120], order[120:240]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)).fit(x[m], y[m])
    model = os.path.join(workdir, "cancer.onnx")
    with open(model, "wb") as f:
        f.write(to_onnx(clf, x[:1], target_opset=17).SerializeToString())
    paths = []
    for rows, name in [(m, "members"), (n, "non_members")]:
        path = os.path.join(workdir, f"cancer_{name}.csv")
        with open(path, "w") as f:
            f.write(",".join([f"f{j}" for j in range(x.shape[1])] + ["label"]) + "\n")
            for r in rows:
                f.write(",".join(repr(float(v)) for v in x[r]) + f",{int(y[r])}\n")
        paths.append(path)
    return ("breast_cancer logistic regression", model, [], paths[0], paths[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", nargs="?", default="target/debug/aigis")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    aigis = os.path.abspath(args.aigis)
    fx = lambda n: os.path.join(FIXTURES, n)  # noqa: E731
    worst = {"auc": 0.0, "tpr": 0.0, "advantage": 0.0}
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("digits MLP (overfit, 150 members) with 2 references", fx("mia_target.onnx"),
             [fx("mia_ref0.onnx"), fx("mia_ref1.onnx")], fx("mia_members.csv"), fx("mia_non_members.csv")),
            cancer_case(tmp),
        ]
        for name, model, refs, members, non in cases:
            cmd = [aigis, "--json", "redteam", model, "--label", "label", "--members", members,
                   "--non-members", non]
            if refs:
                cmd += ["--reference", ",".join(refs)]
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            if p.returncode != 0:
                sys.exit(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr}{p.stdout[:2000]}")
            got = {a["attack"]: a for a in json.loads(p.stdout)["membership"]["attacks"]}
            xm, ym = read_csv(members)
            xn, yn = read_csv(non)
            sm, sn = signals(model, refs, xm, ym), signals(model, refs, xn, yn)
            rows = min(len(ym), len(yn))
            print(f"{name}: {len(ym)} members, {len(yn)} non-members")
            print("| attack | AUC (sklearn) | AUC (aigis) | TPR@0.1% (sklearn / aigis) | TPR@1% (sklearn / aigis) | advantage (sklearn / aigis) |")
            print("|---|---|---|---|---|---|")
            if set(got) != set(sm):
                bad.append(f"{name}: aigis ran {sorted(got)}, expected {sorted(sm)}")
            for attack in sm:
                want = sklearn_roc(sm[attack], sn[attack])
                a = got.get(attack)
                if a is None:
                    continue
                print(f"| {attack} | {want['auc']:.6f} | {a['auc']:.6f} | "
                      f"{want['tpr_at_0_1_pct_fpr']:.4f} / {a['tpr_at_0_1_pct_fpr']:.4f} | "
                      f"{want['tpr_at_1_pct_fpr']:.4f} / {a['tpr_at_1_pct_fpr']:.4f} | "
                      f"{want['advantage']:.4f} / {a['advantage']:.4f} |")
                d_auc = abs(want["auc"] - a["auc"])
                d_tpr = max(abs(want[k] - a[k]) for k in ("tpr_at_0_1_pct_fpr", "tpr_at_1_pct_fpr"))
                d_adv = abs(want["advantage"] - a["advantage"])
                worst["auc"] = max(worst["auc"], d_auc)
                worst["tpr"] = max(worst["tpr"], d_tpr)
                worst["advantage"] = max(worst["advantage"], d_adv)
                if d_auc > 1e-3 or d_tpr > 1.0 / rows + 1e-12 or d_adv > 1e-2:
                    bad.append(f"{name} {attack}: sklearn {want}, aigis {a}")
            print()
    print(f"largest differences: AUC {worst['auc']:.2e}, TPR {worst['tpr']:.2e}, "
          f"advantage {worst['advantage']:.2e}")
    if bad:
        print("\n".join(["disagreements:"] + bad))
        if args.check:
            sys.exit(1)
    elif args.check:
        print("ok: every attack's AUC, TPR at 0.1 % and 1 % FPR and advantage agree with scikit-learn's")


if __name__ == "__main__":
    main()
