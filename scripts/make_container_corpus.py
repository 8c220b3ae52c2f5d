#!/usr/bin/env python3
"""Writes the fixtures of tests/data/containers/ (see its README.md): Keras 3 `.keras`
zips and legacy `.h5` files made by Keras itself, Keras 2 / tf.keras `.h5` files written
with h5py the way Keras 2 wrote them, and hand-made variants of both.

    pip install keras jax jaxlib h5py numpy   # the jax CPU wheels: Keras needs a backend
    KERAS_BACKEND=jax python3 scripts/make_container_corpus.py

Nothing here is ever loaded: the "malicious" files only *contain* a Lambda's bytecode or
name `os.system`-like functions; their payloads are harmless strings.
"""
import io
import json
import os
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "containers"
FIXED_DATE = (2024, 1, 1, 0, 0, 0)


def zip_members(path: Path, members) -> None:
    """A zip with fixed dates, so the output does not change between runs."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def renumber(obj, ids):
    """Keras writes `id()` of shared objects; number them in order instead."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "shared_object_id":
                obj[k] = ids.setdefault(v, len(ids) + 1)
            else:
                renumber(v, ids)
    elif isinstance(obj, list):
        for v in obj:
            renumber(v, ids)
    return obj


def save_keras(model, name: str, edit=None) -> None:
    """model.save(.keras), then the members rewritten with fixed dates (and `edit`
    applied to the config)."""
    tmp = OUT / f"_{name}"
    model.save(tmp)
    with zipfile.ZipFile(tmp) as z:
        members = {n: z.read(n) for n in z.namelist()}
    tmp.unlink()
    config = renumber(json.loads(members["config.json"]), {})
    if edit:
        edit(config)
    members["config.json"] = json.dumps(config).encode()
    meta = json.loads(members["metadata.json"])
    meta["date_saved"] = "2024-01-01@00:00:00"
    members["metadata.json"] = json.dumps(meta).encode()
    zip_members(OUT / name, [(n, members[n]) for n in ("metadata.json", "config.json", "model.weights.h5")])


@keras.saving.register_keras_serializable(package="aigis_test")
class Gate(keras.layers.Layer):
    """A custom layer: the model cannot be loaded without this code."""

    def call(self, x):
        return x


def dense_model():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )


# compiled under a fixed file name, so the bytecode does not carry this machine's paths
LAMBDA = eval(compile("lambda x: x * 2.0", "<aigis-fixture>", "eval"))


def lambda_model():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Lambda(LAMBDA, name="scale")]
    )


def functional_model():
    inp = keras.Input((5, 4))
    x = keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True))(inp)
    x = keras.layers.TimeDistributed(keras.layers.Dense(3))(x)
    inner = keras.Sequential([keras.Input((5, 3)), keras.layers.Flatten(), keras.layers.Dense(1)], name="head")
    return keras.Model(inp, inner(x))


def set_activation_exec(config):
    """The Keras <= 3.8 arbitrary-import trick: an activation `builtins.exec`."""
    layer = config["config"]["layers"][1]
    layer["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "exec",
        "registered_name": None,
    }


def keras3() -> None:
    save_keras(dense_model(), "keras_dense.keras")
    save_keras(functional_model(), "keras_functional.keras")
    save_keras(lambda_model(), "keras_lambda.keras")
    save_keras(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), Gate()]), "keras_custom.keras")
    save_keras(dense_model(), "keras_exec.keras", edit=set_activation_exec)
    # config.json cut in half: not JSON
    with zipfile.ZipFile(OUT / "keras_dense.keras") as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    members = [(n, d[: len(d) // 2] if n == "config.json" else d) for n, d in members]
    zip_members(OUT / "keras_bad_config.keras", members)


def keras2_layer_lambda(name: str) -> dict:
    """A Keras 2 `Lambda` config: the function as (base64 marshal, defaults, closure),
    the way `tf.keras` `func_dump` writes it."""
    import base64
    import marshal

    code = base64.b64encode(marshal.dumps(LAMBDA.__code__)).decode("ascii")
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "function": [code, None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
        "name": name,
        "inbound_nodes": [[["dense", 0, 0, {}]]],
    }


def keras2_model(extra: dict) -> dict:
    """A tf.keras 2 Functional config: Input, Dense, then `extra`."""
    return {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False, "name": "input_1"}, "name": "input_1", "inbound_nodes": []},
                {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 3, "activation": "relu", "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}}, "bias_initializer": {"class_name": "Zeros", "config": {}}}, "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
                extra,
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [[extra["name"], 0, 0]],
        },
    }


def tf_op(function: str) -> dict:
    """A tf.keras 2 `TFOpLambda` layer: `tf.<function>` called by name on load."""
    return {
        "class_name": "TFOpLambda",
        "config": {"name": f"tf.{function}", "trainable": True, "dtype": "float32", "function": function},
        "name": f"tf.{function}",
        "inbound_nodes": [["dense", 0, 0, {"y": 1.0, "name": None}]],
    }


def write_keras2_h5(name: str, config: dict, **h5_args) -> None:
    """An .h5 laid out as tf.keras 2 `save_model_to_hdf5` writes it: the configs as
    UTF-8 bytes (fixed-length strings), the versions as str, the weights under
    `model_weights`."""
    with h5py.File(OUT / name, "w", **h5_args) as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        f.attrs["training_config"] = json.dumps(
            {"loss": "mse", "metrics": None, "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}}}
        ).encode("utf8")
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"input_1", b"dense"])
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = "2.15.0"
        d = g.create_group("dense").create_group("dense")
        d.create_dataset("kernel:0", data=np.ones((4, 3), dtype=np.float32))
        d.create_dataset("bias:0", data=np.zeros(3, dtype=np.float32))


def h5() -> None:
    # Keras 3's own legacy writer: the configs as str (variable-length, global heap)
    dense_model().save(OUT / "keras3_dense.h5")
    lambda_model().save(OUT / "keras3_lambda.h5")
    dense_model().save_weights(OUT / "weights_only.weights.h5")
    # the same attributes in the newest layout: superblock v3, OHDR object headers
    with h5py.File(OUT / "keras3_lambda.h5") as src, h5py.File(OUT / "keras3_lambda_latest.h5", "w", libver="latest") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
    # tf.keras 2
    write_keras2_h5("keras2_lambda.h5", keras2_model(keras2_layer_lambda("scale")))
    write_keras2_h5("keras2_tfop_math.h5", keras2_model(tf_op("math.multiply")))
    write_keras2_h5("keras2_tfop_write_file.h5", keras2_model(tf_op("io.write_file")))
    # more than 8 attributes in the newest layout: HDF5 moves them to a fractal heap
    with h5py.File(OUT / "dense_attributes.h5", "w", libver="latest") as f:
        f.attrs["model_config"] = json.dumps(keras2_model(tf_op("math.multiply"))).encode("utf8")
        for i in range(12):
            f.attrs[f"note_{i}"] = f"attribute {i}"
    # cut after the root group's attributes (the configs still read), then inside them
    data = (OUT / "keras3_dense.h5").read_bytes()
    (OUT / "truncated_weights.h5").write_bytes(data[: len(data) // 2])
    (OUT / "truncated_config.h5").write_bytes(data[:1200])


class Evil:
    """Pickles as a call to os.system; never loaded."""

    def __reduce__(self):
        return (os.system, ("echo aigis-test",))


def zip_bytes(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def nested() -> None:
    import pickle

    benign = pickle.dumps({"weights": [1.0, 2.0]}, protocol=2)
    evil = pickle.dumps({"model": Evil()}, protocol=2)
    npy = io.BytesIO()
    np.save(npy, np.array([Evil()], dtype=object), allow_pickle=True)
    npz = zip_bytes([("a.npy", npy.getvalue())])  # np.savez's layout, with a fixed date
    # zips in zips: a loader that unpacks an archive and loads what is inside runs it
    zip_members(OUT / "nested_benign.zip", [("inner.zip", zip_bytes([("data.pkl", benign)]))])
    zip_members(OUT / "nested_evil.zip", [("readme.txt", b"weights"), ("models/inner.zip", zip_bytes([("data.pkl", evil)]))])
    zip_members(OUT / "nested_npz.zip", [("arrays.npz", npz)])
    # level 1 (the file) > 2 > 3 > 4: the fourth is past the default limit of 3
    level = zip_bytes([("data.pkl", evil)])
    for name in ("l3.zip", "l2.zip"):
        level = zip_bytes([(name, level)])
    zip_members(OUT / "nested_deep.zip", [("l1.zip", level)])


def fake_torch():
    """Stand-ins registered as `torch`, `torch._utils`: enough for pickle to write the
    globals `torch.FloatStorage`, `torch.LongStorage`, `torch._utils._rebuild_tensor_v2`
    as torch.save does, without torch. Only this process ever sees them."""
    import collections
    import sys
    import types

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)

    def _rebuild_tensor_v2(*args):  # never called
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    class Storage:
        def __init__(self, kind, key, numel):
            self.kind, self.key, self.numel = getattr(torch, kind), key, numel

    class Tensor:
        def __init__(self, storage, size, stride):
            self.storage, self.size, self.stride = storage, size, stride

        def __reduce__(self):
            args = (self.storage, 0, self.size, self.stride, False, collections.OrderedDict())
            return (_rebuild_tensor_v2, args)

    return Storage, Tensor


def legacy_torch(obj_extra=None, after=b"", overrun=False) -> bytes:
    """The byte layout of `torch.save(obj, f, _use_new_zipfile_serialization=False)`
    (protocol 2), for a state dict of a 2x3 float tensor `w` and a 3-element int64
    tensor `n`:

      pickle(0x1950a86a20f9469cfc6c)      the magic number
      pickle(1001)                        the protocol version
      pickle(sys_info)                    byte order and type sizes
      pickle(obj)                         tensors reference their storages by persistent
                                          id ('storage', torch.<T>Storage, key, 'cpu',
                                          numel, None) (BINPERSID)
      pickle(sorted(keys))                the storage keys
      per key, in that order: int64 little-endian element count, then the elements
    """
    import collections
    import pickle
    import struct

    Storage, Tensor = fake_torch()
    w = Storage("FloatStorage", "94011", 6)
    n = Storage("LongStorage", "94012", 3)
    state = collections.OrderedDict([("w", Tensor(w, (2, 3), (3, 1))), ("n", Tensor(n, (3,), (1,)))])
    if obj_extra is not None:
        state["extra"] = obj_extra
    buf = io.BytesIO()
    for value in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(value, buf, protocol=2)
    pickler = pickle.Pickler(buf, protocol=2)
    pickler.persistent_id = lambda o: ("storage", o.kind, o.key, "cpu", o.numel, None) if isinstance(o, Storage) else None
    pickler.dump(state)
    pickle.dump(sorted([w.key, n.key]), buf, protocol=2)
    buf.write(struct.pack("<q", 6) + np.arange(6, dtype="<f4").tobytes())
    numel = 1 << 40 if overrun else 3
    buf.write(struct.pack("<q", numel) + np.arange(3, dtype="<i8").tobytes())
    buf.write(after)
    return buf.getvalue()


def legacy() -> None:
    import pickle

    (OUT / "legacy_torch.pt").write_bytes(legacy_torch())
    (OUT / "legacy_torch_evil.pt").write_bytes(legacy_torch(obj_extra=Evil()))
    hidden = pickle.dumps(Evil(), protocol=2)
    (OUT / "legacy_torch_hidden.pt").write_bytes(legacy_torch(after=hidden))
    (OUT / "legacy_torch_overrun.pt").write_bytes(legacy_torch(overrun=True))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if old.name != "README.md":
            old.unlink()
    keras.utils.set_random_seed(0)
    keras3()
    h5()
    nested()
    legacy()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
