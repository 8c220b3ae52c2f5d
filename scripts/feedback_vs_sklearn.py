#!/usr/bin/env python3
"""The gateway's KPIs from delayed labels against scikit-learn's, end to end.

`aigis serve` (plain HTTP on loopback, a throwaway project) serves two models from
tests/data/runtime with `[serve.models.feedback]`: the digits MLP (10 classes, labels and
probabilities) and the wine forest (3 classes). For each, every row of scikit-learn's dataset (1,797 digits,
178 wines) is sent in calls of 1 to 5 rows, some with their own `id`, some without (the answer's `id` is then the
gateway's); then the true labels of most calls are sent to `POST /v2/models/{name}/feedback`
(half as numbers, half as strings, in a few batches, with ids that do not exist mixed in)
and `GET /v2/models/{name}/kpis` is read. Checked:

- every labelled call is matched once, the unknown ids are named, a second feedback for
  the same ids matches nothing;
- rows answered and rows labelled are the counts sent;
- accuracy, macro precision and macro recall equal scikit-learn's `accuracy_score`,
  `precision_score(average="macro", zero_division=0)` and `recall_score(average="macro",
  zero_division=0)` on the labelled rows' true labels and the labels aigis answered (to
  1e-12), and aigis's labels equal onnxruntime's on the same rows;
- the expected calibration error and the mean top probability equal numpy's over ten
  equal-width bins of the top probability aigis answered (to 1e-9);
- stopped by SIGTERM, the gateway has recorded each model's open KPI window as signed
  `monitor-window` evidence, and `aigis monitor report --json` reads the same figures
  back from the ledger alone (and writes its HTML page).

    pip install scikit-learn onnxruntime numpy
    cargo build -p aigis
    python3 scripts/feedback_vs_sklearn.py target/debug/aigis

Exits 1 on any difference, printing each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import ROOT, check, failures, http, start_serve  # noqa: E402

RUNTIME = os.path.join(ROOT, "tests", "data", "runtime")


def ece(confidence, right, bins=10):
    """Expected calibration error over `bins` equal-width bins of the confidence."""
    confidence = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = index == b
        if m.any():
            total += m.sum() / len(confidence) * abs(right[m].mean() - confidence[m].mean())
    return total


def dataset(name):
    """Every row of scikit-learn's dataset, scaled as the fixture model was trained
    (scripts/make_runtime_models.py: the digits' pixels over 16)."""
    from sklearn.datasets import load_digits, load_wine

    if name == "digits":
        return (load_digits().data / 16.0).astype(np.float32)
    return load_wine().data.astype(np.float32)


def run_model(base, key, name, fixture, rng):
    """Drives one model; checks its KPIs against scikit-learn's."""
    import onnxruntime as ort
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    rows = dataset(name)
    sess = ort.InferenceSession(os.path.join(RUNTIME, fixture + ".onnx"), providers=["CPUExecutionProvider"])
    width = sess.get_inputs()[0].shape[1]
    want_labels = np.asarray(sess.run(None, {sess.get_inputs()[0].name: rows})[0]).astype(np.int64)
    truth = want_labels.copy()
    # The truth differs from the model on a third of the rows, so accuracy is not 1.
    flip = rng.random(len(truth)) < 0.33
    truth[flip] = (truth[flip] + 1 + rng.integers(0, 2, flip.sum())) % (truth.max() + 1)

    calls = []  # (id, row indices, answered labels, top probabilities)
    echoed = []
    i = 0
    n = 0
    while i < len(rows):
        size = int(rng.integers(1, 6))
        idx = list(range(i, min(i + size, len(rows))))
        i += size
        body = {"inputs": [{"name": sess.get_inputs()[0].name, "shape": [len(idx), width], "datatype": "FP32",
                            "data": rows[idx].ravel().tolist()}]}
        if n % 2 == 0:
            body["id"] = f"{name}-call-{n}"
        n += 1
        status, answer = http(f"{base}/v2/models/{name}/infer", key, body)
        if status != 200:
            check(False, f"{name}: an inference answered {status}: {answer}")
            return
        outputs = {o["name"]: o for o in answer["outputs"]}
        labels = [int(v) for v in outputs["output_label"]["data"]]
        probs = np.asarray(outputs["output_probability"]["data"], dtype=np.float32).reshape(len(idx), -1)
        top = [float(p) for p in probs.max(axis=1).astype(np.float64)]
        echoed.append("id" not in body or answer.get("id") == body["id"])
        calls.append((answer.get("id"), idx, labels, top))
    check(all(echoed), f"{name}: each answer's id is its request's when it had one")
    made = [c[0] for c in calls if c[0] and c[0].startswith("aigis-")]
    check(len(made) == len(calls) // 2 and all(len(m) == 38 for m in made),
          f"{name}: the {len(made)} calls without an id got one from the gateway (aigis- and 32 hex digits)")
    answered = [lab for c in calls for lab in c[2]]
    check(answered == want_labels.tolist(), f"{name}: aigis's {len(answered)} labels equal onnxruntime's")

    # Labels for 80 % of the calls, in three batches, with made-up ids mixed in.
    labelled = [c for c in calls if rng.random() < 0.8]
    items = []
    for k, (cid, idx, _, _) in enumerate(labelled):
        labels = [int(truth[j]) for j in idx]
        items.append({"id": cid, "labels": labels if k % 2 else [str(v) for v in labels]})
    unknown = [f"{name}-no-such-call-{k}" for k in range(3)]
    matched = 0
    named = []
    batches = np.array_split(np.arange(len(items)), 3)
    for b, part in enumerate(batches):
        body = {"feedback": [items[j] for j in part] + [{"id": unknown[b], "labels": [0]}]}
        status, answer = http(f"{base}/v2/models/{name}/feedback", key, body)
        check(status == 200, f"{name}: feedback batch {b} answered {status}")
        matched += answer.get("matched", 0)
        named += answer.get("unknown", [])
    check(matched == len(items) and named == unknown,
          f"{name}: {matched} of {len(items)} labelled calls matched, the unknown ids named ({named})")
    status, again = http(f"{base}/v2/models/{name}/feedback", key, {"feedback": items[:5]})
    check(status == 200 and again.get("matched") == 0, f"{name}: a second feedback for the same ids matches nothing")

    status, kpis = http(f"{base}/v2/models/{name}/kpis", key)
    windows = kpis.get("windows", []) if status == 200 else []
    check(len(windows) == 1, f"{name}: one window ({status}, {len(windows)} windows)")
    if len(windows) != 1:
        return
    w = windows[0]
    y_true = [int(truth[j]) for c in labelled for j in c[1]]
    y_pred = [lab for c in labelled for lab in c[2]]
    top = [p for c in labelled for p in c[3]]
    right = [a == b for a, b in zip(y_true, y_pred)]
    want = {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision": precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall": recall_score(y_true, y_pred, average="macro", zero_division=0),
        "ece": ece(top, right),
        "mean_confidence": float(np.mean(top)),
        "predictions": len(rows),
        "labeled": len(y_true),
    }
    check_kpis(f"{name}", w, want)
    check(kpis.get("pending") == len(calls) - len(labelled),
          f"{name}: {kpis.get('pending')} calls still await their labels")
    return want


def check_kpis(what, got, want):
    """A window's KPIs against scikit-learn's and numpy's."""
    check(got["predictions"] == want["predictions"] and got["labeled"] == want["labeled"],
          f"{what}: {got['predictions']} rows answered, {got['labeled']} labelled "
          f"(sent {want['predictions']}, {want['labeled']})")
    for key, name, tol in [
        ("accuracy", "accuracy", 1e-12),
        ("precision", "macro precision", 1e-12),
        ("recall", "macro recall", 1e-12),
        ("ece", "expected calibration error", 1e-9),
        ("mean_confidence", "mean top probability", 1e-9),
    ]:
        value = got.get(key)
        check(value is not None and abs(value - want[key]) <= tol,
              f"{what}: {name} {value} = scikit-learn/numpy's {want[key]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    args = ap.parse_args()
    aigis = os.path.abspath(args.aigis)
    work = tempfile.mkdtemp(prefix="aigis-feedback-")
    env = dict(os.environ, AIGIS_PROJECT=work)

    def run(*a):
        return subprocess.run([aigis, *a], cwd=work, env=env, check=True, capture_output=True, text=True)

    run("init", work, "--name", "feedback")
    made = json.loads(run("keys", "api", "new", "--name", "ci", "--json").stdout)
    models = [("digits", "digits_mlp"), ("wine", "wine_forest")]
    with open(os.path.join(work, "aigis.toml"), "a") as f:
        f.write('\n[serve]\nplain = true\n'
                f'\n[[serve.api_keys]]\nname = "ci"\nsha256 = "{made["sha256"]}"\n')
        for name, fixture in models:
            f.write(f'\n[[serve.models]]\nname = "{name}"\npath = "{os.path.join(RUNTIME, fixture + ".onnx")}"\n'
                    'verify = false\n[serve.models.feedback]\nwindow_s = 2678400\n')
    server, started = start_serve(aigis, work, env, log=os.path.join(work, "serve.log"))
    wanted = {}
    try:
        rng = np.random.default_rng(20261203)
        for name, fixture in models:
            wanted[name] = run_model(started["listening"], made["key"], name, fixture, rng)
    finally:
        server.terminate()
        code = server.wait(timeout=30)
    check(code == 0, f"aigis serve stopped on SIGTERM with exit code {code}")

    # Stopped, the gateway recorded each model's open KPI window as signed evidence;
    # `aigis monitor report` reads the same figures back from the ledger alone.
    page = os.path.join(work, "report.html")
    report = json.loads(run("--json", "monitor", "report", "--from", "1d", "-o", page).stdout)
    by_model = {m["model"]: m for m in report["models"]}
    for name, want in wanted.items():
        if want is None:
            continue
        kpis = by_model.get(name, {}).get("kpis", [])
        check(len(kpis) == 1 and kpis[0]["complete"] is False,
              f"monitor report: {name}: one KPI window, recorded open when the gateway stopped ({len(kpis)})")
        if kpis:
            check_kpis(f"monitor report: {name}", kpis[0], want)
    check(not report["unreadable"], f"monitor report: nothing left out ({report['unreadable']})")
    with open(page, encoding="utf-8") as f:
        html = f.read()
    check("<svg" in html and all(f"<h2>{n}</h2>" in html for n in wanted),
          "monitor report: the HTML page has its plots and a section per model")
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()
