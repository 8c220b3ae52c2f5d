//! The project's reviewed allowlist: exact `module.qualname` entries a team adds for
//! its own pickled classes, each with why and by whom it was reviewed.
//!
//! An entry only ever turns a **suspicious** import into a safe one: an import the
//! built-in policy calls dangerous stays dangerous whatever the list says, and an entry
//! that the policy would call dangerous, or that sits under a dangerous module tree
//! (`os`, `builtins`, `subprocess`, `importlib`, …), is refused when the list is built.
//! Matching is by exact name: the import `(module, name)` matches the entry `e` iff
//! `module + "." + name == e`; there are no wildcards and no prefixes, so a new class
//! in a listed module is not allowed until someone reviews it too.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::policy;
use aigis_core::Digest;

/// One reviewed entry: the exact name it allows, why, and who reviewed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    /// `module.qualname`, for example `mypkg.models.Net`.
    pub name: String,
    /// Why it is safe to load (free text, recorded in the scan evidence).
    pub reason: String,
    /// Who reviewed it (recorded in the scan evidence).
    pub by: String,
}

/// A validated allowlist, cheap to clone (scans nested in scans share it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Arc<BTreeMap<String, AllowEntry>>,
}

/// Why an allowlist entry was refused. Every message names the entry and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error(
        "allowlist entry `{0}` is a pattern: wildcards and prefixes are not allowed, each entry is one exact `module.qualname`"
    )]
    /// A wildcard or prefix instead of one exact name.
    Pattern(String),
    #[error("allowlist entry `{0}` is not a `module.qualname` (it needs a module and a name)")]
    /// A name with no module.
    NotQualified(String),
    #[error(
        "allowlist entry `{0}` is not a dotted Python identifier (letters, digits and `_` between dots)"
    )]
    /// A name that is not a dotted Python identifier.
    NotIdentifier(String),
    #[error(
        "allowlist entry `{name}` is under `{root}`, a dangerous module tree: nothing under it can be allowed"
    )]
    /// A name under a module tree whose every member is dangerous.
    DangerousRoot {
        /// The entry.
        name: String,
        /// The dangerous module tree.
        root: String,
    },
    #[error(
        "allowlist entry `{name}` is dangerous ({reason}): dangerous callables can never be allowed"
    )]
    /// A name the policy calls dangerous.
    Dangerous {
        /// The entry.
        name: String,
        /// Why the policy calls it dangerous.
        reason: &'static str,
    },
    #[error("allowlist entry `{0}` is listed twice")]
    /// The same name twice.
    Duplicate(String),
    #[error(
        "allowlist entry `{name}` has an empty `{field}`: say why it is safe and who reviewed it"
    )]
    /// An entry with no reason or no reviewer.
    Missing {
        /// The entry.
        name: String,
        /// The empty field (`reason`, `by`).
        field: &'static str,
    },
}

impl Allowlist {
    /// Validates `entries` against the built-in policy. The first bad entry is the error.
    ///
    /// ```
    /// use aigis_scan::{AllowEntry, Allowlist};
    /// let entry = |name: &str| AllowEntry {
    ///     name: name.into(),
    ///     reason: "our model class".into(),
    ///     by: "alice@example.com".into(),
    /// };
    /// assert!(Allowlist::new(vec![entry("mypkg.models.Net")]).is_ok());
    /// assert!(Allowlist::new(vec![entry("os.system")]).is_err());
    /// assert!(Allowlist::new(vec![entry("mypkg.*")]).is_err());
    /// ```
    pub fn new(entries: impl IntoIterator<Item = AllowEntry>) -> Result<Self, AllowlistError> {
        let mut map = BTreeMap::new();
        for e in entries {
            check(&e)?;
            if map.contains_key(&e.name) {
                return Err(AllowlistError::Duplicate(e.name));
            }
            map.insert(e.name.clone(), e);
        }
        Ok(Self {
            entries: Arc::new(map),
        })
    }

    /// The entries, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = &AllowEntry> {
        self.entries.values()
    }

    /// Whether it has no entry (the built-in policy alone).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Its number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry that allows the import `(module, name)`, if one does.
    pub fn allows(&self, module: &str, name: &str) -> Option<&AllowEntry> {
        if self.entries.is_empty()
            || !policy::is_dotted_identifier(module)
            || !policy::is_dotted_identifier(name)
        {
            return None;
        }
        self.entries.get(&format!("{module}.{name}"))
    }

    /// SHA-256 of the entries as canonical JSON (sorted by name, fields in the order
    /// `name`, `reason`, `by`): two lists with the same entries have the same digest,
    /// whatever order `aigis.toml` wrote them in. The empty list has a digest too.
    pub fn digest(&self) -> Digest {
        let list: Vec<&AllowEntry> = self.entries.values().collect();
        // Serializing plain strings cannot fail; an empty body would still not collide
        // with a real list's digest.
        let bytes = serde_json::to_vec(&list).unwrap_or_default();
        Digest::of(&bytes)
    }
}

/// The rules one entry must pass.
fn check(e: &AllowEntry) -> Result<(), AllowlistError> {
    let name = e.name.as_str();
    if name.contains(['*', '?', '[', ']']) || name.ends_with('.') {
        return Err(AllowlistError::Pattern(name.to_owned()));
    }
    if !policy::is_dotted_identifier(name) {
        return Err(AllowlistError::NotIdentifier(name.to_owned()));
    }
    let Some((module, last)) = name.rsplit_once('.') else {
        return Err(AllowlistError::NotQualified(name.to_owned()));
    };
    if let Some(root) = policy::dangerous_root(name) {
        return Err(AllowlistError::DangerousRoot {
            name: name.to_owned(),
            root: root.to_owned(),
        });
    }
    // `pkg.helpers.os` is the module `os` itself, whatever `pkg.helpers` is.
    if policy::is_dangerous_tree(last) {
        return Err(AllowlistError::Dangerous {
            name: name.to_owned(),
            reason: "it names a module whose whole tree is dangerous",
        });
    }
    let c = policy::classify(module, last);
    if c.verdict == crate::Verdict::Dangerous {
        return Err(AllowlistError::Dangerous {
            name: name.to_owned(),
            reason: c.reason,
        });
    }
    for (field, value) in [("reason", &e.reason), ("by", &e.by)] {
        if value.trim().is_empty() {
            return Err(AllowlistError::Missing {
                name: name.to_owned(),
                field,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> AllowEntry {
        AllowEntry {
            name: name.into(),
            reason: "reviewed".into(),
            by: "alice".into(),
        }
    }

    fn refused(name: &str) -> AllowlistError {
        Allowlist::new(vec![entry(name)]).unwrap_err()
    }

    #[test]
    fn exact_names_are_allowed_and_matched_exactly() {
        let list = Allowlist::new(vec![entry("mypkg.models.Net"), entry("__main__.Net")]).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.allows("mypkg.models", "Net").is_some());
        // the same dotted name split another way (protocol 4 walks attributes)
        assert!(list.allows("mypkg", "models.Net").is_some());
        assert!(list.allows("__main__", "Net").is_some());
        assert!(list.allows("mypkg.models", "Net2").is_none());
        assert!(list.allows("mypkg.models", "Net.x").is_none());
        assert!(list.allows("mypkg", "models").is_none());
        assert!(list.allows("mypkg.models ", "Net").is_none());
    }

    #[test]
    fn patterns_dangerous_names_and_dangerous_trees_are_refused() {
        use AllowlistError as E;
        assert!(matches!(refused("mypkg.*"), E::Pattern(_)));
        assert!(matches!(refused("mypkg."), E::Pattern(_)));
        assert!(matches!(refused("mypkg.models.Net?"), E::Pattern(_)));
        assert!(matches!(refused("os"), E::NotQualified(_)));
        assert!(matches!(refused("my pkg.Net"), E::NotIdentifier(_)));
        assert!(matches!(refused(""), E::NotIdentifier(_)));
        for name in [
            "os.system",
            "os.path.join",
            "posix.getcwd",
            "nt.getcwd",
            "builtins.print",
            "__builtin__.print",
            "subprocess.list2cmdline",
            "importlib.machinery.ModuleSpec",
            "sys.getsizeof",
            "pickle.PickleBuffer",
        ] {
            assert!(matches!(refused(name), E::DangerousRoot { .. }), "{name}");
        }
        for name in [
            "torch.load",
            "numpy.load",
            "torch.fx.graph_module.reduce_graph_module",
            "mypkg.models.Net.__globals__",
            "numpy.core._internal.sys",
            "mypkg.__builtins__",
        ] {
            assert!(
                matches!(refused(name), E::Dangerous { .. } | E::DangerousRoot { .. }),
                "{name}: {:?}",
                refused(name)
            );
        }
        let e = refused("os.system");
        assert!(e.to_string().contains("`os.system`"), "{e}");
        assert!(e.to_string().contains("`os`"), "{e}");
    }

    #[test]
    fn entries_need_a_reason_and_a_reviewer_and_appear_once() {
        let mut e = entry("mypkg.Net");
        e.by = " ".into();
        assert!(matches!(
            Allowlist::new(vec![e]),
            Err(AllowlistError::Missing { field: "by", .. })
        ));
        assert!(matches!(
            Allowlist::new(vec![entry("mypkg.Net"), entry("mypkg.Net")]),
            Err(AllowlistError::Duplicate(_))
        ));
    }

    #[test]
    fn the_digest_does_not_depend_on_the_order_written() {
        let a = Allowlist::new(vec![entry("a.B"), entry("c.D")]).unwrap();
        let b = Allowlist::new(vec![entry("c.D"), entry("a.B")]).unwrap();
        assert_eq!(a.digest(), b.digest());
        let mut changed = entry("c.D");
        changed.reason = "another review".into();
        let c = Allowlist::new(vec![entry("a.B"), changed]).unwrap();
        assert_ne!(a.digest(), c.digest());
        assert_ne!(a.digest(), Allowlist::default().digest());
    }

    #[test]
    fn a_scan_with_the_list_is_safe_and_says_which_entry_allowed_what() {
        use crate::{Location, Verdict};
        // protocol 0: `mypkg.models.Net()`, then the same with `os.system` beside it
        let custom: &[u8] = b"(cmypkg.models\nNet\no.";
        let plain = super::super::scan_bytes(custom, &Location::default(), &Default::default());
        assert_eq!(plain.verdict, Verdict::Suspicious);
        let allowlist = Allowlist::new(vec![entry("mypkg.models.Net")]).unwrap();
        let r = super::super::scan_layout(
            std::io::Cursor::new(custom),
            &Location::default(),
            &Default::default(),
            &allowlist,
            super::super::Layout::Stream,
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Safe, "{:?}", r.findings);
        let [e] = &r.findings[..] else {
            panic!("{:?}", r.findings)
        };
        assert_eq!(
            (e.rule.as_str(), e.verdict),
            ("pickle.allowlist", Verdict::Safe)
        );
        assert_eq!(e.location.offset, Some(1));
        assert!(e.message.contains("`mypkg.models.Net`") && e.message.contains("alice"));
        let evil: &[u8] = b"(cmypkg.models\nNet\no0cos\nsystem\n(S'id'\ntR.";
        let r = super::super::scan_layout(
            std::io::Cursor::new(evil),
            &Location::default(),
            &Default::default(),
            &allowlist,
            super::super::Layout::Stream,
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Dangerous);
    }
}
