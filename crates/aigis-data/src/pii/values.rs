//! The shapes of personal values that are not patterns: people's names, dates (of
//! birth), postal codes and street addresses. Each function judges one value; the column
//! judge in `columns.rs` adds them up over a sample.

/// A value read as a person's name: its name tokens (particles and suffixes dropped) and
/// how it is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NameShape<'a> {
    /// The name words in reading order: for `Last, First` the given name first.
    pub words: Vec<&'a str>,
    /// Every word starts with a capital (`Ana`, `ANA`, `McDonald`).
    pub capitalized: bool,
    /// Every word is lowercase (`ana lopez`).
    pub lowercase: bool,
}

/// Particles and suffixes that may sit between or after name words (`de la Cruz`,
/// `van der Berg`, `King Jr.`); they do not count as words of their own.
#[rustfmt::skip]
const PARTICLES: [&str; 48] = [
    "de", "del", "della", "der", "den", "di", "da", "das", "dos", "du", "la", "le", "van", "von",
    "bin", "ibn", "al", "el", "y", "jr", "sr", "ii", "iii", "iv",
    // Titles and degrees (`Dr. Ana Lopez MD`, `Herr Jürgen Weber`).
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "m", "sra",
    "srta", "dott", "ing", "md", "phd", "dds", "dvm", "esq", "pan", "pani", "dhr",
];

/// `value` as a person's name, if it is written like one: one to five words of letters
/// (with `'`, `’`, `-` inside and an optional `.` after an initial), no digits, and either
/// every word capitalized or every word in lowercase. `Last, First` is read in order.
pub(crate) fn name_shape(value: &str) -> Option<NameShape<'_>> {
    let value = value.trim();
    if value.is_empty() || value.len() > 80 {
        return None;
    }
    let (head, tail) = match value.split_once(',') {
        Some((last, first)) if !first.contains(',') => (first, Some(last)),
        Some(_) => return None,
        None => (value, None),
    };
    let mut shape = NameShape {
        capitalized: true,
        lowercase: true,
        ..NameShape::default()
    };
    for token in head
        .split_whitespace()
        .chain(tail.into_iter().flat_map(str::split_whitespace))
    {
        let word = token.trim_end_matches('.');
        if word.is_empty() {
            return None;
        }
        // Degrees and titles written with inner dots (`B.Sc.`, `Dipl.-Ing.`, `Univ.Prof.`).
        if word.contains('.')
            && word
                .chars()
                .all(|c| c.is_alphabetic() || c == '.' || c == '-')
        {
            continue;
        }
        let first = word.chars().next()?;
        let inner_ok = word
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '-'));
        if !inner_ok || !first.is_alphabetic() {
            return None;
        }
        if PARTICLES.iter().any(|p| p.eq_ignore_ascii_case(word)) {
            continue;
        }
        // A dot ends only an initial (`J.`) or a known suffix (`Jr.`, handled above).
        if token.ends_with('.') && word.chars().count() > 2 {
            return None;
        }
        shape.capitalized &= first.is_uppercase();
        shape.lowercase &= word.chars().all(|c| !c.is_uppercase());
        shape.words.push(word);
    }
    // Initials (`Cesar A.`, `J. R. Smith`) say nothing of the name: keep the words.
    if shape.words.iter().any(|w| w.chars().count() > 1) {
        shape.words.retain(|w| w.chars().count() > 1);
    }
    let n = shape.words.len();
    ((1..=5).contains(&n) && (shape.capitalized || shape.lowercase)).then_some(shape)
}

/// A calendar date in `value`, as (year, month, day): ISO `YYYY-MM-DD` (also with `/` or
/// `.`, and a time after it), `DD/MM/YYYY` and `MM/DD/YYYY` (also with `-` or `.`), the
/// compact `YYYYMMDD`, and English month names (`18 April 1947`, `Apr 18, 1947`,
/// `18-Apr-1947`). Two-digit years are not read: they cannot be told from a day.
pub(crate) fn date(value: &str) -> Option<(i32, u32, u32)> {
    let value = value.trim();
    // The date part ends at a `T` or a space followed by a time.
    let head = match value.find(['T', ' ']) {
        Some(i) if value.get(i + 1..).is_some_and(|t| t.contains(':')) => value.get(..i)?,
        _ => value,
    };
    if let Some(d) = numeric_date(head) {
        return Some(d);
    }
    named_month_date(value)
}

fn numeric_date(s: &str) -> Option<(i32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let y = s.get(..4)?.parse().ok()?;
        let m = s.get(4..6)?.parse().ok()?;
        let d = s.get(6..8)?.parse().ok()?;
        return valid(y, m, d);
    }
    let sep = *b.iter().find(|c| matches!(c, b'-' | b'/' | b'.'))?;
    let parts: Vec<&str> = s.split(sep as char).collect();
    let [a, m, c] = parts.as_slice() else {
        return None;
    };
    if !(a.bytes().all(|x| x.is_ascii_digit())
        && m.bytes().all(|x| x.is_ascii_digit())
        && c.bytes().all(|x| x.is_ascii_digit()))
    {
        return None;
    }
    let (na, nm, nc): (u32, u32, u32) = (a.parse().ok()?, m.parse().ok()?, c.parse().ok()?);
    match (a.len(), m.len(), c.len()) {
        (4, 1..=2, 1..=2) => valid(na as i32, nm, nc),
        (1..=2, 1..=2, 4) => {
            // Day first where that is the only reading, else month first (US).
            if na > 12 {
                valid(nc as i32, nm, na)
            } else {
                valid(nc as i32, na, nm).or_else(|| valid(nc as i32, nm, na))
            }
        }
        _ => None,
    }
}

/// Month names and abbreviations (folded to ASCII lowercase) in English, French, German,
/// Spanish, Italian, Portuguese and Dutch, with their numbers.
#[rustfmt::skip]
const MONTH_NAMES: &[(&str, u32)] = &[
    ("jan", 1), ("january", 1), ("janvier", 1), ("januar", 1), ("janner", 1), ("enero", 1),
    ("gennaio", 1), ("janeiro", 1), ("januari", 1), ("ene", 1), ("gen", 1),
    ("feb", 2), ("february", 2), ("fevrier", 2), ("fev", 2), ("februar", 2), ("febrero", 2),
    ("febbraio", 2), ("fevereiro", 2), ("februari", 2),
    ("mar", 3), ("march", 3), ("mars", 3), ("marz", 3), ("maerz", 3), ("marzo", 3),
    ("marco", 3), ("maart", 3), ("mrz", 3), ("mrt", 3),
    ("apr", 4), ("april", 4), ("avril", 4), ("avr", 4), ("abril", 4), ("abr", 4),
    ("aprile", 4),
    ("may", 5), ("mai", 5), ("mayo", 5), ("maggio", 5), ("maio", 5), ("mei", 5), ("mag", 5),
    ("jun", 6), ("june", 6), ("juin", 6), ("juni", 6), ("junio", 6), ("giugno", 6),
    ("junho", 6), ("giu", 6),
    ("jul", 7), ("july", 7), ("juillet", 7), ("juil", 7), ("juli", 7), ("julio", 7),
    ("luglio", 7), ("julho", 7), ("lug", 7),
    ("aug", 8), ("august", 8), ("aout", 8), ("agosto", 8), ("augustus", 8), ("ago", 8),
    ("sep", 9), ("sept", 9), ("september", 9), ("septembre", 9), ("septiembre", 9),
    ("setiembre", 9), ("settembre", 9), ("setembro", 9), ("set", 9),
    ("oct", 10), ("october", 10), ("octobre", 10), ("okt", 10), ("oktober", 10),
    ("octubre", 10), ("ottobre", 10), ("outubro", 10), ("ott", 10), ("out", 10),
    ("nov", 11), ("november", 11), ("novembre", 11), ("noviembre", 11), ("novembro", 11),
    ("dec", 12), ("december", 12), ("decembre", 12), ("dez", 12), ("dezember", 12),
    ("dic", 12), ("diciembre", 12), ("dicembre", 12), ("dezembro", 12),
];

/// `18 April 1947`, `Apr 18, 1947`, `18-Apr-1947`, `18 avril 1947`, `18. März 1947`,
/// `18 de abril de 1947`.
fn named_month_date(s: &str) -> Option<(i32, u32, u32)> {
    let mut year = None;
    let mut month = None;
    let mut day = None;
    let mut tokens = 0;
    for t in s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '/' | '.')) {
        if t.is_empty() || matches!(t, "de" | "del" | "of" | "the") {
            continue;
        }
        tokens += 1;
        if tokens > 4 {
            return None;
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let n: u32 = t.parse().ok()?;
            match t.len() {
                4 if year.is_none() => year = Some(n as i32),
                1 | 2 if day.is_none() => day = Some(n),
                _ => return None,
            }
        } else {
            let word = super::names::fold(t)?;
            let &(_, m) = MONTH_NAMES.iter().find(|(name, _)| *name == word)?;
            if month.is_some() {
                return None;
            }
            month = Some(m);
        }
    }
    valid(year?, month?, day?)
}

fn valid(y: i32, m: u32, d: u32) -> Option<(i32, u32, u32)> {
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    ((1000..=2999).contains(&y) && (1..=days).contains(&d)).then_some((y, m, d))
}

/// Postal-code shapes. `Distinct` ones are told by their letters or punctuation (a UK,
/// Canadian, Dutch, Irish code, a US ZIP+4); `Digits` are bare numbers of 3 to 8 digits,
/// which only a header can tell from any other number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostalShape {
    Distinct,
    Digits,
}

pub(crate) fn postal_code(value: &str) -> Option<PostalShape> {
    let v = value.trim();
    let b = v.as_bytes();
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    // 3 to 8 digits: 4 (AT, CH, BE, DK, AU), 5 (US, DE, FR, ES, IT), 6 (IN, RU, CN), 8
    // (Brazil's CEP written without its dash).
    if (3..=8).contains(&b.len()) && all_digits(b) {
        return Some(PostalShape::Digits);
    }
    // US ZIP+4, Brazil 12345-678, Japan 123-4567, Poland 12-345, Portugal 1234-567,
    // Sweden 123 45.
    if let Some((a, c)) = v.split_once(['-', ' ']) {
        let (a, c) = (a.as_bytes(), c.as_bytes());
        if all_digits(a) && all_digits(c) {
            return match (a.len(), c.len()) {
                (5, 4) => Some(PostalShape::Distinct),
                (5, 3) | (3, 4) | (2, 3) | (4, 3) | (3, 2) => Some(PostalShape::Digits),
                _ => None,
            };
        }
    }
    let compact: Vec<u8> = b.iter().copied().filter(|c| *c != b' ').collect();
    let cu = |i: usize| compact.get(i).is_some_and(u8::is_ascii_uppercase);
    let cd = |i: usize| compact.get(i).is_some_and(u8::is_ascii_digit);
    // Netherlands 1234 AB.
    if compact.len() == 6 && (0..4).all(cd) && cu(4) && cu(5) {
        return Some(PostalShape::Distinct);
    }
    // Canada A1A 1A1.
    if compact.len() == 6 && cu(0) && cd(1) && cu(2) && cd(3) && cu(4) && cd(5) {
        return Some(PostalShape::Distinct);
    }
    // Ireland (Eircode) A65 F4E2: letter, two digits (or D6W), four alphanumerics.
    if compact.len() == 7
        && cu(0)
        && (cd(1) && cd(2) || compact.get(1..3) == Some(b"6W"))
        && compact.iter().skip(3).all(u8::is_ascii_alphanumeric)
        && v.contains(' ')
        && b.get(3) == Some(&b' ')
    {
        return Some(PostalShape::Distinct);
    }
    // United Kingdom: outward A9, A99, AA9, AA99, A9A, AA9A; inward 9AA.
    if (5..=7).contains(&compact.len()) {
        let n = compact.len();
        let inward = cd(n - 3) && cu(n - 2) && cu(n - 1);
        let outward = &compact.get(..n - 3).unwrap_or_default();
        let ow = |i: usize| outward.get(i).copied();
        let out_ok = match outward.len() {
            2 => cu(0) && cd(1),
            3 => {
                cu(0) && (cd(1) && ow(2).is_some_and(|c| c.is_ascii_alphanumeric()))
                    || cu(0) && cu(1) && cd(2)
            }
            4 => cu(0) && cu(1) && cd(2) && ow(3).is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        };
        if inward && out_ok {
            return Some(PostalShape::Distinct);
        }
    }
    None
}

/// Words that name a kind of street, in the languages aigis is used with (English with
/// the USPS suffixes and their abbreviations, French, Spanish, Italian, Portuguese,
/// German, Dutch, Polish). Compared lowercase, without a final `.`.
#[rustfmt::skip]
const STREET_WORDS: &[&str] = &[
    // English (USPS suffixes and abbreviations)
    "street", "st", "avenue", "ave", "av", "road", "rd", "boulevard", "blvd", "lane", "ln",
    "drive", "dr", "way", "court", "ct", "place", "pl", "terrace", "ter", "circle", "cir",
    "parkway", "pkwy", "highway", "hwy", "square", "sq", "trail", "trl", "crescent", "cres",
    "close", "grove", "gardens", "row", "mews", "alley", "loop", "path", "pike", "plaza",
    "walk", "crossing", "ridge", "heights", "hill", "hills", "park", "route", "rte",
    "expressway", "freeway", "turnpike", "junction", "creek", "cove", "harbor", "harbour",
    "landing", "manor", "meadow", "meadows", "mill", "mills", "pines", "port", "prairie",
    "shore", "shores", "springs", "summit", "valley", "villa", "village", "vista", "forge",
    "fork", "forks", "falls", "ferry", "field", "fields", "ford", "fort", "glen", "green",
    "haven", "knoll", "lake", "lakes", "mall", "motorway", "mount", "mountain", "neck",
    "orchard", "oval", "overpass", "plain", "plains", "ramp", "ranch", "rapids", "river",
    "shoal", "shoals", "skyway", "spur", "stream", "stravenue", "throughway", "tunnel",
    "underpass", "viaduct", "bypass", "bridge", "brook", "brooks", "burg", "burgs", "canyon",
    "cape", "causeway", "cliff", "cliffs", "corner", "corners", "courts", "curve", "dale",
    "dam", "divide", "estate", "estates", "extension", "bluff", "bluffs", "bend", "beach",
    "isle", "island", "islands", "inlet", "junctions", "knolls", "lodge", "manors", "mountains",
    "oaks", "parks", "passage", "ports", "radial", "ridges", "roads", "routes", "squares",
    "avenues", "boulevards", "drives", "lanes",
    "streets", "trafficway", "trailer", "turnpike", "ville", "ways", "apt", "suite", "ste",
    "unit",
    // French
    "rue", "boulevard", "bd", "chemin", "allée", "allee", "impasse", "quai", "cours", "voie",
    "passage", "faubourg",
    // Spanish
    "calle", "avenida", "avda", "plaza", "paseo", "camino", "carrera", "carretera", "ronda",
    "travesía", "travesia", "glorieta", "pasaje",
    // Italian
    "via", "viale", "piazza", "corso", "largo", "vicolo", "strada", "piazzale", "contrada",
    // Portuguese
    "rua", "travessa", "praça", "praca", "estrada", "alameda", "rodovia",
    // German and Dutch as separate words
    "straße", "strasse", "str", "weg", "platz", "allee", "gasse", "ring", "damm", "ufer",
    "chaussee", "straat", "laan", "plein", "gracht", "kade", "singel", "dijk",
    // Polish
    "ul", "ulica", "al", "aleja", "os", "osiedle",
];

/// Endings of German and Dutch street names written as one word (`Hauptstraße`,
/// `Kerkstraat`, `Lindenweg`).
#[rustfmt::skip]
const STREET_ENDINGS: [&str; 27] = [
    "straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "damm", "ufer", "steig",
    "ring", "pfad", "chaussee", "stieg", "straat", "laan", "plein", "gracht", "kade", "singel",
    "dijk", "pad", "hof", "steeg", "markt", "dreef", "baan",
];

/// Whether `word` (any case, a final `.` allowed) names a kind of street (`Street`,
/// `Ave.`, `rue`, `Calle`).
pub(crate) fn is_street_word(word: &str) -> bool {
    let w = word.trim_end_matches('.').to_lowercase();
    STREET_WORDS.contains(&w.as_str())
}

/// Whether `value` has a house number beside words (`Parque de Viana, 81`): the shape an
/// address column has even where the kind of street is a word not in [`STREET_WORDS`].
pub(crate) fn number_and_words(value: &str) -> bool {
    let (mut number, mut words) = (false, 0);
    for t in value.split(|c: char| c.is_whitespace() || c == ',') {
        let t = t.trim_matches(|c: char| c == '.' || c == '#');
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && digits <= 5 && t.len() - digits <= 1 {
            number = true;
        } else if t.chars().next().is_some_and(char::is_alphabetic) {
            words += 1;
        }
    }
    number && words >= 1
}

/// Whether `value` holds a street address: a house number (`12`, `12b`, `12-14`) and a
/// word naming a kind of street (or a one-word German/Dutch street name), or a post-office
/// box. Lines after the first (city, postcode) may follow.
pub(crate) fn street_address(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 5 || v.len() > 200 {
        return false;
    }
    let lower = v.to_lowercase();
    if lower.starts_with("p.o. box")
        || lower.starts_with("po box")
        || lower.starts_with("p o box")
        || lower.starts_with("postfach ")
        || lower.starts_with("apartado ")
    {
        return lower.bytes().any(|b| b.is_ascii_digit());
    }
    let mut number = false;
    let mut street = false;
    let mut words = 0;
    for token in lower.split(|c: char| c.is_whitespace() || c == ',') {
        let t = token.trim_matches(|c: char| c == '.' || c == '#');
        if t.is_empty() {
            continue;
        }
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && digits <= 5 {
            let rest = t.get(digits..).unwrap_or_default();
            if rest.len() <= 1 || rest.starts_with(['-', '/']) || rest == "bis" || rest == "ter" {
                number = true;
                continue;
            }
        }
        if t.chars().any(char::is_alphabetic) {
            words += 1;
            let bare = token.trim_end_matches(',');
            if STREET_WORDS.contains(&t) {
                street = true;
            } else if STREET_ENDINGS
                .iter()
                .any(|e| bare.len() > e.len() + 2 && bare.ends_with(e))
            {
                // `Hauptstraße` is both the name and the kind of street.
                street = true;
                words += 1;
            }
        }
    }
    // An intersection or a block (`Vermont & Leeward avenues`, `5800 block of South
    // Vermont Avenue`, `Harbor Freeway near Slauson Avenue`) places a person as well.
    let between = [
        " & ",
        " and ",
        " at ",
        " near ",
        "block of ",
        " y ",
        " et ",
        " und ",
    ]
    .iter()
    .any(|w| lower.contains(w));
    street && words >= 2 && (number || between)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let s = name_shape("Ana María López").unwrap();
        assert_eq!(s.words, ["Ana", "María", "López"]);
        assert!(s.capitalized);
        let s = name_shape("hernandez, miguel").unwrap();
        assert_eq!(s.words, ["miguel", "hernandez"]);
        assert!(s.lowercase);
        let s = name_shape("Martin Luther King Jr.").unwrap();
        assert_eq!(s.words, ["Martin", "Luther", "King"]);
        assert_eq!(
            name_shape("Ludwig van Beethoven").unwrap().words,
            ["Ludwig", "Beethoven"]
        );
        assert_eq!(name_shape("J. R. Smith").unwrap().words, ["Smith"]);
        assert_eq!(name_shape("Cesar A.").unwrap().words, ["Cesar"]);
        assert_eq!(
            name_shape("Dipl.-Ing. Adalbert Gierschner B.Eng.")
                .unwrap()
                .words,
            ["Adalbert", "Gierschner"]
        );
        assert_eq!(
            name_shape("O'Brien-Smith").unwrap().words,
            ["O'Brien-Smith"]
        );
        for bad in [
            "",
            "Route 66",
            "Gone with the Wind",
            "a, b, c",
            "Inc.",
            "one two three four five six",
            "Adm.",
            "x@y",
        ] {
            assert!(name_shape(bad).is_none(), "{bad}");
        }
        // A hyphenated category is name-shaped; the dictionaries tell it apart.
        assert!(name_shape("Exec-managerial").is_none_or(|s| s.words.len() == 1));
    }

    #[test]
    fn dates() {
        assert_eq!(date("1947-04-18"), Some((1947, 4, 18)));
        assert_eq!(date("1947-04-18 00:00:00"), Some((1947, 4, 18)));
        assert_eq!(date("1947-04-18T10:00:00Z"), Some((1947, 4, 18)));
        assert_eq!(date("18/04/1947"), Some((1947, 4, 18)));
        assert_eq!(date("04/18/1947"), Some((1947, 4, 18)));
        assert_eq!(date("18.04.1947"), Some((1947, 4, 18)));
        assert_eq!(date("19470418"), Some((1947, 4, 18)));
        assert_eq!(date("18 April 1947"), Some((1947, 4, 18)));
        assert_eq!(date("Apr 18, 1947"), Some((1947, 4, 18)));
        assert_eq!(date("18-Apr-1947"), Some((1947, 4, 18)));
        assert_eq!(date("18 avril 1947"), Some((1947, 4, 18)));
        assert_eq!(date("18. März 1947"), Some((1947, 3, 18)));
        assert_eq!(date("18 de abril de 1947"), Some((1947, 4, 18)));
        assert_eq!(date("1 août 1950"), Some((1950, 8, 1)));
        for bad in [
            "1947-02-30",
            "18/04/47",
            "12345678",
            "April",
            "3.14",
            "13/13/2000",
            "Maybe 5 1999",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn postal_codes() {
        for d in [
            "SW1A 1AA",
            "M1 1AE",
            "EC1A 1BB",
            "K1A 0B1",
            "1012 AB",
            "02134-1234",
            "D02 X285",
        ] {
            assert_eq!(postal_code(d), Some(PostalShape::Distinct), "{d}");
        }
        for d in [
            "02134", "75008", "1010", "560001", "01-234", "100-0001", "123 45",
        ] {
            assert_eq!(postal_code(d), Some(PostalShape::Digits), "{d}");
        }
        for bad in ["12", "123456789", "hello", "AB", "1.5", "ABCDEF"] {
            assert_eq!(postal_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn addresses() {
        for a in [
            "1600 Pennsylvania Avenue NW",
            "221B Baker Street",
            "48764 Howard Forge Apt. 421\nEast Tiffany, MO 08263",
            "12 rue de la Paix, 75002 Paris",
            "Hauptstraße 5, 10115 Berlin",
            "Calle Mayor 12",
            "Via Roma 3",
            "Kerkstraat 10",
            "Hannahring 17",
            "ul. Marszałkowska 1",
            "P.O. Box 1234",
            "Rua Augusta 100",
            "Vermont & Leeward avenues",
            "5800 block of South Vermont Avenue",
            "2009 W. 6th St.",
            "Unit 5/12 Smith St",
        ] {
            assert!(street_address(a), "{a}");
        }
        for bad in [
            "Main Street",
            "Street 5",
            "New York",
            "25 - 45",
            "Aggravated Assault w/Firearm",
            "Apple iPhone 12",
            "Route 66",
        ] {
            assert!(!street_address(bad), "{bad}");
        }
    }
}
