#!/usr/bin/env python3
"""`aigis redteam` against IBM ART: the same attacks on the same model and rows, in one run.

A small neural network (scikit-learn's MLPClassifier, one hidden layer of 64 ReLU units) is
trained on 60 % of scikit-learn's digits (8x8 images, pixels scaled to 0..1, float32) and
exported to ONNX with skl2onnx (its default ZipMap output kept: aigis reads it). The other
40 % (719 rows; the first 200 with --quick) are written to `test.csv` (p0..p63, then the
integer `label`) and both tools attack all of them, untargeted, L-inf, with the true labels:

  FGSM  eps 0.1 and 0.2 (one signed-gradient step, clipped to 0..1)
  PGD   eps 0.1, 40 steps of 0.01, no random start, no restarts
  HSJ   HopSkipJump, L2, 40 iterations, ART's defaults otherwise, on the first 30 test rows
        (--hsj-rows, --hsj-iterations): median L2 of the rows fooled, model queries per
        attacked row (ART's counted by the BlackBoxClassifier it queries), seconds
  Square  the Square attack, L-inf at eps 0.1 and 0.2 and L2 at eps 0.5 and 1, 100
        iterations (ART's default; --square-iterations), p_init 0.8, one run, on every row
        right when clean (ART's Square takes images: the rows go to it as 1x8x8): rows
        fooled, queries per row. ART's L2 form differs from the paper's (it divides the new
        window by its intended length instead of scaling it to that length, and its start
        on an 8x8 image is 0/0, never kept); aigis's follows the paper

ART attacks through `MLPGradients` (from detect_eval.py: the cross-entropy gradient
backpropagated by hand through the fitted weights, checked against finite differences at
the start of the run); aigis attacks the ONNX file itself:

  aigis --json redteam model.onnx --data test.csv --label label --attacks fgsm --eps 0.1,0.2 --clip 0,1
  aigis --json redteam model.onnx --data test.csv --label label --attacks pgd --eps 0.1 --step 0.01 --steps 40 --clip 0,1

run in the temporary directory (outside any aigis project, so no evidence is recorded).
ART's adversarial rows are judged by onnxruntime on the ONNX file (float32): a row is
broken when the predicted class is not its label. Reported per attack and side:

- success rate: broken rows over the rows the model gets right when clean;
- robust accuracy: rows still classified right over all rows;
- seconds: ART's `generate` (time.perf_counter), aigis's own per-attack `seconds`, and the
  wall time of the aigis process (model load, CSV parse and clean pass included; the two
  FGSM rows share one process). The speed ratio is ART seconds / aigis attack seconds.

Both sides' clean accuracy is printed too: the same model judges both (onnxruntime here,
aigis's own runtime there), so they should agree exactly.

Differences to expect: ART's PGD returns the last iterate (it neither stops at the first
success nor keeps the best iterate), so a row broken at step 12 and repaired by step 40
counts as a failure; the JSON output also gives ART's "any iterate" success rate (a row
broken at some iterate PGD visited), an upper bound for an implementation that stops early.
ART casts inputs to float32 and its FGSM leaves pixels with a zero gradient alone.

Measured (seed 0, 719 rows, 700 right when clean): FGSM 0.1 55.14 %, FGSM 0.2 99.14 %, PGD
60.86 % on both sides, row counts equal (386, 694, 426 broken), clean accuracy 97.36 % on
both; seeds 1-3 agree exactly too. ART takes milliseconds here, so the speed ratio is noisy.

    pip install adversarial-robustness-toolbox scikit-learn skl2onnx onnxruntime numpy
    cargo build -p aigis
    python3 bench/redteam_vs_art.py target/debug/aigis --json redteam.json
    python3 bench/redteam_vs_art.py target/release/aigis --quick
    python3 bench/redteam_vs_art.py --art-only            # the ART half alone
    python3 bench/redteam_vs_art.py target/debug/aigis --check   # CI: exit 1 on a disagreement

--check fails unless aigis's success rate is within 2 points of ART's on every attack
(and, for HopSkipJump, aigis fools as many rows, with a median L2 at most 1.15 times ART's
and at most 1.05 times its queries; for Square, aigis fools at most 2 points fewer rows with
no more queries per row),
aigis reports `"gradients": "exact"`, the clean accuracies agree within 0.2 points, and the
hand-written gradient passes its finite-difference check. Speed is reported, not checked.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore", message=".*PyTorch not found.*")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detect_eval import MLPGradients, gradient_check  # noqa: E402

import onnxruntime as ort  # noqa: E402
from art.attacks.evasion import (  # noqa: E402
    FastGradientMethod, HopSkipJump, ProjectedGradientDescent, SquareAttack)
from art.estimators.classification import (  # noqa: E402
    BlackBoxClassifier, BlackBoxClassifierNeuralNetwork)
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

CLIP = (0.0, 1.0)
FGSM_EPS = [0.1, 0.2]
PGD = {"eps": 0.1, "step": 0.01, "steps": 40}
QUICK_ROWS = 200
HSJ = {"rows": 30, "iterations": 40}   # --hsj-rows / --hsj-iterations override
SQUARE_EPS = [("inf", 0.1), ("inf", 0.2), ("2", 0.5), ("2", 1.0)]
SQUARE_ITERATIONS = 100                # ART's default max_iter; --square-iterations overrides
MAX_HSJ_L2_RATIO = 1.15                # --check: aigis's median L2 at most this times ART's
MAX_HSJ_QUERY_RATIO = 1.05             # --check: aigis's queries per row at most this times ART's

# --check tolerances
MAX_SUCCESS_GAP = 0.02          # aigis vs ART success rate, per attack
MAX_CLEAN_GAP = 0.002           # aigis vs onnxruntime clean accuracy
MAX_GRADIENT_ERROR = 1e-5       # the hand-written gradient vs central differences
MAX_ONNX_DIFF = 1e-4            # onnxruntime vs scikit-learn probabilities


class OnnxJudge:
    """The exported model as onnxruntime runs it (ZipMap output): the judge of every prediction."""

    def __init__(self, path, classes):
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.classes = list(classes)

    def run(self, x):
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        label, proba = self.session.run(self.outputs[:2], {self.input: x})
        if isinstance(proba, list):   # ZipMap: one {class: probability} per row
            proba = np.array([[row[c] for c in self.classes] for row in proba], dtype=np.float64)
        return np.asarray(label), np.asarray(proba)

    def label(self, x):
        lab, proba = self.run(x)
        # The label output is the argmax of the probabilities; say so if a row ever disagrees.
        odd = lab != np.asarray(self.classes)[proba.argmax(axis=1)]
        if odd.any():
            print(f"note: onnxruntime's label output differs from its probabilities' argmax on "
                  f"{int(odd.sum())} rows (near-ties); judging by the label output",
                  file=sys.stderr)
        return lab


def write_csv(path, x, y):
    """p0..p63 then `label`; repr floats so the float32 values come back exactly."""
    with open(path, "w") as f:
        f.write(",".join([f"p{j}" for j in range(x.shape[1])] + ["label"]) + "\n")
        for row, lab in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(lab)}\n")


def build(workdir, seed, rows, log):
    """Split, train, export, check; the test rows, the wrapper and the judge."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.4, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed)
    clf.fit(x_train, y_train)

    onx = convert_sklearn(clf, initial_types=[("X", FloatTensorType([None, x.shape[1]]))])
    model_path = os.path.join(workdir, "model.onnx")
    with open(model_path, "wb") as f:
        f.write(onx.SerializeToString())

    if rows is not None:
        x_test, y_test = x_test[:rows], y_test[:rows]
    data_path = os.path.join(workdir, "test.csv")
    write_csv(data_path, x_test, y_test)

    est = MLPGradients(clf, clip_values=CLIP)
    judge = OnnxJudge(model_path, clf.classes_)

    p_sk = clf.predict_proba(x_test)
    _, p_onnx = judge.run(x_test)
    onnx_diff = float(np.abs(p_onnx - p_sk).max())
    if onnx_diff >= MAX_ONNX_DIFF:
        sys.exit(f"onnxruntime's probabilities differ from scikit-learn's by {onnx_diff:.1e}")
    p_est = est.predict(x_test)
    wrap_diff = float(np.abs(p_est - p_sk).max())
    if wrap_diff >= MAX_ONNX_DIFF or (p_est.argmax(1) != p_sk.argmax(1)).any():
        sys.exit(f"the wrapper's probabilities differ from scikit-learn's by {wrap_diff:.1e}")

    rng = np.random.default_rng(seed)
    probe = rng.choice(len(x_test), size=8, replace=False)
    # On the rows and off them, against labels other than the true ones: at the true label
    # of a confident row the loss is ~1e-8 and the differences are all rounding.
    points = np.vstack([x_test[probe],
                        np.clip(x_test[probe] + rng.uniform(-0.03, 0.03, (8, x.shape[1])), *CLIP)])
    labels = (np.tile(y_test[probe], 2) + rng.integers(1, 10, 16)) % 10
    grad_err = gradient_check(est, points, labels)

    clean_right = judge.label(x_test) == y_test
    log(f"model: {len(x_train)} train rows, {len(x_test)} test rows attacked, clean accuracy "
        f"{clean_right.mean():.4f} (onnxruntime); ONNX vs scikit-learn probabilities "
        f"{onnx_diff:.1e}, wrapper vs scikit-learn {wrap_diff:.1e}; gradient check: largest "
        f"relative error {grad_err:.1e} on {len(points)} points")
    return {"x": x_test, "y": y_test, "clf": clf, "est": est, "judge": judge,
            "model": model_path, "data": data_path, "right": clean_right,
            "onnx_diff": onnx_diff, "grad_err": grad_err,
            "train_rows": len(x_train)}


class Recording(MLPGradients):
    """MLPGradients that also notes, at every point ART asks a gradient for, which rows are broken.

    For PGD that is every iterate but the last: with the final one judged afterwards, the
    share of rows broken at *some* iterate (what an attack that stops early would report).
    """

    def __init__(self, clf, clip_values, y):
        super().__init__(clf, clip_values)
        self.y = np.asarray(y)
        self.broken = np.zeros(len(y), dtype=bool)

    def loss_gradient(self, x, y, **kwargs):
        if len(x) == len(self.y):
            self.broken |= self.predict(x).argmax(axis=1) != self.y
        return super().loss_gradient(x, y, **kwargs)


def run_art(m, log):
    """ART's attacks on every row: [{attack, eps, success_rate, robust_accuracy, seconds, ...}]."""
    est, judge = m["est"], m["judge"]
    x, y, right = m["x"], m["y"], m["right"]
    out = []

    def record(attack, eps, adv, t, extra=None):
        adv_right = judge.label(adv) == y
        broken = right & ~adv_right
        d = (adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
        r = {"attack": attack, "eps": eps, "rows": len(x), "attacked": int(right.sum()),
             "succeeded": int(broken.sum()),
             "success_rate": float(broken.sum() / max(1, right.sum())),
             "robust_accuracy": float(adv_right.mean()),
             "max_linf": float(np.abs(d).max()),
             "median_linf": float(np.median(np.abs(d[broken]).max(axis=1))) if broken.any() else None,
             "median_l2": float(np.median(np.linalg.norm(d[broken], axis=1))) if broken.any() else None,
             "seconds": t, **(extra or {})}
        out.append(r)
        log(f"ART {attack} eps={eps:g}: success {r['success_rate']:.2%} of {r['attacked']} rows, "
            f"robust accuracy {r['robust_accuracy']:.2%}, {t:.3f} s"
            + (f" (max L-inf {r['max_linf']:.4f})"))
        return r

    def best_of(generate):
        """The adversarial rows and the fastest of m["repeat"] timed runs."""
        times = []
        for _ in range(m["repeat"]):
            t = time.perf_counter()
            adv = generate()
            times.append(time.perf_counter() - t)
        return adv, min(times)

    for eps in FGSM_EPS:
        attack = FastGradientMethod(est, norm=np.inf, eps=eps, targeted=False, batch_size=len(x))
        adv, seconds = best_of(lambda: attack.generate(x, y=y))
        record("fgsm", eps, adv, seconds)

    def pgd(estimator):
        return ProjectedGradientDescent(estimator, norm=np.inf, eps=PGD["eps"], eps_step=PGD["step"],
                                        max_iter=PGD["steps"], num_random_init=0, targeted=False,
                                        batch_size=len(x), verbose=False)

    adv, seconds = best_of(lambda: pgd(est).generate(x, y=y))

    # Untimed: the same attack again, noting the rows broken at any iterate on the way.
    rec = Recording(m["clf"], CLIP, y)
    adv2 = pgd(rec).generate(x, y=y)
    any_iter = right & (rec.broken | (judge.label(adv2) != y))
    r = record("pgd", PGD["eps"], adv, seconds,
               {"step": PGD["step"], "steps": PGD["steps"],
                "any_iterate_success_rate": float(any_iter.sum() / max(1, right.sum())),
                "rerun_identical": bool(np.array_equal(adv, adv2))})
    log(f"ART pgd: a row broken at any iterate: {r['any_iterate_success_rate']:.2%} "
        f"(last iterate: {r['success_rate']:.2%}); a second run gives the same rows: "
        f"{r['rerun_identical']}")
    return out


def run_aigis(binary, m, workdir, log):
    """The two aigis processes: (their parsed JSON with a `wall_seconds` each, attack rows)."""
    binary = os.path.abspath(binary)
    model, data = os.path.basename(m["model"]), os.path.basename(m["data"])
    eps = ",".join(f"{e:g}" for e in FGSM_EPS)
    runs = {
        "fgsm": ["--attacks", "fgsm", "--eps", eps, "--clip", "0,1"],
        "pgd": ["--attacks", "pgd", "--eps", f"{PGD['eps']:g}", "--step", f"{PGD['step']:g}",
                "--steps", str(PGD["steps"]), "--clip", "0,1"],
    }
    reports, rows = {}, []
    for name, extra in runs.items():
        cmd = [binary, "--json", "redteam", model, "--data", data, "--label", "label", *extra]
        rep, wall = None, None
        # The fastest of m["repeat"] processes (each attack's own seconds, and the wall).
        for _ in range(m["repeat"]):
            t = time.perf_counter()
            p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
            took = time.perf_counter() - t
            try:
                this = json.loads(p.stdout)
            except json.JSONDecodeError:
                this = None
            if p.returncode != 0 or not isinstance(this, dict) or "attacks" not in this:
                sys.exit(f"`{' '.join(cmd)}` failed (exit {p.returncode}):\n{p.stderr}{p.stdout[:4000]}")
            if rep is not None:
                for a, b in zip(rep["attacks"], this["attacks"]):
                    b["seconds"] = min(a["seconds"], b["seconds"])
            rep, wall = this, took if wall is None else min(wall, took)
        rep["wall_seconds"] = wall
        reports[name] = rep
        log(f"aigis redteam {name}: {wall:.2f} s wall, gradients {rep.get('gradients')}, clean "
            f"accuracy {rep.get('clean_accuracy')}, rows {rep.get('rows')}, passed {rep.get('passed')}")
        for a in rep["attacks"]:
            rows.append({**a, "wall_seconds": wall, "process": name})
    return reports, rows


def run_hsj(binary, m, workdir, rows, iterations, log):
    """HopSkipJump (L2, untargeted) on the first `rows` test rows by both tools: each one's
    median L2 over the rows it fooled (of those right when clean), its model queries per
    attacked row and its seconds."""
    x, y = m["x"][:rows], m["y"][:rows]
    right = m["right"][:rows]
    queries = [0]

    def predict(batch):
        queries[0] += len(batch)
        return m["est"].predict(np.asarray(batch, dtype=np.float64))

    box = BlackBoxClassifier(predict, input_shape=(64,), nb_classes=10, clip_values=CLIP)
    attack = HopSkipJump(box, targeted=False, norm=2, max_iter=iterations, max_eval=10000,
                         init_eval=100, init_size=100, verbose=False)
    t = time.perf_counter()
    adv = attack.generate(x, y=y)
    art_seconds = time.perf_counter() - t
    fooled = right & (m["judge"].label(adv) != y)
    d = np.linalg.norm((adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1), axis=1)
    art = {"median_l2": float(np.median(d[fooled])) if fooled.any() else None,
           "fooled": int(fooled.sum()), "attacked": int(right.sum()),
           "queries_per_row": queries[0] / max(1, int(right.sum())), "seconds": art_seconds}
    log(f"ART HopSkipJump: {art['fooled']}/{art['attacked']} fooled, median L2 {art['median_l2']}, "
        f"{art['queries_per_row']:.0f} queries per attacked row, {art_seconds:.1f} s")
    if binary is None:
        return art, None
    cmd = [os.path.abspath(binary), "--json", "redteam", os.path.basename(m["model"]), "--data",
           os.path.basename(m["data"]), "--label", "label", "--attacks", "hsj", "--norm", "2",
           "--eps", "1000", "--iterations", str(iterations), "--rows", str(rows), "--clip", "0,1"]
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr}{p.stdout[:2000]}")
    a = json.loads(p.stdout)["attacks"][0]
    ours = {"median_l2": a["median_l2"], "fooled": a["succeeded"], "attacked": a["attacked"],
            "queries_per_row": a["queries_per_row"], "seconds": a["seconds"]}
    log(f"aigis hsj: {ours['fooled']}/{ours['attacked']} fooled, median L2 {ours['median_l2']}, "
        f"{ours['queries_per_row']} queries per attacked row, {ours['seconds']:.1f} s")
    return art, ours


def run_square(binary, m, workdir, iterations, log):
    """The Square attack (untargeted, ART's p_init 0.8, one run) at each norm and eps of SQUARE_EPS
    on every test row by both tools: rows fooled (of those right when clean, judged by
    onnxruntime for ART), model queries per attacked row, seconds. ART's Square takes
    images only: the rows go to it as 1x8x8 and back flat."""
    right = m["right"]
    x, y = m["x"][right], m["y"][right]
    queries = [0]

    def predict(batch):
        batch = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        queries[0] += len(batch)
        return m["est"].predict(batch)

    box = BlackBoxClassifierNeuralNetwork(predict, input_shape=(1, 8, 8), nb_classes=10,
                                          clip_values=CLIP, channels_first=True)
    out = []
    for norm, eps in SQUARE_EPS:
        queries[0] = 0
        np.random.seed(m.get("seed", 0))
        t = time.perf_counter()
        adv = SquareAttack(box, norm=np.inf if norm == "inf" else 2, eps=eps, max_iter=iterations, p_init=0.8,
                           nb_restarts=1, verbose=False).generate(
            x.reshape(-1, 1, 8, 8), y=np.eye(10)[y]).reshape(len(x), -1)
        seconds = time.perf_counter() - t
        fooled = int((m["judge"].label(adv) != y).sum())
        art = {"norm": norm, "eps": eps, "fooled": fooled, "attacked": int(len(x)),
               "queries_per_row": queries[0] / max(1, len(x)), "seconds": seconds}
        log(f"ART Square L{norm} eps {eps}: {fooled}/{len(x)} fooled, "
            f"{art['queries_per_row']:.0f} queries per attacked row, {seconds:.2f} s")
        ours = None
        if binary is not None:
            cmd = [os.path.abspath(binary), "--json", "redteam", os.path.basename(m["model"]),
                   "--data", os.path.basename(m["data"]), "--label", "label", "--attacks",
                   "square", "--norm", norm, "--eps", str(eps), "--iterations", str(iterations),
                   "--clip", "0,1"]
            p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"`{' '.join(cmd)}` failed ({p.returncode}): {p.stderr}{p.stdout[:2000]}")
            a = json.loads(p.stdout)["attacks"][0]
            ours = {"norm": norm, "eps": eps, "fooled": a["succeeded"], "attacked": a["attacked"],
                    "queries_per_row": a["queries_per_row"], "seconds": a["seconds"]}
            log(f"aigis square L{norm} eps {eps}: {ours['fooled']}/{ours['attacked']} fooled, "
                f"{ours['queries_per_row']} queries per attacked row, {ours['seconds']:.2f} s")
        out.append((art, ours))
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", nargs="?", default="target/debug/aigis",
                    help="the aigis binary (default: target/debug/aigis)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hsj-rows", type=int, default=HSJ["rows"],
                    help="HopSkipJump on this many test rows (0: not run)")
    ap.add_argument("--hsj-iterations", type=int, default=HSJ["iterations"])
    ap.add_argument("--square-iterations", type=int, default=SQUARE_ITERATIONS,
                    help="the Square attack's iterations (0: not run)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="time each attack this many times on both sides and keep the fastest")
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_ROWS} test rows only")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless aigis agrees with ART (success within 2 points, exact "
                         "gradients, clean accuracy within 0.2 points)")
    ap.add_argument("--art-only", action="store_true", help="run the ART half alone")
    ap.add_argument("--workdir", help="keep the files here (default: a temporary directory)")
    ap.add_argument("--json", metavar="OUT", dest="json_out", help="write the results as JSON here")
    args = ap.parse_args()
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if not args.art_only and not os.path.isfile(args.aigis):
        sys.exit(f"no aigis binary at {args.aigis} (build it, pass its path, or use --art-only)")

    tmp = None
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        workdir = os.path.abspath(args.workdir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="aigis-redteam-vs-art-")
        workdir = tmp.name

    m = build(workdir, args.seed, QUICK_ROWS if args.quick else None, log)
    m["repeat"] = max(1, args.repeat)
    art_rows = run_art(m, log)
    clean_art = float(m["right"].mean())

    reports, aigis_rows = ({}, []) if args.art_only else run_aigis(args.aigis, m, workdir, log)

    def aigis_for(r):
        hits = [a for a in aigis_rows
                if a.get("attack") == r["attack"] and abs(float(a.get("eps", -1)) - r["eps"]) < 1e-9]
        return hits[0] if hits else None

    n = len(m["x"])
    print(f"\n{n} test rows (digits, pixels 0..1, seed {args.seed}); L-inf, untargeted; success "
          f"over the rows classified right when clean; robust accuracy over all rows.\n")
    print("| attack | eps | ART success | aigis success | diff (pts) | ART robust acc | "
          "aigis robust acc | ART s | aigis s (attack) | aigis wall s | ART/aigis speed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for r in art_rows:
        a = aigis_for(r)
        diff = None if a is None else round(100 * (a["success_rate"] - r["success_rate"]), 6) + 0.0
        ratio = (r["seconds"] / a["seconds"]) if a and a.get("seconds") else None
        print(f"| {r['attack']} | {r['eps']:g} | {100 * r['success_rate']:.2f} % | "
              f"{fmt(a and 100 * a['success_rate'], '.2f')}{'' if a is None else ' %'} | "
              f"{fmt(diff, '+.2f')} | {100 * r['robust_accuracy']:.2f} % | "
              f"{fmt(a and 100 * a['robust_accuracy'], '.2f')}{'' if a is None else ' %'} | "
              f"{r['seconds']:.3f} | {fmt(a and a.get('seconds'), '.3f')} | "
              f"{fmt(a and a['wall_seconds'], '.2f')} | {fmt(ratio, '.2f')}{'' if ratio is None else 'x'} |")
        results.append({"art": r, "aigis": a, "success_diff_points": diff, "speed_ratio": ratio})

    clean_aigis = {k: rep.get("clean_accuracy") for k, rep in reports.items()}
    print(f"\nclean accuracy: onnxruntime {100 * clean_art:.2f} % ({int(m['right'].sum())}/{n}); "
          + ("aigis " + ", ".join(f"{fmt(v and 100 * v, '.2f')} % ({k} run)" for k, v in clean_aigis.items())
             if reports else "aigis not run (--art-only)"))
    if reports:
        print("aigis gradients: " + ", ".join(f"{rep.get('gradients')} ({k} run)"
                                                for k, rep in reports.items())
              + "; the FGSM rows' wall time is one process for both eps.")
    pgd = next(r for r in art_rows if r["attack"] == "pgd")
    print(f"ART PGD keeps the last iterate: {100 * pgd['success_rate']:.2f} %; rows broken at any "
          f"iterate: {100 * pgd['any_iterate_success_rate']:.2f} %.")

    hsj = None
    if args.hsj_rows > 0:
        hsj = run_hsj(None if args.art_only else args.aigis, m, workdir, args.hsj_rows,
                      args.hsj_iterations, log)
        art_h, our_h = hsj
        print(f"\nHopSkipJump, L2, untargeted, {args.hsj_iterations} iterations, the first "
              f"{args.hsj_rows} test rows (each tool's own random draws):\n")
        print("| tool | fooled | median L2 | queries per attacked row | seconds |")
        print("|---|---|---|---|---|")
        for name, h in [("ART", art_h), ("aigis", our_h)]:
            if h is not None:
                print(f"| {name} | {h['fooled']}/{h['attacked']} | {fmt(h['median_l2'], '.4f')} | "
                      f"{h['queries_per_row']:.0f} | {h['seconds']:.1f} |")

    square = []
    if args.square_iterations > 0:
        m["seed"] = args.seed
        square = run_square(None if args.art_only else args.aigis, m, workdir,
                            args.square_iterations, log)
        print(f"\nSquare attack, untargeted, {args.square_iterations} iterations, p_init "
              f"0.8, every row right when clean (each tool's own random draws):\n")
        print("| norm | eps | tool | fooled | queries per attacked row | seconds |")
        print("|---|---|---|---|---|---|")
        for art_s, our_s in square:
            for name, h in [("ART", art_s), ("aigis", our_s)]:
                if h is not None:
                    print(f"| L{h['norm']} | {h['eps']:g} | {name} | {h['fooled']}/{h['attacked']} | "
                          f"{h['queries_per_row']:.0f} | {h['seconds']:.2f} |")

    failures = []
    for art_s, our_s in square:
        if our_s is None:
            continue
        if our_s["attacked"] != art_s["attacked"]:
            failures.append(f"Square L{art_s['norm']} eps {art_s['eps']}: aigis attacked {our_s['attacked']} rows, "
                            f"ART {art_s['attacked']}")
        if our_s["fooled"] < art_s["fooled"] - MAX_SUCCESS_GAP * art_s["attacked"]:
            failures.append(f"Square L{art_s['norm']} eps {art_s['eps']}: aigis fooled {our_s['fooled']} rows, ART "
                            f"{art_s['fooled']} (more than {100 * MAX_SUCCESS_GAP:g} points fewer)")
        if our_s["queries_per_row"] > art_s["queries_per_row"]:
            failures.append(f"Square L{art_s['norm']} eps {art_s['eps']}: aigis {our_s['queries_per_row']} queries "
                            f"per row vs ART {art_s['queries_per_row']:.0f}")
    if hsj is not None and hsj[1] is not None:
        art_h, our_h = hsj
        if our_h["fooled"] < art_h["fooled"]:
            failures.append(f"HopSkipJump: aigis fooled {our_h['fooled']} rows, ART {art_h['fooled']}")
        if (our_h["median_l2"] is None or art_h["median_l2"] is None
                or our_h["median_l2"] > MAX_HSJ_L2_RATIO * art_h["median_l2"]):
            failures.append(f"HopSkipJump: aigis median L2 {our_h['median_l2']} vs ART "
                            f"{art_h['median_l2']} (more than {MAX_HSJ_L2_RATIO}x)")
        if our_h["queries_per_row"] > MAX_HSJ_QUERY_RATIO * art_h["queries_per_row"]:
            failures.append(f"HopSkipJump: aigis {our_h['queries_per_row']} queries per row vs ART "
                            f"{art_h['queries_per_row']:.0f}")
    if m["grad_err"] > MAX_GRADIENT_ERROR:
        failures.append(f"gradient check: relative error {m['grad_err']:.1e} > {MAX_GRADIENT_ERROR}")
    if not args.art_only:
        for res in results:
            r, a = res["art"], res["aigis"]
            name = f"{r['attack']} eps={r['eps']:g}"
            if a is None:
                failures.append(f"{name}: missing from aigis's report")
            elif abs(a["success_rate"] - r["success_rate"]) > MAX_SUCCESS_GAP + 1e-12:
                failures.append(f"{name}: aigis success {100 * a['success_rate']:.2f} % vs ART "
                                f"{100 * r['success_rate']:.2f} % (more than "
                                f"{100 * MAX_SUCCESS_GAP:g} points apart)")
        for k, rep in reports.items():
            if rep.get("gradients") != "exact":
                failures.append(f"aigis {k} run: gradients {rep.get('gradients')!r}, not 'exact'")
            ca = rep.get("clean_accuracy")
            if ca is None or abs(ca - clean_art) > MAX_CLEAN_GAP + 1e-12:
                failures.append(f"aigis {k} run: clean accuracy {ca} vs onnxruntime {clean_art:.4f} "
                                f"(more than {100 * MAX_CLEAN_GAP:g} points apart)")
            if rep.get("rows") != n:
                failures.append(f"aigis {k} run: {rep.get('rows')} rows, expected {n}")
    log(f"done in {time.perf_counter() - started:.1f} s")

    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"seed": args.seed, "quick": args.quick, "rows": n,
                       "seconds": time.perf_counter() - started,
                       "model": {"train_rows": m["train_rows"], "clean_accuracy": clean_art,
                                 "onnx_vs_sklearn": m["onnx_diff"], "gradient_check": m["grad_err"]},
                       "aigis": {"binary": None if args.art_only else os.path.abspath(args.aigis),
                                 "reports": reports},
                       "attacks": results, "hopskipjump": hsj, "square": square,
                       "failures": failures}, f, indent=1)
    if tmp is not None:
        tmp.cleanup()
    if args.check:
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("ok: " + ("ART half only (--art-only): gradient check passed" if args.art_only else
                        "aigis's success rates within 2 points of ART's, exact gradients, clean "
                        "accuracy within 0.2 points"))


if __name__ == "__main__":
    main()
