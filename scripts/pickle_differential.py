#!/usr/bin/env python3
"""Differential test of aigis's pickle scanner against CPython's own unpicklers.

    python3 scripts/pickle_differential.py target/debug/aigis --check
    python3 scripts/pickle_differential.py target/debug/aigis --mutants 3000 --seed 1 --check
    python3 scripts/pickle_differential.py target/release/aigis --minutes 30 --seed 7   # a campaign

Every pickle stream of the corpus (raw pickle files, and the `.pkl` members of zip
archives such as PyTorch checkpoints) is loaded by CPython four ways:

- `pickle.Unpickler` over an `io.BytesIO` (the C unpickler with a file that has no
  `peek`: frames are read with `read()`, as `torch.load` reads `data.pkl`);
- `pickle.Unpickler` over the file opened with `open()` (a buffered file with `peek`);
- `pickle.Unpickler` over a buffered reader holding the whole input (as `pickle.loads`);
- the pure-Python `pickle._Unpickler`;
- one C and one pure-Python unpickler that load every pickle of a stream in turn,
  keeping their memo (the others make a new unpickler per pickle, as `torch.load` does).

Their `find_class` records `(module, name)` and returns an inert class; `persistent_load`
returns an inert placeholder; the extension registry is empty. Nothing the pickle names
is ever imported or called. Each load runs in a worker process with a memory and time
limit.

Then `aigis model scan --json` scans the same files, and for every stream:

1. every global that any CPython reader resolved appears, in backticks, in aigis's
   findings for that stream (`pickle.imports` lists every import, safe ones too), or
   aigis reported that a `STACK_GLOBAL` could not be resolved there;
2. if CPython resolved a global that aigis does not call safe, aigis's verdict on the file
   is not safe.

`--mutants N` adds N pickles mutated from the corpus with a fixed `--seed`: opcodes
inserted, deleted and duplicated, frames inserted, resized and nested, lengths changed,
and globals spliced in. `--minutes M` keeps making and checking rounds of mutants until
M minutes have passed. `--check` exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import random
import re
import signal
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = [
    ROOT / "tests/data/models",
    ROOT / "tests/data/benign",
    ROOT / "tests/data/formats",
    ROOT / "tests/data/containers",
    ROOT / "tests/data/torch",
    ROOT / "fuzz/seeds/pickle",
]
READERS = ("c-bytesio", "c-file", "c-whole", "python", "c-reuse", "python-reuse")
# torch.save's legacy magic number, as the LONG1 that pickles it.
TORCH_MAGIC = bytes([0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19])

# --------------------------------------------------------------------------- the oracle


class _Inert:
    """What every global and persistent id becomes: takes anything, does nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def add(self, item):
        pass


def _unpickler(base, log):
    class Recording(base):
        def find_class(self, module, name):
            log.append((module, name))
            return type("Inert", (_Inert,), {})

        def persistent_load(self, pid):
            return _Inert()

    return Recording


def _open(reader: str, path: str, data: bytes):
    if reader == "c-bytesio":
        return io.BytesIO(data)
    if reader == "c-file":
        return open(path, "rb")
    if reader == "c-whole":
        return io.BufferedReader(io.BytesIO(data), buffer_size=max(len(data), 1) + 64)
    return io.BytesIO(data)


def _load_stream(reader: str, path: str, data: bytes) -> dict:
    """Loads pickle after pickle from one stream, as a loader reading several pickles
    from one file does, until the end, an error, or (legacy torch.save) the raw
    storages. Returns the globals resolved and how the reading ended."""
    log: list[tuple[str, str]] = []
    base = pickle._Unpickler if reader.startswith("python") else pickle.Unpickler
    f = _open(reader, path, data)
    # `-reuse`: one unpickler loads every pickle and keeps its memo; otherwise a new
    # one per pickle (torch.load, pickle.load in a loop)
    reused = _unpickler(base, log)(f) if reader.endswith("-reuse") else None
    ended = "end"
    pickles = 0
    try:
        legacy = data.startswith(b"\x80\x02" + TORCH_MAGIC)
        while True:
            if f.read(1) == b"":
                break
            f.seek(-1, io.SEEK_CUR)
            (reused or _unpickler(base, log)(f)).load()
            pickles += 1
            if legacy and pickles == 5:
                ended = "legacy torch storages"
                break
    except RecursionError:
        ended = "error: RecursionError"
    except MemoryError:
        ended = "error: MemoryError"
    except Exception as e:  # any refusal of a malformed pickle ends the reading
        ended = f"error: {type(e).__name__}: {str(e)[:80]}"
    finally:
        f.close()
    return {"globals": log, "ended": ended, "pickles": pickles}


def _oracle_task(task: tuple[str, str | None, str]) -> dict:
    """Worker: loads one stream (a file, or a member written to `tmp`) every way."""
    path, member, tmp = task
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    except (ImportError, ValueError, OSError):
        pass
    def too_long(signum, frame):
        raise TimeoutError("the load took more than 20 s")

    signal.signal(signal.SIGALRM, too_long)
    warnings.simplefilter("ignore")  # escapes in mutated protocol-0 strings
    if member is None:
        data = Path(path).read_bytes()
        src = path
    else:
        data = read_member(Path(path), member)
        src = tmp
        Path(src).write_bytes(data)
    out = {}
    for reader in READERS:
        signal.alarm(20)
        try:
            out[reader] = _load_stream(reader, src, data)
        finally:
            signal.alarm(0)
    return {"path": path, "member": member, "readers": out}


def read_member(path: Path, member: str) -> bytes:
    """A zip member's bytes as PyTorch's reader takes them: from its local header, with
    no CRC check and no regard for the "encrypted" flag."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        raw = f.read(info.compress_size)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return zlib.decompressobj(-15).decompress(raw)
    return raw


def streams_of(path: Path) -> list[str | None]:
    """The pickle streams a file holds: `[None]` for a raw pickle, member names for a
    zip; `[]` for what the oracle does not load (joblib's inline arrays, tar archives,
    other formats) — aigis still scans those."""
    try:
        head = path.read_bytes()[:8]
    except OSError:
        return []
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = [
                    i.filename
                    for i in z.infolist()
                    if not i.is_dir() and i.filename.endswith(".pkl") and i.file_size < (64 << 20)
                ]
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            return []
        return names
    data = path.read_bytes()
    if b"NumpyArrayWrapper" in data or b"NDArrayWrapper" in data:
        return []  # joblib: array bytes sit between opcodes; its own loader reads them
    if head[:1] == b"\x80" or head[:1] in b"(cdlN}]SVIJKMGFLT)":
        return [None]
    return []


# --------------------------------------------------------------------------- mutations

OPCODE_SAMPLES = [
    b"(", b".", b"0", b"1", b"2", b"N", b"\x88", b"\x89", b"K\x01", b"M\x01\x00",
    b"J\x01\x00\x00\x00", b"\x8a\x01\x01", b")", b"]", b"}", b"\x8f", b"t", b"l", b"d",
    b"\x85", b"\x86", b"\x87", b"a", b"e", b"s", b"u", b"b", b"R", b"\x81", b"\x93",
    b"\x94", b"h\x00", b"q\x00", b"\x8c\x02os", b"\x8c\x06system", b"\x8c\x08builtins",
    b"\x8c\x04eval", b"cos\nsystem\n", b"cbuiltins\nexec\n", b"ccollections\nOrderedDict\n",
    b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93", b"Vos\n", b"S'system'\n", b"C\x02ab",
    b"X\x03\x00\x00\x00abc", b"I1\n", b"\x95\x04\x00\x00\x00\x00\x00\x00\x00",
]
EVIL = [
    b"\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R0",
    b"cos\nsystem\n(S'echo'\ntR0",
    b"\x8c\x08builtins\x8c\x04exec\x93\x8c\x01x\x85R0",
    b"csubprocess\nPopen\n(S'echo'\ntR0",
]


def _frame(n: int) -> bytes:
    return b"\x95" + struct.pack("<Q", n)


def _boundaries(data: bytes) -> list[int]:
    """Opcode offsets as pickletools sees them (as far as it gets)."""
    import pickletools

    out = []
    try:
        for _, _, pos in pickletools.genops(data):
            out.append(pos)
    except Exception:
        pass
    return out or [0]


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    cuts = _boundaries(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(11)
        at = rng.choice(cuts) if cuts else 0
        at = min(at, len(data))
        if kind == 0:  # a frame whose end falls inside a later opcode
            n = rng.randint(1, max(1, min(64, len(data) - at)))
            data = data[:at] + _frame(n) + data[at:]
        elif kind == 1:  # resize an existing frame
            i = data.find(b"\x95")
            if i >= 0 and i + 9 <= len(data):
                (n,) = struct.unpack("<Q", data[i + 1 : i + 9])
                n = max(0, n + rng.choice([-8, -3, -2, -1, 1, 2, 3, 8]))
                data = data[: i + 1] + struct.pack("<Q", n) + data[i + 9 :]
        elif kind == 2:  # a frame inside a frame
            n = rng.randint(0, 48)
            data = data[:at] + _frame(n) + data[at:]
        elif kind == 3:  # insert an opcode
            data = data[:at] + rng.choice(OPCODE_SAMPLES) + data[at:]
        elif kind == 4:  # delete an opcode's worth of bytes
            ends = [c for c in cuts if c > at] or [len(data)]
            data = data[:at] + data[min(ends) :]
        elif kind == 5:  # duplicate a chunk
            n = rng.randint(1, 16)
            data = data[:at] + data[at : at + n] + data[at:]
        elif kind == 6:  # a global call spliced in
            data = data[:at] + rng.choice(EVIL) + data[at:]
        elif kind == 7:  # flip a byte
            if data:
                i = rng.randrange(len(data))
                data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
        elif kind == 8:  # change a 1-byte length (SHORT_BINUNICODE, SHORT_BINBYTES, ...)
            for i in range(at, min(len(data) - 1, at + 32)):
                if data[i] in (0x8C, 0x43, 0x55, 0x8A):
                    data = data[: i + 1] + bytes([rng.randrange(256)]) + data[i + 2 :]
                    break
        elif kind == 9:  # a chunk of another corpus pickle
            if others:
                o = rng.choice(others)
                s = rng.randrange(len(o)) if o else 0
                data = data[:at] + o[s : s + rng.randint(1, 32)] + data[at:]
        else:  # truncate
            data = data[: max(1, at)]
    return data


# --------------------------------------------------------------------------- aigis side


def aigis_scan(aigis: str, files: list[Path], cwd: Path) -> dict[str, dict]:
    """`aigis model scan --json` over `files` (in batches), by path."""
    out: dict[str, dict] = {}
    for i in range(0, len(files), 500):
        batch = [str(f) for f in files[i : i + 500]]
        p = subprocess.run(
            [aigis, "model", "scan", "--json", "--fail-on", "none", *batch],
            capture_output=True,
            text=True,
            cwd=cwd,
        )
        if p.returncode != 0:
            sys.exit(f"aigis model scan failed ({p.returncode}): {p.stderr[-2000:]}")
        for r in json.loads(p.stdout)["files"]:
            out[str(Path(r["path"]).resolve())] = r
    return out


def member_findings(report: dict, member: str | None, path: Path) -> list[dict]:
    """Findings of one stream: a zip member's (aigis names it `<archive stem>/…` as the
    archive does), or a raw file's (no member)."""
    if member is None:
        return [e for e in report["findings"] if "member" not in e["location"]]
    return [e for e in report["findings"] if e["location"].get("member") == member]


KEPT = 4096  # the longest protocol-0 line aigis keeps whole (pickle::Limits::max_inspect)


def shown_part(part: str) -> str:
    """A module or name as aigis shows it: whole, or its first bytes and its length."""
    raw = part.encode("utf-8", "surrogatepass")
    if len(raw) <= KEPT:
        return part
    return raw[:KEPT].decode("utf-8", "replace") + f"…({len(raw)} bytes)"


IMPORT_ITEM = re.compile(r"`([^`]*)` ×\d+ \((safe|suspicious|inconclusive|dangerous)\)")


def compare(oracle: dict, report: dict | None, path: Path) -> list[str]:
    problems = []
    member = oracle["member"]
    where = f"{path}" + (f"!{member}" if member else "")
    if report is None:
        return [f"{where}: aigis did not report the file"]
    findings = member_findings(report, member, path)
    text = "\n".join(e["message"] for e in findings)
    unresolved = any(e["rule"] == "pickle.stack_global.unresolved" for e in findings)
    verdicts: dict[str, str] = {}
    for e in findings:
        if e["rule"] == "pickle.imports":
            for m in IMPORT_ITEM.finditer(e["message"]):
                verdicts[m.group(1)] = m.group(2)
    seen: dict[tuple[str, str], list[str]] = {}
    for reader, result in oracle["readers"].items():
        for g in result["globals"]:
            seen.setdefault(tuple(g), []).append(reader)
    for (module, name), readers in seen.items():
        full = f"{shown_part(module)}.{shown_part(name)}"
        if f"`{full}`" not in text and not unresolved:
            problems.append(
                f"{where}: CPython ({', '.join(sorted(set(readers)))}) resolves `{full}`, "
                f"which aigis does not report (verdict {report['verdict']})"
            )
            continue
        if verdicts.get(full, "safe") != "safe" and report["verdict"] == "safe":
            problems.append(f"{where}: CPython resolves `{full}` ({verdicts[full]}), yet the file is safe")
    return problems


# --------------------------------------------------------------------------- driver


def collect(paths: list[Path]) -> list[Path]:
    files = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.is_file()))
        elif p.is_file():
            files.append(p)
    return [f.resolve() for f in files]


def oracle_all(tasks: list, workers: int):
    """(task, result) for every task; the result is `None` when its worker died (a
    memory limit) or timed out. A dead worker breaks the pool, so the rest go to a new
    one."""
    left = list(tasks)
    while left:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_oracle_task, t) for t in left]
            done = 0
            broken = False
            for t, fut in zip(left, futures):
                try:
                    result = fut.result(timeout=300)
                except BrokenProcessPool:
                    broken = True
                    yield t, None
                    done += 1
                    break
                except Exception:
                    result = None
                yield t, result
                done += 1
            left = left[done:] if broken else []


def run_round(aigis: str, files: list[Path], workers: int, tmp: Path) -> tuple[int, list[str], dict]:
    tasks = []
    for i, f in enumerate(files):
        for member in streams_of(f):
            tasks.append((str(f), member, str(tmp / f"member-{i}-{len(tasks)}.pkl")))
    reports = aigis_scan(aigis, files, tmp)
    problems: list[str] = []
    stats = {"streams": len(tasks), "disagree": 0, "globals": 0, "crashed": 0}
    for t, oracle in oracle_all(tasks, workers):
        if oracle is None:
            stats["crashed"] += 1
            print(f"note: the oracle could not load {t[0]} {t[1] or ''}", file=sys.stderr)
            continue
        per_reader = {r: tuple(map(tuple, v["globals"])) for r, v in oracle["readers"].items()}
        c_views = {per_reader[r] for r in ("c-bytesio", "c-file", "c-whole")}
        if len(c_views) > 1:
            stats["disagree"] += 1
        stats["globals"] += len({g for v in per_reader.values() for g in v})
        path = Path(oracle["path"])
        problems.extend(compare(oracle, reports.get(str(path)), path))
    return len(tasks), problems, stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    ap.add_argument("paths", nargs="*", type=Path, help="corpus files and folders (default: the project's)")
    ap.add_argument("--mutants", type=int, default=0, help="mutated pickles per round")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=0, help="run rounds of mutants this long")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", type=Path, help="copy failing mutants here")
    ap.add_argument("--check", action="store_true", help="exit 1 on any failure")
    args = ap.parse_args()
    aigis = str(Path(args.aigis).resolve())

    corpus = collect(args.paths or DEFAULT_CORPUS)
    tmp = Path(tempfile.mkdtemp(prefix="aigis-pickle-diff-"))
    try:
        bypasses = tmp / "frames"
        bypasses.mkdir()
        for name, data in {**frame_cases(), **real_pickles()}.items():
            (bypasses / name).write_bytes(data)
        corpus += collect([bypasses])
        started = time.monotonic()
        total_streams, problems, stats = run_round(aigis, corpus, args.workers, tmp)
        print(
            f"corpus: {len(corpus)} files, {total_streams} pickle streams, "
            f"{stats['disagree']} where CPython's readers disagree, {len(problems)} failures"
        )
        # the pickles mutants are made from
        seeds: list[bytes] = []
        for f in corpus:
            for member in streams_of(f):
                if member is None:
                    seeds.append(f.read_bytes())
                else:
                    seeds.append(read_member(f, member))
        seeds = [s for s in seeds if 0 < len(s) <= (1 << 20)]
        rng = random.Random(args.seed)
        rounds = 0
        mutants_total = 0
        while args.mutants and seeds:
            rounds += 1
            folder = tmp / f"round-{rounds}"
            folder.mkdir()
            for i in range(args.mutants):
                m = mutate(rng.choice(seeds), rng, seeds)
                (folder / f"m{i:05d}.pkl").write_bytes(m)
            files = collect([folder])
            n, found, st = run_round(aigis, files, args.workers, tmp)
            mutants_total += len(files)
            print(
                f"round {rounds}: {len(files)} mutants (seed {args.seed}), {st['disagree']} where "
                f"CPython's readers disagree, {st['crashed']} the oracle could not load, "
                f"{len(found)} failures"
            )
            if found and args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for line in found:
                    src = Path(line.split(":")[0].split("!")[0])
                    shutil.copy(src, args.keep / f"r{rounds}-{src.name}")
            problems.extend(found)
            if time.monotonic() - started >= args.minutes * 60:
                break
            shutil.rmtree(folder, ignore_errors=True)
        elapsed = time.monotonic() - started
        print(
            f"done in {elapsed:.0f} s: {len(corpus)} corpus files and {mutants_total} mutants "
            f"in {rounds} round(s), {len(problems)} failures"
        )
        for p in problems[:50]:
            print("FAIL", p)
        if len(problems) > 50:
            print(f"... and {len(problems) - 50} more")
        return 1 if problems and args.check else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def real_pickles() -> dict[str, bytes]:
    """Pickles CPython itself writes, at every protocol, of the objects model files hold;
    numpy arrays and a fitted scikit-learn model too when those are installed."""
    import collections
    import datetime
    import decimal
    import fractions

    objects = {
        "containers": {
            "list": [1, 2.5, -3, 2**70, None, True],
            "tuple": (1, (2, (3,))),
            "set": {1, 2},
            "frozenset": frozenset({"a"}),
            "bytes": b"\x00\x01" * 40,
            "bytearray": bytearray(b"xyz"),
            "str": "é" * 3,
            "nested": {"a": [{"b": ("c", 1.0)}]},
        },
        "stdlib": [
            collections.OrderedDict(a=1),
            collections.defaultdict(list, {"k": [1]}),
            collections.Counter("abca"),
            datetime.datetime(2026, 12, 1, 12, 0),
            datetime.timedelta(days=2),
            decimal.Decimal("1.5"),
            fractions.Fraction(1, 3),
            complex(1, 2),
            range(3),
            slice(1, 5, 2),
        ],
        "big": {"blob": b"\xab" * 70000, "text": "t" * 70000},
    }
    try:
        import numpy as np

        objects["numpy"] = {"f4": np.arange(12, dtype=np.float32).reshape(3, 4), "obj": np.array([1, "a"], dtype=object), "i8": np.int64(7)}
    except ImportError:
        pass
    try:
        from sklearn.linear_model import LogisticRegression

        objects["sklearn"] = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    except ImportError:
        pass
    out = {}
    for name, obj in objects.items():
        for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
            try:
                out[f"real_{name}_p{proto}.pkl"] = pickle.dumps(obj, protocol=proto)
            except Exception:
                pass
    return out


def frame_cases() -> dict[str, bytes]:
    """Pickles that break frame boundaries the ways CPython's readers disagree on."""
    evil = b"\x8c\x02os\x8c\x06system\x93\x8c\x04echo\x85R"
    cases = {}
    # an argument that crosses the end of its frame: the C unpickler reading with read()
    # takes it from after the frame, where the SHORT_BINBYTES of the other reading hides
    # the call
    tail = b"123456789" + b"C" + bytes([len(evil)]) + evil + b"00N."
    cases["frame_argument_crosses.pkl"] = b"\x80\x04" + _frame(4) + b"\x8c\x0bab" + tail
    # the other way round: the reading across the end calls, the other does not
    cases["frame_argument_crosses_other.pkl"] = (
        b"\x80\x04" + _frame(4) + b"C\x0bab" + b"123456789" + b"C" + bytes([len(evil)]) + evil + b"00N."
    )
    # a protocol-0 line with no newline before the end of the frame
    cases["frame_line_crosses.pkl"] = b"\x80\x04" + _frame(3) + b"cos" + b"\nsystem\n(S'echo'\ntR."
    # a frame opened inside a frame, longer than what is left of it
    inner = b"\x8c\x02os\x8c\x06system\x93."
    cases["frame_nested_longer.pkl"] = b"\x80\x04" + _frame(12) + _frame(len(inner)) + b"NN." + inner
    # a frame inside a frame that fits
    cases["frame_nested_fits.pkl"] = b"\x80\x04" + _frame(20) + _frame(3) + b"N0N." + b"\x00" * 6
    return cases


if __name__ == "__main__":
    sys.exit(main())
