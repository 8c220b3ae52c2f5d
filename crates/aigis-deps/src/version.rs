//! Each ecosystem's version order, as its own tools order versions: PEP 440 for PyPI
//! (`pep440_rs`, the parser uv uses), SemVer 2.0 precedence for crates.io (the `semver`
//! crate, cargo's) and npm (as node-semver compares: build metadata ignored).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A package ecosystem, as OSV names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ecosystem {
    /// Rust crates (`Cargo.lock`).
    #[serde(rename = "crates.io")]
    CratesIo,
    /// Python packages (`requirements.txt`, `poetry.lock`, `uv.lock`).
    #[serde(rename = "PyPI")]
    PyPi,
    /// JavaScript packages (`package-lock.json`).
    #[serde(rename = "npm")]
    Npm,
}

impl Ecosystem {
    /// The name OSV gives it.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::PyPi => "PyPI",
            Ecosystem::Npm => "npm",
        }
    }

    /// The ecosystem OSV names `name`, if it is one aigis reads. OSV may add a suffix
    /// (`PyPI:…` is not used today, but `Debian:12` is the pattern), which is ignored.
    pub fn from_osv(name: &str) -> Option<Self> {
        match name.split(':').next().unwrap_or(name) {
            "crates.io" => Some(Ecosystem::CratesIo),
            "PyPI" => Some(Ecosystem::PyPi),
            "npm" => Some(Ecosystem::Npm),
            _ => None,
        }
    }

    /// A package's name as the ecosystem compares names: PyPI's normalized (PEP 503:
    /// lowercase, each run of `-`, `_` and `.` one `-`), the others as written.
    pub fn normalize(self, name: &str) -> String {
        match self {
            Ecosystem::PyPi => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for c in name.trim().chars() {
                    if matches!(c, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.extend(c.to_lowercase());
                    }
                }
                out
            }
            _ => name.trim().to_owned(),
        }
    }

    /// The order of two versions, or why one cannot be read in this ecosystem.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, String> {
        match self {
            Ecosystem::PyPi => {
                let a = pep440(a)?;
                let b = pep440(b)?;
                Ok(a.cmp(&b))
            }
            Ecosystem::CratesIo | Ecosystem::Npm => {
                let a = semver(a, self)?;
                let b = semver(b, self)?;
                // SemVer 2.0: build metadata does not take part in precedence (the crate
                // orders it to make the order total; npm and OSV ignore it).
                Ok(a.major
                    .cmp(&b.major)
                    .then(a.minor.cmp(&b.minor))
                    .then(a.patch.cmp(&b.patch))
                    .then_with(|| a.pre.cmp(&b.pre)))
            }
        }
    }
}

fn pep440(v: &str) -> Result<pep440_rs::Version, String> {
    v.trim()
        .parse::<pep440_rs::Version>()
        .map_err(|e| format!("`{v}` is not a PEP 440 version: {e}"))
}

/// node-semver's largest version number (JavaScript's `Number.MAX_SAFE_INTEGER`).
const NPM_MAX: u64 = (1 << 53) - 1;

fn semver(v: &str, eco: Ecosystem) -> Result<semver::Version, String> {
    let bad = |why: String| format!("`{v}` is not a SemVer version: {why}");
    let t = if eco == Ecosystem::Npm {
        // As node-semver's strict parse: surrounding space and one leading `v` allowed.
        let t = v.trim();
        t.strip_prefix('v').unwrap_or(t)
    } else {
        v
    };
    let parsed = semver::Version::parse(t).map_err(|e| bad(e.to_string()))?;
    if eco == Ecosystem::Npm
        && [parsed.major, parsed.minor, parsed.patch]
            .iter()
            .any(|n| *n > NPM_MAX)
    {
        return Err(bad(format!("npm's numbers stop at {NPM_MAX}")));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_are_normalized_as_pep_503_says() {
        let n = |s| Ecosystem::PyPi.normalize(s);
        assert_eq!(n("Friendly-Bard"), "friendly-bard");
        assert_eq!(n("FRIENDLY._-bard"), "friendly-bard");
        assert_eq!(n("zope.interface"), "zope-interface");
        assert_eq!(Ecosystem::Npm.normalize("@Scope/X"), "@Scope/X");
    }

    #[test]
    fn orders_follow_each_ecosystem() {
        use Ordering::*;
        let p = |a, b| Ecosystem::PyPi.compare(a, b).unwrap();
        assert_eq!(p("1.0", "1.0.0"), Equal);
        assert_eq!(p("1.0a1", "1.0.0-alpha.1"), Equal);
        assert_eq!(p("1.0.dev1", "1.0a1"), Less);
        assert_eq!(p("1.0.post1", "1.0"), Greater);
        assert_eq!(p("1!0.1", "2.0"), Greater);
        assert_eq!(p("1.0+local", "1.0"), Greater);
        let s = |a, b| Ecosystem::CratesIo.compare(a, b).unwrap();
        assert_eq!(s("1.0.0-alpha", "1.0.0"), Less);
        assert_eq!(s("1.0.0-alpha.10", "1.0.0-alpha.9"), Greater);
        assert_eq!(s("1.0.0+build.1", "1.0.0+build.2"), Equal);
        assert_eq!(Ecosystem::Npm.compare("v1.2.3", "1.2.3").unwrap(), Equal);
        assert!(Ecosystem::Npm.compare("=1.2.3", "1.2.3").is_err());
        assert!(Ecosystem::CratesIo.compare("1.0", "1.0.0").is_err());
        assert!(Ecosystem::PyPi.compare("not a version", "1").is_err());
    }
}
