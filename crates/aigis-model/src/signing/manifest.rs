//! The signed content: an in-toto Statement v1 whose predicate (type
//! `https://model_signing/signature/v1.0`) lists every file (or file shard) of the model
//! with its SHA-256, and whose one subject is the model's name and root digest (SHA-256
//! over the listed digests' bytes, in the listed order) — OpenSSF model-signing v1.x.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use aigis_core::{ChangeKind, Digest, FileChange};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The predicate type of a model-signing v1.0 signature.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The predicate type of model-signing v0.2 signatures (not supported).
const PREDICATE_TYPE_V0: &str = "https://model_signing/Digests/v0.1";
/// The default shard size of model-signing's `shards` method (1 GB).
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;
/// The one hash supported.
pub const HASH_TYPE: &str = "sha256";

/// How a model becomes a list of digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Method {
    /// One SHA-256 per file (model-signing's default).
    Files,
    /// One SHA-256 per `shard_size`-byte piece of each file; pieces hash in parallel.
    Shards { shard_size: u64 },
}

impl Method {
    /// The `algorithm` of each resource, as model-signing names it: `sha256` for files,
    /// `sha256-sharded-<shard size>` for shards.
    pub fn resource_algorithm(&self) -> String {
        match self {
            Self::Files => HASH_TYPE.to_owned(),
            Self::Shards { shard_size } => format!("{HASH_TYPE}-sharded-{shard_size}"),
        }
    }
}

/// The predicate's `serialization` block: everything needed to hash the model again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serialization {
    #[serde(flatten)]
    pub method: Method,
    /// Whether symbolic links are followed (to files) or refused.
    pub allow_symlinks: bool,
    /// Paths relative to the model root, `/`-separated, left out with everything under
    /// them.
    pub ignore_paths: Vec<String>,
}

/// One listed item: a file (`name` its path relative to the model root, or `.` when the
/// model is one file) or a shard (`path:start:end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub digest: Digest,
}

/// A model as a list of digests, with what produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The model folder's (or file's) name: informative only, not checked.
    pub model_name: String,
    pub serialization: Serialization,
    pub resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize)]
struct WireStatement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<WireSubject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    predicate: Option<WirePredicate>,
}

#[derive(Serialize, Deserialize)]
struct WireSubject {
    #[serde(default)]
    name: String,
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct WirePredicate {
    serialization: WireSerialization,
    resources: Vec<WireResource>,
}

#[derive(Serialize, Deserialize)]
struct WireSerialization {
    method: String,
    hash_type: String,
    /// model-signing 1.1 writes it as a float (`100.0`): protobuf's JSON numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_size: Option<serde_json::Number>,
    allow_symlinks: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore_paths: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireResource {
    name: String,
    algorithm: String,
    digest: String,
}

impl Manifest {
    /// SHA-256 over the resources' digests, in order: the statement's subject digest.
    pub fn root_digest(&self) -> Digest {
        let mut h = Sha256::new();
        for r in &self.resources {
            h.update(r.digest.as_bytes());
        }
        Digest::from_bytes(h.finalize().into())
    }

    /// Puts the resources in model-signing's canonical order: by path component by
    /// component (as Python's `PurePosixPath` orders), then by shard start and end.
    pub fn sort(&mut self) {
        self.resources
            .sort_by(|a, b| resource_order(&split_name(&a.name), &split_name(&b.name)));
    }

    /// The in-toto statement, as JSON bytes (the DSSE payload).
    pub fn to_statement_json(&self) -> Vec<u8> {
        let (method, shard_size) = match self.serialization.method {
            Method::Files => ("files", None),
            Method::Shards { shard_size } => ("shards", Some(shard_size.into())),
        };
        let algorithm = self.serialization.method.resource_algorithm();
        let statement = WireStatement {
            type_: aigis_core::STATEMENT_TYPE.to_owned(),
            subject: vec![WireSubject {
                name: self.model_name.clone(),
                digest: BTreeMap::from([(HASH_TYPE.to_owned(), self.root_digest().hex())]),
            }],
            predicate_type: PREDICATE_TYPE.to_owned(),
            predicate: Some(WirePredicate {
                serialization: WireSerialization {
                    method: method.to_owned(),
                    hash_type: HASH_TYPE.to_owned(),
                    shard_size,
                    allow_symlinks: self.serialization.allow_symlinks,
                    ignore_paths: self.serialization.ignore_paths.clone(),
                },
                resources: self
                    .resources
                    .iter()
                    .map(|r| WireResource {
                        name: r.name.clone(),
                        algorithm: algorithm.clone(),
                        digest: r.digest.hex(),
                    })
                    .collect(),
            }),
        };
        // Strings, numbers and maps always serialize.
        serde_json::to_vec(&statement).unwrap_or_default()
    }

    /// Reads a signed statement, checking what model-signing checks: the types, one
    /// subject, a root digest that matches the resources; and what aigis adds: SHA-256
    /// only, no resource listed twice, no ignore path that would hide the whole model.
    pub fn from_statement_json(bytes: &[u8]) -> Result<Self, Error> {
        let st: WireStatement = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not an in-toto statement ({e})")))?;
        if st.type_ != aigis_core::STATEMENT_TYPE {
            return Err(bad(format!(
                "`_type` is `{}`, expected `{}`",
                st.type_,
                aigis_core::STATEMENT_TYPE
            )));
        }
        if st.predicate_type == PREDICATE_TYPE_V0 {
            return Err(Error::ManifestV0 {
                predicate_type: PREDICATE_TYPE_V0,
            });
        }
        if st.predicate_type != PREDICATE_TYPE {
            return Err(bad(format!(
                "`predicateType` is `{}`, expected `{PREDICATE_TYPE}`",
                st.predicate_type
            )));
        }
        let [subject] = <[WireSubject; 1]>::try_from(st.subject)
            .map_err(|s| bad(format!("expected one subject, found {}", s.len())))?;
        let root = subject
            .digest
            .get(HASH_TYPE)
            .ok_or_else(|| bad("the subject has no `sha256` digest".into()))?;
        let predicate = st
            .predicate
            .ok_or_else(|| bad("the statement has no `predicate`".into()))?;
        let s = predicate.serialization;
        if s.hash_type != HASH_TYPE {
            return Err(bad(format!(
                "`serialization.hash_type` `{}` is not supported (aigis hashes with sha256)",
                s.hash_type
            )));
        }
        let shard_size = s.shard_size.as_ref().and_then(|n| {
            n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9_007_199_254_740_992.0)
                    .map(|f| f as u64)
            })
        });
        let method = match (s.method.as_str(), shard_size) {
            ("files", _) => Method::Files,
            ("shards", Some(n)) if n > 0 => Method::Shards { shard_size: n },
            ("shards", _) => {
                return Err(bad(
                    "`serialization.shard_size` is missing or not a positive whole number for the `shards` method"
                        .into(),
                ));
            }
            (other, _) => {
                return Err(bad(format!(
                    "`serialization.method` `{other}` is unknown (expected files or shards)"
                )));
            }
        };
        for p in &s.ignore_paths {
            if normalize(p) == "." {
                return Err(bad(format!(
                    "`serialization.ignore_paths` has `{p}`, which would leave out the whole model"
                )));
            }
        }
        let algorithm = method.resource_algorithm();
        let mut seen = BTreeSet::new();
        let mut resources = Vec::with_capacity(predicate.resources.len());
        for (i, r) in predicate.resources.into_iter().enumerate() {
            if r.algorithm != algorithm {
                return Err(bad(format!(
                    "`resources[{i}].algorithm` is `{}`, expected `{algorithm}`",
                    r.algorithm
                )));
            }
            let digest: Digest = r
                .digest
                .parse()
                .ok()
                .filter(|_| r.digest.len() == 64)
                .ok_or_else(|| bad(format!("`resources[{i}].digest` is not a SHA-256 in hex")))?;
            let name = match method {
                Method::Files => normalize(&r.name),
                Method::Shards { .. } => {
                    let (path, start, end) = parse_shard(&r.name).ok_or_else(|| {
                        bad(format!(
                            "`resources[{i}].name` `{}` is not `path:start:end`",
                            r.name
                        ))
                    })?;
                    format!("{}:{start}:{end}", normalize(path))
                }
            };
            if !seen.insert(name.clone()) {
                return Err(bad(format!("`{name}` is listed twice in `resources`")));
            }
            resources.push(Resource { name, digest });
        }
        let manifest = Self {
            model_name: subject.name,
            serialization: Serialization {
                method,
                allow_symlinks: s.allow_symlinks,
                ignore_paths: s.ignore_paths,
            },
            resources,
        };
        let actual = manifest.root_digest().hex();
        if !actual.eq_ignore_ascii_case(root) {
            return Err(bad(format!(
                "the subject's root digest {root} does not match its resources (they hash to {actual})"
            )));
        }
        Ok(manifest)
    }
}

fn bad(reason: String) -> Error {
    Error::Statement(reason)
}

/// `a//b/./c` -> `a/b/c`, and `` or `./` -> `.` (what `PurePosixPath` does to a name).
pub(crate) fn normalize(name: &str) -> String {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// `path:start:end` split from the right (a path may itself hold a `:`).
pub(crate) fn parse_shard(name: &str) -> Option<(&str, u64, u64)> {
    let mut it = name.rsplitn(3, ':');
    let end = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    let path = it.next()?;
    (start <= end).then_some((path, start, end))
}

/// A resource name as the key model-signing sorts by: path components, then the shard
/// bounds (zero for a whole file).
fn split_name(name: &str) -> (Vec<&str>, u64, u64) {
    let (path, start, end) = parse_shard(name).unwrap_or((name, 0, 0));
    let parts = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    (parts, start, end)
}

fn resource_order(a: &(Vec<&str>, u64, u64), b: &(Vec<&str>, u64, u64)) -> Ordering {
    a.cmp(b)
}

/// The shard bounds of a file of `len` bytes: `[0, s)`, `[s, 2s)`, ... the last one
/// ending at `len`; none for an empty file (as model-signing does).
pub fn shard_bounds(len: u64, shard_size: u64) -> Vec<(u64, u64)> {
    let size = shard_size.max(1);
    let mut out = Vec::with_capacity(usize::try_from(len / size + 1).unwrap_or(0));
    let mut start = 0;
    while start < len {
        let end = start.saturating_add(size).min(len);
        out.push((start, end));
        start = end;
    }
    out
}

type FileDigests<'a> = BTreeMap<&'a str, BTreeMap<(u64, u64), &'a Digest>>;

fn by_file(m: &Manifest) -> FileDigests<'_> {
    let mut out: FileDigests<'_> = BTreeMap::new();
    for r in &m.resources {
        let (path, start, end) = match m.serialization.method {
            Method::Files => (r.name.as_str(), 0, 0),
            Method::Shards { .. } => parse_shard(&r.name).unwrap_or((r.name.as_str(), 0, 0)),
        };
        out.entry(path).or_default().insert((start, end), &r.digest);
    }
    out
}

/// The files added, removed or modified from `expected` to `actual`, sorted by path
/// (a file whose shards differ in any way is modified).
pub fn compare(expected: &Manifest, actual: &Manifest) -> Vec<FileChange> {
    let want = by_file(expected);
    let have = by_file(actual);
    let mut out = Vec::new();
    for (path, shards) in &want {
        match have.get(path) {
            None => out.push(FileChange::new(ChangeKind::Removed, *path)),
            Some(h) if h != shards => out.push(FileChange::new(ChangeKind::Modified, *path)),
            Some(_) => {}
        }
    }
    for path in have.keys() {
        if !want.contains_key(path) {
            out.push(FileChange::new(ChangeKind::Added, *path));
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(method: Method, items: &[(&str, &[u8])]) -> Manifest {
        Manifest {
            model_name: "m".into(),
            serialization: Serialization {
                method,
                allow_symlinks: false,
                ignore_paths: vec![".git".into(), "model.sig".into()],
            },
            resources: items
                .iter()
                .map(|(n, c)| Resource {
                    name: (*n).into(),
                    digest: Digest::of(c),
                })
                .collect(),
        }
    }

    #[test]
    fn root_digest_is_sha256_of_the_digests_in_order() {
        let m = manifest(Method::Files, &[("a", b"1"), ("b", b"2")]);
        let mut cat = Vec::new();
        cat.extend_from_slice(Digest::of(b"1").as_bytes());
        cat.extend_from_slice(Digest::of(b"2").as_bytes());
        assert_eq!(m.root_digest(), Digest::of(&cat));
        let swapped = manifest(Method::Files, &[("b", b"2"), ("a", b"1")]);
        assert_ne!(m.root_digest(), swapped.root_digest());
    }

    #[test]
    fn sorts_by_path_components_then_shard_bounds_as_model_signing_does() {
        // As strings "a.b" < "a/b", but as paths ["a", "b"] < ["a.b"].
        let mut m = manifest(Method::Files, &[("a.b", b""), ("a/b", b""), ("A", b"")]);
        m.sort();
        let names: Vec<_> = m.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["A", "a/b", "a.b"]);
        // Shard bounds sort as numbers, not text.
        let mut m = manifest(
            Method::Shards { shard_size: 5 },
            &[("f:10:12", b""), ("f:5:10", b""), ("f:0:5", b"")],
        );
        m.sort();
        let names: Vec<_> = m.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["f:0:5", "f:5:10", "f:10:12"]);
    }

    #[test]
    fn shard_bounds_match_model_signing_endpoints() {
        assert_eq!(shard_bounds(8, 2), [(0, 2), (2, 4), (4, 6), (6, 8)]);
        assert_eq!(shard_bounds(9, 2), [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9)]);
        assert_eq!(shard_bounds(2, 2), [(0, 2)]);
        assert_eq!(shard_bounds(1, 1_000_000_000), [(0, 1)]);
        assert!(shard_bounds(0, 2).is_empty());
        assert_eq!(shard_bounds(u64::MAX, u64::MAX / 2 + 1).len(), 2);
    }

    #[test]
    fn statement_round_trips() {
        for method in [Method::Files, Method::Shards { shard_size: 3 }] {
            let names: &[(&str, &[u8])] = match method {
                Method::Files => &[("a", b"1"), ("d/b", b"2")],
                Method::Shards { .. } => &[("a:0:1", b"1"), ("d/b:0:1", b"2")],
            };
            let m = manifest(method, names);
            let back = Manifest::from_statement_json(&m.to_statement_json()).unwrap();
            assert_eq!(back, m);
        }
    }

    fn statement_with(edit: impl Fn(&mut serde_json::Value)) -> Result<Manifest, Error> {
        let m = manifest(Method::Files, &[("a", b"1"), ("b", b"2")]);
        let mut v: serde_json::Value = serde_json::from_slice(&m.to_statement_json()).unwrap();
        edit(&mut v);
        Manifest::from_statement_json(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn malformed_statements_say_what_is_wrong() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["_type"] = "x".into()), "`_type` is `x`"),
            (
                Box::new(|v| v["predicateType"] = PREDICATE_TYPE_V0.into()),
                "v0.2",
            ),
            (
                Box::new(|v| v["subject"] = serde_json::json!([])),
                "expected one subject, found 0",
            ),
            (
                Box::new(|v| v["subject"][0]["digest"]["sha256"] = "00".repeat(32).into()),
                "does not match its resources",
            ),
            (
                Box::new(|v| v["predicate"]["serialization"]["hash_type"] = "blake3".into()),
                "`blake3` is not supported",
            ),
            (
                Box::new(|v| v["predicate"]["serialization"]["method"] = "shards".into()),
                "shard_size",
            ),
            (
                Box::new(|v| v["predicate"]["serialization"]["method"] = "tensors".into()),
                "`tensors` is unknown",
            ),
            (
                Box::new(|v| {
                    v["predicate"]["serialization"]["ignore_paths"] = serde_json::json!(["./"])
                }),
                "whole model",
            ),
            (
                Box::new(|v| v["predicate"]["resources"][1]["name"] = "./a".into()),
                "`a` is listed twice",
            ),
            (
                Box::new(|v| v["predicate"]["resources"][0]["digest"] = "zz".into()),
                "`resources[0].digest`",
            ),
        ];
        for (edit, needle) in cases {
            let e = statement_with(edit).unwrap_err();
            assert!(
                matches!(e, Error::Statement(_) | Error::ManifestV0 { .. }),
                "{e}"
            );
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn compare_names_each_added_removed_and_modified_file() {
        let want = manifest(
            Method::Files,
            &[("same", b"s"), ("gone", b"g"), ("edited", b"1")],
        );
        let have = manifest(
            Method::Files,
            &[("same", b"s"), ("new", b"n"), ("edited", b"2")],
        );
        assert_eq!(
            compare(&want, &have),
            [
                FileChange::new(ChangeKind::Modified, "edited"),
                FileChange::new(ChangeKind::Removed, "gone"),
                FileChange::new(ChangeKind::Added, "new"),
            ]
        );
        assert!(compare(&want, &want).is_empty());
    }

    #[test]
    fn compare_by_shards_reports_files() {
        let s = Method::Shards { shard_size: 2 };
        let want = manifest(s, &[("f:0:2", b"ab"), ("f:2:3", b"c"), ("g:0:1", b"x")]);
        // f grew by a shard; g's only shard changed.
        let have = manifest(
            s,
            &[
                ("f:0:2", b"ab"),
                ("f:2:4", b"cd"),
                ("g:0:1", b"y"),
                ("h:0:1", b"z"),
            ],
        );
        assert_eq!(
            compare(&want, &have),
            [
                FileChange::new(ChangeKind::Modified, "f"),
                FileChange::new(ChangeKind::Modified, "g"),
                FileChange::new(ChangeKind::Added, "h"),
            ]
        );
    }
}
