//! The checks a regex cannot make: checksums (Luhn, IBAN mod-97), number ranges (SSN,
//! card prefixes), the grammar of emails and IPv6 addresses. Each is small, so written
//! here rather than pulled from a crate per check.

/// `bytes[start..end]` is not glued to a word on either side.
pub(super) fn bounded(bytes: &[u8], start: usize, end: usize) -> bool {
    !word_before(bytes, start) && !word_at(bytes, end)
}

fn is_word(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || *b == b'_'
}

/// The byte before `i` is part of a word.
fn word_before(bytes: &[u8], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(is_word)
}

/// The byte at `i` is part of a word.
fn word_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_some_and(is_word)
}

/// The Luhn (mod 10) check every payment card number passes. `digits` are ASCII.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(d.wrapping_sub(b'0'));
            if i % 2 == 1 {
                let v = v * 2;
                if v > 9 { v - 9 } else { v }
            } else {
                v
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The number starts with a prefix (IIN) of a card network that issues numbers of its
/// length: Visa, Mastercard, American Express, Discover, JCB, Diners, UnionPay, Maestro.
pub(super) fn card_network(digits: &[u8]) -> bool {
    let prefix = |n: usize| {
        digits.get(..n).map_or(0, |p| {
            p.iter()
                .fold(0u32, |v, d| v * 10 + u32::from(d.wrapping_sub(b'0')))
        })
    };
    let len = digits.len();
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    match len {
        13 => p1 == 4,
        14 => (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39,
        15 => p2 == 34 || p2 == 37,
        16 => {
            p1 == 4
                || (51..=55).contains(&p2)
                || (2221..=2720).contains(&p4)
                || p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (3528..=3589).contains(&p4)
                || p2 == 62
                || p2 == 36
                || p2 == 50
                || (56..=69).contains(&p2)
                || (622_126..=622_925).contains(&p6)
        }
        17..=19 => {
            p1 == 4
                || p4 == 6011
                || p2 == 65
                || (3528..=3589).contains(&p4)
                || p2 == 62
                || p2 == 36
                || p2 == 50
                || (56..=69).contains(&p2)
        }
        _ => false,
    }
}

/// The Social Security Administration never issues area 000, 666 or 900–999, group
/// 00 or serial 0000. `digits` are the 9 ASCII digits.
pub(super) fn ssn_valid(digits: &[u8]) -> bool {
    let num = |r: std::ops::Range<usize>| {
        digits.get(r).map(|p| {
            p.iter()
                .fold(0u32, |v, d| v * 10 + u32::from(d.wrapping_sub(b'0')))
        })
    };
    let (Some(area), Some(group), Some(serial)) = (num(0..3), num(3..5), num(5..9)) else {
        return false;
    };
    digits.len() == 9 && area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// The length of IBANs of each country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// An IBAN starting at `start` (where the regex found `[A-Z]{2}[0-9]{2}`): reads the
/// country's number of characters, written together or in groups of four, and checks
/// ISO 7064 mod 97-10. Returns the end offset and the confidence.
pub(super) fn iban_at(bytes: &[u8], start: usize) -> Option<(usize, f32)> {
    if word_before(bytes, start) {
        return None;
    }
    let country = bytes.get(start..start + 2)?;
    let &(_, len) = IBAN_LENGTHS.iter().find(|(c, _)| c.as_slice() == country)?;
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut i = start;
    while n < len {
        let b = *bytes.get(i)?;
        if b == b' ' && n % 4 == 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
            continue;
        }
        if !(b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        *chars.get_mut(n)? = b;
        n += 1;
        i += 1;
    }
    if word_at(bytes, i) {
        return None;
    }
    // Move the country and check digits to the end, read letters as 10..=35, and the
    // whole number mod 97 must be 1. Done digit by digit so it never overflows.
    let iban = chars.get(..len)?;
    let (head, rest) = iban.split_at_checked(4)?;
    let mut rem = 0u32;
    for &c in rest.iter().chain(head) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some((i, 0.95))
}

/// Top-level domains that are really file extensions (`logo@2x.png`).
const NOT_TLDS: &[&str] = &["png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js"];

/// An email candidate (`local@domain.tld`, as the regex found it) that follows the
/// length limits of RFC 5321 and has a plausible domain.
pub(super) fn email(bytes: &[u8], start: usize, end: usize) -> Option<f32> {
    let text = bytes.get(start..end)?;
    let at = text.iter().position(|&b| b == b'@')?;
    let (local, domain) = (text.get(..at)?, text.get(at + 1..)?);
    let dots_ok = |s: &[u8]| {
        s.first() != Some(&b'.') && s.last() != Some(&b'.') && !s.windows(2).any(|w| w == b"..")
    };
    if local.len() > 64 || domain.len() > 253 || !dots_ok(local) {
        return None;
    }
    let mut labels = domain.split(|&b| b == b'.');
    let label_ok = |l: &[u8]| {
        (1..=63).contains(&l.len()) && l.first() != Some(&b'-') && l.last() != Some(&b'-')
    };
    if !labels.all(label_ok) {
        return None;
    }
    let tld = domain.rsplit(|&b| b == b'.').next()?;
    let tld_ok = tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic);
    let file = NOT_TLDS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(tld));
    (tld_ok && !file && bounded(bytes, start, end)).then_some(0.9)
}

/// An IPv6 candidate that `std` parses, with at least three groups written (so `::`,
/// `::1` and `de::ad` are not reported).
pub(super) fn ipv6(text: &str, start: usize, end: usize) -> Option<f32> {
    let bytes = text.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric() || *b == b':' || *b == b'.';
    if start
        .checked_sub(1)
        .and_then(|i| bytes.get(i))
        .is_some_and(edge)
        || bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b':')
    {
        return None;
    }
    let s = text.get(start..end)?;
    s.parse::<std::net::Ipv6Addr>().ok()?;
    let written = s.split([':', '.']).filter(|g| !g.is_empty()).count();
    // With a dotted tail it is as sure as the IPv4 address inside it, which it must
    // outrank to be kept whole.
    if !s.contains("::") || s.contains('.') {
        Some(0.85)
    } else if written >= 3 {
        Some(0.75)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_answers() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
    }

    #[test]
    fn ssn_ranges() {
        assert!(ssn_valid(b"123456789"));
        for bad in [
            b"000123456",
            b"666123456",
            b"900123456",
            b"999123456",
            b"123006789",
            b"123450000",
        ] {
            assert!(!ssn_valid(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn iban_checksum_and_length() {
        let ok = b"GB82 WEST 1234 5698 7654 32";
        assert_eq!(iban_at(ok, 0), Some((ok.len(), 0.95)));
        assert!(iban_at(b"GB82WEST12345698765432", 0).is_some());
        assert!(
            iban_at(b"GB83WEST12345698765432", 0).is_none(),
            "wrong check digits"
        );
        assert!(iban_at(b"GB82WEST1234569876543", 0).is_none(), "one short");
        assert!(iban_at(b"GB82WEST123456987654321", 0).is_none(), "one long");
        assert!(
            iban_at(b"ZZ82WEST12345698765432", 0).is_none(),
            "no such country"
        );
    }

    #[test]
    fn emails() {
        let e = |s: &str| email(s.as_bytes(), 0, s.len());
        assert!(e("ana.lopez+news@mail.example.co.uk").is_some());
        for bad in [
            "a..b@example.com",
            ".a@example.com",
            "a@example.c0m",
            "logo@2x.png",
            "a@-x.com",
        ] {
            assert!(e(bad).is_none(), "{bad}");
        }
    }
}
