#!/usr/bin/env python3
"""Would a detector on the model's own internals catch what aigis's `ood` forest misses?

The next step `BENCHMARKS.md` named for masked attacks (an attacker who leaves the pixels
the training data never used alone) was a detector on the model itself: a kNN distance
in its hidden layer (Deep kNN, Papernot & McDaniel 2018), a class-conditional Mahalanobis
distance there (Lee et al. 2018), or its confidence. This script measures those
candidates beside aigis's own `ood` score, on the very setting of `bench/detect_eval.py`
(the same model, split, seeds and ART attacks, imported from it), before any of them is
built into aigis:

  ood         aigis's isolation-forest score (`aigis detect fit` on the training rows,
              `aigis --json detect`), through the binary
  knn-input   the mean L2 distance to the 5 nearest training rows, in pixel space
  knn-hidden  the same in the MLP's hidden layer (64 ReLU units)
  mahalanobis the smallest class-conditional Mahalanobis distance in the hidden layer
              (class means, one shared covariance, from the training rows)
  confidence  1 - the largest class probability
  margin      minus the gap between the two largest log-probabilities

Each is scored on the clean measured rows and on each attack's successful adversarial
rows; the detection rate is read at thresholds set on the clean scores themselves so
that exactly 1 % and 5 % of them pass (`rate_at_fpr` of detect_eval: a point of each
ROC curve, with no calibration of aigis's in the way).

    python3 bench/detect_candidates.py target/debug/aigis [--quick] [--out candidates.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detect_eval as de  # noqa: E402

K = 5


def hidden(clf, x):
    """The MLP's last hidden layer's activations."""
    a = np.asarray(x, dtype=np.float64)
    for w, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = np.maximum(a @ w + b, 0.0)
    return a


def knn(ref, q, k=K, chunk=512):
    """The mean L2 distance of each row of `q` to its `k` nearest rows of `ref`."""
    r2 = (ref ** 2).sum(1)
    out = []
    for i in range(0, len(q), chunk):
        part = q[i:i + chunk]
        d = np.sqrt(np.maximum((part ** 2).sum(1)[:, None] + r2[None] - 2 * part @ ref.T, 0.0))
        d.sort(axis=1)
        out.append(d[:, :k].mean(1))
    return np.concatenate(out)


def mahalanobis(h_train, y_train):
    """The smallest class-conditional Mahalanobis distance, with one shared covariance."""
    classes = np.unique(y_train)
    means = np.stack([h_train[y_train == c].mean(0) for c in classes])
    centred = h_train - means[np.searchsorted(classes, y_train)]
    # A ridge: dead ReLU units make the covariance singular.
    precision = np.linalg.inv(centred.T @ centred / len(h_train) + 1e-3 * np.eye(h_train.shape[1]))

    def score(h):
        return np.stack([np.einsum("ij,jk,ik->i", h - mu, precision, h - mu) for mu in means], 1).min(1)
    return score


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary, e.g. target/debug/aigis")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="detect_eval's --quick attacks")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="aigis-detect-candidates-") as workdir:
        m = de.build(workdir, args.seed, log)
        # detect_eval's split: half the clean test rows calibrate aigis, the other half are
        # measured and attacked.
        order = np.random.default_rng(args.seed).permutation(len(m["x_test"]))
        half = len(order) // 2
        calibration = os.path.join(workdir, "calibration.csv")
        de.write_csv(calibration, m["x_test"][order[:half]])
        keep = np.sort(order[half:])
        m["x_test"], m["y_test"] = m["x_test"][keep], m["y_test"][keep]
        attacked = de.attacks(m, args.seed, de.QUICK_EPS if args.quick else de.FULL_EPS,
                              de.QUICK_HSJ if args.quick else de.FULL_HSJ, log)

        parts, blocks, at = [m["x_test"]], {}, len(m["x_test"])
        clean_idx = np.arange(at)
        for name, (adv, ok, _) in attacked.items():
            blocks[name] = np.arange(at, at + len(adv))[ok]
            parts.append(adv.reshape(len(adv), -1))
            at += len(adv)
        rows = np.vstack(parts)
        inputs = os.path.join(workdir, "inputs.npy")
        np.save(inputs, rows.astype(np.float32))

        aigis = de.Aigis(args.aigis, workdir, log)
        det = os.path.join(workdir, "detector.json")
        aigis.fit(m["ref"], m["model"], 0.05, args.seed, det, None, calibration)
        report = aigis.detect(det, m["model"], inputs, at, os.path.join(workdir, "report.json"))

        clf = m["clf"]
        h_train = hidden(clf, m["x_train"])
        h_rows = hidden(clf, rows)
        proba = clf.predict_proba(rows)
        logp = np.sort(np.log(np.maximum(proba, 1e-300)), axis=1)
        scores = {
            "ood": de.scores_from(report)["ood"][0],
            "knn-input": knn(m["x_train"], rows),
            "knn-hidden": knn(h_train, h_rows),
            "mahalanobis": mahalanobis(h_train, m["y_train"])(h_rows),
            "confidence": 1.0 - proba.max(1),
            "margin": -(logp[:, -1] - logp[:, -2]),
        }

    results = {}
    names = list(scores)
    head = "| attack | n | " + " | ".join(f"{d} @1% / @5%" for d in names) + " |"
    print(head)
    print("|---|--:|" + "--:|" * len(names))
    for name, idx in blocks.items():
        if len(idx) == 0:
            continue
        rates = {d: [de.rate_at_fpr(s[clean_idx], s[idx], f) for f in de.FPRS] for d, s in scores.items()}
        results[name] = {"n": int(len(idx)), "rates": rates}
        print(f"| {name} | {len(idx)} | " + " | ".join(
            f"{de.pct(r[0])} / {de.pct(r[1])}" for r in rates.values()) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"seed": args.seed, "quick": args.quick, "clean_rows": int(len(clean_idx)),
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
