#!/usr/bin/env python3
"""Model-scan throughput: `aigis model scan` beside picklescan, modelscan and modelaudit
on the same benign corpus in the same run, with what each tool did and did not do.

    pip install numpy scikit-learn joblib safetensors torch
    pip install picklescan modelscan modelaudit       # each may live in its own venv
    cargo build --release -p aigis
    python3 bench/model_scan_bench.py target/release/aigis [--files 200] [--mb 8] \\
        [--picklescan PATH] [--modelscan PATH] [--modelaudit PATH] [--strace]
    python3 bench/model_scan_bench.py target/debug/aigis --smoke    # tiny, aigis only

The corpus is written with the real libraries into a temporary folder: numpy arrays
pickled at protocols 2 and 4, `joblib.dump` of an array with a fitted scikit-learn
pipeline, safetensors files, pickled pipelines (protocol 5) and, when PyTorch is
installed, `torch.save` checkpoints in the zip and the legacy form; by default 200 files
of up to about 8 MB each (tensor payloads dominate the bytes, as in real model files).
Nothing in it is malicious. The files are read once before anything is timed (page
cache warm). Each tool then scans the whole folder once more to warm its own start-up,
then `--runs` times; the best time counts. A tool whose warm-up run takes over a minute
is timed on that run alone.

For every tool the script reads, from the tool's own output, how many files it scanned,
how many it errored on and how many it left unscanned, and how many it flagged (all
false positives here); so a row says when a tool did not do the whole job. Exit codes are
printed as they are. Bytes:

- "read (rchar)" is every byte the tool's process and its children obtained through
  read-like system calls (`rchar` in /proc/<pid>/io, taken after the process exits and
  before it is reaped), including the interpreter reading its own modules;
- with `--strace` (and strace installed), one more untimed run under `strace -f -y`
  follows each corpus file's position through open, read, lseek and pread and merges the
  byte ranges read: "corpus read" is the distinct bytes of the corpus the tool read,
  "corpus not read" the rest (seeked past, or in files never opened). It also counts the
  files the tool opened and reports any memory mapping of a corpus file. A tool whose
  timed run took over a minute is not traced unless `--strace-all` is given (under strace
  it would take several times as long).

Then the same timing is repeated on the files every tool scanned without an error, so one
table compares tools that did the same job; a tool that scanned every file of the whole
corpus without an error already did the same job as aigis there and is not run again. "×" is the other tool's time ÷ aigis's time
(above 1: aigis is faster). aigis runs outside any project, so it records no evidence and
hashes nothing. The script fails unless aigis finds every file safe (`--fail-on
suspicious`).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from model_detect_bench import installed_version  # bench/ is on the path when run as a script

try:
    import joblib
    import numpy as np
    from safetensors.numpy import save_file
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as e:  # pragma: no cover
    sys.exit(f"{e}: pip install numpy scikit-learn joblib safetensors")

try:
    import torch
except ImportError:  # the corpus is written without PyTorch checkpoints
    torch = None

KINDS = ("numpy pickle p4", "numpy pickle p2", "joblib.dump", "safetensors", "sklearn pickle p5",
         "torch.save zip", "torch.save legacy")


def write_corpus(root: str, files: int, mb: float, seed: int = 0) -> dict[str, str]:
    """Writes the corpus; returns each file's kind by name."""
    rng = np.random.default_rng(seed)
    x, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)
    kinds = {}
    for i in range(files):
        n = int(rng.integers(1, max(2, int(mb * 1e6 / 4))))
        arr = rng.standard_normal(n).astype(np.float32)
        kind = i % (7 if torch is not None else 5)
        path = os.path.join(root, f"m{i:04d}")
        if kind == 0:
            path += ".pkl"
            with open(path, "wb") as f:
                pickle.dump({"weights": arr, "step": i}, f, protocol=4)
        elif kind == 1:
            path += ".pkl"
            with open(path, "wb") as f:
                pickle.dump(arr, f, protocol=2)
        elif kind == 2:
            path += ".joblib"
            joblib.dump({"weights": arr, "model": model}, path)
        elif kind == 3:
            path += ".safetensors"
            save_file({"weights": arr}, path)
        elif kind == 4:
            path += ".pkl"
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=5)
        else:
            path += ".pt"
            state = {"layer.weight": torch.from_numpy(arr), "step": i}
            torch.save(state, path, _use_new_zipfile_serialization=(kind == 5))
        kinds[os.path.basename(path)] = KINDS[kind]
    return kinds


@dataclass
class Measured:
    code: int
    seconds: float
    stdout: str
    stderr: str
    io: dict[str, int]  # /proc/<pid>/io of the finished process


def measured_run(argv: list[str], cwd: str, env: dict) -> Measured:
    """Runs argv; reads its /proc/<pid>/io after it exits and before it is reaped
    (waitid with WNOWAIT), so the counters are final and include reaped children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        seconds = time.perf_counter() - start
        try:
            with open(f"/proc/{p.pid}/io") as f:
                io = {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines() if line)}
        except OSError:
            io = {}
        code = p.wait()
        out.seek(0)
        err.seek(0)
        return Measured(code, seconds, out.read().decode(errors="replace"), err.read().decode(errors="replace"), io)


@dataclass
class Job:
    """What a tool reported about the corpus, per file name."""
    scanned: set[str] = field(default_factory=set)
    errored: dict[str, str] = field(default_factory=dict)  # name -> first error
    flagged: dict[str, str] = field(default_factory=dict)  # name -> first finding
    note: str = ""


@dataclass
class Tool:
    name: str
    argv: list[str]  # the folder goes last; "{report}" stands for a report file
    read: object  # (Measured, report text, corpus names) -> Job
    env: dict = field(default_factory=dict)
    version: str = ""


REPORT = "{report}"


def read_aigis(m: Measured, report: str, names: set[str]) -> Job:
    job = Job()
    if m.code not in (0, 1):
        job.note = f"exit {m.code}: {m.stderr.strip()[-300:]}"
        return job
    for f in json.loads(m.stdout)["files"]:
        name = os.path.basename(f["path"])
        job.scanned.add(name)
        if f["verdict"] != "safe":
            ev = next((e for e in f.get("findings", []) if e.get("verdict") == f["verdict"]), {})
            job.flagged[name] = f"{f['verdict']}: {ev.get('rule')}: {ev.get('message')}"
    return job


def read_picklescan(m: Measured, report: str, names: set[str]) -> Job:
    job = Job()
    text = m.stdout + "\n" + m.stderr
    for line in text.splitlines():
        if g := re.match(r"ERROR: parsing pickle in (.+?): (.*)$", line):
            job.errored.setdefault(os.path.basename(g[1]), g[2])
        elif re.search(r": (dangerous|suspicious) import '.*' FOUND", line):
            path = line.split(": ", 1)[0]
            job.flagged.setdefault(os.path.basename(path), line.split(": ", 1)[1])
    scanned = re.search(r"Scanned files: (\d+)", text)
    count = int(scanned[1]) if scanned else 0
    # picklescan names no clean file: the ones it considers are those with its extensions
    exts = (".pkl", ".pickle", ".joblib", ".dat", ".data", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".zip",
            ".npz", ".7z")
    job.scanned = {n for n in names if n.endswith(exts)}
    if len(job.scanned) != count:
        job.note = f"reported {count} scanned, {len(job.scanned)} by extension"
    return job


def read_modelscan(m: Measured, report: str, names: set[str]) -> Job:
    job = Job()
    doc = json.loads(report)
    summary = doc.get("summary") or {}
    for s in (summary.get("scanned") or {}).get("scanned_files", []):
        job.scanned.add(s.split(":", 1)[0])
    for e in doc.get("errors") or []:
        src = str(e.get("source", "")).split(":", 1)[0]
        job.errored.setdefault(src, f"{e.get('category')}: {e.get('description')}")
    for i in doc.get("issues") or []:
        src = str(i.get("source", "")).split(":", 1)[0]
        job.flagged.setdefault(src, f"{i.get('severity')}: {i.get('description')}")
    job.scanned |= set(job.errored)
    return job


def read_modelaudit(m: Measured, report: str, names: set[str]) -> Job:
    job = Job()
    doc = json.loads(m.stdout)
    for a in doc.get("assets") or []:
        job.scanned.add(os.path.basename(a.get("path", "")))
    for i in doc.get("issues") or []:
        sev = str(i.get("severity", "")).lower()
        loc = str(i.get("location") or (i.get("details") or {}).get("path") or "")
        name = os.path.basename(loc.split(" (", 1)[0].split(":", 1)[0]) if loc else ""
        # keep each file's first CRITICAL finding, or else its first WARNING
        if sev in ("warning", "critical") and name and not job.flagged.get(name, "").startswith("critical"):
            if sev == "critical" or name not in job.flagged:
                job.flagged[name] = f"{sev}: {i.get('message')}"
    if doc.get("has_errors"):
        job.note = "has_errors"
    job.note = (job.note + f" files_scanned {doc.get('files_scanned')}, bytes_scanned "
                f"{doc.get('bytes_scanned')}").strip()
    return job


def build_tools(a) -> list[Tool]:
    version = subprocess.run([a.aigis, "--version"], capture_output=True, text=True).stdout.strip()
    tools = [Tool("aigis model scan", [a.aigis, "--json", "model", "scan", "--fail-on", "suspicious"],
                  read_aigis, version=version)]
    if a.smoke:
        return tools
    for name in ("picklescan", "modelscan", "modelaudit"):
        cmd = getattr(a, name) or shutil.which(name)
        if not cmd:
            print(f"{name}: not found, left out (--{name} PATH)", file=sys.stderr)
            continue
        cmd = os.path.abspath(cmd)
        v = f"{name} {installed_version(cmd, name)}"
        if name == "picklescan":
            tools.append(Tool("picklescan -p", [cmd, "-p"], read_picklescan, version=v))
        elif name == "modelscan":
            tools.append(Tool("modelscan -p", [cmd, "--show-skipped", "-r", "json", "-o", REPORT, "-p"],
                              read_modelscan, version=v))
        else:
            tools.append(Tool("modelaudit scan", [cmd, "scan", "--no-cache", "--format", "json"],
                              read_modelaudit, version=v,
                              env={"NO_ANALYTICS": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_COLOR": "1"}))
    return tools


def run_tool(tool: Tool, folder: str, cwd: str) -> tuple[Measured, str]:
    report = os.path.join(cwd, "report.json")
    if os.path.exists(report):
        os.remove(report)
    argv = [report if x == REPORT else x for x in tool.argv] + [folder]
    m = measured_run(argv, cwd, dict(os.environ, **tool.env))
    text = ""
    if REPORT in tool.argv and os.path.exists(report):
        with open(report, errors="replace") as f:
            text = f.read()
    return m, text


def timed(tool: Tool, folder: str, cwd: str, runs: int) -> tuple[float, int, Measured, str]:
    """Best time over `runs` after a warm-up; (best, timed runs, last run, report)."""
    m, report = run_tool(tool, folder, cwd)  # warm-up
    if m.seconds > 60:
        return m.seconds, 1, m, report
    best = float("inf")
    for _ in range(runs):
        m, report = run_tool(tool, folder, cwd)
        best = min(best, m.seconds)
    return best, runs, m, report


def strace_reads(tool: Tool, folder: str, cwd: str, size: dict[str, int]) -> dict | None:
    """The distinct bytes the tool read from the files under `folder`, from one more run
    under `strace -f -y`: file positions are followed through open, read, lseek and
    pread, and the byte ranges read are merged per file."""
    if not shutil.which("strace"):
        return None
    log = os.path.join(cwd, "strace.log")
    report = os.path.join(cwd, "report.json")
    argv = [report if x == REPORT else x for x in tool.argv] + [folder]
    subprocess.run(["strace", "-f", "-qq", "-y", "-s", "0", "-o", log, "-e",
                    "trace=openat,open,read,pread64,readv,preadv,preadv2,lseek,mmap,sendfile,copy_file_range",
                    *argv], cwd=cwd, env=dict(os.environ, **tool.env), capture_output=True)
    prefix = os.path.realpath(folder) + "/"
    pos: dict[tuple[str, str], int] = {}  # (fd, path) -> offset
    ranges: dict[str, list[tuple[int, int]]] = {}
    opened: set[str] = set()
    mapped: set[str] = set()
    other: set[str] = set()  # corpus files reached by calls not followed here
    call = re.compile(r"^\d+\s+(\w+)\((\d+)<([^>]*)>(.*)\)\s+=\s+(-?\d+)")
    with open(log, errors="replace") as f:
        for line in f:
            if prefix not in line:
                continue
            if g := re.search(r'open(?:at)?\(.*"([^"]+)".*=\s+(\d+)<', line):
                if g[1].startswith(prefix):
                    opened.add(os.path.basename(g[1]))
                    pos[(g[2], os.path.realpath(g[1]))] = 0
                continue
            if g := re.search(r"mmap\(.*<(" + re.escape(prefix) + r"[^>]*)>", line):
                mapped.add(os.path.basename(g[1]))
                continue
            g = call.match(line)
            if not g or not g[3].startswith(prefix):
                continue
            name, fd, path, args, ret = os.path.basename(g[3]), g[2], g[3], g[4], int(g[5])
            key = (fd, path)
            if g[1] == "lseek" and ret >= 0:
                pos[key] = ret
            elif g[1] == "read" and ret > 0:
                at = pos.get(key, 0)
                ranges.setdefault(name, []).append((at, at + ret))
                pos[key] = at + ret
            elif g[1] == "pread64" and ret > 0:
                at = int(args.rsplit(",", 1)[1])
                ranges.setdefault(name, []).append((at, at + ret))
            elif g[1] in ("readv", "preadv", "preadv2", "sendfile", "copy_file_range") and ret > 0:
                other.add(name)
    os.remove(log)
    distinct = 0
    for name, rs in ranges.items():
        end = 0
        for a, b in sorted(rs):
            a, b = max(a, end), min(b, size.get(name, b))
            if b > a:
                distinct += b - a
                end = b
    return {"read": distinct, "opened": opened, "mapped": mapped, "other": other}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("aigis")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--picklescan", help="the picklescan command [default: from PATH]")
    ap.add_argument("--modelscan", help="the modelscan command [default: from PATH]")
    ap.add_argument("--modelaudit", help="the modelaudit command [default: from PATH]")
    ap.add_argument("--strace", action="store_true",
                    help="also count the corpus bytes each tool reads, with strace (tools whose run took under a minute)")
    ap.add_argument("--strace-all", action="store_true", help="with --strace, trace the slow tools too")
    ap.add_argument("--json", help="write every tool's per-file results here")
    ap.add_argument("--smoke", action="store_true", help="aigis only, 14 files of 0.1 MB, one run")
    a = ap.parse_args()
    if a.smoke:
        a.files, a.mb, a.runs = 14, 0.1, 1
    a.aigis = os.path.abspath(a.aigis)
    tools = build_tools(a)
    root = tempfile.mkdtemp(prefix="aigis-model-bench-")
    try:
        corpus = os.path.join(root, "corpus")
        cwd = os.path.join(root, "cwd")
        os.mkdir(corpus)
        os.mkdir(cwd)
        kinds = write_corpus(corpus, a.files, a.mb)
        names = set(kinds)
        size = {n: os.path.getsize(os.path.join(corpus, n)) for n in names}
        total = sum(size.values())
        for n in names:  # page cache warm for everyone
            with open(os.path.join(corpus, n), "rb") as f:
                while f.read(1 << 20):
                    pass
        with_torch = f"torch {torch.__version__}" if torch is not None else "no torch"
        print(f"corpus: {len(names)} files, {total / 1e6:.0f} MB ({with_torch}); {os.cpu_count()} cores; "
              + "; ".join(t.version for t in tools) + "\n")

        results = {}
        for tool in tools:
            best, runs, m, report = timed(tool, corpus, cwd, a.runs)
            job = tool.read(m, report, names)
            reads = strace_reads(tool, corpus, cwd, size) if a.strace and (best < 60 or a.strace_all) else None
            if a.strace and reads is None:
                job.note = (job.note + f"; not traced with strace (its run took {best:.0f} s; --strace-all)").lstrip("; ")
            results[tool.name] = (best, runs, m, job, reads)
            print(f"  {tool.name}: {best:.2f} s (best of {runs}), exit {m.code}", file=sys.stderr)

        aigis_job = results[tools[0].name][3]
        if results[tools[0].name][2].code != 0 or aigis_job.flagged or aigis_job.scanned != names:
            sys.exit(f"aigis did not find every file safe: {dict(list(aigis_job.flagged.items())[:5])} "
                     f"{results[tools[0].name][2].stderr[-2000:]}")

        print_table("whole corpus", tools, results, names, size, total)
        print_kinds(tools, results, kinds)

        # The same job: the files every tool scanned without an error.
        common = set(names)
        for _, _, _, job, _ in results.values():
            common &= job.scanned - set(job.errored)
        if len(tools) > 1 and common and common != names:
            sub = os.path.join(root, "common")
            os.mkdir(sub)
            for n in common:
                os.link(os.path.join(corpus, n), os.path.join(sub, n))
            left = sorted({kinds[n] for n in names - common})
            sub_total = sum(size[n] for n in common)
            print(f"\nthe files every tool scanned without an error: {len(common)} files, "
                  f"{sub_total / 1e6:.0f} MB (left out: {', '.join(left)})\n")
            sub_results = {}
            for tool in tools:
                done = results[tool.name][3]
                if tool is not tools[0] and not (names - (done.scanned - set(done.errored))):
                    print(f"  {tool.name}: scanned every file without an error above; not run again",
                          file=sys.stderr)
                    continue
                best, runs, m, report = timed(tool, sub, cwd, a.runs)
                job = tool.read(m, report, common)
                reads = strace_reads(tool, sub, cwd, size) if a.strace and (best < 60 or a.strace_all) else None
                sub_results[tool.name] = (best, runs, m, job, reads)
                print(f"  {tool.name}: {best:.2f} s (best of {runs}), exit {m.code}", file=sys.stderr)
            again = [t for t in tools if t.name in sub_results]
            print_table("same files for every tool", again, sub_results, common, size, sub_total)
            if len(again) < len(tools):
                print("(" + ", ".join(t.name for t in tools if t not in again) + ": scanned every file of the "
                      "whole corpus without an error, so the first table already compares the same job)\n")
        else:
            sub_results = {}
        if a.json:
            def dump(res):
                return {t: {"seconds": r[0], "runs": r[1], "code": r[2].code, "io": r[2].io,
                            "scanned": sorted(r[3].scanned), "errored": r[3].errored,
                            "flagged": r[3].flagged, "note": r[3].note,
                            "strace": r[4] and {k: sorted(v) if isinstance(v, set) else v for k, v in r[4].items()},
                            "stderr_tail": r[2].stderr[-3000:]}
                        for t, r in res.items()}
            with open(a.json, "w") as f:
                json.dump({"versions": {t.name: t.version for t in tools}, "kinds": kinds, "sizes": size,
                           "whole": dump(results), "common": dump(sub_results)}, f, indent=1)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def print_table(title, tools, results, names, size, total) -> None:
    base = results[tools[0].name][0]
    print(f"{title}: {len(names)} files, {total / 1e6:.0f} MB\n")
    print("| tool | seconds | × | exit code | files scanned / errored / not scanned | flagged (false positives) "
          "| read (rchar) MB | corpus read MB | corpus not read MB |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for tool in tools:
        best, runs, m, job, reads = results[tool.name]
        scanned = job.scanned & names
        errored = set(job.errored) & names
        not_scanned = names - scanned
        rchar = m.io.get("rchar")
        rtxt = f"{rchar / 1e6:,.1f}" if rchar is not None else "—"
        if reads is not None:
            ctxt = f"{reads['read'] / 1e6:,.1f}"
            ntxt = f"{max(0, total - reads['read']) / 1e6:,.1f}"
        else:
            ctxt = ntxt = "—"
        once = "" if runs > 1 else " (1 run)"
        print(f"| {tool.name} | {best:.3g}{once} | {best / base:.1f} | {m.code} | {len(scanned - errored)} / "
              f"{len(errored)} / {len(not_scanned)} | {len(set(job.flagged) & names)} | {rtxt} | {ctxt} | {ntxt} |")
    for tool in tools:
        _, _, _, job, reads = results[tool.name]
        extra = []
        if job.note:
            extra.append(job.note)
        if reads is not None:
            unopened = names - reads["opened"]
            extra.append(f"opened {len(reads['opened'] & names)} of {len(names)} files")
            if reads["mapped"]:
                extra.append(f"memory-mapped {len(reads['mapped'])} corpus files (not in the read bytes)")
            if reads["other"]:
                extra.append(f"{len(reads['other'])} files also read by readv/sendfile (not counted)")
            if unopened and len(unopened) < len(names):
                extra.append(f"never opened: {len(unopened)}")
        if extra:
            print(f"- {tool.name}: " + "; ".join(extra))
    print()


def print_kinds(tools, results, kinds) -> None:
    """What each tool did per kind of file."""
    print("| kind (files) | " + " | ".join(t.name for t in tools) + " |")
    print("|---|" + "---|" * len(tools))
    by_kind: dict[str, list[str]] = {}
    for n, k in kinds.items():
        by_kind.setdefault(k, []).append(n)
    for k in KINDS:
        if k not in by_kind:
            continue
        files = set(by_kind[k])
        cells = []
        for t in tools:
            job = results[t.name][3]
            parts = []
            ok = len((job.scanned - set(job.errored) - set(job.flagged)) & files)
            if ok:
                parts.append(f"{ok} passed")
            if fl := len(set(job.flagged) & files):
                crit = sum(1 for n in files if job.flagged.get(n, "").startswith("critical"))
                parts.append(f"{fl} flagged" + (f" ({crit} CRITICAL)" if crit else ""))
            if er := len(set(job.errored) & files):
                first = next(job.errored[n] for n in sorted(files) if n in job.errored)
                parts.append(f"{er} errored ({first[:70]})")
            if ns := len(files - job.scanned):
                parts.append(f"{ns} not scanned")
            cells.append(", ".join(parts))
        print(f"| {k} ({len(files)}) | " + " | ".join(cells) + " |")
    print()
    for t in tools:
        job = results[t.name][3]
        if job.flagged:
            from collections import Counter
            common = Counter(re.sub(r"\d+", "N", v)[:110] for v in job.flagged.values()).most_common(3)
            print(f"- {t.name} flagged {len(job.flagged)} files; first findings: "
                  + "; ".join(f"{c}× `{msg}`" for msg, c in common))
    print()


if __name__ == "__main__":
    main()
