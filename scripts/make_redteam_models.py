#!/usr/bin/env python3
"""Makes the small vision graphs the red team's gradient tests read (tests/data/redteam/).

scikit-learn exports no convolution, so these two graphs are written with onnx's helper,
with weights drawn from a fixed seed, and run by onnxruntime on random 8x8 images;
`<name>.json` holds the rows and onnxruntime's outputs, in the layout of
tests/data/runtime (see scripts/make_runtime_models.py):

  cnn_pool  Conv 3x3 (pad 1) > Relu > MaxPool 2x2 > Conv 3x3 (stride 2, 2 groups, dilation
            1) > AveragePool 2x2 (pad, counted) > Flatten > Gemm (transB) > Softmax
  cnn_misc  Transpose > Conv 1x3 > LeakyRelu > GlobalAveragePool > Reshape > MatMul > Add >
            Tanh > Sigmoid > Mul > Sub > Div > Exp > Neg > Gemm > LogSoftmax > Exp
            (a probability output that is not a Softmax's: the loss is read from the
            probabilities)

The membership-inference fixtures are real scikit-learn models: an MLP overfit on 150
of scikit-learn's digits (pixels scaled to [0, 1]) and two reference MLPs trained the
same way on two other disjoint sets of 150, exported with skl2onnx:

  mia_target.onnx, mia_ref0.onnx, mia_ref1.onnx
  mia_members.csv      the target's 150 training rows (p0..p63, label)
  mia_non_members.csv  150 rows none of the three models saw

    python3 scripts/make_redteam_models.py [--out tests/data/redteam]

Needs numpy, onnx, onnxruntime, scikit-learn and skl2onnx (pip).
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def init(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def cnn_pool(rng):
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], group=2),
        helper.make_node("AveragePool", ["c2"], ["p2"], kernel_shape=[2, 2], pads=[0, 0, 1, 1],
                         count_include_pad=1),
        helper.make_node("Flatten", ["p2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1, alpha=0.7, beta=1.3),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    inits = [
        init("w1", rng.normal(0, 0.5, (4, 1, 3, 3))), init("b1", rng.normal(0, 0.1, 4)),
        init("w2", rng.normal(0, 0.5, (6, 2, 3, 3))), init("b2", rng.normal(0, 0.1, 6)),
        init("w3", rng.normal(0, 0.5, (5, 6 * 2 * 2))), init("b3", rng.normal(0, 0.1, 5)),
    ]
    return nodes, inits, [None, 1, 8, 8], 5


def cnn_misc(rng):
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("Conv", ["t", "w1"], ["c1"], kernel_shape=[1, 3], dilations=[1, 2]),
        helper.make_node("LeakyRelu", ["c1"], ["l1"], alpha=0.1),
        helper.make_node("GlobalAveragePool", ["l1"], ["g"]),
        helper.make_node("Reshape", ["g", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "w2"], ["m"]),
        helper.make_node("Add", ["m", "b2"], ["a"]),
        helper.make_node("Tanh", ["a"], ["th"]),
        helper.make_node("Sigmoid", ["a"], ["sg"]),
        helper.make_node("Mul", ["th", "sg"], ["mu"]),
        helper.make_node("Sub", ["mu", "sg"], ["su"]),
        helper.make_node("Div", ["su", "den"], ["dv"]),
        helper.make_node("Exp", ["dv"], ["ex"]),
        helper.make_node("Neg", ["ex"], ["ng"]),
        helper.make_node("Gemm", ["ng", "w3", "b3"], ["z"]),
        helper.make_node("LogSoftmax", ["z"], ["ls"], axis=1),
        helper.make_node("Exp", ["ls"], ["probabilities"]),
    ]
    inits = [
        init("w1", rng.normal(0, 0.5, (3, 1, 1, 3))),
        numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape"),
        init("w2", rng.normal(0, 0.8, (3, 7))), init("b2", rng.normal(0, 0.1, (1, 7))),
        init("den", 1.5 + rng.random(7)),
        init("w3", rng.normal(0, 0.8, (7, 4))), init("b3", rng.normal(0, 0.1, 4)),
    ]
    return nodes, inits, [None, 1, 8, 8], 4


def build(name, make, out, rows, seed):
    rng = np.random.default_rng(seed)
    nodes, inits, shape, k = make(rng)
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, k])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="aigis-make_redteam_models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(out, f"{name}.onnx")
    onnx.save(model, path)
    x = rng.random((rows, *shape[1:])).astype(np.float32)
    (y,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump({
            "model": f"{name}.onnx",
            "inputs": {"x": {"dtype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}},
            "outputs": {"probabilities": {"dtype": "FP32", "shape": list(y.shape),
                                          "data": y.ravel().tolist()}},
        }, f)
        f.write("\n")


def membership(out, seed=0):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    parts = [order[i * 150:(i + 1) * 150] for i in range(4)]

    def fit(rows, name):
        clf = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-6, max_iter=2000, random_state=seed)
        clf.fit(x[rows], y[rows])
        model = to_onnx(clf, x[:1], target_opset=17)
        with open(os.path.join(out, f"{name}.onnx"), "wb") as f:
            f.write(model.SerializeToString())

    fit(parts[0], "mia_target")
    fit(parts[2], "mia_ref0")
    fit(parts[3], "mia_ref1")
    for rows, name in [(parts[0], "mia_members"), (parts[1], "mia_non_members")]:
        with open(os.path.join(out, f"{name}.csv"), "w") as f:
            f.write(",".join([f"p{j}" for j in range(64)] + ["label"]) + "\n")
            for r in rows:
                f.write(",".join(repr(float(v)) for v in x[r]) + f",{int(y[r])}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "redteam"))
    ap.add_argument("--rows", type=int, default=6)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    build("cnn_pool", cnn_pool, args.out, args.rows, 1)
    build("cnn_misc", cnn_misc, args.out, args.rows, 2)
    membership(args.out)


if __name__ == "__main__":
    main()
