use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Digest, Error};

/// The `_type` of every in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The DSSE `payloadType` of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto Statement v1: what the evidence is about (`subject`), what kind of step
/// produced it (`predicateType`) and that step's result (`predicate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<serde_json::Value>,
}

/// An in-toto ResourceDescriptor, as used for statement subjects. Fields aigis does not
/// use are accepted and ignored when parsing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm name to lower-case hex digest, for example `sha256`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
}

impl Statement {
    /// A statement about `subjects` (name and SHA-256 digest each).
    pub fn new(
        subjects: Vec<(String, Digest)>,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Result<Self, Error> {
        let statement = Self {
            type_: STATEMENT_TYPE.to_owned(),
            subject: subjects
                .into_iter()
                .map(|(name, digest)| ResourceDescriptor {
                    name: Some(name),
                    uri: None,
                    digest: BTreeMap::from([("sha256".to_owned(), digest.hex())]),
                })
                .collect(),
            predicate_type: predicate_type.to_owned(),
            predicate: Some(predicate),
        };
        statement.validate()?;
        Ok(statement)
    }

    /// Parses and validates a statement (the payload of a DSSE envelope).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let statement: Self = serde_json::from_slice(bytes)?;
        statement.validate()?;
        Ok(statement)
    }

    /// Compact JSON, the bytes that get signed.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings, maps and a `Value` cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The SHA-256 digests of the subjects, in order. Subjects named only by other
    /// algorithms are skipped.
    pub fn subject_digests(&self) -> impl Iterator<Item = Digest> + '_ {
        self.subject
            .iter()
            .filter_map(|s| s.digest.get("sha256").and_then(|h| h.parse().ok()))
    }

    /// Checks the rules of the Statement v1 spec that aigis relies on.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Statement(msg));
        if self.type_ != STATEMENT_TYPE {
            return bad(format!(
                "`_type` is `{}`, expected `{STATEMENT_TYPE}`",
                self.type_
            ));
        }
        if self.subject.is_empty() {
            return bad("`subject` is empty; name at least one artifact".into());
        }
        for (i, s) in self.subject.iter().enumerate() {
            if s.digest.is_empty() {
                return bad(format!("subject {i} has no digest"));
            }
            for (alg, value) in &s.digest {
                let is_hex = !value.is_empty() && value.bytes().all(|b| b.is_ascii_hexdigit());
                if !is_hex {
                    return bad(format!("subject {i} digest `{alg}` is not hex"));
                }
                if alg == "sha256" && value.len() != 64 {
                    return bad(format!("subject {i} sha256 digest is not 64 hex digits"));
                }
            }
        }
        if !is_uri(&self.predicate_type) {
            return bad(format!(
                "`predicateType` `{}` is not a URI (expected a scheme, as in `https://…`)",
                self.predicate_type
            ));
        }
        if let Some(p) = &self.predicate
            && !p.is_object()
        {
            return bad("`predicate` must be a JSON object".into());
        }
        Ok(())
    }
}

/// RFC 3986 in the small: a scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), a colon,
/// something after it, and no white space.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_the_spec_field_names() {
        let s = Statement::new(
            vec![("a.bin".into(), Digest::of(b"a"))],
            "https://example.com/p/v1",
            serde_json::json!({"k": 1}),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(json["_type"], STATEMENT_TYPE);
        assert_eq!(json["predicateType"], "https://example.com/p/v1");
        assert_eq!(
            json["subject"][0]["digest"]["sha256"],
            Digest::of(b"a").hex()
        );
        assert_eq!(Statement::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn rejects_what_the_spec_forbids() {
        let ok = Statement::new(
            vec![("a".into(), Digest::of(b"a"))],
            "https://example.com/p",
            serde_json::json!({}),
        )
        .unwrap();
        let mut s = ok.clone();
        s.subject.clear();
        assert!(s.validate().unwrap_err().to_string().contains("subject"));
        let mut s = ok.clone();
        s.predicate_type = "not a uri".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("predicateType")
        );
        let mut s = ok.clone();
        s.type_ = "https://in-toto.io/Statement/v0.1".into();
        assert!(s.validate().is_err());
        let mut s = ok;
        s.predicate = Some(serde_json::json!([1]));
        assert!(s.validate().is_err());
    }

    #[test]
    fn parses_statements_with_fields_it_does_not_use() {
        let json = br#"{"_type":"https://in-toto.io/Statement/v1",
            "subject":[{"name":"x","digest":{"sha512":"ab","sha256":"0000000000000000000000000000000000000000000000000000000000000000"},"annotations":{"a":1}}],
            "predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{}}}"#;
        let s = Statement::from_json(json).unwrap();
        assert_eq!(s.subject_digests().count(), 1);
    }
}
