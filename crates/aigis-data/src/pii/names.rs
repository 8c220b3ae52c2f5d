//! Dictionaries of given names and surnames, for telling a column of people's names from
//! a column of other words.
//!
//! Source: the US Census Bureau's 1990 name lists (public domain), as shipped in the
//! `names` package on PyPI; `scripts/make_name_lists.py` writes the two embedded files
//! (every given name, 5,163; the 40,000 most frequent surnames, 84 % of the population
//! counted). They are US lists: they hold many Hispanic, European and Asian names, but a
//! column of, say, Polish names hits them less often, which is why a name column is judged
//! on the shape of its values and its header as well (see `columns.rs`).
//!
//! Lookups fold case and the common Latin diacritics (`José` → `jose`, `Müller` →
//! `muller`), since the census spells names in plain ASCII capitals.

use std::collections::HashSet;
use std::sync::OnceLock;

const GIVEN: &str = include_str!("names/given.txt");
const SURNAMES: &str = include_str!("names/surnames.txt");

/// The two dictionaries, decoded once.
#[derive(Debug)]
pub(crate) struct Names {
    given: HashSet<Box<str>>,
    surnames: HashSet<Box<str>>,
}

/// The dictionaries (decoded on first use, a few milliseconds).
pub(crate) fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| Names {
        given: decode(GIVEN),
        surnames: decode(SURNAMES),
    })
}

/// Reads the front-coded list written by `scripts/make_name_lists.py`: each line is one
/// base-36 digit (the length of the prefix shared with the line before) and the rest.
fn decode(text: &str) -> HashSet<Box<str>> {
    let mut out = HashSet::with_capacity(text.len() / 4);
    let mut prev = String::new();
    for line in text.lines() {
        let mut chars = line.chars();
        let Some(shared) = chars.next().and_then(|c| c.to_digit(36)) else {
            continue;
        };
        let keep = (shared as usize).min(prev.len());
        prev.truncate(keep);
        prev.push_str(chars.as_str());
        out.insert(prev.clone().into_boxed_str());
    }
    out
}

impl Names {
    /// Whether `word` (any case, diacritics allowed) is a known given name.
    pub fn is_given(&self, word: &str) -> bool {
        fold(word).is_some_and(|w| self.given.contains(w.as_str()))
    }

    /// Whether `word` is a known surname.
    pub fn is_surname(&self, word: &str) -> bool {
        fold(word).is_some_and(|w| self.surnames.contains(w.as_str()))
    }

    #[cfg(test)]
    pub fn given_len(&self) -> usize {
        self.given.len()
    }

    #[cfg(test)]
    pub fn surnames_len(&self) -> usize {
        self.surnames.len()
    }
}

/// `word` in lowercase ASCII with diacritics, apostrophes and hyphens removed
/// (`O'Brien` → `obrien`, as the census writes it); `None` when something else is left.
pub(crate) fn fold(word: &str) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if c.is_ascii_alphabetic() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        if matches!(c, '\'' | '’' | '-') {
            continue;
        }
        let base = match c.to_lowercase().next().unwrap_or(c) {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' | 'đ' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ğ' => 'g',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
            'ł' | 'ľ' | 'ĺ' => 'l',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ř' | 'ŕ' => 'r',
            'ś' | 'š' | 'ş' | 'ș' => 's',
            'ß' => {
                out.push('s');
                's'
            }
            'ť' | 'ţ' | 'ț' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            _ => return None,
        };
        out.push(base);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_decode_whole() {
        let n = names();
        assert_eq!(n.given_len(), 5163);
        assert_eq!(n.surnames_len(), 40000);
        for g in ["James", "MARY", "josé", "Aaron", "zelma"] {
            assert!(n.is_given(g), "{g}");
        }
        for s in ["Smith", "GARCIA", "Müller", "o'brien", "Nguyen", "aaberg"] {
            assert!(n.is_surname(s), "{s}");
        }
        for w in ["table", "Adm-clerical", "United-States", "x", "123", "Ω"] {
            assert!(!n.is_given(w), "{w}");
        }
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Çelik").as_deref(), Some("celik"));
        assert_eq!(fold("Straße").as_deref(), Some("strasse"));
        assert_eq!(fold("O’Neil").as_deref(), Some("oneil"));
        assert_eq!(fold("A1"), None);
        assert_eq!(fold("-"), None);
    }
}
