//! Credentials: the edges of PEM blocks and JWTs found by the key patterns, and
//! high-entropy tokens with no known prefix.
//!
//! # The entropy rule
//!
//! A secret without a recognisable prefix (an AWS secret access key, a random password,
//! a hex API key) is told from ordinary text by how evenly it uses its alphabet. The
//! Shannon entropy `H = -Σ p·log2 p` of a token's byte frequencies is at most
//! `log2(min(len, alphabet))`, so a fixed threshold is wrong for short tokens: a random
//! 20-character base64 string has H ≈ 4.0 bits, a 64-character one ≈ 5.2. We measured
//! (20 000 random strings per length) the 1st percentile of H for random base64 — 3.65
//! at 20 characters, 3.89 at 24, 4.23 at 32, 4.47 at 40, 4.92 at 64 — and the
//! threshold `log2(len) − 0.7 − (len − 20)/100`, capped at 5.0, sits just below it:
//! about 99% of random tokens pass. Identifiers and words score lower (`customer_
//! account_number_2024` 3.80 against a threshold of 3.97) and are also stopped by two
//! shape rules: a random base64 token mixes upper case, lower case and digits, and
//! rarely has 7 lower-case letters in a row (under 5% at 40 characters), while words do.
//!
//! Hex tokens (only `0-9a-f` or only `0-9A-F`) carry 4 bits per character at most;
//! random ones of 32+ characters score over 3.2. But in datasets, long hex strings are
//! mostly digests and ids (MD5, SHA-1, SHA-256 of files or rows), not secrets, so they
//! are reported at a low confidence (0.4): visible in a scan, below the default
//! threshold of masking. UUIDs (hex with dashes) are ids and never reported.
//!
//! Floors: 20 characters for base64-like tokens (shorter random strings are too often
//! ordinary ids), 32 for hex (a 128-bit key).

use super::{PiiKind, PiiMatch, found};
use base64::Engine as _;

/// The shortest text the key patterns can match (`xoxb-` + 10).
pub(super) const MIN_KEY_LEN: usize = 15;
/// The shortest base64-like token judged by entropy.
pub(super) const MIN_SECRET_LEN: usize = 20;
const MIN_HEX_LEN: usize = 32;

/// Bytes of base64, base64url and the `=` padding.
pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-')
}

/// The end of a PEM block whose BEGIN header ends at `from`: the end of its END line,
/// or of the text when the block is cut short (better too much masked than a key left).
pub(super) fn pem_end(text: &str, from: usize) -> usize {
    let rest = text.get(from..).unwrap_or_default();
    rest.find("-----END ")
        .and_then(|i| {
            let after = rest.get(i + 9..)?;
            after.find("-----").map(|j| from + i + 9 + j + 5)
        })
        .unwrap_or(text.len())
}

/// A JWT candidate: its header must decode to a JSON object (every `eyJ` decodes to
/// `{"`, so the prefix alone proves little); naming an `alg` makes it sure.
pub(super) fn jwt(text: &str, start: usize, end: usize) -> Option<f32> {
    let token = text.get(start..end)?;
    let header = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).ok()?;
    Some(if header.contains_key("alg") { 0.9 } else { 0.6 })
}

/// Pushes a [`PiiKind::Secret`] for each run of token bytes that passes the entropy
/// rule (see the module docs).
pub(super) fn high_entropy(bytes: &[u8], out: &mut Vec<PiiMatch>) {
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i).copied().is_some_and(is_token_byte) {
            i += 1;
            continue;
        }
        // `=` is padding: it ends a token (`key=value` is two runs).
        let start = i;
        while bytes
            .get(i)
            .copied()
            .is_some_and(|b| is_token_byte(b) && b != b'=')
        {
            i += 1;
        }
        while bytes.get(i) == Some(&b'=') {
            i += 1;
        }
        if let Some(confidence) = bytes.get(start..i).and_then(judge) {
            out.push(found(PiiKind::Secret, start, i, confidence));
        }
    }
}

fn judge(run: &[u8]) -> Option<f32> {
    let body = run
        .strip_suffix(b"==")
        .or_else(|| run.strip_suffix(b"="))
        .unwrap_or(run);
    let n = body.len();
    if n < MIN_SECRET_LEN {
        return None;
    }
    let mut counts = [0u32; 256];
    let (mut lower, mut upper, mut digit, mut slash) = (0usize, 0usize, 0usize, 0usize);
    let (mut lower_run, mut longest_lower) = (0usize, 0usize);
    for &b in body {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        lower += usize::from(b.is_ascii_lowercase());
        upper += usize::from(b.is_ascii_uppercase());
        digit += usize::from(b.is_ascii_digit());
        slash += usize::from(b == b'/');
        lower_run = if b.is_ascii_lowercase() {
            lower_run + 1
        } else {
            0
        };
        longest_lower = longest_lower.max(lower_run);
    }
    let h = entropy(&counts, n);
    let hex_lower = body
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    let hex_upper = body
        .iter()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b));
    if hex_lower || hex_upper {
        let mixed = digit > 0 && digit < n;
        return (n >= MIN_HEX_LEN && mixed && h >= 3.0).then_some(0.4);
    }
    let nf = n as f64;
    let threshold = (nf.log2() - 0.7 - (nf - 20.0) / 100.0).min(5.0);
    let looks_random = lower > 0 && upper > 0 && digit > 0 && longest_lower < 7;
    // Paths and URLs are made of token bytes too; random base64 has a `/` in 64.
    let pathlike = slash > n / 16 + 1;
    (looks_random && !pathlike && h >= threshold).then_some(if n >= 32 { 0.7 } else { 0.6 })
}

fn entropy(counts: &[u32; 256], n: usize) -> f64 {
    let n = n as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_pass_words_do_not() {
        assert!(judge(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_some());
        assert!(
            judge(b"Zk3q9XbT2mLw8VnR4cYp").is_some(),
            "20 random characters"
        );
        for word in [
            &b"customer_account_number_2024"[..],
            b"Transaction2024PaymentReference",
            b"/usr/local/share/dataset/file2024.csv",
            b"aaaaaaaaaaaaaaaaaaaaaaaaa1Aa",
            b"550e8400-e29b-41d4-a716-446655440000",
            b"12345678901234567890123456",
        ] {
            assert_eq!(judge(word), None, "{}", String::from_utf8_lossy(word));
        }
    }

    #[test]
    fn hex_is_low_confidence() {
        assert_eq!(judge(b"9e107d9d372bb6826bd81d3542a419d6"), Some(0.4));
        assert_eq!(judge(b"9e107d9d372bb682"), None, "too short");
    }

    #[test]
    fn pem_block_edges() {
        let t = "x -----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY----- y";
        let from = t.find("KEY-----").map(|i| i + 8).unwrap();
        assert_eq!(pem_end(t, from), t.len() - 2);
        assert_eq!(pem_end("-----BEGIN PRIVATE KEY-----\nMIIB", 27), 32);
    }
}
