//! Candidate spans for emails, digit runs and IBANs, found by single byte-class scans.
//!
//! Why by hand and not with the regex engine (which still finds API keys, IPv6
//! addresses and tokens): table cells are short, 10 to 30 bytes for most, and a regex
//! search has a fixed cost per call (taking a cache from the pool, a forward and a
//! reverse DFA pass) of the order of 100 ns, which on a 20-byte cell caps a scan near
//! 100 MB/s before any work is done. These three shapes are plain runs of byte classes,
//! so a loop finds them with no setup. Each scan only moves forward, and every
//! look-around is bounded (64 bytes back for an email's local part, 254 ahead for its
//! domain, 34 characters for an IBAN), so a cell of n bytes costs O(n).
//!
//! Each function follows the regex it replaces, written above it, with the same
//! leftmost-longest result.

/// Local part `[A-Za-z0-9._%+-]` of an email.
fn local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Domain `[A-Za-z0-9.-]` of an email.
fn domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// `[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`: calls `f(start, end)` for
/// each candidate around an `@`. A local part longer than 64 bytes is not an address
/// (RFC 5321), so the look back stops at 65.
pub(super) fn emails(bytes: &[u8], mut f: impl FnMut(usize, usize) -> bool) {
    let mut floor = 0;
    let mut i = 0;
    while let Some(at) = bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'@'))
    {
        let at = i + at;
        i = at + 1;
        let mut start = at;
        while start > floor
            && at - start <= 64
            && bytes.get(start - 1).is_some_and(|&b| local_byte(b))
        {
            start -= 1;
        }
        if start == at || at - start > 64 {
            continue;
        }
        let mut end = at + 1;
        while end - at <= 254 && bytes.get(end).is_some_and(|&b| domain_byte(b)) {
            // `..` ends the domain before it.
            if bytes.get(end) == Some(&b'.') && bytes.get(end + 1) == Some(&b'.') {
                break;
            }
            end += 1;
        }
        while end > at + 1 && bytes.get(end - 1) == Some(&b'.') {
            end -= 1;
        }
        let has_dot = bytes.get(at + 1..end).is_some_and(|d| d.contains(&b'.'));
        if has_dot && f(start, end) {
            floor = end;
            i = end;
        }
    }
}

/// `(?:\+|\()?[0-9]+(?:(?:[ ./-]\(?|\)[ -]?)[0-9]+)*`: calls `f(start, end)` for each
/// maximal run of digit groups, with a `+` or `(` just before its first digit.
pub(super) fn numbers(bytes: &[u8], mut f: impl FnMut(usize, usize)) {
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = 0;
    let mut floor = 0;
    while i < bytes.len() {
        if !digit(i) {
            i += 1;
            continue;
        }
        let start = match i.checked_sub(1).and_then(|p| bytes.get(p)) {
            Some(b'+' | b'(') if i > floor => i - 1,
            _ => i,
        };
        let mut end = i;
        loop {
            while digit(end) {
                end += 1;
            }
            // A separator continues the run only when a digit follows it.
            let next = match bytes.get(end) {
                Some(b' ' | b'.' | b'-' | b'/') => {
                    if bytes.get(end + 1) == Some(&b'(') {
                        end + 2
                    } else {
                        end + 1
                    }
                }
                Some(b')') => {
                    if matches!(bytes.get(end + 1), Some(b' ' | b'-')) {
                        end + 2
                    } else {
                        end + 1
                    }
                }
                _ => break,
            };
            if !digit(next) {
                break;
            }
            end = next;
        }
        f(start, end);
        i = end;
        floor = end;
    }
}

/// `[A-Z]{2}[0-9]{2}`: calls `f(start)` at each place an IBAN could start.
pub(super) fn iban_starts(bytes: &[u8], mut f: impl FnMut(usize) -> Option<usize>) {
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let shape = bytes.get(i..i + 4).is_some_and(|w| {
            matches!(w, [a, b, c, d] if a.is_ascii_uppercase() && b.is_ascii_uppercase()
                && c.is_ascii_digit() && d.is_ascii_digit())
        });
        i = match shape.then(|| f(i)).flatten() {
            Some(end) => end,
            None => i + 1,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        numbers(text.as_bytes(), |a, b| out.push(&text[a..b]));
        out
    }

    #[test]
    fn number_runs() {
        assert_eq!(
            spans_of("call +1 (415) 555-2671 or 020 7946 0958, 3.14; 1- 2 x(7)"),
            ["+1 (415) 555-2671", "020 7946 0958", "3.14", "1", "2", "(7"]
        );
        assert_eq!(spans_of("10.0.0.1/24."), ["10.0.0.1/24"]);
    }

    #[test]
    fn email_candidates() {
        let text = "a..b@x.com, <ana@example.com.>, x@y, @z.com, b@c..d.com";
        let mut out = Vec::new();
        emails(text.as_bytes(), |a, b| {
            out.push(&text[a..b]);
            true
        });
        assert_eq!(out, ["a..b@x.com", "ana@example.com"]);
    }

    #[test]
    fn long_local_parts_are_not_read_back_without_end() {
        let text = format!("{}@example.com", "a".repeat(70));
        let mut n = 0;
        emails(text.as_bytes(), |_, _| {
            n += 1;
            true
        });
        assert_eq!(n, 0);
    }
}
