//! Throughput of `pii::Detector` on realistic table cells, and on pathological ones.
//!
//! ```sh
//! cargo bench -p aigis-data --bench pii     # ~200 MB of cells, 10 MB pathological cells
//! AIGIS_BENCH_PII_MB=50 cargo bench -p aigis-data --bench pii
//! cargo test  -p aigis-data --bench pii     # 1 MB smoke run that checks the findings
//! ```
//!
//! The cells are generated (xorshift, fixed seed) as the rows of a customer table:
//! names, emails, phone numbers, amounts, dates, order ids, countries, IP addresses, card
//! numbers, and free-text notes where one row in five mentions an email, a phone number
//! or a card. Each cell is scanned with the hint of its column name, as a scan would.
//! One thread; each measure is the best of 3 runs; MB/s is 10^6 bytes per second of
//! cell text. The run checks that every generated email, card and IP is found and that
//! amounts, dates and ids give nothing; and, value by value, that every email, phone
//! number (two formats), card, SSN, IBAN and IP address planted at a random place in a
//! free-text note is found with its exact span, and nothing else in the notes.
//!
//! For comparison, `bench/presidio_compare.py AIGIS --rows N` (in the repository root)
//! writes N rows of the same columns to a CSV, scans it with the aigis binary and runs
//! presidio-analyzer (with spaCy's small English model, or `--blank`) on the same cells
//! in the same run, checking every planted value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark stops on a broken setup"
)]

mod common;

use std::time::{Duration, Instant};

use common::best_of;

use aigis_data::pii::{Detector, PiiKind, PiiMatch, column_hint};

const COLUMNS: [&str; 10] = [
    "name",
    "email",
    "phone",
    "amount",
    "order_date",
    "order_id",
    "country",
    "client_ip",
    "card_number",
    "notes",
];

const FIRST: [&str; 12] = [
    "Ana", "Bo", "Chen", "Dmitri", "Elif", "Fatima", "Gustavo", "Hana", "Ivan", "Jo", "Kwame",
    "Lena",
];
const LAST: [&str; 10] = [
    "Lopez", "Smith", "Nakamura", "Okafor", "Müller", "Rossi", "Kowalski", "Dubois", "Singh",
    "O'Brien",
];
const COUNTRIES: [&str; 6] = ["US", "FR", "DE", "Japan", "Brazil", "Nigeria"];
const WORDS: [&str; 24] = [
    "customer",
    "asked",
    "about",
    "the",
    "refund",
    "for",
    "order",
    "delivered",
    "late",
    "and",
    "package",
    "was",
    "damaged",
    "please",
    "call",
    "back",
    "before",
    "Friday",
    "noted",
    "in",
    "ticket",
    "escalated",
    "to",
    "billing",
];
const CARDS: [&str; 4] = [
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "378282246310005",
    "4012888888881881",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// A value planted in a free-text note: its kind and its byte span in the note.
struct Planted {
    cell: usize,
    kind: PiiKind,
    start: usize,
    end: usize,
}

const IBANS: [&str; 3] = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "NL91ABNA0417164300",
];

/// One row of the table, cell by cell, in `COLUMNS` order, and what was planted in its
/// note (one row in five): an email, a phone number in one of two formats, a card, an
/// SSN, an IBAN or an IP address, at a random place among the words.
fn row(rng: &mut Rng, i: usize) -> ([String; 10], Option<(PiiKind, usize, usize)>) {
    let (first, last) = (rng.pick(&FIRST), rng.pick(&LAST));
    let email = format!("{}.{}{}@example.com", first.to_lowercase(), i % 997, "x");
    let phone = format!("+1 415 555 {:04}", rng.below(10_000));
    let mut words: Vec<String> = (0..8 + rng.below(16))
        .map(|_| rng.pick(&WORDS).to_owned())
        .collect();
    let extra = match rng.below(5) {
        0 => Some(match rng.below(7) {
            0 => (PiiKind::Email, email.clone()),
            1 => (
                PiiKind::Phone,
                format!("({}) 555-{:04}", 200 + rng.below(700), rng.below(10_000)),
            ),
            2 => (
                PiiKind::Phone,
                format!("+1 {} 555 {:04}", 200 + rng.below(700), rng.below(10_000)),
            ),
            3 => (PiiKind::CreditCard, rng.pick(&CARDS).to_owned()),
            4 => (
                PiiKind::UsSsn,
                format!(
                    "{:03}-{:02}-{:04}",
                    1 + rng.below(665),
                    1 + rng.below(99),
                    1 + rng.below(9999)
                ),
            ),
            5 => (PiiKind::Iban, rng.pick(&IBANS).to_owned()),
            _ => (
                PiiKind::IpAddress,
                format!("192.168.{}.{}", rng.below(256), 1 + rng.below(254)),
            ),
        }),
        _ => None,
    };
    let mut planted = None;
    if let Some((kind, value)) = extra {
        let at = rng.below(words.len() + 1);
        let start: usize = words.iter().take(at).map(|w| w.len() + 1).sum();
        planted = Some((kind, start, start + value.len()));
        words.insert(at, value);
    }
    (
        [
            format!("{first} {last}"),
            email.clone(),
            phone,
            format!("{}.{:02}", rng.below(5000), rng.below(100)),
            format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
            format!("ORD-{:08}", rng.below(100_000_000)),
            rng.pick(&COUNTRIES).to_owned(),
            format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            ),
            rng.pick(&CARDS).to_owned(),
            words.join(" "),
        ],
        planted,
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --bench pii` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let mb: usize = if full {
        std::env::var("AIGIS_BENCH_PII_MB")
            .ok()
            .map(|v| v.parse().expect("AIGIS_BENCH_PII_MB is a number of MB"))
            .unwrap_or(200)
    } else {
        1
    };
    let detector = Detector::new().expect("the detector builds");
    let hints: Vec<Option<PiiKind>> = COLUMNS.iter().map(|c| column_hint(c)).collect();

    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cells: Vec<(usize, String)> = Vec::new();
    let mut planted: Vec<Planted> = Vec::new();
    let mut bytes = 0usize;
    let mut rows = 0usize;
    while bytes < mb * 1_000_000 {
        let (values, plant) = row(&mut rng, rows);
        if let Some((kind, start, end)) = plant {
            planted.push(Planted {
                cell: cells.len() + COLUMNS.len() - 1,
                kind,
                start,
                end,
            });
        }
        for (c, cell) in values.into_iter().enumerate() {
            bytes += cell.len();
            cells.push((c, cell));
        }
        rows += 1;
    }
    println!(
        "pii bench ({} run): {rows} rows, {} cells, {:.1} MB generated in {:.1} s",
        if full { "full" } else { "smoke" },
        cells.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let (t, counts) = best_of(|| {
        let mut counts = [[0usize; PiiKind::ALL.len()]; COLUMNS.len()];
        let mut out: Vec<PiiMatch> = Vec::new();
        for (c, cell) in &cells {
            out.clear();
            detector.detect_with_hint(cell, hints[*c], &mut out);
            for m in &out {
                counts[*c][m.kind as usize] += 1;
            }
        }
        counts
    });
    check(&counts, rows);
    check_notes(&detector, &cells, &planted);
    println!();
    println!("| input | MB | MB/s (one thread) |");
    println!("|---|---:|---:|");
    println!(
        "| realistic table cells, column hints | {:.1} | {:.0} |",
        bytes as f64 / 1e6,
        rate(bytes, t)
    );
    println!();
    println!("Findings per column:");
    for (c, name) in COLUMNS.iter().enumerate() {
        let found: Vec<String> = PiiKind::ALL
            .iter()
            .filter(|k| counts[c][**k as usize] > 0)
            .map(|k| format!("{k} {}", counts[c][*k as usize]))
            .collect();
        println!(
            "  {name:12} {}",
            if found.is_empty() {
                "-".to_owned()
            } else {
                found.join(", ")
            }
        );
    }

    // Pathological cells: a quadratic engine or loop would not finish these.
    let size = if full { 10_000_000 } else { 1_000_000 };
    println!();
    println!("| pathological cell ({} MB) | MB/s |", size / 1_000_000);
    println!("|---|---:|");
    for (name, unit) in [
        ("`a` repeated", "a"),
        ("`a@` repeated", "a@"),
        ("`1 ` repeated", "1 "),
        ("`1.` repeated", "1."),
        ("`GB82` repeated", "GB82"),
        ("`1:` repeated", "1:"),
        ("`eyJ` repeated", "eyJ"),
        ("`Ab1/` repeated (base64)", "Ab1/"),
    ] {
        let cell = unit.repeat(size / unit.len());
        let (t, _) = best_of(|| {
            let mut out = Vec::new();
            detector.detect(&cell, &mut out);
            out.len()
        });
        println!("| {name} | {:.0} |", rate(cell.len(), t));
    }
}

/// The generated columns hold what they should, and the plain ones hold nothing.
fn check(counts: &[[usize; PiiKind::ALL.len()]], rows: usize) {
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).expect("a column");
    let n = |name: &str, kind: PiiKind| counts[col(name)][kind as usize];
    assert_eq!(n("email", PiiKind::Email), rows, "every email found");
    assert_eq!(n("phone", PiiKind::Phone), rows, "every phone number found");
    assert_eq!(n("client_ip", PiiKind::IpAddress), rows, "every IP found");
    assert_eq!(
        n("card_number", PiiKind::CreditCard),
        rows,
        "every card found"
    );
    for plain in ["name", "amount", "order_date", "order_id", "country"] {
        let total: usize = counts[col(plain)].iter().sum();
        assert_eq!(total, 0, "nothing in `{plain}`");
    }
}

/// Every value planted in a note is found, as its kind and with its exact span; nothing
/// else in the notes (made of plain words) is reported. Prints found/missed per kind.
fn check_notes(detector: &Detector, cells: &[(usize, String)], planted: &[Planted]) {
    let notes = COLUMNS
        .iter()
        .position(|c| *c == "notes")
        .expect("a notes column");
    let mut found = [0usize; PiiKind::ALL.len()];
    let mut missed = [0usize; PiiKind::ALL.len()];
    let mut out = Vec::new();
    let mut extra = 0usize;
    let mut planted_at = planted.iter().peekable();
    for (i, (c, cell)) in cells.iter().enumerate() {
        if *c != notes {
            continue;
        }
        out.clear();
        detector.detect_with_hint(cell, None, &mut out);
        let plant = planted_at.next_if(|p| p.cell == i);
        if let Some(p) = plant {
            let hit = out
                .iter()
                .any(|m| m.kind == p.kind && m.start == p.start && m.end == p.end);
            if hit {
                found[p.kind as usize] += 1;
            } else {
                missed[p.kind as usize] += 1;
                if missed[p.kind as usize] <= 3 {
                    eprintln!(
                        "missed {} at {}..{} in {cell:?}: {out:?}",
                        p.kind, p.start, p.end
                    );
                }
            }
        }
        extra += out
            .iter()
            .filter(|m| plant.is_none_or(|p| m.start != p.start || m.end != p.end))
            .count();
    }
    println!();
    println!("| planted in free text | found | missed |");
    println!("|---|---:|---:|");
    for k in PiiKind::PATTERNS {
        let (f, m) = (found[k as usize], missed[k as usize]);
        if f + m > 0 {
            println!("| {k} | {f} | {m} |");
        }
    }
    println!("other findings in the notes: {extra}");
    let total_missed: usize = missed.iter().sum();
    assert_eq!(total_missed, 0, "every planted value found");
    assert_eq!(
        extra, 0,
        "nothing but the planted values found in the notes"
    );
    assert!(
        PiiKind::PATTERNS[..6]
            .iter()
            .all(|k| found[*k as usize] > 0),
        "every kind planted at least once"
    );
}

fn rate(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}
