#!/usr/bin/env python3
"""`aigis monitor drift` beside what users run today, on the same files in the same run.

Two CSV tables (reference and current) of `--rows` rows: `--features` numeric columns
(normal, log-normal and integer-valued, a third of them shifted in the current table)
and `--categorical` categorical ones. Each tool reads both files and tests every column;
wall time and peak resident memory are measured per run (the best of `--reps`):

- `aigis`: `aigis --json monitor drift REF CUR` (release build): KS (exact at most 10,000
  values a side, else asymptotic), the range and missing-value tests, PSI and
  Wasserstein for each numeric column; chi-square, PSI for each categorical one.
- `scipy`: pandas.read_csv of both, then per column what aigis reports that scipy has:
  `ks_2samp` and `wasserstein_distance`, `chi2_contingency` (a Python loop, as a
  notebook or a pipeline step does it).
- `evidently` (with `--evidently-python`, a Python that has evidently 0.7): pandas reads
  both, then `Report([DataDriftPreset(num_method="ks", cat_method="chisquare")])`.

× = the other tool's time ÷ aigis's. The KS p-values of every numeric column are checked
equal across the three (scipy's is the reference) before any time is reported.

    pip install pandas numpy scipy
    python3 -m venv /tmp/ev && /tmp/ev/bin/pip install evidently "pandas<3"   # optional
    cargo build --release -p aigis
    python3 bench/drift_bench.py --rows 100000 --evidently-python /tmp/ev/bin/python
    python3 bench/drift_bench.py --rows 5000     # the exact p-value path
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCIPY = r"""
import json, sys
import pandas as pd
from scipy import stats
ref, cur = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
out = {}
for c in ref.columns:
    r, k = ref[c].dropna(), cur[c].dropna()
    if pd.api.types.is_numeric_dtype(r):
        out[c] = stats.ks_2samp(r, k).pvalue
        stats.wasserstein_distance(r, k)
    else:
        keys = sorted(set(r) | set(k))
        vr, vk = r.value_counts(), k.value_counts()
        stats.chi2_contingency([[vr.get(x, 0) for x in keys], [vk.get(x, 0) for x in keys]])
json.dump(out, sys.stdout)
"""

EVIDENTLY = r"""
import json, sys
import pandas as pd
from evidently import Dataset, DataDefinition, Report
from evidently.presets import DataDriftPreset
ref, cur = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
num = [c for c in ref.columns if pd.api.types.is_numeric_dtype(ref[c])]
cat = [c for c in ref.columns if c not in num]
dd = DataDefinition(numerical_columns=num, categorical_columns=cat)
snap = Report([DataDriftPreset(num_method="ks", cat_method="chisquare")]).run(
    Dataset.from_pandas(cur, data_definition=dd), Dataset.from_pandas(ref, data_definition=dd))
out = {}
for m in snap.dict()["metrics"]:
    name = m.get("metric_name", "")
    if name.startswith("ValueDrift(column=") and "method=ks" in name:
        out[name[len("ValueDrift(column="):].split(",")[0]] = m["value"]
json.dump(out, sys.stdout)
"""


def tables(rows, features, categorical, tmp, seed=0):
    rng = np.random.default_rng(seed)
    cols_r, cols_c = {}, {}
    for j in range(features):
        kind = j % 3
        shift = 0.05 if j % 3 == 0 else 0.0
        if kind == 0:
            cols_r[f"n{j}"] = rng.normal(0, 1, rows)
            cols_c[f"n{j}"] = rng.normal(shift, 1, rows)
        elif kind == 1:
            cols_r[f"n{j}"] = np.exp(rng.normal(10, 0.6, rows))
            cols_c[f"n{j}"] = np.exp(rng.normal(10, 0.6, rows))
        else:
            cols_r[f"n{j}"] = rng.poisson(4, rows).astype(float)
            cols_c[f"n{j}"] = rng.poisson(4, rows).astype(float)
    for j in range(categorical):
        cats = [f"c{j}_{k}" for k in range(8)]
        cols_r[f"cat{j}"] = rng.choice(cats, rows)
        cols_c[f"cat{j}"] = rng.choice(cats, rows)
    paths = []
    for name, cols in (("ref", cols_r), ("cur", cols_c)):
        path = os.path.join(tmp, f"{name}.csv")
        names = list(cols)
        with open(path, "w") as f:
            f.write(",".join(names) + "\n")
            data = [cols[n] for n in names]
            for i in range(rows):
                f.write(",".join(
                    (f"{v[i]:.6g}" if isinstance(v[i], float) else str(v[i])) for v in data) + "\n")
        paths.append(path)
    return paths


def timed_rss(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{' '.join(cmd[:3])} failed ({code})")
    return wall, usage.ru_maxrss / 1024, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aigis", default=os.path.join(ROOT, "target", "release", "aigis"))
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--categorical", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--evidently-python", help="a Python with evidently 0.7 installed")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ref, cur = tables(args.rows, args.features, args.categorical, tmp)
        size = (os.path.getsize(ref) + os.path.getsize(cur)) / 2**20
        print(f"{args.rows:,} rows × {args.features} numeric + {args.categorical} categorical "
              f"columns, two CSV files, {size:.0f} MiB together")
        tools = {
            "aigis": [args.aigis, "--json", "monitor", "drift", ref, cur],
            "scipy": [sys.executable, "-c", SCIPY, ref, cur],
        }
        if args.evidently_python:
            tools["evidently"] = [args.evidently_python, "-c", EVIDENTLY, ref, cur]
        results, pvalues = {}, {}
        for name, cmd in tools.items():
            best = None
            for _ in range(args.reps):
                wall, rss, out = timed_rss(cmd)
                if best is None or wall < best[0]:
                    best = (wall, rss)
            results[name] = best
            if name == "aigis":
                report = json.loads(out)
                pvalues[name] = {f["name"]: f["test"]["p_value"] for f in report["features"]
                                 if f["test"] and f["test"]["test"] == "ks"}
            else:
                pvalues[name] = json.loads(out)
        ref_p = pvalues["scipy"]
        for name, ps in pvalues.items():
            worst = max(abs(ps[c] - ref_p[c]) / max(ref_p[c], 1e-300) if ref_p[c] > 1e-13 else
                        abs(ps[c] - ref_p[c]) for c in ref_p)
            if worst > 1e-6:
                sys.exit(f"{name}'s KS p-values differ from scipy's (worst relative {worst:.2e})")
        print(f"KS p-values of all {len(ref_p)} numeric columns equal across the tools")
        base = results["aigis"][0]
        print(f"| tool | time (best of {args.reps}) | peak RSS | × |")
        print("|---|---:|---:|---:|")
        for name, (wall, rss) in results.items():
            print(f"| {name} | {wall:.2f} s | {rss:.0f} MiB | {wall / base:.1f} |")


if __name__ == "__main__":
    main()
