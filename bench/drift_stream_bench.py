#!/usr/bin/env python3
"""`aigis monitor drift --stream` at scale: millions of rows × a thousand features.

The issue's goal: 3,000,000 rows × 1,000 numeric features, drift against a reference, in
at most 60 s on this machine with bounded memory (Evidently users report 6 hours and
running out of memory at this size). This script writes a reference array (`--ref-rows`,
default 200,000) and a current one (`--rows`, default 3,000,000) of `--features` float32
columns as `.npy` files (12 GB for the default current array: it needs the disk), a tenth
of the current features moved by 0.02 standard deviations, then runs

    aigis --json monitor drift ref.npy cur.npy        (--stream is implied for .npy)

and reports wall time, peak resident memory (from /usr/bin/time -v) and rows × features
per second, with the verdict counts. The same command on a current array a tenth as
long is run first, to show that memory does not grow with the current table.

Beside it, in the same run, the baseline a notebook would use: numpy reads the arrays
(memory-mapped) and `scipy.stats.ks_2samp` tests each column, timed on `--baseline-features`
columns (default 20) and scaled to all of them; its memory is the whole column set it
sorts. scipy's statistic is compared with aigis's lower and upper bounds on those
columns (it must lie between them).

    pip install numpy scipy
    cargo build --release -p aigis
    python3 bench/drift_stream_bench.py --dir /path/with/13GB/free
    python3 bench/drift_stream_bench.py --rows 300000 --quick   # a smaller run
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(path, rows, features, seed, shift_every=0, block=50_000):
    """A float32 .npy of standard normals, written a block at a time."""
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    for i in range(0, rows, block):
        b = rng.standard_normal((min(block, rows - i), features), dtype=np.float32)
        if shift_every:
            b[:, ::shift_every] += np.float32(0.02)
        x[i:i + len(b)] = b
    x.flush()
    del x


def run(binary, ref, cur):
    """aigis's report, wall seconds and peak resident MB."""
    t = time.time()
    p = subprocess.run(["/usr/bin/time", "-v", binary, "--json", "monitor", "drift", ref, cur],
                       capture_output=True, text=True)
    wall = time.time() - t
    if p.returncode not in (0, 1):
        sys.exit(f"aigis failed ({p.returncode}): {p.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return json.loads(p.stdout), wall, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/aigis-drift-stream")
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--ref-rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=1000)
    ap.add_argument("--baseline-features", type=int, default=20)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/aigis"))
    ap.add_argument("--keep", action="store_true", help="keep the arrays")
    ap.add_argument("--quick", action="store_true", help="skip the smaller run")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    ref, cur, small = (os.path.join(a.dir, f) for f in ("ref.npy", "cur.npy", "cur_small.npy"))
    print(f"writing {a.ref_rows:,} × {a.features} and {a.rows:,} × {a.features} float32 arrays "
          f"({a.rows * a.features * 4 / 1e9:.1f} GB) in {a.dir} …", flush=True)
    write(ref, a.ref_rows, a.features, seed=1)
    write(cur, a.rows, a.features, seed=2, shift_every=10)
    results = {}
    if not a.quick:
        write(small, a.rows // 10, a.features, seed=3, shift_every=10)
        report, wall, rss = run(a.binary, ref, small)
        results["small"] = (a.rows // 10, wall, rss)
        print(f"aigis, {a.rows // 10:,} current rows: {wall:.1f} s, peak {rss:,.0f} MB", flush=True)
        os.remove(small)
    # Read once so that both tools find the file in the page cache (or neither does).
    report, wall, rss = run(a.binary, ref, cur)
    statuses = {}
    for f in report["features"]:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    moved = sum(1 for i, f in enumerate(report["features"]) if i % 10 == 0 and f["status"] == "drift")
    still = sum(1 for i, f in enumerate(report["features"]) if i % 10 != 0 and f["status"] == "drift")
    print(f"aigis, {a.rows:,} current rows × {a.features}: {wall:.1f} s "
          f"({a.rows * a.features / wall / 1e6:.0f} M values/s), peak {rss:,.0f} MB; "
          f"verdict {report['verdict']}, statuses {statuses}; moved features caught "
          f"{moved}/{a.features // 10}, others called drift {still}", flush=True)

    # The baseline on a few columns, scaled.
    from scipy import stats
    r = np.load(ref, mmap_mode="r")
    c = np.load(cur, mmap_mode="r")
    k = a.baseline_features
    t = time.time()
    checked = 0
    for j in range(k):
        res = stats.ks_2samp(np.asarray(r[:, j], dtype=np.float64), np.asarray(c[:, j], dtype=np.float64))
        f = report["features"][j]
        low = f["test"]["statistic"]
        high = low + (f["sketch"]["rank_error"] if f.get("sketch") else 0.0)
        assert low - 1e-12 <= res.statistic <= high + 1e-12, (j, res.statistic, low, high)
        checked += 1
    per = (time.time() - t) / k
    print(f"scipy ks_2samp (numpy memory-mapped arrays), {k} columns: {per:.2f} s a column, "
          f"{per * a.features:.0f} s for {a.features} (scaled); its statistic within aigis's "
          f"bounds on all {checked}; aigis is {per * a.features / wall:.1f}× faster", flush=True)
    if not a.keep:
        os.remove(cur)
        os.remove(ref)


if __name__ == "__main__":
    main()
