#!/usr/bin/env python3
"""Writes tests/data/pii/people.csv, the small table the CLI tests scan for personal data
that is not a pattern (crates/aigis/tests/scan_pii.rs):

    python3 scripts/make_pii_fixture.py

80 generated people (fixed seed, no real person): full names under a meaningless header
(`c1`), given names under `prénom`, family names under `Nachname`, dates of birth as
`DD.MM.YYYY` under `geburtsdatum`, sex, US ZIP codes, street addresses in English, German,
French and Spanish shapes under `adresse`, case numbers; and columns that must not be
taken for personal data: an Adult-like `occupation`, city names, amounts, and free-text
notes (some holding an email address, which the pattern detector finds).
"""
import csv
import os
import random

GIVEN = ["James", "Maria", "Robert", "Linda", "Miguel", "Kevon", "Aisha", "Sofia", "Jose",
         "Emily", "Darnell", "Hannah", "Luis", "Olga", "Brandon", "Fatima", "Giovanni",
         "Priya", "Tyrone", "Keisha", "Ahmed", "Latoya", "Wei", "Jamal", "Elena", "Carlos"]
FAMILY = ["Smith", "Hernandez", "Dixon", "Nguyen", "Johnson", "Garcia", "Williams", "Okafor",
          "Brown", "Rossi", "Kowalski", "Patel", "Kim", "Jackson", "Lopez", "Davis", "Schmidt",
          "Murphy", "Washington", "Rivera", "Cohen", "Martin", "Moore", "Müller", "Dubois"]
STREETS = ["{n} Main Street", "{n} Oak Avenue", "{n} Elm Road", "Hauptstraße {n}",
           "{n} rue de la Paix", "Calle Mayor {n}", "{n} Maple Drive", "Lindenweg {n}"]
OCCUPATIONS = ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
               "Prof-specialty", "Adm-clerical", "Farming-fishing", "Transport-moving"]
CITIES = ["Jackson", "Houston", "Austin", "Charlotte", "Madison", "Lincoln", "Dallas", "Denver",
          "Phoenix", "Orlando", "Boston", "Seattle", "Paris", "Berlin", "Madrid", "Rome"]
WORDS = "called about the refund asked for a new card delivery was late please follow up".split()


def main():
    rng = random.Random(11)
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "pii", "people.csv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["c1", "prénom", "Nachname", "geburtsdatum", "sex", "zip", "adresse",
                    "case_no", "occupation", "city", "amount", "notes"])
        for i in range(80):
            g, fam = GIVEN[i % len(GIVEN)], FAMILY[(i * 7) % len(FAMILY)]
            born = f"{rng.randint(1, 28):02}.{rng.randint(1, 12):02}.{rng.randint(1940, 2004)}"
            notes = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12)))
            if i % 4 == 0:
                notes += f" mail {g.lower()}.{i}@example.org"
            w.writerow([
                f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}", g, fam, born, rng.choice("MF"),
                f"{rng.randint(1000, 99999):05}", rng.choice(STREETS).format(n=rng.randint(1, 400)),
                f"24CR{rng.randint(0, 999999):06}", rng.choice(OCCUPATIONS), rng.choice(CITIES),
                f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02}", notes,
            ])
    print(out)


if __name__ == "__main__":
    main()
