#!/usr/bin/env python3
"""The adversarial digits `aigis demo` replays through its gateway.

IBM ART's FGSM (eps 0.2) and PGD (eps 0.15, 20 steps of eps/8), untargeted, L-inf, against
the demo's model, `tests/data/runtime/digits_mlp.onnx` (a scikit-learn MLP on the 8x8
digits scaled to [0, 1]), from the 40 test digits of `tests/data/runtime/digits_mlp.json`.
The attacks read exact input gradients: bench/detect_eval.py's MLP wrapper, given the
ONNX file's own weights. Only the rows whose label onnxruntime reads differently from the
original's are kept. Each attack runs twice: on every pixel, and `masked` to the pixels
some of the 40 digits light (an attacker who knows that a pixel no digit uses is a tell
leaves it alone). Writes `tests/data/demo/digits_mlp_adversarial.json`:

    {"attacks": [{"attack": "FGSM", "eps": 0.2, "masked": false, "rows": [[64 pixels], ...],
                  "source_labels": [...], "labels": [...]}, ...]}

Run: python scripts/make_demo_adversarials.py   (needs adversarial-robustness-toolbox,
onnx, onnxruntime, numpy, scikit-learn: the packages bench/detect_eval.py uses)
"""

import json
import os
import sys
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from detect_eval import MLPGradients  # noqa: E402

from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent  # noqa: E402

MODEL = os.path.join(ROOT, "tests/data/runtime/digits_mlp.onnx")
ROWS = os.path.join(ROOT, "tests/data/runtime/digits_mlp.json")
OUT = os.path.join(ROOT, "tests/data/demo/digits_mlp_adversarial.json")


def weights(path):
    """The MLP's layers from the ONNX file, as scikit-learn keeps them."""
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    return SimpleNamespace(
        activation="relu",
        out_activation_="softmax",
        coefs_=[init["coefficient"], init["coefficient1"]],
        intercepts_=[init["intercepts"].ravel(), init["intercepts1"].ravel()],
        classes_=init["classes"],
    )


def main():
    session = ort.InferenceSession(MODEL)

    def labels(x):
        return session.run(["output_label"], {"X": x.astype(np.float32)})[0]

    fixture = json.load(open(ROWS))
    x = np.array(fixture["inputs"]["X"]["data"], dtype=np.float64).reshape(-1, 64)
    y = labels(x)
    est = MLPGradients(weights(MODEL), clip_values=(0.0, 1.0))
    # The wrapper is the model.
    assert (est.predict(x).argmax(1) == y).all(), "the wrapper's labels differ from onnxruntime's"
    mask = (x.max(axis=0) > 0).astype(np.float64)
    out = []
    for name, eps, attack in [
        ("FGSM", 0.2, FastGradientMethod(est, norm=np.inf, eps=0.2, targeted=False)),
        ("PGD", 0.15, ProjectedGradientDescent(est, norm=np.inf, eps=0.15, eps_step=0.15 / 8,
                                              max_iter=20, targeted=False, num_random_init=0,
                                              verbose=False)),
    ]:
        for masked in (False, True):
            # Rounded as written, then read by onnxruntime as the demo will send them.
            adv = attack.generate(x, y=y, mask=mask if masked else np.ones_like(mask))
            adv = np.round(adv, 6).astype(np.float32)
            got = labels(adv)
            ok = got != y
            out.append({"attack": name, "eps": eps, "masked": masked,
                        "rows": [[round(float(v), 6) for v in r] for r in adv[ok]],
                        "source_labels": [int(v) for v in y[ok]],
                        "labels": [int(v) for v in got[ok]]})
            print(f"{name} eps={eps}{' masked' if masked else ''}: {ok.sum()} of {len(x)} digits now read otherwise")
    with open(OUT, "w") as f:
        json.dump({"model": "digits_mlp.onnx", "attacks": out}, f, separators=(",", ":"))
        f.write("\n")
    print(OUT)


if __name__ == "__main__":
    main()
