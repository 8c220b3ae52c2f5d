//! How bad a vulnerability is: GitHub's rating when an advisory gives one, else the CVSS
//! v3 base score of its vector. Written by hand because no kept crate computes CVSS v3.1
//! base scores without pulling a large dependency set; the formula is the specification's
//! (FIRST, CVSS v3.1, section 7), tested against its worked examples and the `cvss`
//! package's scores in CI.

use serde::Serialize;

/// A rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// CVSS 0.0.
    None,
    /// CVSS 0.1–3.9, GitHub's LOW.
    Low,
    /// CVSS 4.0–6.9, GitHub's MODERATE.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
    /// The record gives neither a rating nor a vector aigis reads: counted as the worst
    /// (`--fail-on` never lets an unknown through).
    Unknown,
}

impl Rating {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::None => "none",
            Rating::Low => "low",
            Rating::Medium => "medium",
            Rating::High => "high",
            Rating::Critical => "critical",
            Rating::Unknown => "unknown",
        }
    }

    /// aigis's severity, for SARIF and `--fail-on` (unknown is critical).
    pub fn severity(self) -> aigis_core::Severity {
        use aigis_core::Severity;
        match self {
            Rating::None => Severity::Info,
            Rating::Low => Severity::Low,
            Rating::Medium => Severity::Medium,
            Rating::High => Severity::High,
            Rating::Critical | Rating::Unknown => Severity::Critical,
        }
    }
}

/// GitHub's (and others') named rating.
pub fn from_name(name: &str) -> Option<Rating> {
    match name.to_ascii_uppercase().as_str() {
        "LOW" => Some(Rating::Low),
        "MODERATE" | "MEDIUM" => Some(Rating::Medium),
        "HIGH" => Some(Rating::High),
        "CRITICAL" => Some(Rating::Critical),
        _ => None,
    }
}

/// CVSS's qualitative rating of a base score.
pub fn from_score(score: f64) -> Rating {
    if score <= 0.0 {
        Rating::None
    } else if score < 4.0 {
        Rating::Low
    } else if score < 7.0 {
        Rating::Medium
    } else if score < 9.0 {
        Rating::High
    } else {
        Rating::Critical
    }
}

/// CVSS v3.1's Roundup: the smallest number with one decimal at or above `x`, computed
/// on integers so that floating-point residue does not round up (the specification's
/// Appendix A).
fn roundup(x: f64) -> f64 {
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 {
        i as f64 / 100_000.0
    } else {
        ((i / 10_000) + 1) as f64 / 10.0
    }
}

/// The base score of a CVSS v3.0 or v3.1 vector (`CVSS:3.1/AV:N/AC:L/...`). Every base
/// metric must be present once; temporal and environmental metrics are allowed and do not
/// change the base score.
pub fn cvss3_base_score(vector: &str) -> Result<f64, String> {
    let bad = |why: &str| format!("`{vector}` is not a CVSS v3 vector: {why}");
    let mut parts = vector.trim().split('/');
    match parts.next() {
        Some("CVSS:3.0" | "CVSS:3.1") => {}
        _ => return Err(bad("it does not start with CVSS:3.0 or CVSS:3.1")),
    }
    let mut m: std::collections::BTreeMap<&str, &str> = Default::default();
    for p in parts {
        let (k, v) = p
            .split_once(':')
            .ok_or_else(|| bad("a metric without a value"))?;
        if m.insert(k, v).is_some() {
            return Err(bad("a metric given twice"));
        }
    }
    let get = |k: &str| m.get(k).copied().ok_or_else(|| bad(&format!("no {k}")));
    let changed = match get("S")? {
        "U" => false,
        "C" => true,
        _ => return Err(bad("S must be U or C")),
    };
    let av = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return Err(bad("AV")),
    };
    let ac = match get("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return Err(bad("AC")),
    };
    let pr = match (get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return Err(bad("PR")),
    };
    let ui = match get("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return Err(bad("UI")),
    };
    let cia = |k: &str| -> Result<f64, String> {
        match get(k)? {
            "H" => Ok(0.56),
            "L" => Ok(0.22),
            "N" => Ok(0.0),
            _ => Err(bad(k)),
        }
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    Ok(if changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_scores_match_the_specification_s_examples() {
        for (v, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N/E:P", 6.4),
        ] {
            assert_eq!(cvss3_base_score(v).unwrap(), want, "{v}");
        }
        assert_eq!(roundup(4.000_000_01), 4.0);
        assert_eq!(roundup(4.02), 4.1);
        for bad in [
            "CVSS:2.0/AV:N",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        ] {
            assert!(cvss3_base_score(bad).is_err(), "{bad}");
        }
        assert_eq!(from_score(9.8), Rating::Critical);
    }

    /// Every vector of `tests/data/deps/cvss.json` scored as the `cvss` package scores it
    /// (`scripts/make_deps_vectors.py`).
    #[test]
    fn base_scores_are_the_cvss_package_s() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/deps/cvss.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let scores = v["scores"].as_array().unwrap();
        assert!(scores.len() > 300);
        let wrong: Vec<String> = scores
            .iter()
            .filter_map(|pair| {
                let vector = pair[0].as_str().unwrap();
                let want = pair[1].as_f64().unwrap();
                let got = cvss3_base_score(vector).unwrap();
                (got != want).then(|| format!("{vector}: {got}, the reference {want}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(from_name("moderate"), Some(Rating::Medium));
    }
}
