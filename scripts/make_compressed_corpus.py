#!/usr/bin/env python3
"""Writes the fixtures of tests/data/compressed/ (see its README.md): one small pickle in
each compression joblib reads, benign and evil, joblib <= 0.9 pickles whose array
wrappers name a file beside them or one elsewhere, and the edge cases of joblib's
legacy z-file.

    pip install lz4        # for the lz4 frames; the rest is the standard library
    python3 scripts/make_compressed_corpus.py

Nothing here is ever loaded: the evil pickle only *names* `posix.system` with a
harmless string. The output is deterministic (gzip with mtime 0).
"""
import bz2
import gzip
import io
import lzma
import pickle
import zlib
from pathlib import Path

import lz4.frame

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "compressed"

# protocol 2, as joblib and pickle write it: a list of numbers
BENIGN = pickle.dumps([1, 2.5, "x"], protocol=2)
# `posix.system("echo aigis-test")`, never run
EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x0f\x00\x00\x00echo aigis-testq\x01\x85q\x02Rq\x03."


def zfile(data: bytes) -> bytes:
    """joblib <= 0.9's `write_zfile`: `ZF`, the length in hex padded to 19, zlib."""
    return b"ZF" + f"{len(data):#x}".ljust(19).encode() + zlib.compress(data, 3)


def gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


CODECS = {
    "zlib": lambda d: zlib.compress(d, 3),
    "gzip": gz,
    "bz2": lambda d: bz2.compress(d, 3),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE, preset=3),
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=3),
    "lz4": lambda d: lz4.frame.compress(d, compression_level=3),
    "zfile": zfile,
}


def companion(wrapper: str, filename: str) -> bytes:
    """A joblib <= 0.9 pickle: a list holding one array wrapper that names `filename`."""
    state = (
        b"}q\x02(U\x08filenameq\x03"
        + b"X" + len(filename.encode()).to_bytes(4, "little") + filename.encode()
        + b"q\x04U\x08subclassq\x05cnumpy\nndarray\nq\x06ub"
    )
    return (
        b"\x80\x02]q\x00(cjoblib.numpy_pickle\n" + wrapper.encode() + b"\nq\x01)\x81"
        + state + b"e."
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, compress in CODECS.items():
        (OUT / f"benign_{name}.joblib").write_bytes(compress(BENIGN))
        (OUT / f"evil_{name}.joblib").write_bytes(compress(EVIL))
    # compressed twice: the inner stream is scanned too
    (OUT / "evil_gzip_in_bz2.pkl.bz2").write_bytes(bz2.compress(gz(EVIL)))
    # joblib <= 0.8.4 on Python 2 wrote one blank more before the zlib data
    wide = b"ZF" + f"{len(EVIL):#x}".ljust(20).encode() + zlib.compress(EVIL)
    (OUT / "evil_zfile_wide.pkl").write_bytes(wide)
    # a z-file whose length does not match: joblib refuses it
    short = b"ZF" + f"{len(BENIGN) + 5:#x}".ljust(19).encode() + zlib.compress(BENIGN)
    (OUT / "zfile_bad_length.pkl").write_bytes(short)
    # the raw array bytes a `ZNDArrayWrapper` names
    (OUT / "array_data.npy.z").write_bytes(zfile(bytes(range(8)) * 5))
    # joblib <= 0.9 wrappers: beside the pickle, out of the folder, absolute
    (OUT / "companion_beside.pkl").write_bytes(companion("NDArrayWrapper", "companion_beside.pkl_01.npy"))
    (OUT / "companion_parent.pkl").write_bytes(companion("NDArrayWrapper", "../evil.npy"))
    (OUT / "companion_absolute.pkl").write_bytes(companion("ZNDArrayWrapper", "/tmp/evil.npy.z"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
