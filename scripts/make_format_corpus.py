#!/usr/bin/env python3
"""Writes the small model files under tests/data/formats/ that aigis-model's tests read.

    pip install numpy safetensors gguf   # torch is not needed (and is huge)
    python3 scripts/make_format_corpus.py

The "malicious" files only *name* `posix.system` (what `os.system` pickles as on Linux);
nothing here is ever unpickled. Pickles are written with protocol 2 so the global appears
as the text `posix\\nsystem\\n`, which the tests' stand-in pickle scanner looks for.
"""

import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import save_file

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "formats"


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


if __name__ == "__main__":
    main()
