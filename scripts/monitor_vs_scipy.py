#!/usr/bin/env python3
"""`aigis monitor drift` against scipy, the reference its statistics promise to match.

Two checks:

1. End to end (the default): reference and current tables are written as CSV, with
   columns chosen to reach every path of the tests: real data (scikit-learn's breast
   cancer, wine and digits, split and shifted), ties, tiny and large samples, equal and
   unequal sizes, exact p-values (both samples at most 10,000 values) and asymptotic ones
   at effective sizes in every region of scipy's Kolmogorov distribution (Durbin's matrix,
   Pomeranz, Pelz-Good, the one-sided tail, the closed forms), categorical columns with
   new and vanished categories and one degree of freedom (Yates). `aigis monitor drift
   --json` is run on them and every number is compared with scipy's on the same samples:
   `ks_2samp` (statistic and p-value), `chi2_contingency`, `wasserstein_distance`, and the
   PSI as aigis defines it, computed here with numpy (reference deciles, `np.quantile`
   linear; shares floored at 1e-4).

2. `--write-grid FILE`: scipy's `kstwo.sf`, `smirnov` and `chi2.sf` on a grid over every
   region, and `shapiro`'s W on seeded samples of five shapes and 3 to 5,000 values, written as JSON for the Rust test `crates/aigis-monitor/tests/scipy_grid.rs`
   (which then needs no Python). The committed file is
   `crates/aigis-monitor/tests/data/scipy_grid.json`; the default run also checks that it
   still equals what this scipy computes.

    pip install scipy scikit-learn numpy
    cargo build -p aigis
    python3 scripts/monitor_vs_scipy.py                 # exits 1 on any mismatch
    python3 scripts/monitor_vs_scipy.py --write-grid crates/aigis-monitor/tests/data/scipy_grid.json
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy import stats
from scipy.special import smirnov

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = os.path.join(ROOT, "crates", "aigis-monitor", "tests", "data", "scipy_grid.json")

# Tolerances: the statistics are the same arithmetic (to the bit for KS); p-values come
# from different code for the same formulas.
REL_P = 1e-7
ABS_P = 1e-13
REL_STAT = 1e-9


def close(got, want, rel, abs_):
    if want is None or got is None:
        return got is None and want is None
    if math.isnan(want):
        return math.isnan(got)
    return abs(got - want) <= max(abs_, rel * abs(want))


def grid():
    """scipy's distributions on a grid that crosses every region of the algorithm choice."""
    ns = [1, 2, 3, 5, 10, 30, 80, 140, 141, 500, 1000, 5000, 20000, 100000, 100001,
          400000, 1000000, 1000001, 3000000]
    points = []
    for n in ns:
        xs = {0.5 / n + 1e-12, 0.75 / n, 1.0 / n, 0.3, 0.5, 0.6, 0.9, 1 - 1.0 / n}
        for a in [0.1, 0.3, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0]:
            xs.add(a / math.sqrt(n))
        for x in sorted(xs):
            if not 0.0 < x < 1.0:
                continue
            points.append({
                "n": n,
                "x": x,
                "kstwo_sf": float(stats.kstwo.sf(x, n)),
                "smirnov": float(smirnov(n, x)),
            })
    chi2 = []
    for dof in [1, 2, 3, 5, 9, 20, 50, 200, 999]:
        for q in [0.001, 0.1, 0.5, 0.9, 0.999]:
            x = float(stats.chi2.ppf(q, dof))
            chi2.append({"dof": dof, "x": x, "sf": float(stats.chi2.sf(x, dof))})
        for x in [0.5 * dof + 1, 3.0 * dof + 10, 10.0 * dof + 50]:
            chi2.append({"dof": dof, "x": x, "sf": float(stats.chi2.sf(x, dof))})
    shapiro = []
    for n in [3, 4, 5, 6, 7, 11, 12, 20, 50, 100, 101, 999, 1000, 2000, 5000]:
        for kind in SHAPIRO_KINDS:
            x = shapiro_sample(kind, n, seed=n * 31 + len(shapiro))
            shapiro.append({"n": n, "kind": kind, "seed": n * 31 + len(shapiro),
                            "w": float(stats.shapiro(x).statistic)})
    return {"scipy": __import__("scipy").__version__, "kolmogorov": points, "chi2": chi2,
            "shapiro": shapiro}


SHAPIRO_KINDS = ["uniform", "exponential", "normal", "lognormal", "rounded"]
MASK = (1 << 64) - 1


def shapiro_sample(kind, n, seed):
    """`n` values of `kind` from splitmix64 at `seed`: the Rust test draws the same ones
    (`crates/aigis-monitor/tests/scipy_grid.rs`), so only scipy's answers are stored."""
    state = seed & MASK

    def uniform():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return ((z >> 11) + 0.5) * 2.0 ** -53

    def normal():
        u1, u2 = uniform(), uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    draw = {
        "uniform": uniform,
        "exponential": lambda: -math.log(uniform()),
        "normal": normal,
        "lognormal": lambda: math.exp(normal()),
        "rounded": lambda: float(math.floor(3.0 * normal() + 0.5)),
    }[kind]
    return np.array([draw() for _ in range(n)])


def write_columns(path, columns):
    """Columns of different lengths in one CSV: the short ones end in empty (null) cells."""
    names = list(columns)
    rows = max(len(v) for v in columns.values())
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for i in range(rows):
            cells = []
            for n in names:
                v = columns[n]
                if i >= len(v):
                    cells.append("")
                elif isinstance(v[i], str):
                    cells.append(v[i])
                else:
                    cells.append(repr(float(v[i])))
            f.write(",".join(cells) + "\n")


def numeric_cases(rng):
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    ref, cur = {}, {}
    bc = load_breast_cancer().data
    idx = rng.permutation(len(bc))
    for j in range(0, 30, 3):
        ref[f"bc_{j}"] = bc[idx[:300], j]
        cur[f"bc_{j}"] = bc[idx[300:], j] * (1.0 if j % 2 else 1.08)
    wine = load_wine().data
    idx = rng.permutation(len(wine))
    for j in range(0, 13, 2):
        ref[f"wine_{j}"] = wine[idx[:100], j]
        cur[f"wine_{j}"] = wine[idx[100:], j] + (0.0 if j % 4 else 0.3 * wine[:, j].std())
    digits = load_digits().data
    idx = rng.permutation(len(digits))
    for j in [10, 21, 36, 43, 60]:  # integers 0..16: ties everywhere
        ref[f"digits_{j}"] = digits[idx[:1000], j]
        cur[f"digits_{j}"] = np.clip(digits[idx[1000:], j] + (1 if j == 43 else 0), 0, 16)
    # Exact p-values: tiny, equal, unequal, and the largest exact size.
    ref["tiny"] = rng.normal(0, 1, 7)
    cur["tiny"] = rng.normal(1, 1, 13)
    ref["equal_40"] = rng.normal(0, 1, 40)
    cur["equal_40"] = rng.normal(0.6, 1, 40)
    ref["equal_10000"] = rng.normal(0, 1, 10000)
    cur["equal_10000"] = rng.normal(0.04, 1, 10000)
    ref["unequal_9999"] = rng.normal(0, 1, 9999)
    cur["unequal_9999"] = rng.normal(0.03, 1, 10000)
    # NaN (a null in CSV) and infinities: left out of the test, counted as missing.
    ref["with_inf"] = np.concatenate([rng.normal(0, 1, 500), [np.inf] * 10, [np.nan] * 5])
    cur["with_inf"] = np.concatenate([rng.normal(0, 1, 400), [-np.inf] * 60, [np.nan] * 40])
    ref["far_apart"] = rng.normal(0, 1, 300)
    cur["far_apart"] = rng.normal(5, 1, 450)
    # Asymptotic p-values (a sample above 10,000) at effective sizes n = round(n1 n2 /
    # (n1 + n2)) and distances that fall in each region of scipy's kstwo.
    for label, n_small, shift in [
        ("en3", 3, 0.0), ("en50_a", 50, 0.0), ("en50_b", 50, 0.5), ("en50_c", 50, 1.2),
        ("en50_d", 50, 3.0), ("en1714_a", 2000, 0.0), ("en1714_b", 2000, 0.04),
        ("en1714_c", 2000, 0.15), ("en1714_d", 2000, 1.0), ("en1714_e", 2000, 4.0),
        ("en6667_a", 10001, 0.0), ("en6667_b", 10001, 0.05),
    ]:
        ref[label] = rng.normal(0, 1, 12000 if n_small != 10001 else 20000)
        cur[label] = rng.normal(shift, 1, n_small)
    return ref, cur


def categorical_cases(rng):
    ref, cur = {}, {}
    ref["colour"] = list(rng.choice(["red", "green", "blue"], 400, p=[0.5, 0.3, 0.2]))
    cur["colour"] = list(rng.choice(["red", "green", "blue"], 300, p=[0.4, 0.3, 0.3]))
    ref["yes_no"] = list(rng.choice(["yes", "no"], 200, p=[0.3, 0.7]))
    cur["yes_no"] = list(rng.choice(["yes", "no"], 200, p=[0.45, 0.55]))
    ref["grade"] = list(rng.choice(list("ABCDE"), 500))
    cur["grade"] = list(rng.choice(list("ABCDEF"), 500))  # a new category
    ref["gone"] = list(rng.choice(list("PQRS"), 300))
    cur["gone"] = list(rng.choice(list("PQR"), 300))  # a vanished one
    ref["stable_city"] = list(rng.choice(["Lyon", "Oslo", "Lima", "Pune"], 1000))
    cur["stable_city"] = list(rng.choice(["Lyon", "Oslo", "Lima", "Pune"], 900))
    ref["single"] = ["only"] * 50
    cur["single"] = ["only"] * 70
    return ref, cur


def psi_reference(r, c, bins=10):
    r, c = np.sort(r), np.sort(c)
    edges = np.quantile(r, [i / bins for i in range(1, bins)])
    edges = edges[np.concatenate([[True], np.diff(edges) != 0])]

    def shares(x):
        upto = np.searchsorted(x, edges, side="right")
        counts = np.diff(np.concatenate([[0], upto, [len(x)]]))
        return np.maximum(counts / len(x), 1e-4)

    rs, cs = shares(r), shares(c)
    return float(np.sum((cs - rs) * np.log(cs / rs)))


def psi_categories(r, c):
    keys = sorted(set(r) | set(c))
    rs = np.maximum(np.array([r.count(k) for k in keys]) / len(r), 1e-4)
    cs = np.maximum(np.array([c.count(k) for k in keys]) / len(c), 1e-4)
    return float(np.sum((cs - rs) * np.log(cs / rs)))


def run_aigis(aigis, ref_path, cur_path, *extra):
    """`aigis --json monitor drift REF CUR EXTRA...` as JSON (exit 0 or 1, else the end)."""
    p = subprocess.run([aigis, "--json", "monitor", "drift", ref_path, cur_path, *extra],
                       capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"aigis monitor drift failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aigis", default=os.path.join(ROOT, "target", "debug", "aigis"))
    ap.add_argument("--write-grid", metavar="FILE")
    args = ap.parse_args()

    if args.write_grid:
        with open(args.write_grid, "w") as f:
            json.dump(grid(), f, indent=1)
            f.write("\n")
        print(f"wrote {args.write_grid}")
        return

    failures = []
    checked = 0

    def check(what, got, want, rel=REL_P, abs_=ABS_P):
        nonlocal checked
        checked += 1
        if not close(got, want, rel, abs_):
            failures.append(f"{what}: aigis {got!r}, scipy {want!r}")

    # The committed grid still equals this scipy's answers.
    with open(GRID) as f:
        committed = json.load(f)
    fresh = grid()
    for a, b in zip(committed["kolmogorov"], fresh["kolmogorov"]):
        check(f"grid kstwo.sf({a['x']}, {a['n']})", a["kstwo_sf"], b["kstwo_sf"], 1e-12, 1e-300)
        check(f"grid smirnov({a['n']}, {a['x']})", a["smirnov"], b["smirnov"], 1e-12, 1e-300)
    for a, b in zip(committed["shapiro"], fresh["shapiro"]):
        check(f"grid shapiro({a['kind']}, n={a['n']})", a["w"], b["w"], 1e-12, 1e-300)
    if len(committed["kolmogorov"]) != len(fresh["kolmogorov"]) or len(
            committed["shapiro"]) != len(fresh["shapiro"]):
        failures.append("the committed grid has a different number of points: rewrite it")

    rng = np.random.default_rng(20261203)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (ref, cur) in [("numeric", numeric_cases(rng)),
                                 ("categorical", categorical_cases(rng))]:
            rp, cp = os.path.join(tmp, f"{name}_ref.csv"), os.path.join(tmp, f"{name}_cur.csv")
            write_columns(rp, ref)
            write_columns(cp, cur)
            report = run_aigis(args.aigis, rp, cp)
            features = {f["name"]: f for f in report["features"]}
            for col in ref:
                f = features.get(col)
                if f is None:
                    failures.append(f"{col}: missing from aigis's report")
                    continue
                t = f["test"]
                # What is missing: every row of the file that is not a value tested
                # (the short columns' padding included), by chi2_contingency on the
                # 2 x 2 table.
                rows_r, rows_c = report["reference"]["rows"], report["current"]["rows"]
                if name == "numeric":
                    present_r = int(np.isfinite(np.asarray(ref[col], dtype=float)).sum())
                    present_c = int(np.isfinite(np.asarray(cur[col], dtype=float)).sum())
                else:
                    present_r, present_c = len(ref[col]), len(cur[col])
                miss = [[present_r, rows_r - present_r], [present_c, rows_c - present_c]]
                if miss[0][1] + miss[1][1] == 0:
                    ms, mp = 0.0, 1.0
                else:
                    m = stats.chi2_contingency(miss)
                    ms, mp = float(m.statistic), float(m.pvalue)
                check(f"{col} missing chi2 statistic", f["missing"]["test"]["statistic"], ms, REL_STAT, 1e-12)
                check(f"{col} missing chi2 p-value", f["missing"]["test"]["p_value"], mp)
                if name == "numeric":
                    r = np.asarray(ref[col], dtype=float)
                    c = np.asarray(cur[col], dtype=float)
                    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
                    want = stats.ks_2samp(r, c)
                    method = "exact" if max(len(r), len(c)) <= 10000 else "asymptotic"
                    if t is None or t["test"] != "ks" or t["method"] != method:
                        failures.append(f"{col}: expected a {method} KS test, got {t}")
                        continue
                    check(f"{col} KS statistic", t["statistic"], float(want.statistic), 1e-15, 1e-15)
                    check(f"{col} KS p-value", t["p_value"], float(want.pvalue))
                    check(f"{col} Wasserstein", f["wasserstein"],
                          float(stats.wasserstein_distance(r, c)), REL_STAT, 1e-12)
                    check(f"{col} PSI", f["psi"], psi_reference(r, c), REL_STAT, 1e-12)
                    # The range test, by exact integer arithmetic: C(m, k) / C(n + m, k).
                    above, below = int((c > r.max()).sum()), int((c < r.min()).sum())
                    tail = lambda k: math.comb(len(c), k) / math.comb(len(r) + len(c), k)
                    rg = f["range"]
                    if (rg["above"], rg["below"]) != (above, below):
                        failures.append(f"{col}: range {rg}, expected {above} above, {below} below")
                    check(f"{col} range p-value", rg["p_value"], min(1.0, 2 * min(tail(above), tail(below))))
                else:
                    table = []
                    keys = sorted(set(ref[col]) | set(cur[col]))
                    table = [[ref[col].count(k) for k in keys], [cur[col].count(k) for k in keys]]
                    if len(keys) > 1:
                        want = stats.chi2_contingency(table)
                        ws, wp, wd = float(want.statistic), float(want.pvalue), int(want.dof)
                    else:
                        ws, wp, wd = 0.0, 1.0, 0
                    if t is None or t["test"] != "chi2":
                        failures.append(f"{col}: expected a chi-square test, got {t}")
                        continue
                    check(f"{col} chi2 statistic", t["statistic"], ws, REL_STAT, 1e-12)
                    check(f"{col} chi2 p-value", t["p_value"], wp)
                    if t["dof"] != wd:
                        failures.append(f"{col}: dof {t['dof']}, scipy {wd}")
                    check(f"{col} PSI", f["psi"], psi_categories(ref[col], cur[col]), REL_STAT, 1e-12)
            print(f"{name}: {len(ref)} features compared; aigis says {report['verdict']} "
                  f"({report['drifted']} of {report['tested']} drifted)")

    if failures:
        print(f"FAILED: {len(failures)} of {checked} values differ from scipy:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print(f"ok: {checked} values equal scipy's (p-values within {REL_P:g} relative or "
          f"{ABS_P:g} absolute; KS statistics to 1e-15)")


if __name__ == "__main__":
    main()
