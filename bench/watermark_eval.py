#!/usr/bin/env python3
"""The cost and the robustness of `aigis model watermark` on a real model.

    pip install scikit-learn numpy onnx onnxruntime skl2onnx
    python3 bench/watermark_eval.py [--aigis target/debug/aigis] [--keys 5] [--check]

It trains scikit-learn's MLPClassifier (one hidden layer of 256, ReLU, Adam, fixed seed)
on `digits` (1797 x 64, pixels / 16; a stratified 70/30 split, seed 0), exports it with
skl2onnx (opset 17, no ZipMap: Cast, MatMul, Add, Relu, Softmax, ArgMax and the ai.onnx.ml
ArrayFeatureExtractor that maps the class index to its label), and for each of `--keys`
fresh keys (`aigis model watermark keygen`):

- embeds the mark with the defaults (`aigis model watermark embed`: target score 8, the
  two weight matrices of 64x256 and 256x10 as carriers, the biases left alone);
- runs the original and the marked model with onnxruntime on the test split: accuracy,
  and the share of test predictions that changed;
- verifies (`aigis model watermark verify`, exit 0 = present, 1 = absent) the marked
  model; the marked model with Gaussian noise of 1 % (and, as a stress case, 10 %) of
  each weight matrix's standard deviation; the marked weights rounded to per-tensor
  symmetric int8 (w = s * round(w / s), s = max|w| / 127) and written back as floats;
  onnxruntime's `quantize_dynamic` (int8 weights, MatMulInteger), read as it is; the
  marked model with 20 % of each weight matrix pruned by magnitude (a stress case); the
  marked model with another fresh key that marked nothing (a wrong key); and the
  unmarked model with the key.

It prints a Markdown table: per variant, the accuracy and the changed predictions
(means over the keys), the score z (mean, min and max over the keys) and how many keys
aigis found the mark with. With `--check` it exits 1 unless the stated bounds hold for
every key:

- at most 1 % of the test predictions change, and accuracy drops by at most 1 point;
- the mark is present (z >= 4) in the marked, noise-1 %, int8 and quantize_dynamic
  models, and absent (z < 4, exit 1) with a wrong key and in the unmarked model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

THRESHOLD = 4.0
MAX_CHANGED = 0.01
MAX_ACC_DROP = 0.01
MIN_ELEMENTS = 1024  # aigis's default carrier size


def train(seed: int):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, random_state=seed).fit(xtr, ytr)
    return m, xtr, xte, yte


def export(m, x, path: str) -> None:
    model = to_onnx(m, x[:1], options={id(m): {"zipmap": False}}, target_opset=17)
    domains = {n.domain for n in model.graph.node}
    assert domains <= {"", "ai.onnx", "ai.onnx.ml"}, domains
    onnx.save(model, path)


def predict(path: str, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in sess.get_outputs()]
    probs = sess.run([outputs[1]], {sess.get_inputs()[0].name: x})[0]
    return np.asarray(probs).argmax(axis=1)


def carriers(model: onnx.ModelProto):
    for t in model.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2 and np.prod(t.dims) >= MIN_ELEMENTS:
            yield t


def transform(src: str, dst: str, f) -> None:
    """Writes `src` with f(weights) in place of each carrier's weights."""
    model = onnx.load(src)
    for t in carriers(model):
        w = numpy_helper.to_array(t).astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(f(w).astype(np.float32), t.name))
    onnx.save(model, dst)


def int8_round_trip(w: np.ndarray) -> np.ndarray:
    scale = np.abs(w).max() / 127.0
    return np.clip(np.round(w / scale), -127, 127) * scale


def prune(w: np.ndarray, fraction: float) -> np.ndarray:
    cut = np.quantile(np.abs(w), fraction)
    return np.where(np.abs(w) < cut, 0.0, w)


def aigis(binary: str, cwd: str, *args: str):
    r = subprocess.run([binary, "--json", *args], cwd=cwd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def verify(binary: str, cwd: str, model: str, key: str) -> tuple[float, int]:
    code, out, err = aigis(binary, cwd, "model", "watermark", "verify", model, "--watermark-key", key)
    if code not in (0, 1):
        sys.exit(f"aigis verify {model} failed ({code}): {err}")
    v = json.loads(out)
    if v["present"] != (code == 0):
        sys.exit(f"aigis verify {model}: exit {code} disagrees with present={v['present']}")
    return float(v["z"]), code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aigis", default="target/debug/aigis", help="the aigis binary")
    ap.add_argument("--keys", type=int, default=5, help="how many keys to embed and check with")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="keep the models in this folder")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every bound holds")
    a = ap.parse_args()
    binary = os.path.abspath(a.aigis)
    if a.keys < 1:
        sys.exit("--keys must be 1 or more")
    tmp = None
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        d = os.path.abspath(a.out)
    else:
        tmp = tempfile.TemporaryDirectory()
        d = tmp.name

    m, xtr, xte, yte = train(a.seed)
    export(m, xtr, os.path.join(d, "model.onnx"))
    base = predict(os.path.join(d, "model.onnx"), xte)
    base_acc = float((base == yte).mean())
    sizes = [int(np.prod(t.dims)) for t in carriers(onnx.load(os.path.join(d, "model.onnx")))]
    print(f"digits MLP (64-256-10), test split {len(yte)} rows, accuracy {base_acc:.4f}; "
          f"carriers: {sizes} weights")

    def keygen(name: str) -> str:
        if os.path.exists(os.path.join(d, name)):
            os.remove(os.path.join(d, name))
        code, _, err = aigis(binary, d, "model", "watermark", "keygen", "-o", name)
        if code != 0:
            sys.exit(f"keygen failed: {err}")
        return name

    # Keys to embed with, and other keys (never used to embed) to play the wrong key.
    keys = [keygen(f"k{i}.key") for i in range(a.keys)]
    others = [keygen(f"other{i}.key") for i in range(a.keys)]

    rows: dict[str, dict[str, list]] = {}
    changes: list[tuple[float, float]] = []

    def note(variant: str, path: str, key: str, expect_present: bool, checked: bool, predictions: bool = True):
        """Verifies `path` with `key`; with `predictions`, also runs it on the test rows."""
        z, code = verify(binary, d, path, key)
        r = rows.setdefault(variant, {"z": [], "present": [], "acc": [], "changed": [], "checked": checked,
                                      "expect": expect_present})
        r["z"].append(z)
        r["present"].append(code == 0)
        if predictions:
            p = predict(os.path.join(d, path), xte)
            r["acc"].append(float((p == yte).mean()))
            r["changed"].append(float((p != base).mean()))

    for i, key in enumerate(keys):
        marked = f"marked{i}.onnx"
        code, out, err = aigis(binary, d, "model", "watermark", "embed", "model.onnx", "-o", marked, "--watermark-key", key)
        if code != 0:
            sys.exit(f"embed failed ({code}): {err}")
        e = json.loads(out)
        changes.append((e["max_change"], e["mean_change"]))
        note("marked", marked, key, True, True)
        rng = np.random.default_rng(a.seed * 1000 + i)
        for frac, checked in ((0.01, True), (0.10, False)):
            path = f"noise{int(frac * 100)}_{i}.onnx"
            transform(os.path.join(d, marked), os.path.join(d, path),
                      lambda w, frac=frac: w + rng.normal(0.0, frac * w.std(), w.shape))
            note(f"marked + noise {int(frac * 100)} % of std", path, key, True, checked)
        path = f"int8_{i}.onnx"
        transform(os.path.join(d, marked), os.path.join(d, path), int8_round_trip)
        note("marked, int8 round trip (numpy)", path, key, True, True)
        path = f"qdyn_{i}.onnx"
        from onnxruntime.quantization import QuantType, quantize_dynamic
        import logging
        logging.getLogger().setLevel(logging.ERROR)
        quantize_dynamic(os.path.join(d, marked), os.path.join(d, path), weight_type=QuantType.QInt8)
        note("marked, onnxruntime quantize_dynamic int8", path, key, True, True)
        path = f"prune{i}.onnx"
        transform(os.path.join(d, marked), os.path.join(d, path), lambda w: prune(w, 0.2))
        note("marked, 20 % pruned by magnitude", path, key, True, False)
        # The marked model itself, checked with a key that did not mark it: the mark of
        # `key` is in the weights, and `others[i]` must not find one.
        note("marked, checked with another key", marked, others[i], False, True, predictions=False)
        note("unmarked, checked with the key", "model.onnx", key, False, True)

    failures = []
    print()
    print(f"| model ({a.keys} keys) | accuracy | changed predictions | z mean | z min | z max | aigis: present |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| original | {base_acc:.4f} | — | — | — | — | — |")
    for variant, r in rows.items():
        acc = f"{np.mean(r['acc']):.4f}" if r["acc"] else "—"
        ch = f"{100 * np.mean(r['changed']):.2f} %" if r["changed"] else "—"
        zs = r["z"]
        print(f"| {variant} | {acc} | {ch} | {np.mean(zs):.2f} | {min(zs):.2f} | {max(zs):.2f} | "
              f"{sum(r['present'])}/{len(zs)} |")
        if not r["checked"]:
            continue
        if r["expect"]:
            if not all(r["present"]) or min(zs) < THRESHOLD:
                failures.append(f"{variant}: the mark was not found with every key (z min {min(zs):.2f})")
        elif any(r["present"]) or max(zs) >= THRESHOLD:
            failures.append(f"{variant}: a mark was found (z max {max(zs):.2f})")
    marked = rows["marked"]
    print()
    print(f"weight change (fraction of each tensor's RMS): max {max(c[0] for c in changes):.4f}, "
          f"mean {np.mean([c[1] for c in changes]):.4f}")
    worst_changed = max(marked["changed"])
    worst_drop = base_acc - min(marked["acc"])
    print(f"worst key: {100 * worst_changed:.2f} % of predictions changed, accuracy drop {100 * worst_drop:.2f} points "
          f"(bounds: {100 * MAX_CHANGED:.0f} %, {100 * MAX_ACC_DROP:.0f} point)")
    if worst_changed > MAX_CHANGED:
        failures.append(f"{100 * worst_changed:.2f} % of predictions changed (bound {100 * MAX_CHANGED:.0f} %)")
    if worst_drop > MAX_ACC_DROP:
        failures.append(f"accuracy dropped {100 * worst_drop:.2f} points (bound {100 * MAX_ACC_DROP:.0f})")
    if tmp is not None:
        tmp.cleanup()
    if failures:
        print("\nbounds FAILED:\n  " + "\n  ".join(failures))
        return 1 if a.check else 0
    print("\nall bounds hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
