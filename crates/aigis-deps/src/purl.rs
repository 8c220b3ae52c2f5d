//! Package URLs (the purl specification) of pinned packages, as SBOMs name them:
//! `pkg:cargo/smallvec@1.6.0`, `pkg:pypi/requests@2.31.0`, `pkg:npm/%40babel/core@7.0.0`.

use crate::lockfile::Dependency;
use crate::version::Ecosystem;

/// Percent-encodes what purl does not allow in a name or version (everything but
/// letters, digits and `.-_~`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package's purl.
pub fn purl(d: &Dependency) -> String {
    match d.ecosystem {
        Ecosystem::CratesIo => format!("pkg:cargo/{}@{}", encode(&d.name), encode(&d.version)),
        // purl's pypi type: the name lowercased, `_` as `-`.
        Ecosystem::PyPi => format!(
            "pkg:pypi/{}@{}",
            encode(&d.name.to_lowercase().replace('_', "-")),
            encode(&d.version)
        ),
        Ecosystem::Npm => match d.name.split_once('/') {
            // A scope is the namespace, with its `@` encoded.
            Some((scope, name)) if scope.starts_with('@') => format!(
                "pkg:npm/{}/{}@{}",
                encode(scope),
                encode(name),
                encode(&d.version)
            ),
            _ => format!("pkg:npm/{}@{}", encode(&d.name), encode(&d.version)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(ecosystem: Ecosystem, name: &str, version: &str) -> Dependency {
        Dependency {
            ecosystem,
            name: name.into(),
            version: version.into(),
            line: None,
            hashes: vec![],
        }
    }

    #[test]
    fn purls_follow_each_type_s_rules() {
        assert_eq!(
            purl(&dep(Ecosystem::CratesIo, "smallvec", "1.6.0")),
            "pkg:cargo/smallvec@1.6.0"
        );
        assert_eq!(
            purl(&dep(Ecosystem::PyPi, "Django_REST.framework", "3.0")),
            "pkg:pypi/django-rest.framework@3.0"
        );
        assert_eq!(
            purl(&dep(Ecosystem::Npm, "@babel/core", "7.0.0-rc.1")),
            "pkg:npm/%40babel/core@7.0.0-rc.1"
        );
        assert_eq!(
            purl(&dep(Ecosystem::PyPi, "x", "1.0+local")),
            "pkg:pypi/x@1.0%2Blocal"
        );
    }
}
