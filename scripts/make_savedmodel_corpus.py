#!/usr/bin/env python3
"""Writes the real TensorFlow SavedModels and checkpoint under tests/data/graphs/tf_*/ that
aigis-scan's and the CLI's tests scan.

    python3 -m venv /tmp/venv-tf && /tmp/venv-tf/bin/pip install tensorflow-cpu
    /tmp/venv-tf/bin/python scripts/make_savedmodel_corpus.py

Each model is a `tf.Module` with two small `tf.Variable`s and a `tf.function` with an
input signature, saved by `tf.saved_model.save` (or, for `tf_ckpt/`, a TF1-style checkpoint
written by `tf.train.Checkpoint.write`). The "malicious" ones are saved, never served: their
functions write a file, read `/etc/hostname`, or call back into Python only when someone
runs them. Function names carry TensorFlow's per-process counters, so the script writes
the models in a fixed order in one process, and the output is the same from run to run
with the same TensorFlow version (2.21 for the committed files).

`scripts/make_format_corpus.py` rewrites the rest of tests/data/graphs/ and leaves the
`tf_*` folders alone.
"""

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import fingerprint_pb2  # noqa: E402

GRAPHS = Path(__file__).resolve().parent.parent / "tests" / "data" / "graphs"

SIGNATURE = [tf.TensorSpec(shape=[None, 3], dtype=tf.float32)]


class Dense(tf.Module):
    """y = x @ w + b, with fixed weights."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], name="w")
        self.b = tf.Variable([0.1, -0.2], name="b")

    def dense(self, x):
        return tf.matmul(x, self.w) + self.b


class Benign(Dense):
    @tf.function(input_signature=SIGNATURE)
    def serve(self, x):
        return {"y": self.dense(x)}


class WriteFile(Dense):
    @tf.function(input_signature=SIGNATURE)
    def serve(self, x):
        y = self.dense(x)
        tf.io.write_file("/tmp/aigis-exfil.txt", tf.strings.as_string(tf.reduce_sum(y)))
        return {"y": y}


class ReadKey(Dense):
    @tf.function(input_signature=SIGNATURE)
    def serve(self, x):
        key = tf.io.read_file("/etc/hostname")
        return {"y": self.dense(x), "leak": key}


def callback(y):
    """What `tf.py_function` would run in Python (only when served)."""
    return y


class PyFunction(Dense):
    @tf.function(input_signature=SIGNATURE)
    def serve(self, x):
        y = tf.py_function(callback, [self.dense(x)], tf.float32)
        return {"y": y}


class Vocab(Dense):
    """A lookup table initialised from a vocabulary file in `assets/`."""

    def __init__(self, vocab: str):
        super().__init__()
        # A file name (not a `tf.saved_model.Asset`, whose Python repr would end up in the
        # table's shared name); the initializer tracks it as an asset.
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                vocab,
                key_dtype=tf.string,
                key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64,
                value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=-1,
        )

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string)])
    def serve(self, words):
        return {"ids": self.table.lookup(words)}


def save(name: str, module: tf.Module) -> None:
    out = GRAPHS / name
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve})
    # `fingerprint.pb` carries a random UUID (field 7) besides its hashes: fixed here so
    # the files do not change from run to run.
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString((out / "fingerprint.pb").read_bytes())
    fingerprint.uuid = "0"
    (out / "fingerprint.pb").write_bytes(fingerprint.SerializeToString(deterministic=True))


def main() -> None:
    tf.random.set_seed(0)
    for old in GRAPHS.glob("tf_*"):
        shutil.rmtree(old)
    GRAPHS.mkdir(parents=True, exist_ok=True)

    save("tf_benign", Benign())
    save("tf_write_file", WriteFile())
    save("tf_read_key", ReadKey())
    save("tf_py_function", PyFunction())

    # The vocabulary is copied into the SavedModel's assets/ folder by the save. Named
    # relative to a scratch folder, so no local path ends up in the model.
    with tempfile.TemporaryDirectory() as scratch:
        here = os.getcwd()
        os.chdir(scratch)
        try:
            Path("vocab.txt").write_text("[UNK]\nthe\nmodel\nsecure\n")
            save("tf_vocab", Vocab("vocab.txt"))
        finally:
            os.chdir(here)

    # A TF1-style checkpoint (model.ckpt.index + model.ckpt.data-00000-of-00001), no graph.
    (GRAPHS / "tf_ckpt").mkdir()
    tf.train.Checkpoint(model=Dense()).write(str(GRAPHS / "tf_ckpt" / "model.ckpt"))

    # git keeps no empty folders (the models without assets have an empty assets/)
    for folder in sorted(GRAPHS.glob("tf_*/**/"), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()

    files = sorted(p for p in GRAPHS.glob("tf_*/**/*") if p.is_file())
    for p in files:
        print(f"{p.stat().st_size:8} {p.relative_to(GRAPHS)}")
    print(f"tensorflow {tf.__version__}: {len(files)} files, "
          f"{sum(p.stat().st_size for p in files)} bytes")


if __name__ == "__main__":
    main()
