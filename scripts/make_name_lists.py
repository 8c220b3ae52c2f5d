#!/usr/bin/env python3
"""Writes the given-name and surname dictionaries that `aigis-data` embeds
(crates/aigis-data/src/pii/names/{given,surnames}.txt).

Source: the US Census Bureau's 1990 name lists (`dist.male.first`, `dist.female.first`,
`dist.all.last`; a US government work, public domain), as shipped inside the `names`
package on PyPI (MIT, https://pypi.org/project/names/):

    python3 -m pip install names==0.3.0
    python3 scripts/make_name_lists.py

Every given name is kept (5,163 after merging the two lists). The surname list is cut to
the SURNAMES most frequent names (the 1990 list is sorted by frequency): the top 40,000
cover 84.1 % of the population the census counted, the full 88,799 cover 90.5 %, and the
tail of very rare names adds little to a column's hit rate while tripling the file.

Format (compact, still text that diffs): names lowercase ASCII, sorted; each line is one
character giving how many leading characters it shares with the line before (`0`-`9`, then
`a`-`z` for 10-35), followed by the rest of the name. `pii/names.rs` reads it back.
"""
import os
import sys

import names

SURNAMES = 40000
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "aigis-data", "src", "pii", "names")
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def read(path, limit=None):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            name = parts[0].lower()
            if not name.isalpha() or not name.isascii():
                sys.exit(f"unexpected name {name!r} in {path}")
            out.append(name)
            if limit and len(out) >= limit:
                break
    return out


def front_code(words):
    lines, prev = [], ""
    for w in sorted(set(words)):
        n = 0
        while n < min(len(prev), len(w), len(DIGITS) - 1) and prev[n] == w[n]:
            n += 1
        lines.append(DIGITS[n] + w[n:])
        prev = w
    return "\n".join(lines) + "\n"


def main():
    here = os.path.dirname(names.__file__)
    given = read(os.path.join(here, "dist.male.first")) + read(os.path.join(here, "dist.female.first"))
    surnames = read(os.path.join(here, "dist.all.last"), SURNAMES)
    os.makedirs(OUT, exist_ok=True)
    for file, words in (("given.txt", given), ("surnames.txt", surnames)):
        text = front_code(words)
        with open(os.path.join(OUT, file), "w") as f:
            f.write(text)
        print(f"{file}: {len(set(words))} names, {len(text)} bytes")


if __name__ == "__main__":
    main()
