//! A framework's controls mapped to the evidence aigis records: data (TOML files in
//! `frameworks/`, built into the binary), not code. `frameworks/README.md` describes the
//! format and how a requirement and a control are judged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The mappings built in: (id, the file's text).
const BUILT_IN: [(&str, &str); 7] = [
    (
        "nist-ai-rmf",
        include_str!("../frameworks/nist-ai-rmf.toml"),
    ),
    ("eu-ai-act", include_str!("../frameworks/eu-ai-act.toml")),
    ("iso-42001", include_str!("../frameworks/iso-42001.toml")),
    (
        "owasp-ml-top10",
        include_str!("../frameworks/owasp-ml-top10.toml"),
    ),
    (
        "mitre-atlas",
        include_str!("../frameworks/mitre-atlas.toml"),
    ),
    ("gdpr", include_str!("../frameworks/gdpr.toml")),
    ("hipaa", include_str!("../frameworks/hipaa.toml")),
];

/// The ids of the built-in mappings.
pub fn built_in_ids() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(id, _)| *id).collect()
}

/// A framework's mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// What `--framework` names.
    pub id: String,
    /// Its full name.
    pub name: String,
    /// The version of the framework the mapping follows.
    pub version: String,
    /// The document its control ids come from.
    pub source: String,
    /// What the mapping covers, and what it does not.
    pub scope: String,
    /// Its controls, in the report's order.
    pub controls: Vec<Control>,
}

/// One control and the evidence that meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// The framework's own id.
    pub id: String,
    /// Its group, for the summary.
    pub group: String,
    /// A short paraphrase.
    pub title: String,
    /// Every requirement must be satisfied for the control to be met.
    pub evidence: Vec<Requirement>,
}

/// One piece of evidence a control needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// What the evidence shows.
    pub what: String,
    /// Evidence kinds (predicate names); the newest entry of any of them counts.
    #[serde(default)]
    pub types: Vec<String>,
    /// Fields the newest entry must have: a value, or `"*"` for any value but null.
    #[serde(default)]
    pub require: BTreeMap<String, toml::Value>,
    /// Only entries with these fields count.
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, toml::Value>,
    /// Older evidence is stale.
    #[serde(default)]
    pub max_age_days: Option<u64>,
    /// A `control-statement` for this control counts (instead of `types`).
    #[serde(default)]
    pub statement: bool,
    /// What to run when it is missing.
    #[serde(default)]
    pub fix: Option<String>,
}

impl Framework {
    /// A built-in mapping by id, with its text.
    pub fn built_in(id: &str) -> Result<(Self, &'static str), Error> {
        let (_, text) =
            BUILT_IN
                .iter()
                .find(|(i, _)| *i == id)
                .ok_or_else(|| Error::UnknownFramework {
                    id: id.to_owned(),
                    known: built_in_ids().join(", "),
                })?;
        Ok((Self::parse(text, id)?, text))
    }

    /// Parses and checks a mapping; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, Error> {
        let bad = |message: String| Error::Mapping {
            source_name: source.to_owned(),
            message,
        };
        let f: Framework = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let known = known_types();
        let mut ids = std::collections::BTreeSet::new();
        if f.controls.is_empty() {
            return Err(bad("has no [[controls]]".into()));
        }
        for c in &f.controls {
            if !ids.insert(c.id.as_str()) {
                return Err(bad(format!("names control `{}` twice", c.id)));
            }
            if c.evidence.is_empty() {
                return Err(bad(format!(
                    "control `{}` has no [[controls.evidence]]: it could never be met",
                    c.id
                )));
            }
            for r in &c.evidence {
                match (r.statement, r.types.is_empty()) {
                    (true, false) => {
                        return Err(bad(format!(
                            "control `{}`: a requirement has both `statement` and `types`",
                            c.id
                        )));
                    }
                    (false, true) => {
                        return Err(bad(format!(
                            "control `{}`: a requirement needs `types` or `statement = true`",
                            c.id
                        )));
                    }
                    _ => {}
                }
                if let Some(t) = r.types.iter().find(|t| !known.contains_key(t.as_str())) {
                    return Err(bad(format!(
                        "control `{}`: `{t}` is not a kind of evidence aigis records ({})",
                        c.id,
                        known.keys().copied().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        Ok(f)
    }
}

/// Every evidence kind aigis records: name to predicate-type URI.
pub fn known_types() -> BTreeMap<&'static str, &'static str> {
    aigis_evidence::schemas()
        .into_iter()
        .map(|s| (s.name, s.predicate_type))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_mapping_loads() {
        for id in built_in_ids() {
            let (f, _) = Framework::built_in(id).unwrap();
            assert_eq!(f.id, id);
            assert!(f.controls.len() >= 5, "{id}");
        }
    }

    #[test]
    fn a_bad_mapping_is_refused_by_name() {
        let head = "id = \"x\"\nname = \"x\"\nversion = \"1\"\nsource = \"s\"\nscope = \"s\"\n";
        let refused = |body: &str, says: &str| {
            let e = Framework::parse(&format!("{head}{body}"), "m.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("m.toml"), "{e}");
        };
        refused("", "controls");
        refused(
            "[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\nevidence = []\n",
            "could never be met",
        );
        refused(
            "[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\n[[controls.evidence]]\nwhat = \"w\"\ntypes = [\"red-team\"]\n",
            "`red-team` is not a kind of evidence",
        );
        refused(
            "[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\n[[controls.evidence]]\nwhat = \"w\"\n",
            "needs `types`",
        );
        refused(
            "[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\n[[controls.evidence]]\nwhat = \"w\"\nstatement = true\n[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\n[[controls.evidence]]\nwhat = \"w\"\nstatement = true\n",
            "twice",
        );
        refused(
            "[[controls]]\nid = \"A\"\ngroup = \"g\"\ntitle = \"t\"\nextra = 1\n[[controls.evidence]]\nwhat = \"w\"\nstatement = true\n",
            "unknown field",
        );
    }
}
