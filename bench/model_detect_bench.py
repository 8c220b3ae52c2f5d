#!/usr/bin/env python3
"""Detection on the project's own model corpora: `aigis model scan` beside picklescan,
modelscan and modelaudit, on every malicious, benign and malformed file of tests/data.

    cargo build --release -p aigis
    pip install picklescan modelscan modelaudit      # each may live in its own venv:
    python3 bench/model_detect_bench.py target/release/aigis \\
        [--picklescan PATH] [--modelscan PATH] [--modelaudit PATH] [--json results.json]
    python3 bench/model_detect_bench.py target/debug/aigis --check   # CI: aigis only

The corpus is what scripts/make_{model,format,container,torch,savedmodel}_corpus.py wrote
into tests/data/{models,formats,containers,torch,graphs}. Each item is labelled in
`LABELS` below from how its generator made it, not from its name:

- malicious: loading it the usual way runs code, imports a module of the file's choosing,
  reads or writes a file or the network, or a member escapes its folder; or it carries
  such a payload where the usual loader does not look (a second pickle, bytes after the
  last storage) for another reader to find;
- benign: written by the real library (or laid out as it writes them), no payload;
- malformed: corrupt, truncated, built to exhaust a reader, or not parseable by its own
  loader, so that nothing in it would ever run (a pickle global that CPython's unpickler
  cannot resolve fails the load before the call).

A model folder (a SavedModel, an ONNX model with its external data) is one item. Each
tool scans each item in its own process (a temporary working folder, so no tool picks up
a settings file or a project), after one warm-up run; the time counts process start-up,
which dominates on files this small. Then each tool scans a copy of the whole corpus in
one process, for the time per file without start-up. Every run's exit code and output
are kept (`--json`).

How each tool's answer for an item is read (its own default verdict, as a CI job
calling it sees it):

- aigis (`--json model scan ITEM --fail-on suspicious`): flagged when the worst verdict
  is not `safe`; errored on exit 2.
- picklescan (`-p ITEM`, and `--strict`, which promotes its "suspicious" globals to
  dangerous): flagged on a "dangerous import ... FOUND" line; errored on an "ERROR:"
  line or exit 2; not scanned when it reports "Scanned files: 0".
- modelscan (`-p ITEM -r json`): flagged when it reports an issue; errored when it
  reports an error; not scanned when it scanned nothing (exit 3).
- modelaudit (`scan --no-cache --format json ITEM`, telemetry off): flagged when it
  reports a WARNING or CRITICAL issue or failed check (what makes it exit 1); the
  "critical only" row counts CRITICAL issues alone; errored on exit 2 without a
  finding; not scanned when its files_scanned is 0.

A finding counts even when the tool also errored on the item: the file was caught.
`--check` runs aigis alone and fails when the table and the files on disk disagree, when
aigis errors on an item, or when a malicious item comes out `safe`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
CORPORA = ("models", "formats", "containers", "torch", "graphs")

MAL, BEN, BAD = "malicious", "benign", "malformed"

# Relative to tests/data; a trailing "/" makes a folder one item. Every file under the
# corpora must be covered by exactly one entry (README.md aside).
LABELS: dict[str, tuple[str, str]] = {
    # scripts/make_model_corpus.py
    "models/benign_numpy_p2.pkl": (BEN, "numpy array, pickle protocol 2"),
    "models/benign_numpy_p4.pkl": (BEN, "numpy array, protocol 4"),
    "models/benign_numpy_p5.pkl": (BEN, "numpy array, protocol 5"),
    "models/benign_sklearn_logreg.pkl": (BEN, "fitted LogisticRegression, pickle"),
    "models/benign_sklearn_logreg.joblib": (BEN, "fitted LogisticRegression, joblib.dump"),
    "models/benign_sklearn_pipeline.pkl": (BEN, "fitted Pipeline, pickle"),
    "models/benign_sklearn_pipeline.joblib": (BEN, "fitted Pipeline, joblib.dump"),
    "models/benign_state_dict.pkl": (BEN, "OrderedDict of arrays"),
    "models/mal_os_system_p0.pkl": (MAL, "os.system, GLOBAL + REDUCE, protocol 0"),
    "models/mal_os_system_p2.pkl": (MAL, "os.system, protocol 2"),
    "models/mal_stack_global_memo_p4.pkl": (MAL, "os.system by STACK_GLOBAL from memoized strings"),
    "models/mal_getattr_chain.pkl": (MAL, "getattr(import_module('os'), 'system')(...)"),
    "models/mal_importlib.pkl": (MAL, "importlib.import_module('os')"),
    "models/mal_inst.pkl": (MAL, "os.system by INST"),
    "models/mal_obj.pkl": (MAL, "os.system by OBJ"),
    "models/mal_popen_newobj.pkl": (MAL, "subprocess.Popen by NEWOBJ"),
    "models/mal_torch_collect_env.pkl": (MAL, "torch.utils.collect_env.run (runs a command)"),
    "models/mal_pandas_read_csv.pkl": (MAL, "pandas.read_csv of a URL"),
    "models/mal_nested_loads.pkl": (MAL, "pickle.loads of an os.system pickle"),
    "models/mal_second_pickle.pkl": (MAL, "an os.system pickle after a benign one"),
    "models/mal_escaped_stack_global.pkl": (MAL, "STACK_GLOBAL on an escaped protocol-0 'o\\x73'"),
    "models/mal_ext_unregistered.pkl": (BAD, "EXT1 code nobody registered: the load fails before the call"),
    "models/mal_spaced_module.pkl": (BAD, "module `os ` (trailing space): the import fails before the call"),
    "models/bad_truncated.pkl": (BAD, "os.system pickle cut before REDUCE"),
    "models/bad_trailing_garbage.pkl": (BAD, "a list, then garbage after STOP"),
    "models/bad_binbytes8_huge.pkl": (BAD, "BINBYTES8 declaring 2^62 bytes"),
    "models/bad_deep_marks.pkl": (BAD, "5000 MARKs, 200 nested tuples"),
    "models/bad_memo_unset.pkl": (BAD, "memo read of an index never written"),
    # scripts/make_format_corpus.py
    "formats/model.safetensors": (BEN, "safetensors writer"),
    "formats/model.gguf": (BEN, "gguf writer, plain chat template"),
    "formats/evil_template.gguf": (MAL, "chat template reaching os.popen (Jinja)"),
    "formats/plain.npy": (BEN, "int32 array"),
    "formats/objects.npz": (BEN, "object arrays of plain values (loads with allow_pickle=True)"),
    "formats/evil_objects.npz": (MAL, "object array whose pickle calls posix.system"),
    "formats/benign.pkl": (BEN, "dict of floats and a string"),
    "formats/evil.pkl": (MAL, "posix.system"),
    "formats/evil_compressed.joblib": (MAL, "zlib-compressed posix.system pickle (joblib.load reads it)"),
    "formats/evil_named.safetensors": (MAL, "posix.system pickle under a safetensors name"),
    "formats/benign_torch.pt": (BEN, "torch.save zip layout, benign pickle"),
    "formats/evil_torch.pt": (MAL, "torch.save zip layout, posix.system pickle"),
    "formats/duplicate_names.pt": (MAL, "two archive/data.pkl, the second posix.system"),
    "formats/traversal.zip": (MAL, "member ../../outside.pkl (writes outside the folder)"),
    "formats/bad_crc.pt": (BAD, "benign pickle, CRC-32 flipped in both headers"),
    "formats/bomb.zip": (BAD, "4 MiB of zeros deflated to 4 KiB"),
    "formats/polyglot.pt": (MAL, "posix.system pickle with a zip appended"),
    # scripts/make_container_corpus.py
    "containers/keras_dense.keras": (BEN, "Keras 3 Sequential of Dense layers"),
    "containers/keras_functional.keras": (BEN, "Keras 3 Functional, LSTM, nested Sequential"),
    "containers/keras_custom.keras": (BEN, "a registered custom layer (its code is the user's, not in the file)"),
    "containers/keras_lambda.keras": (MAL, "Lambda layer (marshalled bytecode)"),
    "containers/keras_exec.keras": (MAL, "activation builtins.exec"),
    "containers/keras_bad_config.keras": (BAD, "config.json cut in half"),
    "containers/keras3_dense.h5": (BEN, "Keras 3 .h5"),
    "containers/keras3_lambda.h5": (MAL, "Lambda bytecode"),
    "containers/keras3_lambda_latest.h5": (MAL, "Lambda bytecode, HDF5 superblock v3"),
    "containers/keras2_lambda.h5": (MAL, "tf.keras 2 Lambda, marshalled function"),
    "containers/keras2_tfop_math.h5": (BEN, "TFOpLambda tf.math.multiply"),
    "containers/keras2_tfop_write_file.h5": (MAL, "TFOpLambda tf.io.write_file"),
    "containers/weights_only.weights.h5": (BEN, "model.save_weights"),
    "containers/dense_attributes.h5": (BEN, "keras2_tfop_math's config among 13 root attributes (dense storage)"),
    "containers/truncated_weights.h5": (BAD, "keras3_dense.h5 cut in half"),
    "containers/truncated_config.h5": (BAD, "first 1200 bytes of an .h5"),
    "containers/nested_benign.zip": (BEN, "zip in a zip, benign pickle"),
    "containers/nested_evil.zip": (MAL, "os.system pickle in a zip in a zip"),
    "containers/nested_npz.zip": (MAL, "npz in a zip, object array calling os.system"),
    "containers/nested_deep.zip": (MAL, "os.system pickle four zips deep"),
    "containers/legacy_torch.pt": (BEN, "legacy torch.save raw pickles and storages"),
    "containers/legacy_torch_evil.pt": (MAL, "legacy torch.save, os.system in the state dict"),
    "containers/legacy_torch_hidden.pt": (MAL, "os.system pickle after the last storage (torch.load does not read it)"),
    "containers/legacy_torch_overrun.pt": (BAD, "a storage declaring 2^40 elements"),
    # scripts/make_torch_corpus.py (torch.save / torch.jit.save)
    "torch/state_dict.pt": (BEN, "torch.save(state_dict)"),
    "torch/pytorch_model.bin": (BEN, "the same, Hugging Face name"),
    "torch/module.pt": (BEN, "torch.save(nn.Sequential)"),
    "torch/checkpoint.pt": (BEN, "epoch, model and optimizer state"),
    "torch/state_dict_legacy.pt": (BEN, "legacy raw-pickle torch.save"),
    "torch/half_legacy.pt": (BEN, "legacy, float16"),
    "torch/scripted.pt": (BEN, "torch.jit.save(torch.jit.script(...))"),
    "torch/traced.pt": (BEN, "torch.jit.save(torch.jit.trace(...))"),
    "torch/legacy_tar.pt": (BEN, "PyTorch 0.1-0.3 tar checkpoint"),
    "torch/evil_state_dict.pt": (MAL, "os.system object in a state dict, torch.save"),
    "torch/evil_state_dict_legacy.pt": (MAL, "the same, legacy form"),
    "torch/legacy_tar_evil_storage.pt": (MAL, "tar checkpoint, os.system as a storage type"),
    "torch/legacy_tar_evil_tensor.pt": (MAL, "tar checkpoint, os.system as a tensor type"),
    "torch/legacy_tar_leftover.pt": (MAL, "tar checkpoint, os.system pickle after the storages"),
    # scripts/make_format_corpus.py (ONNX, hand-built SavedModels)
    "graphs/logreg_iris.onnx": (BEN, "skl2onnx LogisticRegression"),
    "graphs/custom_domain.onnx": (BEN, "an operator of domain com.example.evil (runs only with a custom-op library the user loads)"),
    "graphs/truncated.onnx": (BAD, "logreg_iris.onnx cut at 3/5"),
    "graphs/onnx_external/": (BEN, "model.onnx + weights.bin by onnx.save_model"),
    "graphs/onnx_escape/": (MAL, "external data at ../../../../home/user/.ssh/id_rsa"),
    "graphs/onnx_absolute/": (MAL, "external data at /etc/passwd"),
    # Hand-built SavedModels that TensorFlow's own parser rejects ("Wire format was
    # corrupt": the generator wraps the signature_def map entry twice), so
    # tf.saved_model.load fails before any function runs: malformed, whatever they name.
    "graphs/savedmodel_benign/": (BAD, "saver functions only; TensorFlow cannot parse it"),
    "graphs/savedmodel_pyfunc/": (BAD, "EagerPyFunc in the serving function; TensorFlow cannot parse it"),
    "graphs/savedmodel_files/": (BAD, "ReadFile and WriteFile; TensorFlow cannot parse it"),
    # scripts/make_savedmodel_corpus.py (TensorFlow 2.21)
    "graphs/tf_benign/": (BEN, "tf.saved_model.save of x @ w + b"),
    "graphs/tf_vocab/": (BEN, "a lookup table from assets/vocab.txt"),
    "graphs/tf_ckpt/": (BEN, "tf.train.Checkpoint, no graph"),
    "graphs/tf_write_file/": (MAL, "serve calls tf.io.write_file"),
    "graphs/tf_read_key/": (MAL, "serve returns tf.io.read_file('/etc/hostname')"),
    "graphs/tf_py_function/": (MAL, "serve goes through tf.py_function"),
}

FLAGGED, PASSED, NOT_SCANNED, ERRORED = "flagged", "passed", "not scanned", "errored"


def check_labels() -> list[str]:
    """What differs between LABELS and the files under the corpora."""
    problems = []
    covered: set[str] = set()
    for item in LABELS:
        path = os.path.join(ROOT, item)
        if item.endswith("/"):
            if not os.path.isdir(path):
                problems.append(f"labelled folder `{item}` is missing")
                continue
            for d, _, files in os.walk(path):
                covered.update(os.path.relpath(os.path.join(d, f), ROOT) for f in files)
        elif not os.path.isfile(path):
            problems.append(f"labelled file `{item}` is missing")
        else:
            covered.add(item)
    for corpus in CORPORA:
        for d, _, files in os.walk(os.path.join(ROOT, corpus)):
            for f in files:
                rel = os.path.relpath(os.path.join(d, f), ROOT)
                if f != "README.md" and rel not in covered:
                    problems.append(f"`{rel}` has no label: add it to LABELS")
    return problems


@dataclass
class Run:
    code: int
    seconds: float
    stdout: str
    stderr: str
    report: str = ""  # modelscan writes its JSON to a file


@dataclass
class Tool:
    name: str
    argv: list[str]  # the item's path goes last
    readings: dict  # row name -> (Run) -> (outcome, detail): one run, maybe read two ways
    env: dict = field(default_factory=dict)
    report_file: bool = False  # the argument REPORT stands for the report's path
    version: str = "?"


REPORT = "{report}"


def run_tool(tool: Tool, path: str, cwd: str) -> Run:
    report = os.path.join(cwd, "report.json")
    argv = [report if arg == REPORT else arg for arg in tool.argv]
    if tool.report_file and os.path.exists(report):
        os.remove(report)
    start = time.perf_counter()
    p = subprocess.run([*argv, path], cwd=cwd, env=dict(os.environ, **tool.env),
                       capture_output=True, text=True, errors="replace")
    seconds = time.perf_counter() - start
    run = Run(p.returncode, seconds, p.stdout, p.stderr)
    if tool.report_file and os.path.exists(report):
        with open(report, encoding="utf-8", errors="replace") as f:
            run.report = f.read()
    return run


VERDICTS = ("safe", "suspicious", "inconclusive", "dangerous")


def tail(text: str, n: int = 160) -> str:
    return " ".join(text.split())[-n:]


def read_aigis(r: Run) -> tuple[str, str]:
    if r.code not in (0, 1):
        return ERRORED, f"exit {r.code}: {tail(r.stderr)}"
    try:
        verdicts = [f["verdict"] for f in json.loads(r.stdout)["files"]]
    except (ValueError, KeyError, TypeError) as e:
        return ERRORED, f"exit {r.code}, unreadable JSON ({e})"
    if not verdicts:
        return NOT_SCANNED, f"exit {r.code}, no files"
    worst = max(verdicts, key=VERDICTS.index)
    return (PASSED if worst == "safe" else FLAGGED), f"exit {r.code}, {worst}"


def read_picklescan(r: Run) -> tuple[str, str]:
    lines = (r.stdout + "\n" + r.stderr).splitlines()
    # "PATH: dangerous import 'os system' FOUND", with " (promoted by --strict)" under --strict
    found = [ln for ln in lines if re.search(r": dangerous import '.*' FOUND", ln)]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    scanned = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Scanned files:")), "?")
    if found:
        also = " (and an ERROR)" if errors else ""
        return FLAGGED, f"exit {r.code}: {found[0].rsplit(': ', 1)[-1]}{also}"
    if errors:
        return ERRORED, f"exit {r.code}: {tail(errors[0].split(': ', 1)[-1].split(': ', 1)[-1])}"
    if r.code == 0 and scanned == "0":
        return NOT_SCANNED, "exit 0, scanned files 0"
    if r.code != 0:
        return ERRORED, f"exit {r.code}: {tail(r.stdout + r.stderr)}"
    return PASSED, f"exit 0, scanned files {scanned}"


def read_modelscan(r: Run) -> tuple[str, str]:
    try:
        doc = json.loads(r.report)
    except ValueError:
        return ERRORED, f"exit {r.code}, no report: {tail(r.stdout + r.stderr)}"
    issues, errors = doc.get("issues") or [], doc.get("errors") or []
    scanned = ((doc.get("summary") or {}).get("scanned") or {}).get("total_scanned", 0)
    if issues:
        i = issues[0]
        also = " (and an error)" if errors else ""
        return FLAGGED, f"exit {r.code}: {i.get('severity')} {i.get('module')}.{i.get('operator')}{also}"
    if errors:
        e = errors[0]
        return ERRORED, f"exit {r.code}: {e.get('category')}: {tail(str(e.get('description')))}"
    if not scanned:
        return NOT_SCANNED, f"exit {r.code}, total_scanned 0"
    if r.code != 0:
        return ERRORED, f"exit {r.code}"
    return PASSED, f"exit 0, scanned {scanned}"


def modelaudit_reading(levels: set[str]):
    """Flagged on issues or failed checks at `levels` (WARNING and CRITICAL are what
    make modelaudit exit 1)."""

    def read(r: Run) -> tuple[str, str]:
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            return ERRORED, f"exit {r.code}, no JSON: {tail(r.stdout + r.stderr)}"
        hits = [f"{i.get('severity')}: {i.get('message')}" for i in doc.get("issues") or []
                if str(i.get("severity", "")).lower() in levels]
        hits += [f"{c.get('severity')}: {c.get('message') or c.get('name')}" for c in doc.get("checks") or []
                 if str(c.get("status", "")).lower() == "failed" and str(c.get("severity", "")).lower() in levels]
        if hits:
            return FLAGGED, f"exit {r.code}: {tail(hits[0])}"
        first = next((f"{i.get('severity')}: {i.get('message')}" for i in doc.get("issues") or []), "")
        if not doc.get("files_scanned"):
            return (ERRORED if doc.get("has_errors") else NOT_SCANNED), f"exit {r.code}, files_scanned 0 {tail(first)}"
        # exit 2: an operational error or incomplete coverage without a WARNING/CRITICAL
        # finding; exit 1 with nothing at `levels` passes this reading
        if r.code not in (0, 1) or doc.get("has_errors"):
            return ERRORED, f"exit {r.code}: {tail(first)}"
        return PASSED, f"exit {r.code}" + (f" ({tail(first, 100)})" if r.code == 1 else "")

    return read


def installed_version(cmd: str, dist: str) -> str:
    """The version of `dist` installed beside the console script `cmd`."""
    try:
        with open(cmd, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return "?"
    python = first[2:].split()[0] if first.startswith("#!") else sys.executable
    p = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "?"


def build_tools(a) -> list[Tool]:
    v = subprocess.run([a.aigis, "--version"], capture_output=True, text=True).stdout.strip()
    tools = [Tool("aigis", [a.aigis, "--json", "model", "scan", "--fail-on", "suspicious"],
                  {"aigis model scan": read_aigis}, version=v)]
    if a.check:
        return tools
    for name in ("picklescan", "modelscan", "modelaudit"):
        cmd = getattr(a, name) or shutil.which(name)
        if not cmd:
            print(f"{name}: not found, left out (--{name} PATH)", file=sys.stderr)
            continue
        cmd = os.path.abspath(cmd)
        version = f"{name} {installed_version(cmd, name)}"
        if name == "picklescan":
            tools.append(Tool(name, [cmd, "-p"], {"picklescan": read_picklescan}, version=version))
            tools.append(Tool(name + " --strict", [cmd, "--strict", "-p"],
                              {"picklescan --strict": read_picklescan}, version=version))
        elif name == "modelscan":
            tools.append(Tool(name, [cmd, "-r", "json", "-o", REPORT, "-p"], {"modelscan": read_modelscan},
                              report_file=True, version=version))
        else:
            tools.append(Tool(name, [cmd, "scan", "--no-cache", "--format", "json"],
                              {"modelaudit": modelaudit_reading({"warning", "critical"}),
                               "modelaudit (CRITICAL only)": modelaudit_reading({"critical"})},
                              env={"NO_ANALYTICS": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_COLOR": "1"},
                              version=version))
    return tools


def copy_corpus(items: list[str], dst_root: str) -> None:
    for item in items:
        src, dst = os.path.join(ROOT, item), os.path.join(dst_root, item)
        if item.endswith("/"):
            shutil.copytree(src, dst)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)


def tally(per_item: dict[str, dict], label: str) -> dict[str, int]:
    out = {FLAGGED: 0, PASSED: 0, NOT_SCANNED: 0, ERRORED: 0}
    for item, v in per_item.items():
        if LABELS[item][0] == label:
            out[v["outcome"]] += 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("aigis", help="the aigis binary")
    ap.add_argument("--picklescan", help="the picklescan command [default: from PATH]")
    ap.add_argument("--modelscan", help="the modelscan command [default: from PATH]")
    ap.add_argument("--modelaudit", help="the modelaudit command [default: from PATH]")
    ap.add_argument("--json", help="write every run (exit code, seconds, output, outcome) to this file")
    ap.add_argument("--per-file", action="store_true", help="also print each item's outcome for each tool")
    ap.add_argument("--check", action="store_true",
                    help="aigis only: exit 1 if the labels and the files disagree, if aigis errors on "
                         "an item, or if a malicious item is safe")
    a = ap.parse_args()
    a.aigis = os.path.abspath(a.aigis)

    problems = check_labels()
    if problems:
        print("labels and files disagree:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    items = sorted(LABELS)
    n = {k: sum(1 for v in LABELS.values() if v[0] == k) for k in (MAL, BEN, BAD)}
    tools = build_tools(a)
    print(f"corpus: {len(items)} items of tests/data/{{{','.join(CORPORA)}}}: {n[MAL]} malicious, "
          f"{n[BEN]} benign, {n[BAD]} malformed; {os.cpu_count()} cores", file=sys.stderr)
    for t in tools:
        print(f"  {t.version}", file=sys.stderr)

    rows: dict[str, dict[str, dict]] = {}  # row name -> item -> outcome, detail, code, seconds
    raw: dict[str, dict[str, dict]] = {}
    whole: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="aigis-detect-bench-") as work:
        cwd = os.path.join(work, "cwd")
        os.mkdir(cwd)
        for tool in tools:
            run_tool(tool, os.path.join(ROOT, items[0]), cwd)  # warm-up, not counted
            for item in items:
                r = run_tool(tool, os.path.join(ROOT, item), cwd)
                raw.setdefault(tool.name, {})[item] = {"code": r.code, "seconds": r.seconds,
                                                       "stdout": r.stdout, "stderr": r.stderr,
                                                       "report": r.report}
                for row, read in tool.readings.items():
                    outcome, detail = read(r)
                    rows.setdefault(row, {})[item] = {"outcome": outcome, "detail": detail,
                                                      "code": r.code, "seconds": r.seconds}
            secs = sum(v["seconds"] for v in raw[tool.name].values())
            print(f"  {tool.name}: {secs:.1f} s for {len(items)} items", file=sys.stderr)
        if not a.check:
            corpus = os.path.join(work, "corpus")
            copy_corpus(items, corpus)
            for tool in tools:
                r = run_tool(tool, corpus, cwd)
                whole[tool.name] = {"seconds": r.seconds, "code": r.code}

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"labels": LABELS, "versions": {t.name: t.version for t in tools},
                       "rows": rows, "runs": raw, "whole_corpus": whole}, f, indent=1)

    tool_of = {row: t for t in tools for row in t.readings}
    print(f"\n| tool | malicious detected (of {n[MAL]}) | passed | not scanned | errored "
          f"| benign passed (of {n[BEN]}) | flagged | not scanned | errored |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row, per in rows.items():
        m, b = tally(per, MAL), tally(per, BEN)
        print(f"| {row} | {m[FLAGGED]} | {m[PASSED]} | {m[NOT_SCANNED]} | {m[ERRORED]} "
              f"| {b[PASSED]} | {b[FLAGGED]} | {b[NOT_SCANNED]} | {b[ERRORED]} |")
    print(f"\n| tool | malformed (of {n[BAD]}): flagged / passed / not scanned / errored "
          f"| s, one process per item (sum) | s per item | s, whole corpus in one process (exit code) |")
    print("|---|---:|---:|---:|---:|")
    for row, per in rows.items():
        x = tally(per, BAD)
        secs = sum(v["seconds"] for v in per.values())
        w = whole.get(tool_of[row].name)
        wtxt = f"{w['seconds']:.2f} ({w['code']})" if w else "—"
        print(f"| {row} | {x[FLAGGED]} / {x[PASSED]} / {x[NOT_SCANNED]} / {x[ERRORED]} | {secs:.1f} "
              f"| {secs / len(per):.2f} | {wtxt} |")

    print()
    for row, per in rows.items():
        wrong = [(i, v) for i, v in per.items()
                 if (LABELS[i][0] == MAL and v["outcome"] != FLAGGED)
                 or (LABELS[i][0] == BEN and v["outcome"] != PASSED)
                 or v["outcome"] == ERRORED]
        print(f"{row}: {len(wrong)} items not as labelled, or errored")
        for i, v in wrong:
            print(f"  - {LABELS[i][0]} `{i}` ({LABELS[i][1]}): {v['outcome']}, {v['detail']}")
    if a.per_file:
        names = list(rows)
        print("\n| item | label | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        for i in items:
            print(f"| `{i}` | {LABELS[i][0]} | " + " | ".join(rows[r][i]["detail"] for r in names) + " |")

    if a.check:
        aigis = rows["aigis model scan"]
        bad = [i for i, v in aigis.items() if v["outcome"] == ERRORED
               or (LABELS[i][0] == MAL and v["outcome"] != FLAGGED)]
        if bad:
            print("\ncheck FAILED: aigis errored on, or passed as safe, a malicious item:\n  "
                  + "\n  ".join(f"{i}: {aigis[i]['detail']}" for i in bad))
            return 1
        print("\ncheck passed: aigis flags every malicious item and errors on none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
