//! The rules file of `aigis data mask`: which column gets which action, and what to do
//! with the PII found inside free-text columns. The format is in the docs of
//! [`crate::mask`].

use std::collections::BTreeMap;

use toml::{Table, Value};

use crate::Error;
use crate::pii::PiiKind;

/// What to do with a value (a whole cell, or a span of PII inside one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave it as it is (still counted in the report when it is detected PII).
    Keep,
    /// Replace every character with `with`, except the last `keep_last`.
    Mask { keep_last: usize, with: char },
    /// Replace the whole value with `text`, or with `[REDACTED:<kind>]` (`[REDACTED]`
    /// for a whole column) when `text` is `None`.
    Redact { text: Option<String> },
    /// Keyed HMAC-SHA256, the first `bytes` bytes of it, printed in `format`.
    Hash { format: HashFormat, bytes: usize },
    /// A deterministic, reversible token (`tok1.<key id>.<data>`).
    Tokenize,
}

/// How a hash is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFormat {
    Hex,
    Base64Url,
}

/// The rule of one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRule {
    /// Apply the action to the whole cell.
    Apply(Action),
    /// Find PII in the cell and apply the `[pii]` actions to each piece found.
    Detect,
}

/// A parsed rules file. See the module docs of [`crate::mask`] for the format.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    columns: BTreeMap<String, ColumnRule>,
    pii: BTreeMap<PiiKind, Action>,
    pii_default: Action,
    detect_all: bool,
    min_confidence: f32,
}

const ACTIONS: &str = "`keep`, `mask`, `redact`, `hash`, `tokenize`";

impl Rules {
    /// Parses a rules file. Errors name the key at fault (`columns.email`).
    pub fn parse(text: &str) -> Result<Rules, Error> {
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            Error::Rules(format!("not valid TOML: {}", e.message()))
        })?;
        let mut rules = Rules {
            columns: BTreeMap::new(),
            pii: BTreeMap::new(),
            pii_default: Action::Redact { text: None },
            detect_all: false,
            min_confidence: 0.5,
        };
        for (key, value) in &table {
            match key.as_str() {
                "detect_all" => {
                    rules.detect_all = value
                        .as_bool()
                        .ok_or_else(|| bad(key, "must be `true` or `false`"))?;
                }
                "min_confidence" => {
                    let c = value
                        .as_float()
                        .or_else(|| value.as_integer().map(|i| i as f64))
                        .filter(|c| (0.0..=1.0).contains(c))
                        .ok_or_else(|| bad(key, "must be a number from 0 to 1"))?;
                    rules.min_confidence = c as f32;
                }
                "columns" => {
                    for (name, v) in section(key, value)? {
                        let at = format!("columns.{}", quoted(name));
                        let rule = if v.as_str() == Some("detect") {
                            ColumnRule::Detect
                        } else {
                            ColumnRule::Apply(action(&at, v, true)?)
                        };
                        rules.columns.insert(name.clone(), rule);
                    }
                }
                "pii" => {
                    for (name, v) in section(key, value)? {
                        let at = format!("pii.{}", quoted(name));
                        let a = action(&at, v, false)?;
                        if name == "default" {
                            rules.pii_default = a;
                        } else {
                            let kind = PiiKind::from_name(name).ok_or_else(|| {
                                let kinds: Vec<&str> =
                                    PiiKind::ALL.iter().map(|k| k.name()).collect();
                                bad(
                                    &at,
                                    &format!(
                                        "unknown kind of PII (expected `default` or one of: {})",
                                        kinds.join(", ")
                                    ),
                                )
                            })?;
                            rules.pii.insert(kind, a);
                        }
                    }
                }
                _ => {
                    return Err(bad(
                        key,
                        "unknown key (expected `columns`, `pii`, `detect_all`, `min_confidence`)",
                    ));
                }
            }
        }
        Ok(rules)
    }

    /// The rule of the column `name` (names match exactly): its own, or
    /// [`ColumnRule::Detect`] when `detect_all` is set, or `None` (copy as it is).
    pub fn column(&self, name: &str) -> Option<&ColumnRule> {
        self.columns
            .get(name)
            .or(self.detect_all.then_some(&ColumnRule::Detect))
    }

    /// The action for PII of `kind` found in a `detect` column.
    pub fn pii_action(&self, kind: PiiKind) -> &Action {
        self.pii.get(&kind).unwrap_or(&self.pii_default)
    }

    /// Detected PII below this confidence is left alone (default 0.5).
    pub fn min_confidence(&self) -> f32 {
        self.min_confidence
    }

    /// Whether every column without a rule is scanned (`detect_all = true`).
    pub fn detect_all(&self) -> bool {
        self.detect_all
    }

    /// The columns named in the file, with their rules.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &ColumnRule)> {
        self.columns.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether some action needs the masking key (`hash` or `tokenize`).
    pub fn needs_key(&self) -> bool {
        let keyed = |a: &Action| matches!(a, Action::Hash { .. } | Action::Tokenize);
        self.columns
            .values()
            .any(|r| matches!(r, ColumnRule::Apply(a) if keyed(a)))
            || self.pii.values().any(keyed)
            || keyed(&self.pii_default)
    }
}

fn bad(key: &str, reason: &str) -> Error {
    Error::Rules(format!("`{key}`: {reason}"))
}

/// A key as written in TOML: bare when it can be, quoted otherwise.
fn quoted(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

fn section<'v>(key: &str, value: &'v Value) -> Result<&'v Table, Error> {
    value
        .as_table()
        .ok_or_else(|| bad(key, &format!("must be a table (`[{key}]`)")))
}

/// An action: a name (`"hash"`), or a table with `action` and its options.
fn action(at: &str, value: &Value, column: bool) -> Result<Action, Error> {
    let (name, options) = match value {
        Value::String(s) => (s.as_str(), None),
        Value::Table(t) => {
            let name = t
                .get("action")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(at, &format!("a table needs `action = ` one of {ACTIONS}")))?;
            (name, Some(t))
        }
        _ => {
            return Err(bad(
                at,
                &format!("must be an action name ({ACTIONS}) or a table"),
            ));
        }
    };
    let allowed: &[&str] = match name {
        "mask" => &["keep_last", "char"],
        "redact" => &["text"],
        "hash" => &["format", "bytes"],
        "keep" | "tokenize" => &[],
        "detect" if !column => {
            return Err(bad(
                at,
                "`detect` is a column rule; under `[pii]` use one of the actions",
            ));
        }
        "detect" => return Err(bad(at, "`detect` takes no options: write `\"detect\"`")),
        other => {
            let also = if column { ", or `detect`" } else { "" };
            return Err(bad(
                at,
                &format!("unknown action `{other}` (expected {ACTIONS}{also})"),
            ));
        }
    };
    let options = options.cloned().unwrap_or_default();
    for key in options.keys().filter(|k| *k != "action") {
        if !allowed.contains(&key.as_str()) {
            let takes = if allowed.is_empty() {
                "no options".to_owned()
            } else {
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(bad(
                &format!("{at}.{}", quoted(key)),
                &format!("unknown option (`{name}` takes {takes})"),
            ));
        }
    }
    let int = |key: &str, range: std::ops::RangeInclusive<i64>| -> Result<Option<usize>, Error> {
        options
            .get(key)
            .map(|v| {
                v.as_integer()
                    .filter(|i| range.contains(i))
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| {
                        bad(
                            &format!("{at}.{key}"),
                            &format!(
                                "must be a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        )
                    })
            })
            .transpose()
    };
    let string = |key: &str| -> Result<Option<&str>, Error> {
        options
            .get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| bad(&format!("{at}.{key}"), "must be a string"))
            })
            .transpose()
    };
    Ok(match name {
        "keep" => Action::Keep,
        "tokenize" => Action::Tokenize,
        "mask" => {
            let with = match string("char")? {
                None => '*',
                Some(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => c,
                        _ => return Err(bad(&format!("{at}.char"), "must be one character")),
                    }
                }
            };
            Action::Mask {
                keep_last: int("keep_last", 0..=64)?.unwrap_or(0),
                with,
            }
        }
        "redact" => Action::Redact {
            text: string("text")?.map(str::to_owned),
        },
        _ => Action::Hash {
            format: match string("format")? {
                None | Some("hex") => HashFormat::Hex,
                Some("base64url") => HashFormat::Base64Url,
                Some(other) => {
                    return Err(bad(
                        &format!("{at}.format"),
                        &format!("unknown format `{other}` (expected `hex` or `base64url`)"),
                    ));
                }
            },
            bytes: int("bytes", 8..=32)?.unwrap_or(32),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let r = Rules::parse(super::super::EXAMPLE_RULES).unwrap();
        assert_eq!(
            r.column("email"),
            Some(&ColumnRule::Apply(Action::Hash {
                format: HashFormat::Hex,
                bytes: 32
            }))
        );
        assert_eq!(
            r.column("card_number"),
            Some(&ColumnRule::Apply(Action::Mask {
                keep_last: 4,
                with: '*'
            }))
        );
        assert_eq!(r.column("notes"), Some(&ColumnRule::Detect));
        assert_eq!(r.column("amount"), None);
        assert_eq!(r.pii_action(PiiKind::Email), &Action::Tokenize);
        assert_eq!(r.pii_action(PiiKind::Iban), &Action::Redact { text: None });
        assert!(r.needs_key());
        assert!(!r.detect_all());
    }

    #[test]
    fn options_and_defaults() {
        let r = Rules::parse(
            "detect_all = true\nmin_confidence = 0.7\n[columns]\n\"Full Name\" = { action = \"redact\", text = \"-\" }\n\
             id = { action = \"hash\", format = \"base64url\", bytes = 12 }\n[pii]\nip_address = \"keep\"\n",
        )
        .unwrap();
        assert_eq!(r.column("anything"), Some(&ColumnRule::Detect));
        assert_eq!(
            r.column("Full Name"),
            Some(&ColumnRule::Apply(Action::Redact {
                text: Some("-".into())
            }))
        );
        assert_eq!(
            r.column("id"),
            Some(&ColumnRule::Apply(Action::Hash {
                format: HashFormat::Base64Url,
                bytes: 12
            }))
        );
        assert_eq!(r.pii_action(PiiKind::Phone), &Action::Redact { text: None });
        assert_eq!(r.min_confidence(), 0.7);
        assert!(r.needs_key());
        assert!(
            !Rules::parse("[columns]\na = \"mask\"\n[pii]\ndefault = \"keep\"")
                .unwrap()
                .needs_key()
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (text, want) in [
            (
                "[columns]\nemail = \"hsh\"",
                "`columns.email`: unknown action `hsh`",
            ),
            (
                "[columns]\n\"e mail\" = 3",
                "`columns.\"e mail\"`: must be an action name",
            ),
            (
                "[columns]\ncard = { action = \"mask\", keeplast = 4 }",
                "`columns.card.keeplast`: unknown option (`mask` takes `keep_last`, `char`)",
            ),
            (
                "[columns]\ncard = { action = \"mask\", keep_last = -1 }",
                "`columns.card.keep_last`: must be a whole number from 0 to 64",
            ),
            (
                "[columns]\ncard = { keep_last = 4 }",
                "`columns.card`: a table needs `action = `",
            ),
            (
                "[columns]\nx = { action = \"hash\", format = \"b64\" }",
                "`columns.x.format`: unknown format `b64`",
            ),
            (
                "[columns]\nx = { action = \"hash\", bytes = 4 }",
                "`columns.x.bytes`: must be a whole number from 8 to 32",
            ),
            (
                "[columns]\nx = { action = \"mask\", char = \"ab\" }",
                "`columns.x.char`: must be one character",
            ),
            ("[pii]\nssn = \"mask\"", "`pii.ssn`: unknown kind of PII"),
            (
                "[pii]\nemail = \"detect\"",
                "`pii.email`: `detect` is a column rule",
            ),
            (
                "[pii]\nemail = \"tokenize\"\nemail = \"hash\"",
                "not valid TOML",
            ),
            ("colums = 1", "`colums`: unknown key"),
            ("columns = 1", "`columns`: must be a table"),
            (
                "detect_all = \"yes\"",
                "`detect_all`: must be `true` or `false`",
            ),
            (
                "min_confidence = 2",
                "`min_confidence`: must be a number from 0 to 1",
            ),
        ] {
            let err = Rules::parse(text).unwrap_err().to_string();
            assert!(err.starts_with("mask rules: "), "{err}");
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
