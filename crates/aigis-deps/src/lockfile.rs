//! The packages a lockfile pins: `Cargo.lock`, `requirements*.txt` (pinned with `==`),
//! `poetry.lock`, `uv.lock` and `package-lock.json` (or `npm-shrinkwrap.json`), each read
//! with its own format's parser. What cannot be checked (a requirement not pinned to one
//! version, a package from a path or a git repository) is returned as a note, never
//! dropped quietly.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::version::Ecosystem;

/// The largest lockfile read.
const MAX_LOCKFILE: u64 = 64 << 20;

/// A package pinned to one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Its name as the lockfile writes it.
    pub name: String,
    /// The version pinned.
    pub version: String,
    /// The lockfile's line that pins it, when the format has lines aigis can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The digests the lockfile pins its artifacts to: (`SHA-256` or `SHA-512`, hex).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<(String, String)>,
}

/// `sha256:HEX` (or `sha512:HEX`) as (`SHA-256`, hex).
fn hash_of(text: &str) -> Option<(String, String)> {
    let (alg, hex) = text.trim().split_once(':')?;
    let alg = match alg.to_ascii_lowercase().as_str() {
        "sha256" => "SHA-256",
        "sha512" => "SHA-512",
        _ => return None,
    };
    (hex.len() >= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (alg.to_owned(), hex.to_ascii_lowercase()))
}

/// npm's Subresource Integrity string (`sha512-BASE64`) as (`SHA-512`, hex).
fn integrity(text: &str) -> Vec<(String, String)> {
    use base64::Engine as _;
    text.split_whitespace()
        .filter_map(|one| {
            let (alg, b64) = one.split_once('-')?;
            let alg = match alg {
                "sha512" => "SHA-512",
                "sha256" => "SHA-256",
                _ => return None,
            };
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            Some((alg.to_owned(), hex::encode(raw)))
        })
        .collect()
}

/// A lockfile read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lockfile {
    /// The packages pinned.
    pub dependencies: Vec<Dependency>,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

/// Which format a file is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Cargo,
    Requirements,
    Poetry,
    Uv,
    PackageLock,
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?;
    match name {
        "Cargo.lock" => Some(Format::Cargo),
        "poetry.lock" => Some(Format::Poetry),
        "uv.lock" => Some(Format::Uv),
        "package-lock.json" | "npm-shrinkwrap.json" => Some(Format::PackageLock),
        n if n.ends_with(".txt") && n.contains("requirements") => Some(Format::Requirements),
        _ => None,
    }
}

/// Reads the lockfile at `path`, its format told by its name.
pub fn read(path: &Path) -> Result<Lockfile, Error> {
    let bad = |message: String| Error::Lockfile {
        path: path.to_owned(),
        message,
    };
    let format = format_of(path).ok_or_else(|| {
        bad("is not a lockfile aigis reads (Cargo.lock, requirements*.txt, poetry.lock, uv.lock, package-lock.json, npm-shrinkwrap.json)".into())
    })?;
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_LOCKFILE + 1), &mut text)
        .map_err(|e| bad(format!("cannot be read as UTF-8: {e}")))?;
    if text.len() as u64 > MAX_LOCKFILE {
        return Err(bad(format!("is larger than {MAX_LOCKFILE} bytes")));
    }
    parse(format, &text).map_err(bad)
}

fn parse(format: Format, text: &str) -> Result<Lockfile, String> {
    match format {
        Format::Cargo => cargo(text),
        Format::Requirements => Ok(requirements(text)),
        Format::Poetry | Format::Uv => toml_packages(text, format),
        Format::PackageLock => package_lock(text),
    }
}

/// The 1-based line of the first `name = "<name>"` followed by `version = "<version>"`.
fn toml_line(text: &str, name: &str, version: &str) -> Option<u64> {
    let name_line = format!("name = \"{name}\"");
    let version_line = format!("version = \"{version}\"");
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().find_map(|(i, l)| {
        (l.trim() == name_line && lines.get(i + 1).is_some_and(|n| n.trim() == version_line))
            .then_some(i as u64 + 1)
    })
}

fn toml_table(text: &str) -> Result<toml::Table, String> {
    text.parse::<toml::Table>()
        .map_err(|e| format!("is not TOML: {e}"))
}

fn cargo(text: &str) -> Result<Lockfile, String> {
    let t = toml_table(text)?;
    let mut out = Lockfile::default();
    let packages = t.get("package").and_then(toml::Value::as_array);
    for p in packages.into_iter().flatten() {
        let (Some(name), Some(version)) = (
            p.get("name").and_then(toml::Value::as_str),
            p.get("version").and_then(toml::Value::as_str),
        ) else {
            return Err("has a [[package]] without a name or a version".into());
        };
        match p.get("source").and_then(toml::Value::as_str) {
            // crates.io (the index, or its sparse protocol).
            Some(s) if s.starts_with("registry+https://github.com/rust-lang/crates.io-index")
                || s == "sparse+https://index.crates.io/" =>
            {
                out.dependencies.push(Dependency {
                    ecosystem: Ecosystem::CratesIo,
                    name: name.to_owned(),
                    version: version.to_owned(),
                    line: toml_line(text, name, version),
                    hashes: p
                        .get("checksum")
                        .and_then(toml::Value::as_str)
                        .and_then(|c| hash_of(&format!("sha256:{c}")))
                        .into_iter()
                        .collect(),
                });
            }
            // The workspace's own crates.
            None => {}
            Some(s) => out.notes.push(format!(
                "{name} {version} comes from `{s}`, not crates.io: OSV's crates.io records do not cover it"
            )),
        }
    }
    Ok(out)
}

fn toml_packages(text: &str, format: Format) -> Result<Lockfile, String> {
    let t = toml_table(text)?;
    let mut out = Lockfile::default();
    let packages = t.get("package").and_then(toml::Value::as_array);
    for p in packages.into_iter().flatten() {
        let (Some(name), Some(version)) = (
            p.get("name").and_then(toml::Value::as_str),
            p.get("version").and_then(toml::Value::as_str),
        ) else {
            return Err("has a [[package]] without a name or a version".into());
        };
        // uv.lock: `source = { registry = "…" }`, `{ editable = "." }`, `{ git = … }`;
        // poetry.lock: `[package.source] type = "git" | "directory" | "legacy"`.
        let source = p.get("source");
        let from_index = match (format, source) {
            (_, None) => true,
            (Format::Uv, Some(s)) => s.get("registry").is_some(),
            (_, Some(s)) => s
                .get("type")
                .and_then(toml::Value::as_str)
                .is_some_and(|t| t == "legacy"),
        };
        if from_index {
            // poetry.lock: `files = [{ file, hash }]`; uv.lock: `sdist = { hash }` and
            // `wheels = [{ hash }]`.
            let mut hashes = Vec::new();
            let tables = p
                .get("files")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .chain(p.get("sdist"))
                .chain(
                    p.get("wheels")
                        .and_then(toml::Value::as_array)
                        .into_iter()
                        .flatten(),
                );
            for t in tables {
                if let Some(h) = t
                    .get("hash")
                    .and_then(toml::Value::as_str)
                    .and_then(hash_of)
                {
                    hashes.push(h);
                }
            }
            out.dependencies.push(Dependency {
                ecosystem: Ecosystem::PyPi,
                name: name.to_owned(),
                version: version.to_owned(),
                line: toml_line(text, name, version),
                hashes,
            });
        } else if !(format == Format::Uv
            && source.is_some_and(|s| s.get("editable").is_some() || s.get("virtual").is_some()))
        {
            out.notes.push(format!(
                "{name} {version} is not from a package index: OSV's PyPI records do not cover it"
            ));
        }
    }
    Ok(out)
}

/// `requirements.txt`: `name==version` pins (with extras, markers, hashes and comments);
/// anything else that names a package is a note.
fn requirements(text: &str) -> Lockfile {
    let mut out = Lockfile::default();
    // Continuation lines (a trailing `\`) join the next.
    let mut logical: Vec<(u64, String)> = Vec::new();
    let mut pending: Option<(u64, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let (start, mut acc) = pending.take().unwrap_or((line_no, String::new()));
        let trimmed = raw.trim_end();
        if let Some(body) = trimmed.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            pending = Some((start, acc));
        } else {
            acc.push_str(trimmed);
            logical.push((start, acc));
        }
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    for (line, l) in logical {
        // A comment starts at `#` at the start or after whitespace.
        let l = l.split(" #").next().unwrap_or_default().trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('-') {
            if l.starts_with("-r") || l.starts_with("--requirement") || l.starts_with("-c") {
                out.notes.push(format!(
                    "line {line}: `{l}` names another file: scan it too"
                ));
            } else if l.starts_with("-e") || l.starts_with("--editable") {
                out.notes
                    .push(format!("line {line}: `{l}` is not from a package index"));
            }
            continue;
        }
        let hashes: Vec<(String, String)> = l
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("--hash="))
            .filter_map(hash_of)
            .collect();
        // Drop the environment marker and the options (`--hash=…`).
        let spec = l.split(';').next().unwrap_or(l);
        let spec = spec.split(" --").next().unwrap_or(spec).trim();
        if spec.contains("://") || spec.contains(" @ ") {
            out.notes
                .push(format!("line {line}: `{spec}` is not from a package index"));
            continue;
        }
        match spec.split_once("==") {
            Some((name, version)) if !version.starts_with('=') && !version.contains(['*', ',']) => {
                let name = name.split('[').next().unwrap_or(name).trim();
                let version = version.trim();
                if name.is_empty() || version.is_empty() {
                    out.notes.push(format!("line {line}: `{spec}` does not read as a pin"));
                    continue;
                }
                out.dependencies.push(Dependency {
                    ecosystem: Ecosystem::PyPi,
                    name: name.to_owned(),
                    version: version.to_owned(),
                    line: Some(line),
                    hashes,
                });
            }
            _ => out.notes.push(format!(
                "line {line}: `{spec}` is not pinned to one version (`name==version`): which version installs is not known, so it cannot be checked"
            )),
        }
    }
    out
}

fn package_lock(text: &str) -> Result<Lockfile, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
    let mut out = Lockfile::default();
    let mut push = |name: &str, entry: &Value| {
        if entry.get("link").and_then(Value::as_bool) == Some(true) {
            return;
        }
        let Some(version) = entry.get("version").and_then(Value::as_str) else {
            return;
        };
        // A version that is a URL or a path (`file:`, `git+…`) is not from the registry.
        if version.contains(':') || version.contains('/') {
            out.notes.push(format!(
                "{name} is `{version}`, not from the npm registry: OSV's npm records do not cover it"
            ));
            return;
        }
        out.dependencies.push(Dependency {
            ecosystem: Ecosystem::Npm,
            name: name.to_owned(),
            version: version.to_owned(),
            line: None,
            hashes: entry
                .get("integrity")
                .and_then(Value::as_str)
                .map(integrity)
                .unwrap_or_default(),
        });
    };
    if let Some(packages) = v.get("packages").and_then(Value::as_object) {
        // lockfileVersion 2 and 3: keyed by install path; the package's name is after the
        // last `node_modules/` (a scoped name keeps its `@scope/`). `""` is the project.
        for (path, entry) in packages {
            let Some(at) = path.rfind("node_modules/") else {
                continue;
            };
            let from_path = path.get(at + "node_modules/".len()..).unwrap_or_default();
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(from_path);
            push(name, entry);
        }
    } else if let Some(deps) = v.get("dependencies").and_then(Value::as_object) {
        // lockfileVersion 1: nested `dependencies`.
        let mut stack: Vec<(&String, &Value)> = deps.iter().collect();
        while let Some((name, entry)) = stack.pop() {
            push(name, entry);
            if let Some(d) = entry.get("dependencies").and_then(Value::as_object) {
                stack.extend(d.iter());
            }
        }
    } else {
        return Err("has neither `packages` nor `dependencies`".into());
    }
    out.dependencies
        .sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dependencies.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_pins_markers_hashes_and_what_is_not_pinned() {
        let r = requirements(
            "# top\nrequests==2.19.1  # old\nDjango[bcrypt]==3.0.1 ; python_version >= \"3.6\" \\\n    --hash=sha256:abc\nflask>=1.0\n-r base.txt\nnumpy === 1.0\ngit+https://x/y.git#egg=z\npkg @ https://x/pkg.whl\n",
        );
        let got: Vec<(&str, &str, Option<u64>)> = r
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str(), d.line))
            .collect();
        assert_eq!(
            got,
            [
                ("requests", "2.19.1", Some(2)),
                ("Django", "3.0.1", Some(3))
            ]
        );
        assert_eq!(r.notes.len(), 5, "{:?}", r.notes);
        assert!(r.notes[0].contains("flask>=1.0") && r.notes[0].contains("not pinned"));
    }

    #[test]
    fn cargo_lock_keeps_crates_io_and_names_the_rest() {
        let l = cargo(
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"x\"\n\n[[package]]\nname = \"own\"\nversion = \"0.2.0\"\nsource = \"git+https://example.com/own#abc\"\n",
        )
        .unwrap();
        assert_eq!(l.dependencies.len(), 1);
        assert_eq!(l.dependencies[0].name, "smallvec");
        assert_eq!(l.dependencies[0].line, Some(8));
        assert_eq!(l.notes.len(), 1);
        assert!(cargo("[[package]]\nname = 1\n").is_err());
        assert!(cargo("not toml = = ").is_err());
    }

    #[test]
    fn package_lock_versions_1_to_3() {
        let v3 = package_lock(
            r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"}, "node_modules/lodash": {"version": "4.17.4"},
            "node_modules/@babel/core": {"version": "7.0.0"}, "node_modules/a/node_modules/lodash": {"version": "3.0.0"},
            "node_modules/mine": {"link": true}, "node_modules/g": {"version": "git+ssh://x"}}}"#,
        )
        .unwrap();
        let names: Vec<(&str, &str)> = v3
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("@babel/core", "7.0.0"),
                ("lodash", "3.0.0"),
                ("lodash", "4.17.4")
            ]
        );
        assert_eq!(v3.notes.len(), 1);
        let v1 = package_lock(
            r#"{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}}}"#,
        )
        .unwrap();
        assert_eq!(v1.dependencies.len(), 2);
        assert!(package_lock("[]").is_err());
    }

    #[test]
    fn uv_and_poetry_locks() {
        let uv = toml_packages(
            "version = 1\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n[[package]]\nname = \"jinja2\"\nversion = \"2.10\"\nsource = { registry = \"https://pypi.org/simple\" }\n[[package]]\nname = \"g\"\nversion = \"1.0\"\nsource = { git = \"https://x\" }\n",
            Format::Uv,
        )
        .unwrap();
        assert_eq!(uv.dependencies.len(), 1);
        assert_eq!(uv.dependencies[0].name, "jinja2");
        assert_eq!(uv.notes.len(), 1);
        let poetry = toml_packages(
            "[[package]]\nname = \"pyyaml\"\nversion = \"5.3\"\n\n[[package]]\nname = \"local\"\nversion = \"1.0\"\n[package.source]\ntype = \"directory\"\nurl = \"../local\"\n",
            Format::Poetry,
        )
        .unwrap();
        assert_eq!(poetry.dependencies.len(), 1);
        assert_eq!(poetry.notes.len(), 1);
    }
}
