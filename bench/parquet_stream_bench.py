#!/usr/bin/env python3
"""`aigis monitor drift --stream` over a Parquet current table: one or more aigis binaries
timed on the same files in the same run, and their reports compared feature by feature.

A reference of --ref-rows rows and a current table of --rows rows x --cols float32
columns (numpy normal draws; the first tenth of the columns moved by 0.2 in the current
table), written with pyarrow in row groups of 65,536 rows. Each binary runs
`aigis --json monitor drift ref.parquet cur.parquet --stream`; the time and the peak
resident memory (GNU time) are printed, and the run exits 1 when two binaries' reports
differ in a feature's test or status.

    pip install numpy pyarrow
    python3 bench/parquet_stream_bench.py OLD/aigis target/debug/aigis --dir /tmp/pq
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write(path, rows, cols, shift, rng):
    x = rng.normal(size=(rows, cols)).astype(np.float32)
    x[:, : max(1, cols // 10)] += shift
    pq.write_table(pa.table({f"f{j}": x[:, j] for j in range(cols)}), path,
                   row_group_size=65536)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis", nargs="+", help="aigis binaries to time")
    ap.add_argument("--dir", required=True, help="where the Parquet files are written")
    ap.add_argument("--ref-rows", type=int, default=20000)
    ap.add_argument("--rows", type=int, default=300000)
    ap.add_argument("--cols", type=int, default=200)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    ref, cur = os.path.join(args.dir, "ref.parquet"), os.path.join(args.dir, "cur.parquet")
    rng = np.random.default_rng(0)
    if not (os.path.exists(ref) and os.path.exists(cur)):
        write(ref, args.ref_rows, args.cols, 0.0, rng)
        write(cur, args.rows, args.cols, 0.2, rng)
    print(f"current: {os.path.getsize(cur) / 1e6:.0f} MB, {args.rows} rows x {args.cols}")
    reports = []
    for binary in args.aigis:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", binary, "--json", "monitor",
                            "drift", ref, cur, "--stream"], capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"{binary} failed ({p.returncode}):\n{p.stderr}")
        seconds, kb = p.stderr.strip().splitlines()[-1].split()
        print(f"{binary}: {float(seconds):.1f} s, peak RSS {int(kb) / 1024:.0f} MB")
        reports.append(json.loads(p.stdout))
    for other in reports[1:]:
        for a, b in zip(reports[0]["features"], other["features"]):
            if a["test"] != b["test"] or a["status"] != b["status"]:
                sys.exit(f"the reports differ at {a['name']}:\n{a}\n{b}")
    if len(reports) > 1:
        print("the reports are identical, feature by feature")


if __name__ == "__main__":
    main()
