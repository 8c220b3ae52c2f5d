#!/usr/bin/env python3
"""Makes the hand-written ONNX models of the runtime's fuzz findings test (crates/aigis-runtime/tests/data/).

crates/aigis-runtime/tests/fuzz_findings.rs reads five models; two were found by the
`onnx_load` fuzz target and stay as it left them. This script writes the other three,
each a few `onnx.helper` calls:

- `if_branch.onnx`: `Y = If(ReduceSum(X) > 0, then: Identity(X), else: Identity(X))`
  over `X[N, 2]` (float); it loads and runs, and gives back its input;
- `if_branch_output_names_nothing.onnx`: the same, but the `then` branch's output is
  named `nothing`, which is no value of that branch (its node writes `y_then`): aigis
  must refuse it at load, before tract-onnx panics looking it up;
- `linear_regressor_1000_coefficients_10_features.onnx`: one `ai.onnx.ml`
  `LinearRegressor` of 1000 coefficients (all 1.0, intercept 0.0) over `X[N, 10]`:
  its matrix product has 10 on one side and 1000 on the other; run, a release build
  reads past the input's buffer (a segmentation fault); aigis must refuse it at load.

    python3 scripts/make_runtime_findings.py [--out crates/aigis-runtime/tests/data]

Needs onnx (pip). Deterministic: no random values, no producer fields, the IR version
fixed and serialization deterministic; onnx 1.23 gives the same bytes as the files
committed.
"""

import argparse
import os

from onnx import TensorProto, helper

# The IR version the committed files carry (what onnx 1.23's make_model writes): fixed,
# so another onnx version gives the same bytes.
IR_VERSION = 14
OPSET = helper.make_operatorsetid("", 17)
ML_OPSET = helper.make_operatorsetid("ai.onnx.ml", 1)


def save_model(model, path):
    """The same model gives the same bytes on every run."""
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


def make_model(graph, opsets):
    return helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)


def if_branch(then_output):
    """`If(ReduceSum(X) > 0)`, both branches `Identity(X)`; the `then` branch's graph
    output is `then_output` (its node writes `y_then`)."""

    def x2(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 2])

    def branch(name, value, output):
        node = helper.make_node("Identity", ["X"], [value])
        return helper.make_graph([node], name, [], [x2(output)])

    nodes = [
        # No axes (opset 17): the sum of every element, a scalar.
        helper.make_node("ReduceSum", ["X"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node(
            "If",
            ["cond"],
            ["Y"],
            then_branch=branch("then", "y_then", then_output),
            else_branch=branch("else", "y_else", "y_else"),
        ),
    ]
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    graph = helper.make_graph(nodes, "g", [x2("X")], [x2("Y")], initializer=[zero])
    return make_model(graph, [OPSET])


def linear_regressor(coefficients, features):
    """One `LinearRegressor` of `coefficients` coefficients (all 1.0, intercept 0.0)
    over `X[N, features]`, one target."""
    node = helper.make_node(
        "LinearRegressor",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        coefficients=[1.0] * coefficients,
        intercepts=[0.0],
    )
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, features])
    Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([node], "g", [X], [Y])
    return make_model(graph, [OPSET, ML_OPSET])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="crates/aigis-runtime/tests/data")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = [
        ("if_branch.onnx", if_branch("y_then")),
        ("if_branch_output_names_nothing.onnx", if_branch("nothing")),
        ("linear_regressor_1000_coefficients_10_features.onnx", linear_regressor(1000, 10)),
    ]
    for name, model in models:
        path = os.path.join(args.out, name)
        save_model(model, path)
        print(f"{name}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
