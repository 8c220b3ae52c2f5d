//! An OSV database on disk, as users download it for offline use (osv.dev's per-ecosystem
//! `all.zip`, unzipped: one OSV JSON record per file), and the OSV schema's rule for
//! whether a version is affected.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::severity::{self, Rating};
use crate::version::Ecosystem;

/// The largest record read (the biggest OSV records are a few hundred KiB).
const MAX_RECORD: u64 = 16 << 20;

/// One OSV record, the fields aigis reads (the schema grows; unknown fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// `GHSA-…`, `RUSTSEC-…`, `PYSEC-…`, `CVE-…`.
    pub id: String,
    /// Other ids of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One line.
    #[serde(default)]
    pub summary: Option<String>,
    /// Set when the record was withdrawn: it no longer applies.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// CVSS vectors.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// The packages and versions affected.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// GitHub's advisories put their rating here (`LOW` … `CRITICAL`).
    #[serde(default)]
    pub database_specific: Option<Value>,
}

/// A severity vector.
#[derive(Debug, Clone, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (or rating).
    pub score: String,
}

/// One affected package.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: Option<Package>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Versions listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severity, when the database gives one.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// The database's own fields.
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
}

/// A package.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// `PyPI`, `crates.io`, `npm`, ….
    pub ecosystem: String,
    /// Its name in the ecosystem.
    pub name: String,
}

/// A range of versions: events in the ecosystem's order.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `introduced`, `fixed`, `last_affected` and `limit` events.
    pub events: Vec<Event>,
}

/// One event of a range.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// The first version affected (`0`: every version before the next event).
    #[serde(default)]
    pub introduced: Option<String>,
    /// The first version not affected again.
    #[serde(default)]
    pub fixed: Option<String>,
    /// The last version affected.
    #[serde(default)]
    pub last_affected: Option<String>,
    /// Only for `GIT` ranges.
    #[serde(default)]
    pub limit: Option<String>,
}

impl Event {
    /// The version the event is at.
    fn at(&self) -> Option<&str> {
        self.introduced
            .as_deref()
            .or(self.fixed.as_deref())
            .or(self.last_affected.as_deref())
            .or(self.limit.as_deref())
    }
}

/// Whether `version` of a package is affected by `a`, by the OSV schema's evaluation: in
/// `versions`, or within a `SEMVER` or `ECOSYSTEM` range whose events, in the ecosystem's
/// order, leave it affected (`introduced` at or below it, and no `fixed` at or below it
/// nor a `last_affected` below it since). `GIT` ranges name commits, which a lockfile does
/// not have, and are passed over. An event that cannot be read in the ecosystem's order
/// is an error: the answer is unknown, never "not affected".
pub fn affects(eco: Ecosystem, a: &Affected, version: &str) -> Result<bool, String> {
    for v in &a.versions {
        if eco.compare(v, version).ok() == Some(Ordering::Equal) || v == version {
            return Ok(true);
        }
    }
    for r in &a.ranges {
        let kind = r.kind.as_str();
        if kind != "SEMVER" && kind != "ECOSYSTEM" {
            continue;
        }
        // Sorted by version, `0` first; at one version, `introduced` before the others
        // (a range introduced and fixed at one version is empty).
        let mut events: Vec<&Event> = r.events.iter().filter(|e| e.limit.is_none()).collect();
        let mut bad = None;
        events.sort_by(|x, y| {
            let (Some(a), Some(b)) = (x.at(), y.at()) else {
                return Ordering::Equal;
            };
            let ord = match (
                a == "0" && x.introduced.is_some(),
                b == "0" && y.introduced.is_some(),
            ) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => eco.compare(a, b).unwrap_or_else(|e| {
                    bad.get_or_insert(e);
                    Ordering::Equal
                }),
            };
            ord.then_with(|| y.introduced.is_some().cmp(&x.introduced.is_some()))
        });
        if let Some(e) = bad {
            return Err(e);
        }
        let mut affected = false;
        for e in events {
            if let Some(i) = &e.introduced {
                if i == "0" || eco.compare(version, i)? != Ordering::Less {
                    affected = true;
                }
            } else if let Some(f) = &e.fixed {
                if eco.compare(version, f)? != Ordering::Less {
                    affected = false;
                }
            } else if let Some(l) = &e.last_affected
                && eco.compare(version, l)? == Ordering::Greater
            {
                affected = false;
            }
        }
        if affected {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The versions that fix what `a` describes, as its ranges name them.
pub fn fixed_versions(a: &Affected) -> Vec<String> {
    let mut out: Vec<String> = a
        .ranges
        .iter()
        .filter(|r| r.kind != "GIT")
        .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.clone()))
        .collect();
    out.dedup();
    out
}

impl Record {
    /// The rating of the record for a package: GitHub's when it gives one, else the CVSS
    /// v3 base score's (computed from the vector), else unknown.
    pub fn rating(&self, a: &Affected) -> Rating {
        let named = |v: &Option<Value>| {
            v.as_ref()
                .and_then(|d| d.get("severity"))
                .and_then(Value::as_str)
                .and_then(severity::from_name)
        };
        if let Some(r) = named(&a.ecosystem_specific).or_else(|| named(&self.database_specific)) {
            return r;
        }
        for s in a.severity.iter().chain(&self.severity) {
            if s.kind == "CVSS_V3"
                && let Ok(score) = severity::cvss3_base_score(&s.score)
            {
                return severity::from_score(score);
            }
        }
        Rating::Unknown
    }
}

/// An OSV database read from a folder: every record, by ecosystem and package name.
#[derive(Debug, Default)]
pub struct Database {
    records: Vec<Record>,
    /// (ecosystem, normalized name) -> (record, affected entry) indices.
    index: HashMap<(Ecosystem, String), Vec<(usize, usize)>>,
    /// Records read.
    pub files: u64,
    /// Files that were not OSV records, and why (they are skipped, and said).
    pub skipped: Vec<(PathBuf, String)>,
}

impl Database {
    /// Reads every `*.json` file under `dir` as an OSV record. A file that is not one is
    /// skipped and listed; a folder with no record at all is an error (a scan against an
    /// empty database would find nothing and say so as if it had looked).
    pub fn open(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::Osv {
                path: dir.to_owned(),
                message: "is not a folder (unzip osv.dev's all.zip for each ecosystem into one)"
                    .into(),
            });
        }
        let mut db = Database::default();
        let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let read = std::fs::File::open(&path).and_then(|f| {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_RECORD + 1), &mut buf)?;
                Ok(buf)
            });
            let bytes = match read {
                Ok(b) if b.len() as u64 > MAX_RECORD => {
                    db.skipped
                        .push((path, format!("larger than {MAX_RECORD} bytes")));
                    continue;
                }
                Ok(b) => b,
                Err(e) => {
                    db.skipped.push((path, e.to_string()));
                    continue;
                }
            };
            match serde_json::from_slice::<Record>(&bytes) {
                Ok(r) => db.add(r),
                Err(e) => db.skipped.push((path, format!("not an OSV record: {e}"))),
            }
        }
        if db.records.is_empty() {
            return Err(Error::Osv {
                path: dir.to_owned(),
                message: "holds no OSV record (`*.json`)".into(),
            });
        }
        Ok(db)
    }

    /// Adds one record.
    pub fn add(&mut self, r: Record) {
        self.files += 1;
        let i = self.records.len();
        for (j, a) in r.affected.iter().enumerate() {
            if let Some(p) = &a.package
                && let Some(eco) = Ecosystem::from_osv(&p.ecosystem)
            {
                self.index
                    .entry((eco, eco.normalize(&p.name)))
                    .or_default()
                    .push((i, j));
            }
        }
        self.records.push(r);
    }

    /// The records and affected entries about a package.
    pub fn about(&self, eco: Ecosystem, name: &str) -> Vec<(&Record, &Affected)> {
        self.index
            .get(&(eco, eco.normalize(name)))
            .map(|v| {
                v.iter()
                    .filter_map(|&(i, j)| {
                        let r = self.records.get(i)?;
                        Some((r, r.affected.get(j)?))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many records, and per ecosystem.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affected(json: &str) -> Affected {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ranges_are_evaluated_as_the_osv_schema_says() {
        let a = affected(
            r#"{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": "ECOSYSTEM",
            "events": [{"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"last_affected": "2.3"}]}]}"#,
        );
        for (v, want) in [
            ("0.1", true),
            ("1.1.9", true),
            ("1.2", false),
            ("1.2.0", false),
            ("1.5", false),
            ("2.0a1", false),
            ("2.0", true),
            ("2.3", true),
            ("2.3.post1", false),
            ("2.4", false),
        ] {
            assert_eq!(affects(Ecosystem::PyPi, &a, v).unwrap(), want, "{v}");
        }
        // Events out of order are sorted first; build metadata is ignored by SemVer.
        let b = affected(
            r#"{"package": {"ecosystem": "npm", "name": "y"}, "ranges": [{"type": "SEMVER",
            "events": [{"fixed": "1.4.2"}, {"introduced": "1.0.0-beta.1"}]}],
            "versions": ["0.9.9"]}"#,
        );
        for (v, want) in [
            ("0.9.9", true),
            ("0.9.8", false),
            ("1.0.0-alpha", false),
            ("1.0.0-beta.1", true),
            ("1.4.1+build.7", true),
            ("1.4.2", false),
            ("1.4.2-rc.1", true),
        ] {
            assert_eq!(affects(Ecosystem::Npm, &b, v).unwrap(), want, "{v}");
        }
        // An event the ecosystem cannot read: unknown, not "not affected".
        let c = affected(
            r#"{"package": {"ecosystem": "crates.io", "name": "z"}, "ranges": [{"type": "SEMVER",
            "events": [{"introduced": "0"}, {"fixed": "1.x"}]}]}"#,
        );
        assert!(affects(Ecosystem::CratesIo, &c, "0.5.0").is_err());
        // GIT ranges are commits: a lockfile's version is never in one.
        let d = affected(
            r#"{"package": {"ecosystem": "crates.io", "name": "z"}, "ranges": [{"type": "GIT",
            "repo": "https://example.com", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]}"#,
        );
        assert!(!affects(Ecosystem::CratesIo, &d, "0.5.0").unwrap());
        assert_eq!(fixed_versions(&b), ["1.4.2"]);
    }
}
