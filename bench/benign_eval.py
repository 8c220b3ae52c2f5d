#!/usr/bin/env python3
"""Benign model files the ecosystem ships: does `aigis model scan` call them safe?

    pip install joblib numpy onnx            # the packages checked in CI; more are found
    python3 bench/benign_eval.py target/debug/aigis [--check] [--packages joblib,numpy,onnx]
        [--extra tests/data/benign] [--tools aigis,picklescan,modelscan,modelaudit]
        [--json results.json] [--from-json results.json] [--list]

Popular packages ship model files as their own test data: joblib's pickles from every
release since 0.8 (raw, zlib, gzip, bz2, lzma, xz, with companion `.npy` files), NumPy's
object arrays written by Python 2 and 3, the ONNX models of the `onnx` package's backend
tests, SciPy's and others' `.npz` arrays, h5py's HDF5 files. Their own libraries load
every one of them, so a scanner that fails one fails its users.

The script walks the files of every installed distribution (`importlib.metadata`), or of
those named with `--packages`, and decides for each file what format it is meant to be,
by name and content (a `.gz` is opened to see whether a pickle is inside):

- scanned: pickles (`.pkl`, `.pickle`, `.joblib`, `.gpickle`, raw or compressed with zlib,
  gzip, bz2, lzma, xz, lz4 or joblib's old `ZF` z-file), `.npy`, `.npz`, `.onnx`, HDF5
  (`.h5`, `.hdf5`), PyTorch (`.pt`, `.pth`, `.bin`, `.ckpt` holding a zip or a pickle),
  `.safetensors`, `.gguf`, `.keras`, `saved_model.pb`, and joblib's `.npy.z` array data;
- skipped, with the reason printed: files that are not models although their names could
  be (a `.pb` that is an ONNX test input or output `TensorProto`, a compressed CSV or
  JSON data set, a site-packages `.pth` path file, an `.h5` that is not HDF5).

`--extra FOLDER` adds the files under a folder, such as the files
`scripts/make_benign_corpus.py` writes with other library versions.

It runs `aigis model scan --json` on the scanned files (many files per run), reads each
file's verdict from the JSON (never the exit code: `--fail-on` defaults change), and
prints per package how many files are safe, suspicious, inconclusive and dangerous, then
every file that is not safe with its first finding. `--check` exits 1 when any file is
not safe.

`--tools` also runs other scanners on the same files, each as its command line would
judge each file (they are found on PATH, or at `$BENIGN_EVAL_<TOOL>`, e.g.
`BENIGN_EVAL_MODELAUDIT=/venv/bin/modelaudit`):

- picklescan: `scanner.scan_file_path` per file in one Python process, as `picklescan -p
  FILE` does; flagged when it counts a dangerous global, errored when it reports a scan
  error (exit 2), not scanned when it scanned no file;
- modelscan: `ModelScan(DEFAULT_SETTINGS).scan(FILE)` per file in one process, judged as
  `modelscan -p FILE` judges it: issues flag the file, errors make it errored, a file
  with neither that no scanner took is not scanned (the CLI exits 3 for both of the
  last two, as a failed scan does not count as scanned);
- modelaudit: `modelaudit scan --format json` over batches of files (telemetry off); a
  file is flagged when an issue of severity warning or critical points into it, errored
  when the batch failed or the file is not among the scanned assets.

A file a tool errors on did not pass: the false-positive rate counts flagged and errored
files. Time is the wall time of the tool's processes, start-up included.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import importlib.metadata
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("safe", "suspicious", "inconclusive", "dangerous")
# How many files one `aigis model scan` run gets (argv stays far below the limit).
BATCH = 200
# Compressed files are opened up to this many bytes to see what is inside.
PEEK = 1 << 16

COMPRESSED_EXT = {".gz", ".gzip", ".bz2", ".xz", ".lzma", ".z", ".zlib", ".lz4"}
CANDIDATE_EXT = {
    ".pkl", ".pickle", ".p", ".joblib", ".gpickle", ".npy", ".npz", ".onnx", ".h5",
    ".hdf5", ".keras", ".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".gguf", ".pb",
} | COMPRESSED_EXT


@dataclass
class Item:
    package: str
    version: str
    path: str
    kind: str
    results: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# What a file is meant to be


def is_pickle(head: bytes) -> bool:
    """Protocol 2-5 by PROTO; protocols 0 and 1 by the shapes they start with."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head[:1] in (b"(", b"]", b"}", b")") and len(head) > 1 and head[1:2] != b"\x00":
        return True
    if head[:1] == b"c" and b"\n" in head[:64]:
        module = head[1:head.index(b"\n")]
        return module.replace(b".", b"").replace(b"_", b"").isalnum()
    return False


def codec_of(head: bytes) -> str | None:
    """The compressor joblib (or a `.gz` writer) used, by the magic joblib checks."""
    if head.startswith(b"ZF"):
        return "zfile"  # joblib <= 0.9: b"ZF" + hex length padded to 19 bytes + zlib
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x5d\x00"):
        return "lzma"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head[:1] == b"x" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


def peek(path: str, codec: str) -> bytes | None:
    """The first decompressed bytes, or None when they do not decompress."""
    try:
        with open(path, "rb") as f:
            if codec == "gzip":
                return gzip.GzipFile(fileobj=f).read(PEEK)
            if codec == "bz2":
                return bz2.BZ2File(f).read(PEEK)
            if codec in ("xz", "lzma"):
                return lzma.LZMAFile(f).read(PEEK)
            if codec == "lz4":
                import lz4.frame  # only when a file is lz4

                return lz4.frame.LZ4FrameFile(f).read(PEEK)
            raw = f.read()
            if codec == "zfile":
                raw = raw[21:].lstrip(b" ")
            return zlib.decompressobj().decompress(raw, PEEK)
    except Exception:
        return None


def describe(data: bytes) -> str:
    """A word for decompressed bytes that are not a model."""
    text = data[:4096]
    if text.lstrip()[:1] in (b"{", b"["):
        return "JSON"
    if len(text) > 262 and text[257:262] == b"ustar":
        return "tar"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "CSV" if b"," in text else "text"


def intended(path: str) -> tuple[str | None, str]:
    """(format, "") for a model file, (None, why) for one that is skipped."""
    name = os.path.basename(path)
    lower = name.lower()
    ext = os.path.splitext(lower)[1]
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return None, f"unreadable ({e.strerror})"
    if ext == ".pb":
        if name in ("saved_model.pb", "keras_metadata.pb", "fingerprint.pb"):
            return "savedmodel", ""
        if "test_data_set_" in path or re.search(r"(^|_)(input|output)_\d+\.pb$", name):
            return None, "ONNX test input/output (a TensorProto read by onnx.load_tensor), not a model"
        return None, "a .pb protobuf of another schema, not a model"
    codec = codec_of(head)
    if codec and (ext in COMPRESSED_EXT or ext in (".pkl", ".joblib", ".pickle")
                  or codec == "zfile"):
        inner = peek(path, codec)
        if inner is None:
            return None, f"named {ext} but does not decompress as {codec}"
        if is_pickle(inner):
            return f"pickle ({codec})", ""
        if inner.startswith(b"\x93NUMPY"):
            return f"npy ({codec})", ""
        if codec == "zfile" and ".npy" in lower:
            # joblib <= 0.9 `ZNDArrayWrapper` companion: raw array bytes it reads itself
            return "joblib array data (zfile)", ""
        return None, f"{codec}-compressed {describe(inner)} data, not a model"
    if ext in (".pkl", ".pickle", ".p", ".joblib", ".gpickle"):
        if is_pickle(head):
            return "pickle", ""
        return None, f"named {ext} but not a pickle"
    if ext == ".npy":
        return ("npy", "") if head.startswith(b"\x93NUMPY") else (None, "named .npy, not NumPy")
    if ext == ".npz":
        return ("npz", "") if head.startswith(b"PK") else (None, "named .npz, not a zip")
    if ext == ".onnx":
        return "onnx", ""
    if ext in (".h5", ".hdf5"):
        if head.startswith(b"\x89HDF\r\n\x1a\n"):
            return "hdf5", ""
        return None, "named .h5, not HDF5"
    if ext in (".pt", ".pth", ".bin", ".ckpt"):
        if head.startswith(b"PK") or is_pickle(head):
            return "pytorch", ""
        if ext == ".pth":
            return None, "a site-packages .pth path file (text), not a model"
        return None, f"a {ext} that is neither a zip nor a pickle"
    if ext in (".safetensors", ".gguf", ".keras"):
        return ext[1:], ""
    return None, f"{ext} data, not a model"


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def discover(packages: set[str] | None) -> tuple[list[Item], dict[str, dict[str, int]]]:
    """Model files of the installed distributions, and skipped files by package and why."""
    items: list[Item] = []
    skipped: dict[str, dict[str, int]] = {}
    seen_dists: set[str] = set()
    seen_paths: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = normalise(dist.metadata["Name"] or "")
        if not name or name in seen_dists or (packages and name not in packages):
            continue
        seen_dists.add(name)
        for f in dist.files or []:
            suffixes = Path(str(f)).suffixes
            if not suffixes or suffixes[-1].lower() not in CANDIDATE_EXT:
                continue
            path = str(dist.locate_file(f))
            real = os.path.realpath(path)
            if real in seen_paths or not os.path.isfile(real):
                continue
            seen_paths.add(real)
            kind, why = intended(path)
            if kind is None:
                by_why = skipped.setdefault(name, {})
                by_why[why] = by_why.get(why, 0) + 1
                continue
            items.append(Item(name, dist.version, path, kind))
    items.sort(key=lambda i: (i.package, i.path))
    return items, skipped


def discover_extra(folder: str, items: list[Item], skipped: dict[str, dict[str, int]]) -> None:
    """Files under `folder` (e.g. written by scripts/make_benign_corpus.py), as a package
    named after the folder, each subfolder a version."""
    name = "extra:" + os.path.basename(os.path.normpath(folder))
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            path = os.path.abspath(os.path.join(root, f))
            if f.lower() == "readme.md":
                continue
            kind, why = intended(path)
            if kind is None:
                by_why = skipped.setdefault(name, {})
                by_why[why] = by_why.get(why, 0) + 1
                continue
            items.append(Item(name, "", path, kind))


# ---------------------------------------------------------------------------------------
# aigis


def run_aigis(aigis: str, items: list[Item]) -> float:
    """Scans every file; stores verdict and first non-safe finding. Returns wall time."""
    start = time.perf_counter()
    for i in range(0, len(items), BATCH):
        batch = items[i:i + BATCH]
        by_path = {os.path.abspath(it.path): it for it in batch}
        p = subprocess.run([aigis, "model", "scan", "--json", *(it.path for it in batch)],
                           capture_output=True, text=True)
        try:
            report = json.loads(p.stdout)
        except json.JSONDecodeError:
            sys.exit(f"aigis model scan failed ({p.returncode}):\n{p.stderr[-3000:]}")
        for f in report.get("files", []):
            it = by_path.get(os.path.abspath(f["path"]))
            if it is None:
                continue
            worst = next((e for e in f.get("findings") or [] if e["verdict"] == f["verdict"]
                          and f["verdict"] != "safe"), None)
            detail = f"{worst['rule']}: {worst['message']}" if worst else ""
            it.results["aigis"] = {"verdict": f["verdict"], "format": f["format"],
                                   "detail": detail}
        for it in batch:
            it.results.setdefault("aigis", {"verdict": "missing", "format": "",
                                            "detail": "not in aigis's report"})
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# Other scanners, each judging a file as its command line would


PICKLESCAN_DRIVER = r"""
import json, sys
from picklescan.scanner import scan_file_path
for path in json.load(sys.stdin):
    try:
        r = scan_file_path(path)
        if r.scan_err:
            status, detail = "errored", "scan error (exit 2)"
        elif r.issues_count:
            bad = [f"{g.module}.{g.name}" for g in r.globals if g.safety.value == "dangerous"]
            status, detail = "flagged", "dangerous globals: " + ", ".join(bad[:3])
        elif r.scanned_files == 0:
            status, detail = "not scanned", "no pickle found"
        else:
            status, detail = "passed", ""
        imports = len(r.globals)
    except Exception as e:
        status, detail, imports = "errored", f"{type(e).__name__}: {e}", 0
    print(json.dumps({"path": path, "status": status, "detail": detail[:200],
                      "imports": imports}), flush=True)
"""

MODELSCAN_DRIVER = r"""
import json, logging, sys
logging.disable(logging.CRITICAL)
from modelscan.modelscan import ModelScan
from modelscan.settings import DEFAULT_SETTINGS
for path in json.load(sys.stdin):
    try:
        ms = ModelScan(settings=DEFAULT_SETTINGS)
        ms.scan(path)
        # The CLI checks "nothing scanned" (exit 3) before errors (exit 2), and a file
        # whose scan failed is not counted as scanned: an error is reported as one here.
        if ms.errors:
            status, detail = "errored", str(getattr(ms.errors[0], "message", ms.errors[0]))
        elif ms.issues.all_issues:
            i = ms.issues.all_issues[0]
            d = i.details
            what = f"{getattr(d, 'module', '')}.{getattr(d, 'operator', '')}"
            status, detail = "flagged", f"{i.severity.name}: {what}"
        elif not ms.scanned:
            status, detail = "not scanned", "no supported file (exit 3)"
        else:
            status, detail = "passed", ""
    except Exception as e:
        status, detail = "errored", f"{type(e).__name__}: {e}"
    print(json.dumps({"path": path, "status": status, "detail": str(detail)[:200]}), flush=True)
"""


def tool_command(tool: str) -> str | None:
    return os.environ.get(f"BENIGN_EVAL_{tool.upper()}") or shutil.which(tool)


def tool_python(command: str) -> str:
    """The interpreter of a pip-installed console script (its shebang)."""
    with open(command, "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    if first.startswith("#!") and "python" in first:
        return first[2:].split()[0]
    return sys.executable


def tool_version(tool: str, command: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({tool!r}))"
    p = subprocess.run([tool_python(command), "-c", code], capture_output=True, text=True)
    return p.stdout.strip() or "?"


def run_driver(tool: str, command: str, driver: str, items: list[Item]) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:  # no settings file is picked up
        p = subprocess.run([tool_python(command), "-c", driver], cwd=cwd, capture_output=True,
                           text=True, input=json.dumps([it.path for it in items]))
    elapsed = time.perf_counter() - start
    by_path = {it.path: it for it in items}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("path") in by_path:
            by_path[r["path"]].results[tool] = {k: v for k, v in r.items() if k != "path"}
    for it in items:
        it.results.setdefault(tool, {"status": "errored",
                                     "detail": f"the {tool} process died ({p.returncode}): "
                                               f"{p.stderr[-200:]}"})
    return elapsed


def run_modelaudit(command: str, items: list[Item], batch: int = 50) -> float:
    env = dict(os.environ, PROMPTFOO_DISABLE_TELEMETRY="1", NO_ANALYTICS="1")
    start = time.perf_counter()
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "report.json")
            p = subprocess.run([command, "scan", "--format", "json", "--no-cache", "-o", out,
                                *(it.path for it in chunk)], cwd=tmp, env=env,
                               capture_output=True, text=True)
            try:
                with open(out) as f:
                    report = json.load(f)
            except (OSError, json.JSONDecodeError):
                for it in chunk:
                    it.results["modelaudit"] = {
                        "status": "errored",
                        "detail": f"no report (exit {p.returncode}): {p.stderr[-200:]}"}
                continue
        scanned = {a.get("path") for a in report.get("assets", [])}
        # The longest input path a location starts with owns the issue.
        paths = sorted((it.path for it in chunk), key=len, reverse=True)
        issues: dict[str, list[dict]] = {}
        for issue in report.get("issues", []):
            loc = str(issue.get("location") or "")
            owner = next((p_ for p_ in paths if loc.startswith(p_)), None)
            if owner is not None:
                issues.setdefault(owner, []).append(issue)
        for it in chunk:
            found = [x for x in issues.get(it.path, [])
                     if x.get("severity") in ("warning", "critical")]
            if found:
                worst = max(found, key=lambda x: x.get("severity") == "critical")
                status, detail = "flagged", f"{worst['severity']}: {worst.get('message', '')}"
                codes = sorted({str(x.get("rule_code") or x.get("type")) for x in found})
                detail = f"{detail} [{', '.join(codes)}]"
            elif it.path not in scanned:
                status, detail = "not scanned", "not among the scanned assets"
            else:
                status, detail = "passed", ""
            it.results["modelaudit"] = {"status": status, "detail": detail[:400]}
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# Reports


def aigis_table(items: list[Item]) -> None:
    packages = sorted({it.package for it in items})
    print("| package | version | files | safe | suspicious | inconclusive | dangerous |")
    print("|---|---|---:|---:|---:|---:|---:|")
    totals = dict.fromkeys(VERDICTS, 0)
    for pkg in packages:
        mine = [it for it in items if it.package == pkg]
        counts = {v: sum(it.results["aigis"]["verdict"] == v for it in mine) for v in VERDICTS}
        for v in VERDICTS:
            totals[v] += counts[v]
        print(f"| {pkg} | {mine[0].version or '-'} | {len(mine)} | "
              + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
    print(f"| **all** | | {len(items)} | " + " | ".join(str(totals[v]) for v in VERDICTS) + " |")


def status(it: Item, tool: str) -> str:
    """passed / flagged / errored / not scanned; aigis's inconclusive counts as errored."""
    if tool != "aigis":
        return it.results[tool]["status"]
    verdict = it.results["aigis"]["verdict"]
    if verdict == "safe":
        return "passed"
    return "errored" if verdict in ("inconclusive", "missing") else "flagged"


def tools_table(items: list[Item], times: dict[str, float], versions: dict[str, str]) -> None:
    n = len(items)
    print(f"\n{n} benign files. A tool passes a file when its command line would exit 0 on "
          "it; flagged and errored files are false positives.\n")
    print("| tool | version | passed | flagged | errored | not scanned | false positives "
          "| time (s) | ms per file |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool, elapsed in times.items():
        found = [status(it, tool) for it in items]
        c = {s: found.count(s) for s in ("passed", "flagged", "errored", "not scanned")}
        fp = c["flagged"] + c["errored"]
        print(f"| {tool} | {versions.get(tool, '')} | {c['passed']} | {c['flagged']} | "
              f"{c['errored']} | {c['not scanned']} | {fp} ({100 * fp / max(n, 1):.1f} %) | "
              f"{elapsed:.1f} | {1000 * elapsed / max(n, 1):.0f} |")
    print("\naigis: flagged = suspicious or dangerous, errored = inconclusive (could not be "
          "fully analysed).")
    if "picklescan" in times:
        unread = [it for it in items if it.kind.startswith("pickle")
                  and it.results["picklescan"]["status"] == "passed"
                  and it.results["picklescan"].get("imports") == 0]
        if unread:
            kinds = sorted({it.kind for it in unread})
            print(f"\npicklescan passed {len(unread)} pickles without seeing one import in "
                  f"them ({', '.join(kinds)}): passed, not read.")
    def bucket(kind: str) -> str:
        return kind.split(" (")[0] + (" (compressed)" if "(" in kind else "")

    kinds = sorted({bucket(it.kind) for it in items})
    print("\nFalse positives by format:\n")
    print("| format | files | " + " | ".join(times) + " |")
    print("|---|---:|" + "---:|" * len(times))
    def cells(mine: list[Item]) -> str:
        out = []
        for tool in times:
            found = [status(it, tool) for it in mine]
            bad = found.count("flagged") + found.count("errored")
            skipped = found.count("not scanned")
            out.append(f"{bad}" + (f" ({skipped} not scanned)" if skipped else ""))
        return " | ".join(out)

    for kind in kinds:
        mine = [it for it in items if bucket(it.kind) == kind]
        print(f"| {kind} | {len(mine)} | {cells(mine)} |")
    print("\nFalse positives by package:\n")
    print("| package | files | " + " | ".join(times) + " |")
    print("|---|---:|" + "---:|" * len(times))
    for pkg in sorted({it.package for it in items}):
        mine = [it for it in items if it.package == pkg]
        print(f"| {pkg} | {len(mine)} | {cells(mine)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when any scanned file is not safe")
    ap.add_argument("--packages", help="comma-separated distributions (default: all installed)")
    ap.add_argument("--tools", default="aigis",
                    help="comma-separated: aigis, picklescan, modelscan, modelaudit")
    ap.add_argument("--extra", action="append", default=[], metavar="FOLDER",
                    help="also scan the files under FOLDER (repeatable)")
    ap.add_argument("--json", metavar="FILE", help="write every file's results here")
    ap.add_argument("--from-json", metavar="FILE",
                    help="print the report of an earlier --json run instead of scanning")
    ap.add_argument("--list", action="store_true", help="list the files found and stop")
    args = ap.parse_args()

    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        items = [Item(**i) for i in saved["items"]]
        return report(items, saved["skipped"], saved["times"], saved["versions"], args)

    packages = {normalise(p) for p in args.packages.split(",")} if args.packages else None
    items, skipped = discover(packages)
    for folder in args.extra:
        discover_extra(folder, items, skipped)
    if packages:
        missing = packages - {it.package for it in items} - set(skipped)
        for m in sorted(missing):
            print(f"warning: no model files found for `{m}` (not installed?)", file=sys.stderr)
    if not items:
        print("no model files found", file=sys.stderr)
        return 2
    if args.list:
        for it in items:
            print(f"{it.package}\t{it.kind}\t{it.path}")
        return 0

    times: dict[str, float] = {}
    versions: dict[str, str] = {}
    times["aigis"] = run_aigis(args.aigis, items)
    p = subprocess.run([args.aigis, "--version"], capture_output=True, text=True)
    versions["aigis"] = p.stdout.split()[-1] if p.stdout.split() else "?"
    for tool in [t.strip() for t in args.tools.split(",") if t.strip() and t.strip() != "aigis"]:
        command = tool_command(tool)
        if command is None:
            print(f"warning: `{tool}` not found (PATH or $BENIGN_EVAL_{tool.upper()})",
                  file=sys.stderr)
            continue
        versions[tool] = tool_version(tool, command)
        print(f"running {tool} {versions[tool]} on {len(items)} files…", file=sys.stderr)
        if tool == "picklescan":
            times[tool] = run_driver(tool, command, PICKLESCAN_DRIVER, items)
        elif tool == "modelscan":
            times[tool] = run_driver(tool, command, MODELSCAN_DRIVER, items)
        elif tool == "modelaudit":
            times[tool] = run_modelaudit(command, items)
        else:
            print(f"warning: unknown tool `{tool}`", file=sys.stderr)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"items": [it.__dict__ for it in items], "skipped": skipped,
                       "times": times, "versions": versions}, f, indent=1)
    return report(items, skipped, times, versions, args)


def report(items: list[Item], skipped: dict[str, dict[str, int]], times: dict[str, float],
           versions: dict[str, str], args: argparse.Namespace) -> int:
    print(f"## Benign model files shipped by installed packages ({len(items)} files)\n")
    aigis_table(items)
    if skipped:
        print("\nSkipped (not model files):\n")
        for pkg in sorted(skipped):
            for why, count in sorted(skipped[pkg].items()):
                print(f"- {pkg}: {count} × {why}")
    bad = [it for it in items if it.results["aigis"]["verdict"] != "safe"]
    if bad:
        print(f"\nNot safe ({len(bad)}):\n")
        for it in bad:
            r = it.results["aigis"]
            print(f"- `{it.path}` ({it.kind}): **{r['verdict']}** — {r['detail'][:300]}")
    if len(times) > 1:
        tools_table(items, times, versions)
        for tool in times:
            if tool == "aigis":
                continue
            worst = [it for it in items if it.results[tool]["status"] in ("flagged", "errored")]
            if worst:
                print(f"\n{tool}, first files not passed:\n")
                for it in worst[:8]:
                    r = it.results[tool]
                    print(f"- `{os.path.basename(it.path)}` ({it.package}): {r['status']} — "
                          f"{r['detail'][:160]}")
    if args.check and bad:
        print(f"\nFAIL: {len(bad)} of {len(items)} benign files are not safe", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
