//! Supply-chain checks: the packages a project's lockfiles pin, matched against an OSV
//! database on disk with each ecosystem's own version order.
//!
//! - [`lockfile`] reads `Cargo.lock`, `requirements*.txt`, `poetry.lock`, `uv.lock` and
//!   `package-lock.json`; what cannot be checked is said, not dropped.
//! - [`osv`] reads OSV records (osv.dev's `all.zip`, unzipped) and decides, by the OSV
//!   schema's evaluation, whether a version is affected.
//! - [`version`] orders versions as each ecosystem does: PEP 440, SemVer 2.0 (cargo's and
//!   node-semver's precedence).
//! - [`severity`] rates a record: GitHub's rating, else the CVSS v3 base score.
//!
//! ```no_run
//! # fn main() -> Result<(), aigis_deps::Error> {
//! let db = aigis_deps::osv::Database::open(std::path::Path::new("osv/"))?;
//! let lock = aigis_deps::lockfile::read(std::path::Path::new("Cargo.lock"))?;
//! for f in aigis_deps::scan(&db, &lock.dependencies) {
//!     println!("{} {} {} {}", f.dependency.name, f.dependency.version, f.id, f.rating.as_str());
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod lockfile;
pub mod osv;
pub mod purl;
pub mod severity;
pub mod version;

use std::path::PathBuf;

use serde::Serialize;

use lockfile::Dependency;
use severity::Rating;

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A lockfile that cannot be read.
    #[error("the lockfile `{}` {message}", path.display())]
    Lockfile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The OSV database.
    #[error("the OSV database `{}` {message}", path.display())]
    Osv {
        /// The folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A pinned package a record says is affected (or may be: see `unknown`).
#[derive(Debug, Clone, Serialize)]
pub struct Vulnerable {
    /// The package.
    pub dependency: Dependency,
    /// The record's id.
    pub id: String,
    /// Its aliases (CVE ids).
    pub aliases: Vec<String>,
    /// Its summary.
    pub summary: String,
    /// Its rating.
    pub rating: Rating,
    /// The versions that fix it.
    pub fixed: Vec<String>,
    /// Set when the record's ranges could not be read in the ecosystem's order: whether
    /// the version is affected is not known, and it is reported rather than passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// Every record of `db` that affects one of `deps` (withdrawn records aside).
pub fn scan(db: &osv::Database, deps: &[Dependency]) -> Vec<Vulnerable> {
    let mut out = Vec::new();
    for d in deps {
        for (record, affected) in db.about(d.ecosystem, &d.name) {
            if record.withdrawn.is_some() {
                continue;
            }
            let (hit, unknown) = match osv::affects(d.ecosystem, affected, &d.version) {
                Ok(hit) => (hit, None),
                Err(why) => (true, Some(why)),
            };
            if !hit {
                continue;
            }
            out.push(Vulnerable {
                dependency: d.clone(),
                id: record.id.clone(),
                aliases: record.aliases.clone(),
                summary: record.summary.clone().unwrap_or_default(),
                rating: record.rating(affected),
                fixed: osv::fixed_versions(affected),
                unknown,
            });
        }
    }
    out.sort_by(|a, b| {
        b.rating
            .cmp(&a.rating)
            .then_with(|| a.dependency.name.cmp(&b.dependency.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    out.dedup_by(|a, b| a.id == b.id && a.dependency == b.dependency);
    out
}
