//! What a run of digit groups is: an IPv4 address, a US SSN, a payment card, a phone
//! number — or, most often, none of them (a date, a decimal, an amount, an order id).
//!
//! The number regex finds the run (`+1 (415) 555-2671`, `2024-01-05`); this file reads
//! its groups and separators and decides. Shapes come first (how many digits in which
//! groups, which separators), then the checksums and ranges.

use super::checks;
use super::{PiiKind, PiiMatch, found};

/// More groups than this is a list of numbers, not one value.
const MAX_GROUPS: usize = 8;

/// A run of digits split into groups.
#[derive(Debug)]
struct Shape<'a> {
    /// The whole span, `+` and parentheses included.
    text: &'a [u8],
    /// `(start, end)` of each digit group, relative to `text`.
    groups: [(usize, usize); MAX_GROUPS],
    count: usize,
    digits: usize,
    plus: bool,
    parens: bool,
}

impl<'a> Shape<'a> {
    fn read(text: &'a [u8]) -> Option<Shape<'a>> {
        let mut s = Shape {
            text,
            groups: [(0, 0); MAX_GROUPS],
            count: 0,
            digits: 0,
            plus: text.first() == Some(&b'+'),
            parens: false,
        };
        let mut i = 0;
        while i < text.len() {
            let b = text.get(i).copied().unwrap_or(0);
            if b.is_ascii_digit() {
                let start = i;
                while text.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let slot = s.groups.get_mut(s.count)?;
                *slot = (start, i);
                s.count += 1;
                s.digits += i - start;
            } else {
                s.parens |= b == b'(' || b == b')';
                i += 1;
            }
        }
        Some(s)
    }

    fn groups(&self) -> &[(usize, usize)] {
        self.groups.get(..self.count).unwrap_or_default()
    }

    fn lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.groups().iter().map(|(a, b)| b - a)
    }

    fn has_lens(&self, want: &[usize]) -> bool {
        self.count == want.len() && self.lens().eq(want.iter().copied())
    }

    fn group(&self, i: usize) -> &[u8] {
        self.groups()
            .get(i)
            .and_then(|&(a, b)| self.text.get(a..b))
            .unwrap_or_default()
    }

    fn value(&self, i: usize) -> u32 {
        self.group(i).iter().fold(0u32, |v, d| {
            v.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
    }

    /// The bytes between group `i - 1` and group `i`.
    fn sep(&self, i: usize) -> &[u8] {
        let (Some(&(_, a)), Some(&(b, _))) =
            (self.groups().get(i.wrapping_sub(1)), self.groups().get(i))
        else {
            return &[];
        };
        self.text.get(a..b).unwrap_or_default()
    }

    /// The one separator every pair of groups shares, if they all share one byte.
    fn uniform_sep(&self) -> Option<u8> {
        let first = self.sep(1);
        let &[b] = first else { return None };
        (2..self.count).all(|i| self.sep(i) == first).then_some(b)
    }

    /// The digits, without separators, in `buf` (no allocation: this runs per cell);
    /// `None` when there are more than fit.
    fn digits_in<'b>(&self, buf: &'b mut [u8; 19]) -> Option<&'b [u8]> {
        let mut n = 0;
        for d in self.text.iter().copied().filter(u8::is_ascii_digit) {
            *buf.get_mut(n)? = d;
            n += 1;
        }
        buf.get(..n)
    }
}

/// Classifies `bytes[start..end]` (a match of the number regex, or a whole all-digit
/// cell) and pushes what it is, if anything, to `out`.
pub(super) fn classify(
    bytes: &[u8],
    start: usize,
    end: usize,
    hint: Option<PiiKind>,
    out: &mut Vec<PiiMatch>,
) {
    let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
    // Glued to a word, an id (`INV-123-45-6789`), a version (`v1.2.3.4`) or an email.
    if before.is_some_and(|b| b.is_ascii_alphanumeric() || b"_.-/@".contains(&b)) {
        return;
    }
    let after = bytes.get(end).copied();
    if after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'@') {
        return;
    }
    let Some(span) = bytes.get(start..end) else {
        return;
    };
    let Some(shape) = Shape::read(span) else {
        return;
    };
    if let Some((kind, confidence)) = judge(&shape, hint) {
        out.push(found(kind, start, end, confidence));
    } else if shape.count > 1 && shape.sep(shape.count - 1) == b"/" {
        // `10.0.0.0/8`: the address without its prefix length.
        // Each retry drops a group, so this recurses at most `MAX_GROUPS` deep.
        if let Some(&(last, _)) = shape.groups().last() {
            classify(bytes, start, start + last - 1, hint, out);
        }
    }
}

fn judge(s: &Shape<'_>, hint: Option<PiiKind>) -> Option<(PiiKind, f32)> {
    if s.count == 0 {
        return None;
    }
    // Before dates: `10.1.12.5` is an address, though it starts like `10.1.12`.
    if let Some(c) = ipv4(s) {
        return c.map(|c| (PiiKind::IpAddress, c));
    }
    if is_date(s) {
        return None;
    }
    if let Some(c) = ssn(s, hint == Some(PiiKind::UsSsn)) {
        return c.map(|c| (PiiKind::UsSsn, c));
    }
    if let Some(c) = card(s, hint == Some(PiiKind::CreditCard)) {
        return Some((PiiKind::CreditCard, c));
    }
    phone(s, hint == Some(PiiKind::Phone)).map(|c| (PiiKind::Phone, c))
}

/// `2024-01-05`, `05/01/2024`, `1.5.2024`, with or without a time after it.
fn is_date(s: &Shape<'_>) -> bool {
    if s.count < 3 || s.plus || s.parens {
        return false;
    }
    let (a, b) = (s.sep(1), s.sep(2));
    if a != b || !matches!(a, b"-" | b"/" | b".") {
        return false;
    }
    let lens: [usize; 3] = [0, 1, 2].map(|i| s.group(i).len());
    let [x, y, z] = [0, 1, 2].map(|i| s.value(i));
    let year = |v: u32| (1900..=2099).contains(&v);
    let month = |v: u32| (1..=12).contains(&v);
    let day = |v: u32| (1..=31).contains(&v);
    match lens {
        [4, 1..=2, 1..=2] => year(x) && month(y) && day(z),
        [1..=2, 1..=2, 4] | [1..=2, 1..=2, 2] => {
            (day(x) && month(y) || month(x) && day(y)) && (lens[2] == 2 || year(z))
        }
        _ => false,
    }
}

/// `Some(Some(c))` an address, `Some(None)` shaped like one but not one (`256.1.1.1`),
/// `None` not shaped like one.
fn ipv4(s: &Shape<'_>) -> Option<Option<f32>> {
    if s.count != 4 || s.plus || s.parens || s.uniform_sep() != Some(b'.') {
        return None;
    }
    if s.lens().any(|n| n > 3) {
        return Some(None);
    }
    let text = std::str::from_utf8(s.text).ok()?;
    // `std` rejects octets over 255 and leading zeros (`010`, ambiguous as octal).
    Some(text.parse::<std::net::Ipv4Addr>().ok().map(|_| 0.8))
}

/// `Some(Some(c))` an SSN, `Some(None)` shaped like one but in a range never issued,
/// `None` not shaped like one. A bare 9-digit number counts only in an SSN column.
fn ssn(s: &Shape<'_>, hinted: bool) -> Option<Option<f32>> {
    if s.plus || s.parens {
        return None;
    }
    let confidence = if s.has_lens(&[3, 2, 4]) {
        match s.uniform_sep()? {
            b'-' => 0.85,
            b' ' => 0.7,
            _ => return None,
        }
    } else if hinted && s.has_lens(&[9]) {
        0.4
    } else {
        return None;
    };
    let mut buf = [0; 19];
    Some(checks::ssn_valid(s.digits_in(&mut buf)?).then_some(confidence))
}

fn card(s: &Shape<'_>, hinted: bool) -> Option<f32> {
    if s.plus || s.parens || !(13..=19).contains(&s.digits) {
        return None;
    }
    let separated = match s.count {
        1 => false,
        _ => {
            let sep = s.uniform_sep()?;
            let last = s.lens().last().unwrap_or(0);
            let fours = s.lens().take(s.count - 1).all(|n| n == 4) && (1..=4).contains(&last);
            let amex_diners = s.has_lens(&[4, 6, 5]) || s.has_lens(&[4, 6, 4]);
            if !matches!(sep, b' ' | b'-') || !(fours || amex_diners) {
                return None;
            }
            true
        }
    };
    let mut buf = [0; 19];
    let digits = s.digits_in(&mut buf)?;
    if !checks::luhn(digits) {
        return None;
    }
    match (checks::card_network(digits), separated) {
        (true, true) => Some(0.95),
        (true, false) => Some(0.8),
        (false, _) if hinted => Some(0.5),
        (false, _) => None,
    }
}

fn phone(s: &Shape<'_>, hinted: bool) -> Option<f32> {
    if !(7..=15).contains(&s.digits) || !balanced(s.text) {
        return None;
    }
    // Separators phone numbers are written with: one of ` -.`, or a parenthesis with
    // at most one of those beside it.
    let ok_seps = (1..s.count).all(|i| {
        let sep = s.sep(i);
        sep.len() == 1 && b" -.".contains(sep.first().unwrap_or(&0))
            || sep.contains(&b'(')
            || sep.contains(&b')')
    });
    if !ok_seps {
        return None;
    }
    let first = s.group(0).first().copied().unwrap_or(b'0');
    if s.plus {
        // E.164: a country code never starts with 0, and 8 digits is the shortest real
        // international number.
        return (s.digits >= 8 && first != b'0').then_some(if s.count > 1 { 0.85 } else { 0.75 });
    }
    let nanp = |area: usize| {
        let lead = |i: usize| s.group(i).first().is_some_and(|&d| d >= b'2');
        lead(area) && lead(area + 1)
    };
    let opens_paren = s.text.first() == Some(&b'(');
    if s.has_lens(&[3, 3, 4]) && nanp(0) {
        if opens_paren {
            return Some(0.85);
        }
        match s.uniform_sep() {
            Some(b'-' | b'.') => return Some(0.75),
            Some(b' ') => return Some(0.6),
            _ => {}
        }
    }
    if s.has_lens(&[1, 3, 3, 4]) && s.group(0) == b"1" && nanp(1) {
        return Some(0.75);
    }
    // National numbers with a trunk prefix: `020 7946 0958`, `06 12 34 56 78`.
    if first == b'0'
        && s.count >= 2
        && (9..=11).contains(&s.digits)
        && s.lens().all(|n| (2..=5).contains(&n))
        && (s.uniform_sep().is_some_and(|b| b" -.".contains(&b)) || opens_paren)
    {
        return Some(0.6);
    }
    let bare_ok = s.count > 1 || s.digits >= 10;
    (hinted && bare_ok).then_some(0.4)
}

fn balanced(text: &[u8]) -> bool {
    let open = text.iter().filter(|&&b| b == b'(').count();
    let close = text.iter().filter(|&&b| b == b')').count();
    open == close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(text: &str, hint: Option<PiiKind>) -> Option<(PiiKind, f32)> {
        let mut out = Vec::new();
        classify(text.as_bytes(), 0, text.len(), hint, &mut out);
        out.first().map(|m| (m.kind, m.confidence))
    }

    #[test]
    fn dates_are_not_numbers_of_people() {
        for d in [
            "2024-01-05",
            "05/01/2024",
            "1.5.2024",
            "12-31-99",
            "2024-01-05 10",
        ] {
            assert_eq!(kind_of(d, None), None, "{d}");
            assert_eq!(
                kind_of(d, Some(PiiKind::Phone)),
                None,
                "{d} in a phone column"
            );
        }
    }

    #[test]
    fn addresses_that_start_like_dates() {
        assert_eq!(kind_of("10.1.12.5", None), Some((PiiKind::IpAddress, 0.8)));
    }

    #[test]
    fn cidr_prefix_is_cut() {
        let mut out = Vec::new();
        classify(b"10.1.2.3/24", 0, 11, None, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].start, out[0].end),
            (PiiKind::IpAddress, 0, 8)
        );
    }

    #[test]
    fn groups_past_the_limit_are_nothing() {
        assert_eq!(kind_of("1 2 3 4 5 6 7 8 9 10", Some(PiiKind::Phone)), None);
    }
}
