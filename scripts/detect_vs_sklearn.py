#!/usr/bin/env python3
"""`aigis detect`'s mahalanobis detector against scikit-learn's `LedoitWolf`.

For scikit-learn's breast_cancer, wine and digits (digits has pixels that never move, so
the covariance is singular without shrinkage), the reference is fitted with
`aigis detect fit --no-ood --calibration` (so every reference row is a fit row), and
then, on rows the reference did not hold:

- the file's shrinkage equals `sklearn.covariance.LedoitWolf().shrinkage_` on the same
  standardized rows (the file's mean and scale, clipped to ± its `clip`), to 1e-9, and its
  `center` their mean (`location_`);
- each row's squared distance from `aigis detect --json` equals the quadratic form of the
  inverse of scikit-learn's `covariance_` plus the ridge aigis adds to keep it invertible
  (1e-6 of the mean variance on the diagonal), to 1e-7 relative; and, where the
  covariance is well conditioned (breast_cancer, wine), scikit-learn's own
  `mahalanobis()`, without the ridge, to 1e-4;
- the rows flagged are the rows above the file's threshold.

    pip install scikit-learn numpy
    cargo build -p aigis
    python3 scripts/detect_vs_sklearn.py target/debug/aigis      # exits 1 on a mismatch
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

RIDGE = 1e-6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    args = ap.parse_args()
    binary = os.path.abspath(args.aigis)
    failures = []
    with tempfile.TemporaryDirectory() as work:
        for name, load, well_conditioned in [("breast_cancer", load_breast_cancer, True),
                                             ("wine", load_wine, True),
                                             ("digits", load_digits, False)]:
            x = load().data.astype(np.float64)
            ref, rest = train_test_split(x, test_size=0.5, random_state=0)
            cal, test = train_test_split(rest, test_size=0.5, random_state=0)
            # Extreme rows too: rows whose values do not go together.
            rng = np.random.default_rng(0)
            shuffled = np.stack([rng.permutation(test[:, j]) for j in range(x.shape[1])], 1)
            test = np.vstack([test, shuffled[:50]])
            cols = [f"f{j}" for j in range(x.shape[1])]
            paths = {}
            for part, rows in [("ref", ref), ("cal", cal), ("test", test)]:
                paths[part] = os.path.join(work, f"{name}.{part}.csv")
                np.savetxt(paths[part], rows, delimiter=",", header=",".join(cols),
                           comments="", fmt="%.17g")
            det = os.path.join(work, f"{name}.detector.json")
            run = lambda *a: subprocess.run([binary, *a], capture_output=True, text=True,
                                            cwd=work)
            p = run("detect", "fit", paths["ref"], "--no-ood", "--calibration", paths["cal"],
                    "--fpr", "0.05", "-o", det)
            if p.returncode != 0:
                sys.exit(f"{name}: aigis detect fit failed ({p.returncode}):\n{p.stderr}")
            with open(det) as f:
                maha = json.load(f)["mahalanobis"]
            p = run("--json", "detect", "--detector", det, "--unsigned", paths["test"])
            if p.returncode not in (0, 1):
                sys.exit(f"{name}: aigis detect failed ({p.returncode}):\n{p.stderr}")
            results = json.loads(p.stdout)["results"]
            got = np.array([r["scores"]["mahalanobis"] for r in results])
            flagged = np.array(["mahalanobis" in r["flags"] for r in results])

            mean, scale, c = np.array(maha["mean"]), np.array(maha["scale"]), maha["clip"]
            z_ref = np.clip((ref - mean) / scale, -c, c)
            z_test = np.clip((test - mean) / scale, -c, c)
            lw = LedoitWolf().fit(z_ref)
            cov = lw.covariance_ + RIDGE * np.trace(np.cov(z_ref.T, bias=True)) / x.shape[1] \
                * np.eye(x.shape[1])
            centred = z_test - z_ref.mean(axis=0)
            want = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(cov), centred)

            def check(what, ok, detail):
                print(f"{name:14s} {what:40s} {'ok' if ok else 'MISMATCH'}  {detail}")
                if not ok:
                    failures.append(f"{name}: {what}")

            check("center = LedoitWolf.location_",
                  np.max(np.abs(np.array(maha["center"]) - lw.location_)) <= 1e-12,
                  f"max diff {np.max(np.abs(np.array(maha['center']) - lw.location_)):.1e}")
            check("shrinkage = LedoitWolf.shrinkage_",
                  abs(maha["shrinkage"] - lw.shrinkage_) <= 1e-9,
                  f"{maha['shrinkage']:.12f} vs {lw.shrinkage_:.12f}")
            rel = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12))
            check("distance = inverse(covariance_ + ridge)", rel <= 1e-7, f"max rel {rel:.2e}")
            if well_conditioned:
                sk = lw.mahalanobis(z_test)
                rel = np.max(np.abs(got - sk) / np.maximum(np.abs(sk), 1e-12))
                check("distance = LedoitWolf.mahalanobis", rel <= 1e-4, f"max rel {rel:.2e}")
            check("flagged = above the threshold",
                  np.array_equal(flagged, got > maha["threshold"]),
                  f"{int(flagged.sum())} of {len(flagged)} flagged, "
                  f"{int(flagged[-50:].sum())} of the 50 shuffled rows")
    if failures:
        sys.exit("mismatches: " + "; ".join(failures))
    print("all equal")


if __name__ == "__main__":
    main()
