#!/usr/bin/env python3
"""Makes the ONNX models and reference outputs the runtime tests read (tests/data/runtime/).

Each model is a real scikit-learn estimator trained on a dataset scikit-learn ships,
exported with skl2onnx as users export it (default options, ZipMap included), and run by
onnxruntime on held-out rows. `<name>.onnx` is the model; `<name>.json` holds the input
rows and onnxruntime's outputs, which aigis's runtime must reproduce to 1e-5:

    {"model": "<name>.onnx", "ops": ["ai.onnx.ml:Scaler", ...],
     "inputs": {"<name>": {"dtype": "FP32", "shape": [n, f], "data": [...]}},
     "outputs": {"<name>": {"dtype": "FP32" | "INT64" | "BYTES", "shape": [...], "data": [...]}}}

A ZipMap output (a list of {class: probability} maps) is stored as the probability
matrix in the order of the classes, which is what aigis serves in its place.

`refuse_<what>.onnx` are models aigis must refuse to load (the test names the reason
each must give): an operator it does not run, a custom domain, a tensor in an external
file (pointing at /etc/passwd), and tree ensembles that loop, point outside their tree,
skip node ids, or vote for a class that does not exist.

    python3 scripts/make_runtime_models.py [--out tests/data/runtime] [--rows 40]

Needs scikit-learn, skl2onnx, onnx and onnxruntime (pip). Deterministic: fixed seeds and
hash seed; the same versions give the same bytes.
"""

import argparse
import json
import os
import sys

# skl2onnx walks sets whose order follows Python's string hashing: fix it, so a run
# gives the same bytes as the last one.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn import datasets
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

DTYPES = {
    np.dtype("float32"): "FP32",
    np.dtype("float64"): "FP64",
    np.dtype("int64"): "INT64",
    np.dtype("int32"): "INT32",
    np.dtype("bool"): "BOOL",
}


def split(X, y, seed=0):
    return train_test_split(X.astype(np.float32), y, test_size=0.3, random_state=seed)


def models():
    """(name, estimator, X_train, y_train, X_test) for every model."""
    digits = datasets.load_digits()
    Xd, Xdt, yd, _ = split(digits.data / 16.0, digits.target)
    cancer = datasets.load_breast_cancer()
    Xc, Xct, yc, _ = split(cancer.data, cancer.target)
    wine = datasets.load_wine()
    Xw, Xwt, yw, _ = split(wine.data, wine.target)
    diabetes = datasets.load_diabetes()
    Xb, Xbt, yb, _ = split(diabetes.data, diabetes.target)
    # String class labels: the label names, as a team would train on them.
    yw_names = np.array(wine.target_names)[yw]
    yield "digits_mlp", MLPClassifier((32,), max_iter=300, random_state=0), Xd, yd, Xdt
    yield (
        "cancer_scaler_logreg",
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        Xc,
        yc,
        Xct,
    )
    yield (
        "wine_scaler_logreg_names",
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        Xw,
        yw_names,
        Xwt,
    )
    yield (
        "wine_minmax_mlp",
        make_pipeline(MinMaxScaler(), MLPClassifier((16,), max_iter=800, random_state=0)),
        Xw,
        yw,
        Xwt,
    )
    yield "wine_forest", RandomForestClassifier(12, max_depth=5, random_state=0), Xw, yw, Xwt
    yield "cancer_tree", DecisionTreeClassifier(max_depth=6, random_state=0), Xc, yc, Xct
    yield "cancer_gbc", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), Xc, yc, Xct
    yield "wine_gbc", GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0), Xw, yw, Xwt
    yield "diabetes_forest", RandomForestRegressor(10, max_depth=5, random_state=0), Xb, yb, Xbt
    yield "diabetes_gbr", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), Xb, yb, Xbt
    yield "wine_extra_trees", ExtraTreesClassifier(8, max_depth=6, random_state=0), Xw, yw, Xwt
    yield "diabetes_extra_trees", ExtraTreesRegressor(8, max_depth=6, random_state=0), Xb, yb, Xbt
    yield (
        "cancer_robust_logreg",
        make_pipeline(RobustScaler(), LogisticRegression(C=0.5, max_iter=500)),
        Xc,
        yc,
        Xct,
    )
    yield (
        "wine_maxabs_sgd",
        make_pipeline(MaxAbsScaler(), SGDClassifier(loss="log_loss", random_state=0)),
        Xw,
        yw,
        Xwt,
    )
    yield "diabetes_ridge", Ridge(alpha=0.5), Xb, yb, Xbt
    yield (
        "diabetes_normalizer_linreg",
        make_pipeline(Normalizer(), LinearRegression()),
        Xb,
        yb,
        Xbt,
    )


def save_model(model, path):
    """The same model gives the same bytes on every run."""
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


def tensor(value):
    a = np.asarray(value)
    if a.dtype.kind in "OUS":
        return {"dtype": "BYTES", "shape": list(a.shape), "data": [str(v) for v in a.ravel()]}
    # JSON has no NaN: a missing value is null.
    data = [None if isinstance(v, float) and v != v else v for v in a.ravel().tolist()]
    return {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data": data}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/runtime")
    ap.add_argument("--rows", type=int, default=40)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, est, X, y, Xt in models():
        est.fit(X, y)
        model = to_onnx(est, X[:1], target_opset={"": 17, "ai.onnx.ml": 3})
        model.producer_name = "skl2onnx"
        path = os.path.join(args.out, name + ".onnx")
        save_model(model, path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        rows = Xt[: args.rows]
        if any(k in name for k in ("forest", "tree", "gbc", "gbr")):
            # Missing values: trees send NaN down their false branch (or the branch
            # their missing-value rule says); two rows with every other feature NaN.
            nan_rows = Xt[:2].copy()
            nan_rows[:, ::2] = np.nan
            rows = np.vstack([rows, nan_rows]).astype(np.float32)
        feed = {sess.get_inputs()[0].name: rows}
        outs = sess.run(None, feed)
        outputs = {}
        for meta, value in zip(sess.get_outputs(), outs):
            if isinstance(value, list) and value and isinstance(value[0], dict):
                classes = list(value[0].keys())
                value = np.array([[m[c] for c in classes] for m in value], dtype=np.float32)
            outputs[meta.name] = tensor(value)
        ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})
        doc = {
            "model": name + ".onnx",
            "estimator": type(est).__name__ if not hasattr(est, "steps") else " + ".join(type(s).__name__ for _, s in est.steps),
            "ops": ops,
            "inputs": {sess.get_inputs()[0].name: tensor(rows)},
            "outputs": outputs,
        }
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(doc, f, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"{name}: {os.path.getsize(path)} bytes, ops {', '.join(ops)}")
    refusals(args.out)


def refusals(out):
    """Models aigis must refuse, made from the real exports by changing one thing."""
    from onnx import TensorProto, helper

    def save(model, name):
        save_model(model, os.path.join(out, f"refuse_{name}.onnx"))

    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])
    ml = helper.make_operatorsetid("ai.onnx.ml", 1)
    std = helper.make_operatorsetid("", 17)
    imputer = helper.make_node("Imputer", ["X"], ["Y"], domain="ai.onnx.ml", imputed_value_floats=[0.0, 0.0], replaced_value_float=-1.0)
    save(helper.make_model(helper.make_graph([imputer], "g", [X], [Y]), opset_imports=[std, ml]), "unsupported_op")
    custom = helper.make_node("FastGelu", ["X"], ["Y"], domain="com.microsoft")
    save(
        helper.make_model(helper.make_graph([custom], "g", [X], [Y]), opset_imports=[std, helper.make_operatorsetid("com.microsoft", 1)]),
        "custom_domain",
    )
    w = helper.make_tensor("W", TensorProto.FLOAT, [2], [0.0, 0.0])
    w.data_location = TensorProto.EXTERNAL
    del w.float_data[:]
    entry = w.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    add = helper.make_node("Add", ["X", "W"], ["Y"])
    save(helper.make_model(helper.make_graph([add], "g", [X], [Y], initializer=[w]), opset_imports=[std]), "external_data")

    def tree_variant(name, change):
        model = onnx.load(os.path.join(out, "cancer_tree.onnx"))
        node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
        attrs = {a.name: a for a in node.attribute}
        change(attrs)
        save(model, name)

    def loop(a):
        a["nodes_truenodeids"].ints[1] = 0  # node 1 sends its true branch back to the root

    def outside(a):
        a["nodes_falsenodeids"].ints[0] = 10_000

    def gap(a):
        a["nodes_nodeids"].ints[-1] += 5

    def ghost_class(a):
        a["class_ids"].ints[0] = 7

    tree_variant("tree_loop", loop)
    tree_variant("tree_outside", outside)
    tree_variant("tree_gap", gap)
    tree_variant("tree_class", ghost_class)


if __name__ == "__main__":
    main()
