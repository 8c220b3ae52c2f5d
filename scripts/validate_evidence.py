#!/usr/bin/env python3
"""Validates every entry of an aigis ledger against the committed evidence schemas.

Each entry's statement is read with the CLI (`aigis evidence list --json`, then
`aigis evidence show N --statement`), the schema is chosen by the statement's
`predicateType` (the `$id` of a file in docs/evidence/), and the predicate is validated
with the `jsonschema` package, an implementation independent of the Rust types the
schemas come from. An entry whose predicate type has no schema fails, as does one that
does not match its schema. Signatures are not this script's business: `aigis ledger
verify` and scripts/interop.py check those.

Usage:
  python3 scripts/validate_evidence.py AIGIS --project DIR     # a project's ledger
  python3 scripts/validate_evidence.py AIGIS --demo            # `aigis demo`'s ledger
  python3 scripts/validate_evidence.py AIGIS --demo --self-test
      # then appends hand-broken predicates to the (throwaway) demo ledger and checks that
      # each of them, and only they, fail
Needs: pip install jsonschema
Exits 0 when every entry is valid (and, with --self-test, every broken one is caught),
1 otherwise, 2 on bad usage or when aigis fails.
"""
import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "evidence"


def aigis(binary, project, *args):
    out = subprocess.run([binary, "--project", str(project), *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: `aigis {' '.join(args)}` exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def load_schemas(folder):
    """Predicate-type URI -> (file name, validator)."""
    by_type = {}
    for path in sorted(folder.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # a broken schema is an error, not a pass
        uri = schema.get("$id")
        if not uri:
            sys.exit(f"error: `{path}` has no `$id`")
        if uri in by_type:
            sys.exit(f"error: `{path}` and `{by_type[uri][0]}` have the same `$id` `{uri}`")
        by_type[uri] = (path.name, cls(schema))
    if not by_type:
        sys.exit(f"error: no schema in `{folder}`")
    return by_type


def statements(binary, project):
    """(index, statement) of every ledger entry, in order."""
    for line in aigis(binary, project, "--json", "evidence", "list").splitlines():
        index = json.loads(line)["index"]
        yield index, json.loads(aigis(binary, project, "evidence", "show", str(index), "--statement"))


def validate(schemas, index, statement):
    """The problems of one entry (empty when it is valid)."""
    ptype = statement.get("predicateType")
    if ptype not in schemas:
        return [f"entry {index}: no schema for predicate type `{ptype}`"]
    name, validator = schemas[ptype]
    if "predicate" not in statement:
        return [f"entry {index} (`{ptype}`): no predicate"]
    problems = []
    for e in sorted(validator.iter_errors(statement["predicate"]), key=lambda e: list(map(str, e.absolute_path))):
        # Under `anyOf`/`oneOf` (a predicate with several shapes), name the cause inside
        # the shape that got furthest rather than the whole value; an enum (every
        # alternative at the same place) keeps its own message.
        while e.context:
            deeper = [c for c in e.context if len(c.absolute_path) > len(e.absolute_path)]
            if not deeper:
                break
            e = jsonschema.exceptions.best_match(deeper)
        message = e.message if len(e.message) <= 200 else e.message[:200] + "…"
        problems.append(f"entry {index} (`{ptype}`, {name}): at `/{'/'.join(map(str, e.absolute_path))}`: {message}")
    return problems


def check_ledger(binary, project, schemas, quiet=False):
    """Validates every entry; returns {index: problems} of the failing ones."""
    failing, counts = {}, {}
    for index, statement in statements(binary, project):
        problems = validate(schemas, index, statement)
        counts[statement.get("predicateType")] = counts.get(statement.get("predicateType"), 0) + 1
        if problems:
            failing[index] = problems
    if not quiet:
        for ptype, n in sorted(counts.items()):
            print(f"{n:4}  {ptype}")
        print(f"{sum(counts.values())} entries, {len(counts)} predicate types, "
              f"{len(failing)} invalid")
        for problems in failing.values():
            for p in problems:
                print(f"INVALID {p}")
    return failing, counts


def attest(binary, project, subject_digest, ptype, predicate, tmp):
    path = Path(tmp) / "forged-predicate.json"
    path.write_text(json.dumps(predicate))
    out = aigis(binary, project, "--json", "attest", "--subject-digest", subject_digest,
                "--predicate-type", ptype, "--predicate", str(path))
    return json.loads(out)["index"]


def self_test(binary, project, schemas, tmp):
    """Appends broken predicates (each a valid entry of the ledger, changed by hand) and
    checks that the validator refuses each of them and nothing else."""
    entries = dict(statements(binary, project))
    by_type = {}
    for index, st in entries.items():
        by_type.setdefault(st["predicateType"], st)

    def mutated(ptype, change):
        st = by_type[ptype]
        predicate = copy.deepcopy(st["predicate"])
        change(predicate)
        subject = st["subject"][0]
        digest = f"{subject['name']}=sha256:{subject['digest']['sha256']}"
        return digest, predicate

    broken = {}
    cases = [
        ("https://aigis.dev/predicate/model-scan/v1", "an unknown verdict",
         lambda p: p["files"][0].__setitem__("verdict", "fine")),
        ("https://aigis.dev/predicate/model-scan/v1", "a missing field",
         lambda p: p.pop("passed")),
        ("https://aigis.dev/predicate/model-promotion/v1", "a field aigis does not write",
         lambda p: p.__setitem__("approved", True)),
        ("https://aigis.dev/predicate/data-scan/v1", "a count that is a string",
         lambda p: p.__setitem__("rows", "500")),
        ("https://aigis.dev/predicate/model-registration/v1", "a digest that is not one",
         lambda p: p.__setitem__("signature_bundle", "sha256:xyz")),
        ("https://aigis.dev/predicate/data-manifest/v1", "a chunk list that is not a list",
         lambda p: p["files"][0].__setitem__("chunks", "all")),
    ]
    for ptype, what, change in cases:
        if ptype not in by_type:
            print(f"FAIL self-test: the ledger has no `{ptype}` entry to break")
            return False
        digest, predicate = mutated(ptype, change)
        broken[attest(binary, project, digest, ptype, predicate, tmp)] = what
    # A predicate type with no schema.
    any_st = next(iter(entries.values()))
    subject = any_st["subject"][0]
    unknown = attest(binary, project, f"{subject['name']}=sha256:{subject['digest']['sha256']}",
                     "https://example.com/not-an-aigis-predicate/v1", {"x": 1}, tmp)
    broken[unknown] = "a predicate type with no schema"

    failing, _ = check_ledger(binary, project, schemas, quiet=True)
    ok = True
    for index, what in broken.items():
        if index in failing:
            print(f"ok   self-test: entry {index} ({what}) refused: {failing[index][0]}")
        else:
            print(f"FAIL self-test: entry {index} ({what}) was accepted")
            ok = False
    for index in failing.keys() - broken.keys():
        print(f"FAIL self-test: entry {index} refused although not broken: {failing[index]}")
        ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aigis", help="the aigis binary")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path, help="a project folder")
    where.add_argument("--demo", action="store_true", help="run `aigis demo` and check its ledger")
    ap.add_argument("--schemas", type=Path, default=SCHEMAS, help="default: docs/evidence")
    ap.add_argument("--self-test", action="store_true",
                    help="with --demo: also check that hand-broken predicates are refused")
    args = ap.parse_args()
    if args.self_test and not args.demo:
        ap.error("--self-test appends to the ledger: use it with --demo only")
    schemas = load_schemas(args.schemas)
    with tempfile.TemporaryDirectory() as tmp:
        project = args.project
        if args.demo:
            project = Path(tmp) / "demo"
            out = subprocess.run([args.aigis, "demo", "--dir", str(project)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"error: `aigis demo` exited {out.returncode}: {out.stderr.strip()}")
        failing, counts = check_ledger(args.aigis, project, schemas)
        ok = not failing and bool(counts)
        if not counts:
            print("INVALID the ledger is empty")
        if args.self_test:
            ok = self_test(args.aigis, project, schemas, tmp) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
