#!/usr/bin/env python3
"""Reference answers for aigis-deps's differential tests:

- tests/data/deps/pep440.json: PEP 440 version order by Python's `packaging` (what pip
  uses). The corpus is PEP 440's own examples of ordering, normalization (spellings and
  separators), epochs, local versions, and strings PEP 440 refuses.
- tests/data/deps/cvss.json: CVSS v3 base scores by the `cvss` package (Red Hat's), over
  every value of every base metric.

    pip install packaging cvss
    python3 scripts/make_deps_vectors.py            # write the files
    python3 scripts/make_deps_vectors.py --check    # compute again; exit 1 if they differ
"""
import functools
import json
import pathlib
import sys

import packaging
from packaging.version import InvalidVersion, Version

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests/data/deps"
OUT = DATA / "pep440.json"
CVSS_OUT = DATA / "cvss.json"

CORPUS = [
    # PEP 440's ordering example (summary of permitted suffixes and relative ordering)
    "1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
    "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456",
    "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34",
    "1.0.post456", "1.0.15", "1.1.dev1",
    # padding and leading zeros
    "0", "0.0", "0.1", "1", "1.0.0", "1.0.0.0", "1.01", "1.1", "1.10", "1.9", "2013.10",
    # spellings and separators that normalize
    "1.0.0-alpha.1", "1.0alpha1", "1.0-a1", "1.0_a1", "1.0a", "1.0.a.1", "1.0beta", "1.0-b2",
    "1.0c1", "1.0pre1", "1.0preview1", "1.0-rc1", "1.0.RC1", "1.0-1", "1.0-post1", "1.0.post",
    "1.0rev1", "1.0r1", "1.0-dev", "1.0dev", "1.0.dev0", "v1.0", "V1.0", " 1.0 ",
    "1.0a1.post1", "1.0a1.post1.dev1", "1.0a1.dev1",
    # epochs
    "1!0.5", "1!1.0", "2!0.1", "0!1.0",
    # local versions
    "1.0+local", "1.0+local.1", "1.0+LOCAL.2", "1.0+local-3", "1.0+local_4", "1.0+1.2",
    "1.0+abc", "1.0+0", "1.0+00",
    # large and odd
    "99999999999999999999.0", "2.0", "2.0.0.dev3", "2.0.0rc2", "10.0",
    # refused
    "", "abc", "1..0", "1.0-", "1.0+", "1.0+local!", "1.0.x", "1.0 beta", "1.0+ä",
    "1.0-final", "1.0.0-", ".1", "1.", "1.0++local", "1!", "!1.0", "1.0_",
]


def compute():
    valid, invalid = [], []
    for v in CORPUS:
        try:
            valid.append((Version(v), v))
        except InvalidVersion:
            invalid.append(v)

    def cmp(a, b):
        return (a[0] > b[0]) - (a[0] < b[0])

    valid.sort(key=functools.cmp_to_key(cmp))
    groups = []
    for version, text in valid:
        if groups and groups[-1][0] == version:
            groups[-1][1].append(text)
        else:
            groups.append((version, [text]))
    return {
        "reference": f"packaging {packaging.__version__}",
        "ascending": [g for _, g in groups],
        "invalid": invalid,
    }


def cvss_vectors():
    """Every base metric's every value, crossed pairwise, with the rest varied by a fixed
    walk: 600 vectors, v3.0 and v3.1."""
    import itertools
    import random

    from cvss import CVSS3

    metrics = [
        ("AV", "NALP"), ("AC", "LH"), ("PR", "NLH"), ("UI", "NR"), ("S", "UC"),
        ("C", "HLN"), ("I", "HLN"), ("A", "HLN"),
    ]
    rng = random.Random(440)
    vectors = set()
    for (m1, v1), (m2, v2) in itertools.combinations(metrics, 2):
        for a, b in itertools.product(v1, v2):
            for _ in range(2):
                parts = {m: rng.choice(vals) for m, vals in metrics}
                parts[m1], parts[m2] = a, b
                version = rng.choice(["3.0", "3.1"])
                vectors.add(f"CVSS:{version}/" + "/".join(f"{m}:{parts[m]}" for m, _ in metrics))
    out = []
    for v in sorted(vectors):
        out.append([v, CVSS3(v).scores()[0]])
    import cvss

    return {"reference": f"cvss {getattr(cvss, '__version__', '?')}", "scores": out}


def main():
    scores = cvss_vectors()
    ctext = json.dumps(scores, indent=0) + "\n"
    out = compute()
    text = json.dumps(out, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        # The reference's version may differ from the one that wrote the file; the order
        # may not.
        have = json.loads(OUT.read_text())
        if have["ascending"] != out["ascending"] or have["invalid"] != out["invalid"]:
            print(f"{OUT} differs from what {out['reference']} computes now", file=sys.stderr)
            sys.exit(1)
        print(f"pep440.json: {out['reference']} agrees ({sum(map(len, out['ascending']))} versions, {len(out['invalid'])} refused)")
        have = json.loads(CVSS_OUT.read_text())
        if have["scores"] != scores["scores"]:
            print(f"{CVSS_OUT} differs from what {scores['reference']} computes now", file=sys.stderr)
            sys.exit(1)
        print(f"cvss.json: {scores['reference']} agrees ({len(scores['scores'])} vectors)")
        return
    OUT.write_text(text)
    CVSS_OUT.write_text(ctext)
    print(f"wrote {OUT} and {CVSS_OUT}")


if __name__ == "__main__":
    main()
