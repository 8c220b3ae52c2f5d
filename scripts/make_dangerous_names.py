#!/usr/bin/env python3
"""Writes crates/aigis-scan/src/pickle/policy/dangerous_names.rs: the bare names of the
callables that the pickle policy's dangerous modules define.

    python3 scripts/make_dangerous_names.py

Why: a module that imports a callable hands it out under its own name, and a pickle's
`find_class` resolves it there. `sklearn.utils.discovery.import_module` *is*
`importlib.import_module`, `sklearn.callback._transport.Client` is
`multiprocessing.connection.Client`. The policy calls every plain name under a few
library trees safe (`sklearn`, `scipy.sparse`, `torch.nn.modules`); such a name is only
safe when it is not one of these.

The table is harvested, not typed: every entry of `DANGEROUS_MODULES` in policy.rs is
imported as a module if it is one (its submodules too, tests and `__main__` left out),
and every callable attribute defined inside a dangerous tree (or in C, without a
module) gives its name; an entry that names a function (`functools.reduce`,
`torch.load`) gives its last part. Run with CPython 3.11 and, for the third-party trees,
the packages installed (joblib, numpy, torch, sympy, pandas, requests); what is not
installed is reported and skipped. Names that the safe trees define themselves
(scikit-learn, SciPy's sparse, PyTorch's modules, as installed), outside their dangerous
modules, are left out and printed: `torch.nn.modules.transformer.Transformer` is a layer
even though `torch.fx` has a `Transformer` too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
import types
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY = os.path.join(ROOT, "crates/aigis-scan/src/pickle/policy.rs")
OUT = os.path.join(ROOT, "crates/aigis-scan/src/pickle/policy/dangerous_names.rs")
SAFE_TREES = ("sklearn", "scipy.sparse", "torch.nn.modules", "numpy.dtypes")
# packages whose dangerous parts sit inside a safe tree's own package: not harvested, or
# the table would hold the names of the package's own harmless functions
OWN_TREES = {"sklearn"}
# Trees too large to walk whole, or whose submodules start servers or GUIs when imported;
# only the module itself is read.
SHALLOW = {"torch", "numpy", "sympy", "pandas", "transformers", "huggingface_hub", "tkinter", "idlelib", "test",
           "torch.fx", "torch._dynamo", "torch._inductor", "setuptools", "pip", "distutils", "numpy.distutils",
           "numpy.f2py", "numpy.testing", "unittest", "lib2to3", "asyncio", "concurrent", "sympy.testing",
           "torch.testing._internal", "torch.distributed.elastic", "torch.utils.tensorboard"}


SOURCES: dict[str, str] = {}  # a name -> one dangerous module defining it


def dangerous_entries() -> list[str]:
    text = open(POLICY).read()
    body = re.search(r"const DANGEROUS_MODULES: &\[&str\] = &\[(.*?)\n\];", text, re.S)
    if not body:
        sys.exit("DANGEROUS_MODULES not found in policy.rs")
    code = "\n".join(line.split("//", 1)[0] for line in body[1].splitlines())
    return re.findall(r'"([^"]+)"', code)


def import_quietly(name: str):
    saved = sys.argv
    sys.argv = ["x"]  # some modules read the command line when imported
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except BaseException:  # SystemExit, ImportError, anything a module may raise
        return None
    finally:
        sys.argv = saved


def walk(module: types.ModuleType, name: str) -> list[types.ModuleType]:
    mods = [module]
    if name in SHALLOW or not hasattr(module, "__path__"):
        return mods
    for sub in pkgutil.walk_packages(module.__path__, name + "."):
        if any(p in ("tests", "test", "__main__") or p.startswith("test_") for p in sub.name.split(".")):
            continue
        if any(sub.name == s or sub.name.startswith(s + ".") for s in SHALLOW):
            continue
        m = import_quietly(sub.name)
        if m is not None:
            mods.append(m)
    return mods


def in_trees(module: str | None, trees: list[str]) -> bool:
    if module is None:
        return True
    return any(module == t or module.startswith(t + ".") for t in trees)


def harvest() -> tuple[set[str], list[str]]:
    entries = dangerous_entries()
    names: set[str] = set()
    skipped = []
    trees = []
    modules = []
    for entry in entries:
        if entry.split(".")[0] in OWN_TREES:
            continue  # scikit-learn's dangerous subtrees are matched by their module paths
        m = import_quietly(entry)
        if isinstance(m, types.ModuleType) and m.__name__ == entry:
            trees.append(entry)
            modules.extend(walk(m, entry))
            continue
        parent, _, last = entry.rpartition(".")
        pm = import_quietly(parent) if parent else None
        if pm is not None and hasattr(pm, last):
            names.add(last)
        elif not parent:
            skipped.append(entry)  # a top-level module not installed here
        else:
            names.add(last)  # a function of a package not installed: its name still counts
    for mod in modules:
        for attr, obj in list(vars(mod).items()):
            if attr.startswith("__") and attr.endswith("__"):
                continue
            if not callable(obj):
                continue
            if in_trees(getattr(obj, "__module__", None), trees):
                names.add(attr)
                SOURCES.setdefault(attr, f"{mod.__name__}.{attr}")
    return names, skipped


def defined_by_safe_trees(names: set[str], entries: list[str]) -> dict[str, str]:
    """The names in `names` that a safe tree defines itself, in a module that is not
    dangerous (`torch.nn.modules.transformer.Transformer`): by name -> where."""
    out = {}
    for root in SAFE_TREES:
        top = import_quietly(root)
        if top is None:
            continue
        for mod in walk(top, root) if root != "numpy.dtypes" else [top]:
            for attr, obj in list(vars(mod).items()):
                home = getattr(obj, "__module__", "") or ""
                if attr in names and callable(obj) and home.startswith(root) and not in_trees(home, entries):
                    out.setdefault(attr, f"{home}.{attr}")
    return out


def render(names: set[str]) -> str:
    lines = [
        "//! Generated by `scripts/make_dangerous_names.py`; do not edit. The bare names of the",
        "//! callables that the dangerous modules of [`super::DANGEROUS_MODULES`] define, harvested",
        f"//! with CPython {sys.version_info.major}.{sys.version_info.minor} and the packages installed there. A plain name",
        "//! under a safe tree (`sklearn`, …) that is one of these may be the dangerous callable,",
        "//! imported by that module and handed out under its name.",
        "",
        "/// Sorted, for a binary search.",
        "pub(super) const DANGEROUS_NAMES: &[&str] = &[",
    ]
    lines += [f'    "{n}",' for n in sorted(names)]
    lines.append("];")
    return "\n".join(lines) + "\n"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    names, skipped = harvest()
    names = {n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)}
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)}", file=sys.stderr)
    own = defined_by_safe_trees(names, dangerous_entries())
    print(f"{len(names)} names; left out, because a safe tree defines them itself (a re-export of "
          f"the dangerous one under these names would pass):", file=sys.stderr)
    for n, where in sorted(own.items()):
        print(f"  {n}: {where} (dangerous: {SOURCES.get(n, '?')})", file=sys.stderr)
    names -= set(own)
    text = render(names)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
