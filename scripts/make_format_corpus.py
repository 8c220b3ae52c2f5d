#!/usr/bin/env python3
"""Writes the small model files under tests/data/formats/ that aigis-scan's tests read,
and the ONNX models and SavedModel graphs under tests/data/graphs/.

    pip install numpy safetensors gguf onnx skl2onnx scikit-learn   # no torch, no tensorflow
    python3 scripts/make_format_corpus.py

The "malicious" files only *name* `posix.system` (what `os.system` pickles as on Linux);
nothing here is ever unpickled. Pickles are written with protocol 2 so the global appears
as the text `posix\\nsystem\\n`, which the tests' stand-in pickle scanner looks for.
"""

import io
import os
import pickle
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "formats"
GRAPHS = OUT.parent / "graphs"


class Evil:
    """Pickles as a call to os.system; never loaded."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def evil_pickle() -> bytes:
    return pickle.dumps({"model": Evil()}, protocol=2)


def benign_pickle() -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0], "name": "tiny"}, protocol=2)


def write_zip(path: Path, members, *, compression=zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if old.name != "README.md":
            old.unlink()

    # safetensors, by the reference implementation
    save_file(
        {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, dtype=np.float16)},
        str(OUT / "model.safetensors"),
        metadata={"format": "np"},
    )

    # GGUF, by llama.cpp's own writer, with a benign and a malicious chat template
    for name, template in [
        ("model.gguf", "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"),
        ("evil_template.gguf", "{{ cycler.__init__.__globals__.os.popen('id').read() }}"),
    ]:
        w = gguf.GGUFWriter(str(OUT / name), "llama")
        w.add_name("tiny")
        w.add_context_length(16)
        w.add_token_list(["<s>", "</s>", "a", "b"])
        w.add_chat_template(template)
        w.add_tensor("w", np.ones((4, 8), dtype=np.float32))
        w.add_tensor("b", np.zeros(8, dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    # NumPy: a plain array, and npz files with object arrays (a pickle inside)
    np.save(OUT / "plain.npy", np.arange(4, dtype=np.int32))
    np.savez(OUT / "objects.npz", a=np.array([{"k": 1}, None], dtype=object), b=np.arange(3))
    evil_npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        evil_npy, {"descr": "|O", "fortran_order": False, "shape": (1,)}
    )
    evil_npy.write(evil_pickle())
    write_zip(OUT / "evil_objects.npz", [("a.npy", evil_npy.getvalue())])

    # pickles: raw, joblib-style compressed, and under a misleading name
    (OUT / "benign.pkl").write_bytes(benign_pickle())
    (OUT / "evil.pkl").write_bytes(evil_pickle())
    (OUT / "evil_compressed.joblib").write_bytes(zlib.compress(evil_pickle()))
    (OUT / "evil_named.safetensors").write_bytes(evil_pickle())

    # PyTorch-shaped zips (torch.save layout, written without torch)
    torch_members = lambda pkl: [  # noqa: E731
        ("archive/data.pkl", pkl),
        ("archive/byteorder", b"little"),
        ("archive/data/0", b"\x00" * 64),
        ("archive/version", b"3\n"),
    ]
    write_zip(OUT / "benign_torch.pt", torch_members(benign_pickle()), compression=zipfile.ZIP_STORED)
    write_zip(OUT / "evil_torch.pt", torch_members(evil_pickle()), compression=zipfile.ZIP_STORED)

    # zip tricks
    with zipfile.ZipFile(OUT / "duplicate_names.pt", "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), benign_pickle())
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z.writestr(zipfile.ZipInfo("archive/data.pkl"), evil_pickle())
    write_zip(OUT / "traversal.zip", [("../../outside.pkl", benign_pickle())])
    # 4 MiB of zeros deflate to about 4 KiB: a ratio a bomb has and a model never does
    write_zip(OUT / "bomb.zip", [("zeros.bin", b"\x00" * (4 << 20))])

    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), benign_pickle())
    data = bytearray(bad.getvalue())
    # flip the crc in both the local header (offset 14) and the central directory entry,
    # so only the decompressed bytes disagree with it
    crc = data[14:18]
    wrong = struct.pack("<I", struct.unpack("<I", crc)[0] ^ 0xFFFFFFFF)
    data = data.replace(bytes(crc), wrong)
    (OUT / "bad_crc.pt").write_bytes(bytes(data))

    # polyglot: a pickle that is also a zip (torch.load would open the zip, pickle.load
    # would run the pickle)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), benign_pickle())
    (OUT / "polyglot.pt").write_bytes(evil_pickle() + zbuf.getvalue())

    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")

    graphs()


# --- ONNX and TensorFlow SavedModel -------------------------------------------------------


def onnx_models() -> None:
    """ONNX models: one by skl2onnx, the rest built with onnx.helper (external data
    entries are written by hand where onnx.save would refuse or rewrite them)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    logreg = to_onnx(clf, x[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3})
    # skl2onnx collects the opsets in a set: sort them so the file is the same every run
    opsets = sorted((o.domain, o.version) for o in logreg.opset_import)
    del logreg.opset_import[:]
    logreg.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    logreg_bytes = logreg.SerializeToString()
    (GRAPHS / "logreg_iris.onnx").write_bytes(logreg_bytes)
    # cut inside the graph: a loader fails, the scanner must not call it clean
    (GRAPHS / "truncated.onnx").write_bytes(logreg_bytes[: len(logreg_bytes) * 3 // 5])

    def matmul_model(weight: TensorProto, nodes=None, opsets=None) -> onnx.ModelProto:
        graph = helper.make_graph(
            nodes or [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")],
            "tiny",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
            initializer=[weight],
        )
        model = helper.make_model(
            graph, opset_imports=opsets or [helper.make_opsetid("", 17)], producer_name="aigis-test"
        )
        model.ir_version = 8
        return model

    w = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")

    # benign external data: onnx's own writer puts the weights in weights.bin beside it
    folder = GRAPHS / "onnx_external"
    folder.mkdir()
    onnx.save_model(
        matmul_model(w),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )

    def external(location: str) -> TensorProto:
        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4])
        t.data_location = TensorProto.EXTERNAL
        for key, value in [("location", location), ("offset", "0"), ("length", "64")]:
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        return t

    for name, location in [
        ("onnx_escape", "../../../../home/user/.ssh/id_rsa"),
        ("onnx_absolute", "/etc/passwd"),
    ]:
        (GRAPHS / name).mkdir()
        (GRAPHS / name / "model.onnx").write_bytes(matmul_model(external(location)).SerializeToString())

    # an operator from a domain no runtime has: loading needs a custom-op library
    custom = matmul_model(
        w,
        nodes=[
            helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
            helper.make_node("Exfiltrate", ["h"], ["y"], name="exfil", domain="com.example.evil"),
        ],
        opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.example.evil", 1)],
    )
    (GRAPHS / "custom_domain.onnx").write_bytes(custom.SerializeToString())


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def pb_bytes(number: int, payload) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def pb_msg(number: int, *parts: bytes) -> bytes:
    return pb_bytes(number, b"".join(parts))


def tf_node(name: str, op: str, inputs=(), attrs=()) -> bytes:
    """NodeDef: name 1, op 2, input 3, attr 5 (map entry: key 1, AttrValue 2)."""
    parts = [pb_bytes(1, name), pb_bytes(2, op)] + [pb_bytes(3, i) for i in inputs]
    for key, value in attrs:
        parts.append(pb_msg(5, pb_bytes(1, key), pb_msg(2, value)))
    return b"".join(parts)


def tf_func_attr(function: str) -> bytes:
    """AttrValue { func (10): NameAttrList { name (1) } }."""
    return pb_msg(10, pb_bytes(1, function))


def tf_call(name: str, function: str, inputs) -> bytes:
    return tf_node(name, "StatefulPartitionedCall", inputs, [("f", tf_func_attr(function))])


def tf_function(name: str, nodes) -> bytes:
    """FunctionDef: signature 1 (OpDef name 1), node_def 3."""
    return pb_msg(1, pb_bytes(1, name)) + b"".join(pb_msg(3, n) for n in nodes)


def saved_model(serve_nodes) -> bytes:
    """A SavedModel shaped like what tf.saved_model.save writes for a small Keras model:
    a serving call, and the saver's save and restore functions (SaveV2,
    MergeV2Checkpoints, RestoreV2) named by the SaverDef."""
    save = [
        tf_node("StaticRegexFullMatch", "StaticRegexFullMatch", ["file_prefix"]),
        tf_node("Const", "Const"),
        tf_node("StringJoin", "StringJoin", ["file_prefix", "Const:output:0"]),
        tf_node("num_shards", "Const"),
        tf_node("ShardedFilename", "ShardedFilename", ["StringJoin:output:0", "num_shards:output:0"]),
        tf_node("SaveV2", "SaveV2", ["ShardedFilename:filename:0", "SaveV2/tensor_names", "kernel"]),
        tf_node("MergeV2Checkpoints", "MergeV2Checkpoints", ["ShardedFilename:filename:0", "^SaveV2"]),
        tf_node("Identity", "Identity", ["file_prefix", "^MergeV2Checkpoints"]),
    ]
    restore = [
        tf_node("RestoreV2", "RestoreV2", ["file_prefix", "RestoreV2/tensor_names"]),
        tf_node("AssignVariableOp", "AssignVariableOp", ["kernel", "RestoreV2:tensors:0"]),
        tf_node("NoOp", "NoOp", ["^AssignVariableOp"]),
    ]
    top = [
        tf_node("serving_default_x", "Placeholder"),
        tf_node("kernel", "VarHandleOp"),
        tf_call("StatefulPartitionedCall", "__inference_signature_wrapper_101", ["serving_default_x", "kernel"]),
        tf_node("saver_filename", "Placeholder"),
        tf_call("StatefulPartitionedCall_1", "__inference__traced_save_202", ["saver_filename", "kernel"]),
        tf_call("StatefulPartitionedCall_2", "__inference__traced_restore_303", ["saver_filename", "kernel"]),
    ]
    library = b"".join(
        pb_msg(1, f)
        for f in [
            tf_function("__inference_signature_wrapper_101", serve_nodes),
            tf_function("__inference__traced_save_202", save),
            tf_function("__inference__traced_restore_303", restore),
        ]
    )
    graph = b"".join(pb_msg(1, n) for n in top) + pb_msg(2, library) + pb_msg(4, pb_int(1, 1645))
    meta_info = pb_bytes(4, "serve") + pb_bytes(5, "2.15.0")
    saver = (
        pb_bytes(1, "saver_filename:0")
        + pb_bytes(2, "StatefulPartitionedCall_1:0")
        + pb_bytes(3, "StatefulPartitionedCall_2")
        + pb_int(7, 2)
    )
    signature = pb_msg(
        2,
        pb_bytes(1, "serving_default"),
        pb_msg(
            2,
            pb_msg(1, pb_bytes(1, "x"), pb_msg(2, pb_bytes(1, "serving_default_x:0"))),
            pb_msg(2, pb_bytes(1, "y"), pb_msg(2, pb_bytes(1, "StatefulPartitionedCall:0"))),
            pb_bytes(3, "tensorflow/serving/predict"),
        ),
    )
    objects = pb_msg(
        2, pb_bytes(1, "__inference_signature_wrapper_101"), pb_msg(2, b"")
    ) + pb_msg(1, pb_msg(8, pb_bytes(1, "__inference_signature_wrapper_101")))
    meta = (
        pb_msg(1, meta_info)
        + pb_msg(2, graph)
        + pb_msg(3, saver)
        + pb_msg(5, signature)
        + pb_msg(7, objects)
    )
    return pb_int(1, 1) + pb_msg(2, meta)


def savedmodels() -> None:
    """SavedModel graphs written as raw protobuf (TensorFlow is not needed): field numbers
    from tensorflow/core/protobuf/{saved_model,meta_graph,saver,saved_object_graph}.proto
    and tensorflow/core/framework/{graph,function,node_def,attr_value}.proto."""
    dense = [
        tf_node("MatMul/ReadVariableOp", "ReadVariableOp", ["kernel"]),
        tf_node("MatMul", "MatMul", ["x", "MatMul/ReadVariableOp:value:0"]),
        tf_node("Identity", "Identity", ["MatMul:product:0"]),
    ]
    benign = GRAPHS / "savedmodel_benign"
    benign.mkdir()
    (benign / "saved_model.pb").write_bytes(saved_model(dense))
    # FingerprintDef: hashes (fields 1-5) and a VersionDef (6)
    (benign / "fingerprint.pb").write_bytes(
        b"".join(pb_int(n, 0x1234_5678_9ABC + n) for n in range(1, 6)) + pb_msg(6, pb_int(1, 1))
    )
    # keras SavedMetadata: nodes (1) of SavedObject {node_id 2, node_path 3, identifier 4,
    # metadata 5}
    layer = '{"name": "dense", "class_name": "Dense", "config": {"units": 4}}'
    (benign / "keras_metadata.pb").write_bytes(
        pb_msg(1, pb_int(2, 1), pb_bytes(3, "root.layer_with_weights-0"), pb_bytes(4, "_tf_keras_layer"), pb_bytes(5, layer))
    )

    pyfunc = GRAPHS / "savedmodel_pyfunc"
    pyfunc.mkdir()
    (pyfunc / "saved_model.pb").write_bytes(
        saved_model(dense + [tf_node("EagerPyFunc", "EagerPyFunc", ["MatMul:product:0"])])
    )

    files = GRAPHS / "savedmodel_files"
    files.mkdir()
    (files / "saved_model.pb").write_bytes(
        saved_model(
            dense
            + [
                tf_node("secret_path", "Const"),
                tf_node("ReadFile", "ReadFile", ["secret_path:output:0"]),
                tf_node("WriteFile", "WriteFile", ["out_path", "ReadFile:contents:0"]),
            ]
        )
    )


def graphs() -> None:
    if GRAPHS.exists():
        for old in GRAPHS.iterdir():
            # tf_* are real SavedModels, written by scripts/make_savedmodel_corpus.py
            if old.name == "README.md" or old.name.startswith("tf_"):
                continue
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
    GRAPHS.mkdir(parents=True, exist_ok=True)
    onnx_models()
    savedmodels()
    files = [p for p in GRAPHS.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(files)} files, {total} bytes, to {GRAPHS}")


if __name__ == "__main__":
    main()
