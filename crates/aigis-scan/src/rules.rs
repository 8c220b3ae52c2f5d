//! The rules findings are reported under: each declared once, beside the scanner that
//! reports it, with what it means (SARIF's `shortDescription`, the docs).

use serde::Serialize;

/// A rule a [`crate::Finding`] is reported under: its stable id (`pickle.global.dangerous`,
/// `zip.path_traversal`) and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Rule {
    /// The stable id, `<format>.<what>`.
    pub id: &'static str,
    /// What a finding under it means, in one sentence.
    pub description: &'static str,
}

impl Rule {
    /// Every rule the scanner reports, by format.
    pub fn all() -> impl Iterator<Item = Rule> {
        [
            crate::scan::rule::ALL,
            crate::pickle::rule::ALL,
            crate::zip::rule::ALL,
            crate::tar::rule::ALL,
            crate::compressed::rule::ALL,
            crate::npy::rule::ALL,
            crate::safetensors::rule::ALL,
            crate::gguf::rule::ALL,
            crate::hdf5::rule::ALL,
            crate::keras::rule::ALL,
            crate::onnx::rule::ALL,
            crate::savedmodel::rule::ALL,
            crate::checkpoint::rule::ALL,
        ]
        .into_iter()
        .flatten()
        .copied()
    }

    /// The rule with this id, if the scanner has one.
    pub fn find(id: &str) -> Option<Rule> {
        Self::all().find(|r| r.id == id)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// Declares a module's rules: `NAME = "format.what": "What it means.";` becomes the
/// constant `rule::NAME`, and `rule::ALL` lists them.
macro_rules! declare {
    ($($name:ident = $id:literal: $description:literal;)*) => {
        /// The rules this module reports findings under.
        pub(crate) mod rule {
            use crate::rules::Rule;
            $(
                pub(crate) const $name: Rule = Rule { id: $id, description: $description };
            )*
            /// Every rule of this module.
            pub(crate) const ALL: &[Rule] = &[$($name),*];
        }
    };
}
pub(crate) use declare;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_named_by_format() {
        let mut seen = std::collections::HashSet::new();
        for r in Rule::all() {
            assert!(seen.insert(r.id), "`{}` declared twice", r.id);
            let (format, what) = r.id.split_once('.').unwrap();
            assert!(!format.is_empty() && !what.is_empty(), "{}", r.id);
            assert!(
                r.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b)),
                "{}",
                r.id
            );
            assert!(r.description.ends_with('.'), "{}", r.id);
        }
        assert_eq!(Rule::find("zip.bomb").map(|r| r.id), Some("zip.bomb"));
        assert_eq!(Rule::find("zip.nothing"), None);
    }
}
