//! Personal data that is not a pattern — people's names, dates of birth, street
//! addresses, postal codes and person identifiers — judged per column from what a table
//! gives: the header (in several languages and spellings), the shape of a sample of
//! values, the share of them found in census name lists, and how many are distinct.
//!
//! No single clue decides. A header alone never does (a `name` column may hold products);
//! values alone decide only when they are unambiguous together: most of them name-shaped,
//! many distinct, and a high share in the dictionaries (so `White`, `Black` or `Jackson` in
//! a five-value category, or city names, are not people). Headers that name something
//! else (`product_name`, `city`, `ip_address`) rule a column out.

use serde::Serialize;

use super::PiiKind;
use super::names::names;
use super::values::{self, PostalShape};
use crate::table::{Batch, CellKind, Format, ReadOptions};

/// What a column was judged to hold, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnClass {
    pub column: String,
    pub kind: PiiKind,
    /// How sure the judgement is (0..=1): about 0.95 with a header that names the kind and
    /// values that fit it, lower from values alone.
    pub confidence: f64,
    pub evidence: Evidence,
}

/// The clues a [`ColumnClass`] rests on. Shares are of the non-empty values sampled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The header word that names the kind, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Non-empty values looked at.
    pub sampled: usize,
    /// Share of them with the kind's shape.
    pub shape: f64,
    /// For names: share found in the census name lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dictionary: Option<f64>,
    /// Distinct values / values sampled.
    pub distinct: f64,
}

mod header;

pub use header::quasi_identifier_hint;
use header::{Says, Strength, header};

/// Counts over a sample of one column's values.
#[derive(Debug, Default)]
struct Tally {
    /// Name-shaped values whose first word is in a script the (Latin) name lists cannot
    /// hold: Cyrillic, Greek, Chinese, ….
    other_script: usize,
    /// Name-shaped values, of one word and of several.
    one: usize,
    multi: usize,
    capitalized: usize,
    lowercase_multi: usize,
    /// One-word values: in the given-name list, in the surname list.
    one_given: usize,
    one_surname: usize,
    /// Several words: first a given name, last a surname, both.
    multi_first: usize,
    multi_last: usize,
    multi_both: usize,
}

fn tally(values: &[&str]) -> Tally {
    let dict = names();
    let mut t = Tally::default();
    for v in values {
        let Some(shape) = values::name_shape(v) else {
            continue;
        };
        t.capitalized += usize::from(shape.capitalized);
        t.other_script += usize::from(
            shape
                .words
                .first()
                .is_some_and(|w| super::names::fold(w).is_none()),
        );
        match shape.words.as_slice() {
            [one] => {
                t.one += 1;
                // A hyphenated surname (`Garcia-Lopez`) counts when a part is known.
                let parts = || one.split(['-', '\'']).filter(|p| p.len() > 1);
                t.one_given += usize::from(dict.is_given(one) || parts().any(|p| dict.is_given(p)));
                t.one_surname +=
                    usize::from(dict.is_surname(one) || parts().any(|p| dict.is_surname(p)));
            }
            // `Oak Street`, `Park Avenue`: a street's name, not a person's.
            [.., last] if values::is_street_word(last) => {}
            [first, .., last] => {
                t.multi += 1;
                t.lowercase_multi += usize::from(shape.lowercase);
                let f = dict.is_given(first);
                let l = dict.is_surname(last)
                    || last.split('-').any(|p| p.len() > 1 && dict.is_surname(p));
                t.multi_first += usize::from(f);
                t.multi_last += usize::from(l);
                t.multi_both += usize::from(f && l);
            }
            [] => {}
        }
    }
    t
}

/// `x` rounded to 1/`unit`, as a clean f64 for reports.
fn round(x: f32, unit: f64) -> f64 {
    (f64::from(x) * unit).round() / unit
}

fn share(part: usize, whole: usize) -> f32 {
    if whole == 0 {
        0.0
    } else {
        part as f32 / whole as f32
    }
}

/// Judges one column from its name and a sample of its non-empty values (a few thousand
/// are plenty). `None` when it holds none of the kinds, or the evidence is not strong.
pub fn classify(name: &str, values: &[&str]) -> Option<ColumnClass> {
    if values.is_empty() {
        return None;
    }
    let h = header(name);
    let values: Vec<&str> = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let distinct = {
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        values.iter().filter(|v| seen.insert(v)).count()
    };
    let make = |kind, confidence: f32, shape: f32, dictionary: Option<f32>, header: bool| {
        Some(ColumnClass {
            column: name.to_owned(),
            kind,
            confidence: round(confidence, 100.0),
            evidence: Evidence {
                header: header.then(|| h.word.clone()),
                sampled: n,
                shape: round(shape, 1000.0),
                dictionary: dictionary.map(|d| round(d, 1000.0)),
                distinct: round(share(distinct, n), 1000.0),
            },
        })
    };
    let distinct_share = share(distinct, n);
    // Enough different values to be about individuals rather than a category.
    let varied = distinct >= 10 && distinct_share >= 0.05;

    // Dates of birth.
    let says = h.says;
    let birth = birth_dates(&values);
    if says == Some(Says::Birth) && birth.parsed >= 0.8 && birth.plausible >= 0.9 {
        return make(PiiKind::DateOfBirth, 0.95, birth.parsed, None, true);
    }
    if birth.parsed >= 0.9
        && birth.looks_like_births()
        && distinct_share >= 0.2
        && !header::other_date(name)
    {
        return make(PiiKind::DateOfBirth, 0.7, birth.parsed, None, false);
    }

    // Postal codes.
    let (mut distinct_shapes, mut any_shape) = (0, 0);
    for v in &values {
        match values::postal_code(v) {
            Some(PostalShape::Distinct) => {
                distinct_shapes += 1;
                any_shape += 1;
            }
            Some(PostalShape::Digits) => any_shape += 1,
            None => {}
        }
    }
    if says == Some(Says::Postal) && share(any_shape, n) >= 0.8 {
        return make(PiiKind::PostalCode, 0.95, share(any_shape, n), None, true);
    }
    if share(distinct_shapes, n) >= 0.9 && varied {
        return make(
            PiiKind::PostalCode,
            0.8,
            share(distinct_shapes, n),
            None,
            false,
        );
    }

    // Street addresses.
    let streets = share(
        values.iter().filter(|v| values::street_address(v)).count(),
        n,
    );
    let numbered = share(
        values
            .iter()
            .filter(|v| values::number_and_words(v))
            .count(),
        n,
    );
    if says == Some(Says::Address) && (streets >= 0.5 || numbered >= 0.6) {
        return make(
            PiiKind::StreetAddress,
            0.95,
            streets.max(numbered),
            None,
            true,
        );
    }
    // Addresses in formats and scripts the shapes do not know (`東京都千代田区千代田1-1`):
    // under an address header, letters with a number in nearly every value.
    let lettered = share(
        values
            .iter()
            .filter(|v| v.chars().any(char::is_alphabetic) && v.chars().any(|c| c.is_ascii_digit()))
            .count(),
        n,
    );
    if says == Some(Says::Address) && lettered >= 0.8 && distinct_share >= 0.3 {
        return make(PiiKind::StreetAddress, 0.85, lettered, None, true);
    }
    if streets >= 0.7 && distinct_share >= 0.3 && distinct >= 10 {
        return make(PiiKind::StreetAddress, 0.8, streets, None, false);
    }

    // Person identifiers: only with a header that says so (a column of unique codes
    // alone may be anything: order numbers, hashes, row keys).
    if says == Some(Says::Id) {
        let codes = values.iter().filter(|v| id_shaped(v)).count();
        if share(codes, n) >= 0.9 && distinct_share >= 0.9 {
            return make(PiiKind::PersonId, 0.9, share(codes, n), None, true);
        }
    }

    // People's names.
    if h.veto {
        return None;
    }
    let t = tally(&values);
    let (one, multi) = (share(t.one, n), share(t.multi, n));
    let named = match says {
        Some(Says::Name(part, strength)) => Some((part, strength)),
        _ => None,
    };
    // A header that names the part (`last_name`) keeps it even over two-word values
    // (`Garcia Lopez`, `Mary Ann`).
    let part_named = matches!(
        named,
        Some((
            Some(PiiKind::GivenName | PiiKind::FamilyName),
            Strength::Strong
        ))
    );
    let full = t.multi > t.one && !part_named;
    if full {
        let both = share(t.multi_both, t.multi);
        let foreign = share(t.other_script, t.multi);
        let any = share(t.multi_first + t.multi_last - t.multi_both, t.multi);
        let ok = match named {
            // A header that says names carries names in scripts the lists cannot hold.
            Some((_, Strength::Strong)) => multi >= 0.6 && (any >= 0.2 || foreign >= 0.8),
            Some((_, Strength::Weak)) => multi >= 0.6 && any >= 0.4 && both >= 0.15,
            None => {
                let need = if share(t.lowercase_multi, t.multi) > 0.5 {
                    0.5
                } else {
                    0.15
                };
                // Full names are nearly all distinct, and most have a known given name
                // first or a known surname last (names from outside the US lists hit
                // one of the two more often than both).
                multi >= 0.8 && varied && distinct_share >= 0.5 && both >= need && any >= 0.6
            }
        };
        if !ok {
            return None;
        }
        let confidence = match named {
            Some((_, Strength::Strong)) => 0.95,
            Some((_, Strength::Weak)) => 0.85,
            None => (0.5 + 0.3 * both).min(0.8),
        };
        return make(
            PiiKind::PersonName,
            confidence,
            multi,
            Some(any),
            named.is_some(),
        );
    }
    let (g, f, one) = if part_named {
        let shaped = t.one + t.multi;
        (
            share(t.one_given + t.multi_first, shaped),
            share(t.one_surname + t.multi_last, shaped),
            share(shaped, n),
        )
    } else {
        (share(t.one_given, t.one), share(t.one_surname, t.one), one)
    };
    let capitalized = share(t.capitalized, t.one + t.multi);
    let (kind, ok, confidence) = match named {
        Some((part, strength)) => {
            let kind = match part {
                // Full names written without spaces (`王伟`) are one word.
                Some(k @ (PiiKind::GivenName | PiiKind::FamilyName | PiiKind::PersonName)) => k,
                _ if g >= f => PiiKind::GivenName,
                _ => PiiKind::FamilyName,
            };
            let hit = match kind {
                PiiKind::GivenName => g,
                PiiKind::FamilyName => f,
                _ => g.max(f),
            };
            let foreign = share(t.other_script, t.one + t.multi);
            // A header that names the part (`vorname`, `last`) carries names the US lists
            // miss; a generic one (`name`, `nom`) over single words needs a high hit rate,
            // since English words are surnames often enough (`Green`, `Stone`, `River`).
            let ok = match (strength, part.is_some()) {
                (Strength::Strong, true) => {
                    hit >= 0.2 || (hit >= 0.05 && capitalized >= 0.8) || foreign >= 0.8
                }
                (Strength::Strong, false) => hit >= 0.25,
                // `nombre`, `nome` alone: given names, capitalized, from anywhere.
                (Strength::Weak, true) if kind == PiiKind::GivenName => {
                    hit >= 0.6 || (hit >= 0.35 && capitalized >= 0.8)
                }
                (Strength::Weak, _) => hit >= 0.6,
            };
            let confidence = match (strength, part.is_some()) {
                (Strength::Strong, true) => 0.95,
                (Strength::Strong, false) => 0.9,
                (Strength::Weak, _) => 0.8,
            };
            (kind, one >= 0.6 && ok, confidence)
        }
        None => {
            // Colours, months and a few city names are given names too: values alone
            // need many different ones.
            let base = one >= 0.8
                && capitalized >= 0.8
                && varied
                && distinct >= 20
                && distinct_share >= 0.1;
            if g >= 0.35 && g + 0.05 >= f {
                (PiiKind::GivenName, base, (0.4 + 0.5 * g).min(0.85))
            } else if f >= 0.7 && g < 0.6 {
                (PiiKind::FamilyName, base, (0.3 + 0.5 * f).min(0.8))
            } else {
                return None;
            }
        }
    };
    if !ok {
        return None;
    }
    let dictionary = if kind == PiiKind::GivenName { g } else { f };
    make(kind, confidence, one, Some(dictionary), named.is_some())
}

/// A short code with a digit in it: `13011352CF10A`, `P-000123`, `4711`.
fn id_shaped(v: &str) -> bool {
    (1..=40).contains(&v.len())
        && v.bytes().any(|b| b.is_ascii_digit())
        && v.split_whitespace().count() <= 2
}

struct Births {
    /// Share of values that are dates.
    parsed: f32,
    /// Share of the dates that could be a living person's birth (0 to 120 years ago).
    plausible: f32,
    years: Vec<i32>,
    /// Share of consecutive dates in order (a time series is sorted; births are not).
    ordered: f32,
    now: i32,
}

impl Births {
    /// Years spread over decades, all in the past, the latest at least 12 years ago, and
    /// not sorted like a time series: what a column of adults' birth dates looks like and
    /// a column of event dates does not.
    fn looks_like_births(&self) -> bool {
        let mut years = self.years.clone();
        years.sort_unstable();
        let q = |p: f32| {
            let i = ((years.len() as f32 - 1.0) * p).round() as usize;
            years.get(i).copied()
        };
        let (Some(p05), Some(p95)) = (q(0.05), q(0.95)) else {
            return false;
        };
        years.len() >= 10
            && self.plausible >= 0.98
            && p05 >= self.now - 110
            && p95 <= self.now - 12
            && p95 - p05 >= 15
            && self.ordered < 0.9
    }
}

fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days to a civil year, exact enough at a year's grain.
    1970 + (secs / 31_556_952) as i32
}

fn birth_dates(values: &[&str]) -> Births {
    let now = current_year();
    let mut dates = Vec::new();
    for v in values {
        if let Some(d) = values::date(v) {
            dates.push(d);
        }
    }
    let plausible = dates
        .iter()
        .filter(|(y, _, _)| (now - 120..=now).contains(y))
        .count();
    let ordered = dates
        .windows(2)
        .filter(|w| matches!(w, [a, b] if a <= b))
        .count();
    Births {
        parsed: share(dates.len(), values.len()),
        plausible: share(plausible, dates.len()),
        ordered: share(ordered, dates.len().saturating_sub(1)),
        years: dates.iter().map(|d| d.0).collect(),
        now,
    }
}

/// Values of a column looked at to judge it.
pub const SAMPLE: usize = 5000;

/// Judges every column of `batch` from its name and its first [`SAMPLE`] non-empty cells
/// (text and numbers; a date of birth or a postal code may be typed as a number).
pub fn classify_batch(batch: &Batch) -> Vec<ColumnClass> {
    let mut out = Vec::new();
    for (name, column) in batch.names.iter().zip(&batch.columns) {
        let values: Vec<&str> = column
            .iter()
            .filter(|c| matches!(c.kind, CellKind::Text | CellKind::Number))
            .map(|c| c.text)
            .filter(|t| !t.trim().is_empty())
            .take(SAMPLE)
            .collect();
        out.extend(classify(name, &values));
    }
    out
}

/// Judges the columns of the table at `path` from its first batch of rows (what
/// `aigis data mask` does before it masks).
pub fn classify_table(
    path: &std::path::Path,
    format: Option<Format>,
    read: &ReadOptions,
) -> Result<Vec<ColumnClass>, crate::Error> {
    let mut reader = crate::table::open(path, format, read)?;
    match reader.next() {
        Some(batch) => Ok(classify_batch(&batch?)),
        None => Ok(Vec::new()),
    }
}

/// Whether one value of a column judged to be `kind` has that kind's shape (what a scan
/// counts cell by cell once the column is judged). Pattern kinds are not column kinds:
/// `false`.
pub fn value_matches(kind: PiiKind, value: &str) -> bool {
    let v = value.trim();
    match kind {
        PiiKind::PersonName | PiiKind::GivenName | PiiKind::FamilyName => {
            values::name_shape(v).is_some()
        }
        PiiKind::DateOfBirth => values::date(v).is_some(),
        PiiKind::PostalCode => values::postal_code(v).is_some(),
        // Every non-empty cell of an address or identifier column is one (a second
        // address line has no house number; an identifier has no fixed shape).
        PiiKind::StreetAddress | PiiKind::PersonId => !v.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
