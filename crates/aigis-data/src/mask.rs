//! Cell-level masking for `aigis data mask`: mask, redact, hash (keyed HMAC) or
//! tokenize (deterministic and reversible) whole columns, or the PII found inside
//! free-text columns; and [`Detokenizer`] for `aigis data detokenize`.
//!
//! # The rules file
//!
//! This is [`EXAMPLE_RULES`]:
//!
//! ```toml
//! # Optional: scan every column without a rule as if it said "detect" (the caller
//! # passes only text columns), and ignore detected PII below this confidence.
//! detect_all = false
//! min_confidence = 0.5
//!
//! [columns]                  # exact column names; other columns are copied as they are
//! email = "hash"             # HMAC-SHA256, hex; { action = "hash", format = "base64url", bytes = 16 }
//! card_number = { action = "mask", keep_last = 4 }   # "************1111"; `char = "#"`
//! customer_id = "tokenize"   # tok1.<key id>.<base64url>, reversible with the key
//! "Full Name" = { action = "redact", text = "-" }    # default text: [REDACTED]
//! notes = "detect"           # find PII inside and apply the [pii] actions to each piece
//!
//! [pii]                      # actions for PII found in "detect" columns, by kind
//! email = "tokenize"
//! credit_card = { action = "mask", keep_last = 4 }
//! person_name = "tokenize"  # a "detect" column judged to hold names: each whole cell
//! ip_address = "keep"
//! default = "redact"         # every other kind: [REDACTED:<kind>]; redact when absent
//! ```
//!
//! Actions: `keep`, `mask`, `redact`, `hash`, `tokenize` (and `detect`, for columns
//! only). Kinds under `[pii]`: `email`, `phone`, `credit_card`, `us_ssn`, `iban`,
//! `ip_address`, `api_key`, `secret` (found in the text of a cell), and `person_name`,
//! `given_name`, `family_name`, `date_of_birth`, `street_address`, `postal_code`,
//! `person_id` (whole columns, judged by [`crate::pii::columns`] from the header, the
//! values and census name lists; give the judgement with
//! [`Masker::with_column_kinds`]: then every non-empty cell of such a `detect` column
//! gets the action of its kind). An unknown action, kind, option or key is an
//! error that names it. Empty cells stay empty whatever the rule (a hash of nothing
//! would look like a value).
//!
//! ```
//! use aigis_data::mask::{MaskKey, Masker, Rules, Detokenizer};
//! use aigis_data::pii::Detector;
//!
//! let rules = Rules::parse(aigis_data::mask::EXAMPLE_RULES)?;
//! let key = MaskKey::generate()?;
//! let masker = Masker::new(rules, Detector::new()?, Some(&key))?;
//! let cell = masker.mask_cell("card_number", "4111 1111 1111 1111")?;
//! assert_eq!(cell.text, "***************1111");
//! let cell = masker.mask_cell("notes", "mail ana@example.com, ssn 123-45-6789")?;
//! assert!(cell.text.starts_with("mail tok1."));
//! assert!(cell.text.ends_with(", ssn [REDACTED:us_ssn]"));
//! let back = Detokenizer::new(&key)?.detokenize(&cell.text)?;
//! assert_eq!(back.text, "mail ana@example.com, ssn [REDACTED:us_ssn]");
//! # Ok::<(), aigis_data::Error>(())
//! ```

mod key;
mod rules;
pub mod table;

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use regex_automata::meta::Regex;
use serde::Serialize;

pub use key::{MaskKey, TOKEN_PREFIX};
pub use rules::{Action, ColumnRule, HashFormat, Rules};

use crate::Error;
use crate::pii::{Detector, PiiKind, PiiMatch, column_hint};
use key::Keyed;

/// The rules file shown in the module docs (a test keeps the two the same).
pub const EXAMPLE_RULES: &str = r##"# Optional: scan every column without a rule as if it said "detect" (the caller
# passes only text columns), and ignore detected PII below this confidence.
detect_all = false
min_confidence = 0.5

[columns]                  # exact column names; other columns are copied as they are
email = "hash"             # HMAC-SHA256, hex; { action = "hash", format = "base64url", bytes = 16 }
card_number = { action = "mask", keep_last = 4 }   # "************1111"; `char = "#"`
customer_id = "tokenize"   # tok1.<key id>.<base64url>, reversible with the key
"Full Name" = { action = "redact", text = "-" }    # default text: [REDACTED]
notes = "detect"           # find PII inside and apply the [pii] actions to each piece

[pii]                      # actions for PII found in "detect" columns, by kind
email = "tokenize"
credit_card = { action = "mask", keep_last = 4 }
person_name = "tokenize"  # a "detect" column judged to hold names: each whole cell
ip_address = "keep"
default = "redact"         # every other kind: [REDACTED:<kind>]; redact when absent
"##;

/// Which action changed something, for reports (`"hash"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Keep,
    Mask,
    Redact,
    Hash,
    Tokenize,
}

impl Action {
    /// This action's kind, without its options.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Keep => ActionKind::Keep,
            Action::Mask { .. } => ActionKind::Mask,
            Action::Redact { .. } => ActionKind::Redact,
            Action::Hash { .. } => ActionKind::Hash,
            Action::Tokenize => ActionKind::Tokenize,
        }
    }
}

/// What masking did to a cell: how many values of which kind got which action. Holds
/// no values, so it can go into reports and evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The kind of PII found, or `None` for a whole-column rule.
    pub kind: Option<PiiKind>,
    pub action: ActionKind,
    pub count: u64,
}

/// A masked cell: its new text (borrowed when nothing changed) and the changes.
#[derive(Debug)]
pub struct MaskedCell<'t> {
    pub text: Cow<'t, str>,
    pub changes: Vec<Change>,
}

/// Applies a [`Rules`] file to cells. Build once per run; `Send + Sync`, so one masker
/// serves every thread.
#[derive(Debug)]
pub struct Masker {
    rules: Rules,
    detector: Detector,
    keyed: Option<Keyed>,
    /// Columns judged to hold one kind of personal data as a whole (names, dates of
    /// birth, …).
    column_kinds: BTreeMap<String, PiiKind>,
}

impl Masker {
    /// Fails when the rules `hash` or `tokenize` and no key is given.
    pub fn new(rules: Rules, detector: Detector, key: Option<&MaskKey>) -> Result<Self, Error> {
        let keyed = key.map(Keyed::new).transpose()?;
        if keyed.is_none() && rules.needs_key() {
            return Err(Error::MaskKeyMissing);
        }
        Ok(Masker {
            rules,
            detector,
            keyed,
            column_kinds: BTreeMap::new(),
        })
    }

    /// Declares columns that hold one kind of personal data as a whole (from
    /// [`crate::pii::columns::classify_table`]): a `detect` rule on such a column applies
    /// the `[pii]` action of its kind to each whole non-empty cell.
    pub fn with_column_kinds(mut self, kinds: impl IntoIterator<Item = (String, PiiKind)>) -> Self {
        self.column_kinds.extend(kinds);
        self
    }

    /// The kind a column was declared to hold, if any.
    pub fn column_kind(&self, column: &str) -> Option<PiiKind> {
        self.column_kinds.get(column).copied()
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Masks one cell of column `column` as the rules say.
    pub fn mask_cell<'t>(&self, column: &str, text: &'t str) -> Result<MaskedCell<'t>, Error> {
        let unchanged = |text| MaskedCell {
            text: Cow::Borrowed(text),
            changes: Vec::new(),
        };
        if text.is_empty() {
            return Ok(unchanged(text));
        }
        match self.rules.column(column) {
            None => Ok(unchanged(text)),
            Some(ColumnRule::Apply(action)) => Ok(MaskedCell {
                text: self.apply(action, None, text)?,
                changes: vec![Change {
                    kind: None,
                    action: action.kind(),
                    count: 1,
                }],
            }),
            Some(ColumnRule::Detect) => {
                if let Some(&kind) = self.column_kinds.get(column) {
                    let action = self.rules.pii_action(kind);
                    return Ok(MaskedCell {
                        text: self.apply(action, Some(kind), text)?,
                        changes: vec![Change {
                            kind: Some(kind),
                            action: action.kind(),
                            count: 1,
                        }],
                    });
                }
                let mut found = Vec::new();
                self.detector
                    .detect_with_hint(text, column_hint(column), &mut found);
                found.retain(|m| m.confidence >= self.rules.min_confidence());
                self.replace(text, &found)
            }
        }
    }

    /// Replaces each of `found` (sorted, disjoint, as the detector gives them). The new
    /// text is built front to back, copying what lies between the spans, which keeps
    /// every offset valid without editing the text in place.
    fn replace<'t>(&self, text: &'t str, found: &[PiiMatch]) -> Result<MaskedCell<'t>, Error> {
        if found.is_empty() {
            return Ok(MaskedCell {
                text: Cow::Borrowed(text),
                changes: Vec::new(),
            });
        }
        let mut out = String::with_capacity(text.len() + 32 * found.len());
        let mut changes: Vec<Change> = Vec::new();
        let mut at = 0;
        for m in found {
            let (Some(before), Some(value)) = (text.get(at..m.start), text.get(m.start..m.end))
            else {
                continue;
            };
            let action = self.rules.pii_action(m.kind);
            out.push_str(before);
            out.push_str(&self.apply(action, Some(m.kind), value)?);
            at = m.end;
            let (kind, action) = (Some(m.kind), action.kind());
            match changes
                .iter_mut()
                .find(|c| c.kind == kind && c.action == action)
            {
                Some(c) => c.count += 1,
                None => changes.push(Change {
                    kind,
                    action,
                    count: 1,
                }),
            }
        }
        out.push_str(text.get(at..).unwrap_or_default());
        Ok(MaskedCell {
            text: Cow::Owned(out),
            changes,
        })
    }

    fn apply<'v>(
        &self,
        action: &Action,
        kind: Option<PiiKind>,
        value: &'v str,
    ) -> Result<Cow<'v, str>, Error> {
        Ok(match action {
            Action::Keep => Cow::Borrowed(value),
            Action::Mask { keep_last, with } => {
                let n = value.chars().count();
                let hide = n.saturating_sub(*keep_last);
                let mut out: String = std::iter::repeat_n(*with, hide).collect();
                out.extend(value.chars().skip(hide));
                Cow::Owned(out)
            }
            Action::Redact { text: Some(t) } => Cow::Owned(t.clone()),
            Action::Redact { text: None } => Cow::Owned(match kind {
                Some(k) => format!("[REDACTED:{k}]"),
                None => "[REDACTED]".to_owned(),
            }),
            Action::Hash { format, bytes } => {
                let mac = self.keyed()?.hmac(value.as_bytes())?;
                let cut = mac.get(..*bytes).unwrap_or(&mac);
                Cow::Owned(match format {
                    HashFormat::Hex => hex::encode(cut),
                    HashFormat::Base64Url => {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cut)
                    }
                })
            }
            Action::Tokenize => Cow::Owned(self.keyed()?.tokenize(value)?),
        })
    }

    fn keyed(&self) -> Result<&Keyed, Error> {
        self.keyed
            .as_ref()
            .ok_or_else(|| Error::MaskKey("no masking key was given".into()))
    }
}

/// The changes of a whole run, by column: what `data mask` reports and records.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MaskReport {
    /// Cells whose text changed.
    pub cells_changed: u64,
    /// Per column, the counts by kind and action.
    pub columns: BTreeMap<String, Vec<Change>>,
}

impl MaskReport {
    /// Adds one cell's changes.
    pub fn record(&mut self, column: &str, cell: &MaskedCell<'_>) {
        if matches!(cell.text, Cow::Owned(_)) {
            self.cells_changed += 1;
        }
        if cell.changes.is_empty() {
            return;
        }
        if !self.columns.contains_key(column) {
            self.columns.insert(column.to_owned(), Vec::new());
        }
        let Some(list) = self.columns.get_mut(column) else {
            return;
        };
        merge(list, &cell.changes);
    }

    /// Adds another report (of another chunk or thread).
    pub fn merge(&mut self, other: &MaskReport) {
        self.cells_changed += other.cells_changed;
        for (column, changes) in &other.columns {
            merge(self.columns.entry(column.clone()).or_default(), changes);
        }
    }
}

fn merge(list: &mut Vec<Change>, changes: &[Change]) {
    for c in changes {
        match list
            .iter_mut()
            .find(|x| x.kind == c.kind && x.action == c.action)
        {
            Some(x) => x.count += c.count,
            None => list.push(*c),
        }
    }
}

/// Finds `tok1.` tokens in text and restores their values. Holds the derived key; build
/// once per run.
#[derive(Debug)]
pub struct Detokenizer {
    keyed: Keyed,
    /// Keys retired by a rotation and still in their overlap: their tokens still open.
    retired: Vec<Keyed>,
    tokens: Regex,
}

/// A detokenized cell: its text (borrowed when it held no token) and how many tokens
/// were restored.
#[derive(Debug)]
pub struct Detokenized<'t> {
    pub text: Cow<'t, str>,
    pub restored: u64,
}

impl Detokenizer {
    pub fn new(key: &MaskKey) -> Result<Self, Error> {
        // 16 bytes of SIV tag at least: 22 base64url characters.
        let tokens = Regex::new(r"tok1\.[0-9a-f]{8}\.[A-Za-z0-9_\-]{22,}")
            .map_err(|e| Error::Pattern(e.to_string()))?;
        Ok(Detokenizer {
            keyed: Keyed::new(key)?,
            retired: Vec::new(),
            tokens,
        })
    }

    /// Also opens the tokens of these keys (retired by a rotation, still in their
    /// overlap). New tokens are never made with them.
    pub fn with_retired(mut self, keys: &[MaskKey]) -> Result<Self, Error> {
        for k in keys {
            self.retired.push(Keyed::new(k)?);
        }
        Ok(self)
    }

    /// The id of the key this detokenizer holds.
    pub fn key_id(&self) -> &str {
        self.keyed.key_id()
    }

    /// Restores every token in `text`. A token made with another key, or changed, is an
    /// error that gives its byte offset in the cell (and never a value).
    pub fn detokenize<'t>(&self, text: &'t str) -> Result<Detokenized<'t>, Error> {
        let mut out = String::new();
        let mut at = 0;
        let mut restored = 0;
        let bytes = text.as_bytes();
        for m in self.tokens.find_iter(text) {
            let glued = m
                .start()
                .checked_sub(1)
                .and_then(|i| bytes.get(i))
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
            let (Some(before), Some(token)) = (text.get(at..m.start()), text.get(m.range())) else {
                continue;
            };
            if glued {
                continue;
            }
            out.push_str(before);
            // The token's key id picks a retired key in its overlap; anything else is the
            // current key's to open (or to refuse as foreign).
            let id = token.get(5..13).unwrap_or_default();
            let keyed = self
                .retired
                .iter()
                .find(|k| k.key_id() == id)
                .unwrap_or(&self.keyed);
            out.push_str(&keyed.detokenize(token, m.start())?);
            at = m.end();
            restored += 1;
        }
        if restored == 0 {
            return Ok(Detokenized {
                text: Cow::Borrowed(text),
                restored,
            });
        }
        out.push_str(text.get(at..).unwrap_or_default());
        Ok(Detokenized {
            text: Cow::Owned(out),
            restored,
        })
    }
}

/// Restores the tokens in one cell; see [`Detokenizer`] to do many.
pub fn detokenize<'t>(key: &MaskKey, text: &'t str) -> Result<Detokenized<'t>, Error> {
    Detokenizer::new(key)?.detokenize(text)
}

#[cfg(test)]
mod tests;
