//! Personal data and secrets in text cells: emails, phone numbers, payment cards, US
//! SSNs, IBANs, IP addresses, API keys and high-entropy secrets.
//!
//! A [`Detector`] is built once and shared by every thread (`Send + Sync`). For each
//! cell it reports [`PiiMatch`]es: a kind, byte offsets into the cell and a confidence.
//!
//! ```
//! use aigis_data::pii::{Detector, PiiKind};
//!
//! let detector = Detector::new()?;
//! let mut found = Vec::new();
//! detector.detect("write to ana@example.org or call (415) 555-2671", &mut found);
//! let kinds: Vec<PiiKind> = found.iter().map(|m| m.kind).collect();
//! assert_eq!(kinds, [PiiKind::Email, PiiKind::Phone]);
//! # Ok::<(), aigis_data::Error>(())
//! ```
//!
//! # How it stays linear and fast
//!
//! Before anything else, one pass over the bytes (`Census`) counts digits and notes
//! `@`, `:`, uppercase letters and the longest runs of key-like bytes; each family of
//! searches runs only when the census allows a candidate (no `@`, no email search;
//! fewer than 4 digits, no number search; no run of 15 key bytes, no key search). A
//! cell made only of digits skips the number scan and is judged whole. Most numeric and
//! short text cells thus cost one pass of table-free byte tests.
//!
//! API keys and IPv6 addresses are found with `regex-automata` (the engine of the
//! `regex` crate): finite automata, no backtracking, so every search is linear. Its
//! multi-pattern `meta::Regex` finds every known key prefix in one pass, with a literal
//! prefilter (Teddy / Aho-Corasick) that skips text holding none of the prefixes, and
//! every pattern is built so that once a match is found the automaton dies within a few
//! bytes: iterating over matches never rescans text. Emails, digit runs and IBAN starts
//! are plain byte-class runs found by hand-written scans (`scan.rs` says why: the fixed
//! cost of a regex call dominates 20-byte cells), each O(n) with bounded look-around.
//! The pathological-input test feeds 1 MB cells built to make a rescanning loop
//! quadratic, and the bench feeds 10 MB ones.
//!
//! Regexes and scans only find candidates; the checks that make a candidate PII (Luhn,
//! the SSN ranges, IBAN mod-97, IP parsing, date shapes) are Rust code in the
//! submodules, where they can be read and tested one by one.
//!
//! # Confidence and column names
//!
//! Confidence (0..=1) is how sure the check is, not how sensitive the data is: a
//! Luhn-valid 16-digit number with a known card prefix and separators is 0.95, a bare
//! 9-digit number read as an SSN is 0.4. The name of the column adds evidence the text
//! alone lacks: [`column_hint`] maps names such as `ssn` or `phone_number` to a kind, and
//! [`Detector::detect_with_hint`] then (1) also accepts the shapes that are too
//! ambiguous on their own — a bare 9-digit number in an `ssn` column, bare 10–15 digits
//! in a `phone` column — and (2) raises the confidence `c` of every match of the hinted
//! kind to `c + (1 - c) / 2`.

mod checks;
pub mod columns;
mod names;
mod numeric;
mod scan;
mod secret;
mod values;

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use serde::{Deserialize, Serialize};

use crate::Error;

/// What a [`PiiMatch`] is. Serialized in lowercase snake case (`credit_card`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    CreditCard,
    UsSsn,
    Iban,
    IpAddress,
    /// A credential with a known format: cloud, code-hosting, chat and payment API keys,
    /// PEM private keys, JSON Web Tokens.
    ApiKey,
    /// A long random-looking token (see the entropy rule in `secret.rs`).
    Secret,
    /// A person's full name (a column judged by [`columns`]: header, shape, census lists).
    PersonName,
    /// A given (first) name.
    GivenName,
    /// A family name (surname).
    FamilyName,
    /// A date of birth.
    DateOfBirth,
    /// A street address (house number and street, or a post-office box).
    StreetAddress,
    /// A postal code.
    PostalCode,
    /// An identifier of a person or their case: case, patient, customer, passport numbers.
    PersonId,
}

impl PiiKind {
    /// Every kind, in declaration order.
    pub const ALL: [PiiKind; 15] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::CreditCard,
        PiiKind::UsSsn,
        PiiKind::Iban,
        PiiKind::IpAddress,
        PiiKind::ApiKey,
        PiiKind::Secret,
        PiiKind::PersonName,
        PiiKind::GivenName,
        PiiKind::FamilyName,
        PiiKind::DateOfBirth,
        PiiKind::StreetAddress,
        PiiKind::PostalCode,
        PiiKind::PersonId,
    ];

    /// The kinds found in text by [`Detector`] (patterns), in declaration order.
    pub const PATTERNS: [PiiKind; 8] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::CreditCard,
        PiiKind::UsSsn,
        PiiKind::Iban,
        PiiKind::IpAddress,
        PiiKind::ApiKey,
        PiiKind::Secret,
    ];

    /// Whether this kind is judged per column ([`columns::classify`]) rather than found
    /// in text by a pattern.
    pub fn is_column_kind(self) -> bool {
        !PiiKind::PATTERNS.contains(&self)
    }

    /// The name used in rules files, reports and JSON (`credit_card`).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::CreditCard => "credit_card",
            PiiKind::UsSsn => "us_ssn",
            PiiKind::Iban => "iban",
            PiiKind::IpAddress => "ip_address",
            PiiKind::ApiKey => "api_key",
            PiiKind::Secret => "secret",
            PiiKind::PersonName => "person_name",
            PiiKind::GivenName => "given_name",
            PiiKind::FamilyName => "family_name",
            PiiKind::DateOfBirth => "date_of_birth",
            PiiKind::StreetAddress => "street_address",
            PiiKind::PostalCode => "postal_code",
            PiiKind::PersonId => "person_id",
        }
    }

    /// The kind named `name` (as printed by [`PiiKind::name`]).
    pub fn from_name(name: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for PiiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding in a cell: `text[start..end]` looks like `kind`, with `confidence` in
/// 0..=1. It holds offsets, never the value, so it can go into reports as it is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiiMatch {
    pub kind: PiiKind,
    /// Byte offset of the first byte, on a `char` boundary.
    pub start: usize,
    /// Byte offset one past the last byte, on a `char` boundary.
    pub end: usize,
    pub confidence: f32,
}

/// The kind a column's name suggests, from its words (`customer_email`, `PhoneNumber`,
/// `card-no`, `src_ip`): names are split on `_`, `-`, `.`, spaces and lower-to-upper
/// case changes, and the words are looked up. `None` when no word names a kind.
pub fn column_hint(name: &str) -> Option<PiiKind> {
    let words = split_words(name);
    let has = |w: &str| words.iter().any(|x| x == w);
    let pair = |a: &str, b: &str| {
        words
            .windows(2)
            .any(|p| matches!(p, [x, y] if x == a && y == b))
    };
    // Names written as one word (`phonenumber`, `EMAILADDRESS`): distinctive stems only.
    let joined: String = words.concat();
    let within = |stem: &str| joined.contains(stem);
    if has("email") || has("mail") || within("email") {
        Some(PiiKind::Email)
    } else if has("ssn") || has("ssa") || pair("social", "security") {
        Some(PiiKind::UsSsn)
    } else if has("iban") {
        Some(PiiKind::Iban)
    } else if has("card") || has("cc") || has("pan") || within("creditcard") || within("cardnum") {
        Some(PiiKind::CreditCard)
    } else if has("phone") || has("tel") || has("mobile") || has("msisdn") || within("phone") {
        Some(PiiKind::Phone)
    } else if has("ip") || has("ipv4") || has("ipv6") || within("ipaddr") {
        Some(PiiKind::IpAddress)
    } else if has("password")
        || has("secret")
        || has("token")
        || pair("api", "key")
        || within("apikey")
    {
        Some(PiiKind::Secret)
    } else {
        None
    }
}

fn split_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Finds PII in text. Build once with [`Detector::new`] and share it: searches only
/// borrow it, and the automata's scratch space comes from an internal pool per thread.
/// Cloning is cheap (the compiled automata are shared).
#[derive(Clone, Debug)]
pub struct Detector {
    ipv6: Regex,
    keys: Regex,
}

/// IPv6 candidates, with an optional dotted IPv4 tail (`::ffff:192.0.2.1`).
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}";

/// Known credential formats, each with its confidence. The literal prefixes let the
/// engine skip text that holds none of them.
const KEYS: [(&str, f32); 10] = [
    // AWS access key ids: long-term (AKIA) and temporary (ASIA).
    (r"(?:AKIA|ASIA)[A-Z0-9]{16}", 0.95),
    // GitHub tokens: personal (ghp_), OAuth (gho_), user-to-server, server, refresh.
    (r"gh[pousr]_[A-Za-z0-9]{36}", 0.95),
    (r"github_pat_[A-Za-z0-9_]{40,255}", 0.95),
    // Slack bot, app, user and refresh tokens.
    (r"xox[abpr]-[A-Za-z0-9\-]{10,250}", 0.9),
    // Stripe live secret and restricted keys.
    (r"(?:sk|rk)_live_[A-Za-z0-9]{16,247}", 0.95),
    // OpenAI-style keys: legacy `sk-` + 48, project and service-account keys.
    (r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,250}", 0.85),
    // Google API keys.
    (r"AIza[0-9A-Za-z_\-]{35}", 0.95),
    // PEM private keys: the span is widened to the END line in `secret::pem_end`.
    (
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
        0.99,
    ),
    // JSON Web Tokens: base64url header `{"…`, payload, signature.
    (
        r"eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
        0.9,
    ),
    // Stripe test keys are not secrets of value but are often pasted beside live ones.
    (r"(?:sk|rk)_test_[A-Za-z0-9]{16,247}", 0.6),
];
const PEM: usize = 7;
const JWT: usize = 8;

fn build(patterns: &[&str]) -> Result<Regex, Error> {
    Regex::builder()
        // ASCII classes only: no Unicode tables are compiled in, and the lazy DFA
        // handles every pattern (it cannot handle Unicode word boundaries).
        .syntax(syntax::Config::new().unicode(false).utf8(true))
        .build_many(patterns)
        .map_err(|e| Error::Pattern(e.to_string()))
}

impl Detector {
    /// Compiles the patterns (a few milliseconds). Fails only if a built-in pattern does
    /// not compile, which the tests rule out.
    pub fn new() -> Result<Self, Error> {
        let keys: Vec<&str> = KEYS.iter().map(|(p, _)| *p).collect();
        Ok(Detector {
            ipv6: build(&[IPV6])?,
            keys: build(&keys)?,
        })
    }

    /// Appends the PII found in `text` to `out` (which is not cleared), sorted by start
    /// and without overlaps: where two candidates overlap, the surer one stays.
    pub fn detect(&self, text: &str, out: &mut Vec<PiiMatch>) {
        self.detect_with_hint(text, None, out);
    }

    /// [`Detector::detect`] for a cell of a column whose name suggests `hint` (see
    /// [`column_hint`] and the module docs for what a hint changes).
    pub fn detect_with_hint(&self, text: &str, hint: Option<PiiKind>, out: &mut Vec<PiiMatch>) {
        let first = out.len();
        let census = Census::of(text.as_bytes());
        let bytes = text.as_bytes();
        if census.at {
            scan::emails(bytes, |start, end| match checks::email(bytes, start, end) {
                Some(confidence) => {
                    out.push(found(PiiKind::Email, start, end, confidence));
                    true
                }
                None => false,
            });
        }
        if census.digits >= 4 {
            if census.only_digits {
                numeric::classify(bytes, 0, bytes.len(), hint, out);
            } else {
                scan::numbers(bytes, |start, end| {
                    numeric::classify(bytes, start, end, hint, out);
                });
            }
        }
        if census.digits >= 8 && census.upper {
            scan::iban_starts(bytes, |start| {
                let (end, confidence) = checks::iban_at(bytes, start)?;
                out.push(found(PiiKind::Iban, start, end, confidence));
                Some(end)
            });
        }
        if census.colons >= 2 {
            for m in self.ipv6.find_iter(text) {
                if let Some(confidence) = checks::ipv6(text, m.start(), m.end()) {
                    out.push(found(PiiKind::IpAddress, m.start(), m.end(), confidence));
                }
            }
        }
        // Every key has letters: an all-digit cell (a bare card number) has none.
        if !census.only_digits && census.key_run >= secret::MIN_KEY_LEN || census.dashes {
            for m in self.keys.find_iter(text) {
                let pattern = m.pattern().as_usize();
                let Some(&(_, base)) = KEYS.get(pattern) else {
                    continue;
                };
                if !checks::bounded(bytes, m.start(), m.end()) && pattern != PEM {
                    continue;
                }
                let (end, confidence) = match pattern {
                    PEM => (secret::pem_end(text, m.end()), base),
                    JWT => match secret::jwt(text, m.start(), m.end()) {
                        Some(c) => (m.end(), c),
                        None => continue,
                    },
                    _ => (m.end(), base),
                };
                out.push(found(PiiKind::ApiKey, m.start(), end, confidence));
            }
        }
        if census.token_run >= secret::MIN_SECRET_LEN {
            secret::high_entropy(bytes, out);
        }
        if let (Some(tail), Some(kind)) = (out.get_mut(first..), hint) {
            for m in tail.iter_mut().filter(|m| m.kind == kind) {
                m.confidence += (1.0 - m.confidence) / 2.0;
            }
        }
        resolve_overlaps(out, first);
    }
}

fn found(kind: PiiKind, start: usize, end: usize, confidence: f32) -> PiiMatch {
    PiiMatch {
        kind,
        start,
        end,
        confidence,
    }
}

/// Sorts `out[first..]` by start and drops every match that overlaps a surer (then
/// longer, then earlier) one. Quadratic only in the number of matches of one cell,
/// which the patterns keep far below its length.
fn resolve_overlaps(out: &mut Vec<PiiMatch>, first: usize) {
    let Some(tail) = out.get_mut(first..) else {
        return;
    };
    if tail.len() < 2 {
        return;
    }
    // Best first: the greedy pass below keeps a match unless a better one kept before
    // it overlaps it.
    tail.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<PiiMatch> = Vec::with_capacity(tail.len());
    for m in tail.iter() {
        if kept.iter().all(|k| m.end <= k.start || k.end <= m.start) {
            kept.push(*m);
        }
    }
    kept.sort_by_key(|m| m.start);
    out.truncate(first);
    out.extend(kept);
}

/// What one pass over a cell's bytes tells about which searches can find anything.
#[derive(Debug, Default)]
struct Census {
    digits: usize,
    colons: usize,
    at: bool,
    upper: bool,
    /// Every byte is an ASCII digit (and there is at least one).
    only_digits: bool,
    /// The longest run of `[A-Za-z0-9_-]`: every key pattern but the PEM header is one.
    key_run: usize,
    /// The longest run of token bytes (`secret::is_token_byte`).
    token_run: usize,
    /// Five dashes in a row, as PEM headers start.
    dashes: bool,
}

impl Census {
    fn of(bytes: &[u8]) -> Census {
        let mut c = Census::default();
        let (mut key, mut token, mut dash) = (0usize, 0usize, 0usize);
        for &b in bytes {
            let digit = b.is_ascii_digit();
            c.digits += usize::from(digit);
            c.colons += usize::from(b == b':');
            c.at |= b == b'@';
            c.upper |= b.is_ascii_uppercase();
            let word = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            key = if word { key + 1 } else { 0 };
            token = if secret::is_token_byte(b) {
                token + 1
            } else {
                0
            };
            dash = if b == b'-' { dash + 1 } else { 0 };
            c.key_run = c.key_run.max(key);
            c.token_run = c.token_run.max(token);
            c.dashes |= dash >= 5;
        }
        c.only_digits = !bytes.is_empty() && c.digits == bytes.len();
        c
    }
}

#[cfg(test)]
mod tests;
