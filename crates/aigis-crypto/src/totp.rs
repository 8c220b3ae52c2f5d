//! Time-based one-time passwords (RFC 6238, over RFC 4226's HOTP), the second factor of
//! admin and release actions, and recovery codes.
//!
//! TOTP is a few lines over RustCrypto's HMAC; the crates that wrap it add QR rendering
//! and clocks aigis does not need. Codes are compared in constant time. A verifier
//! accepts the current 30-second step and one step either side (clock drift), and never
//! the same step twice (the caller keeps the last step used: a code seen on a shoulder is
//! spent). Recovery codes are stored as SHA-256 digests only.

use hmac::{Hmac, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Error;

/// The HMAC a TOTP uses (RFC 6238 allows SHA-1, SHA-256 and SHA-512; authenticator apps
/// default to SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// Its name in an otpauth URI.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// The length of a step, in seconds.
pub const STEP: u64 = 30;

/// The HOTP value of `counter` (RFC 4226 section 5.3), `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32, alg: Algorithm) -> Result<String, Error> {
    let msg = counter.to_be_bytes();
    let hash: Vec<u8> = match alg {
        Algorithm::Sha1 => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret)
                .map_err(|_| Error::Otp("a TOTP secret must not be empty".into()))?;
            m.update(&msg);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret)
                .map_err(|_| Error::Otp("a TOTP secret must not be empty".into()))?;
            m.update(&msg);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut m = Hmac::<sha2::Sha512>::new_from_slice(secret)
                .map_err(|_| Error::Otp("a TOTP secret must not be empty".into()))?;
            m.update(&msg);
            m.finalize().into_bytes().to_vec()
        }
    };
    // Dynamic truncation: the low 4 bits of the last byte pick 4 bytes.
    let offset = usize::from(hash.last().copied().unwrap_or(0) & 0x0f);
    let word: [u8; 4] = hash
        .get(offset..offset + 4)
        .and_then(|w| w.try_into().ok())
        .ok_or_else(|| Error::Otp("HMAC output too short".into()))?;
    let bin = u32::from_be_bytes(word) & 0x7fff_ffff;
    let modulo = 10u64.pow(digits);
    Ok(format!(
        "{:0width$}",
        u64::from(bin) % modulo,
        width = digits as usize
    ))
}

/// The TOTP of the step holding `unix_seconds`.
pub fn totp(
    secret: &[u8],
    unix_seconds: u64,
    digits: u32,
    alg: Algorithm,
) -> Result<String, Error> {
    hotp(secret, unix_seconds / STEP, digits, alg)
}

/// The step `code` is valid for, if it is valid for the step of `unix_seconds` or one
/// either side and that step is after `last_used` (so no code is accepted twice).
pub fn check(
    secret: &[u8],
    code: &str,
    unix_seconds: u64,
    last_used: Option<u64>,
    alg: Algorithm,
) -> Result<Option<u64>, Error> {
    let code = code.trim();
    let digits = u32::try_from(code.len()).unwrap_or(0);
    if !(6..=8).contains(&digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let now = unix_seconds / STEP;
    let mut found = None;
    // Every candidate is computed and compared, so the time taken does not say which.
    for step in [now.saturating_sub(1), now, now + 1] {
        let want = Zeroizing::new(hotp(secret, step, digits, alg)?);
        let same: bool = want.as_bytes().ct_eq(code.as_bytes()).into();
        if same && last_used.is_none_or(|l| step > l) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// A secret in base32 (RFC 4648, no padding), as authenticator apps take it.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// A base32 secret (RFC 4648, padding and spaces optional, either case) as bytes.
pub fn from_base32(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// The `otpauth://` URI an authenticator app reads (as a QR code or pasted).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8], alg: Algorithm) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits=6&period={STEP}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer),
        alg.name()
    )
}

/// A recovery code's stored form: its SHA-256, hex.
pub fn recovery_digest(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(sha2::Sha256::digest(normal.as_bytes()))
}

/// `n` fresh recovery codes (`xxxxx-xxxxx`, 50 bits each, base32 lower case).
pub fn recovery_codes(n: usize) -> Vec<String> {
    use rand_core::RngCore as _;
    (0..n)
        .map(|_| {
            let mut b = [0u8; 7];
            rand_core::OsRng.fill_bytes(&mut b);
            let s = data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase();
            format!(
                "{}-{}",
                s.get(0..5).unwrap_or(""),
                s.get(5..10).unwrap_or("")
            )
        })
        .collect()
}

/// A fresh 20-byte secret (RFC 4226's recommended length for SHA-1).
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    use rand_core::RngCore as _;
    let mut s = Zeroizing::new(vec![0u8; 20]);
    rand_core::OsRng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: every time and algorithm of its table (8 digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let sha1 = b"12345678901234567890";
        let sha256 = b"12345678901234567890123456789012";
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        for (t, s1, s256, s512) in [
            (59u64, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ] {
            assert_eq!(
                totp(sha1, t, 8, Algorithm::Sha1).unwrap(),
                s1,
                "SHA1 at {t}"
            );
            assert_eq!(
                totp(sha256, t, 8, Algorithm::Sha256).unwrap(),
                s256,
                "SHA256 at {t}"
            );
            assert_eq!(
                totp(sha512, t, 8, Algorithm::Sha512).unwrap(),
                s512,
                "SHA512 at {t}"
            );
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0 to 9.
    #[test]
    fn rfc_4226_test_vectors() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(
                hotp(b"12345678901234567890", c as u64, 6, Algorithm::Sha1).unwrap(),
                *w
            );
        }
    }

    #[test]
    fn a_code_is_accepted_in_its_window_once() {
        let s = b"12345678901234567890";
        let t = 1_111_111_111;
        let code = totp(s, t, 6, Algorithm::Sha1).unwrap();
        let step = check(s, &code, t, None, Algorithm::Sha1).unwrap().unwrap();
        assert_eq!(step, t / STEP);
        // One step of drift either way; not two.
        assert!(
            check(s, &code, t + STEP, None, Algorithm::Sha1)
                .unwrap()
                .is_some()
        );
        assert!(
            check(s, &code, t - STEP, None, Algorithm::Sha1)
                .unwrap()
                .is_some()
        );
        assert!(
            check(s, &code, t + 3 * STEP, None, Algorithm::Sha1)
                .unwrap()
                .is_none()
        );
        // Spent: the same step is refused.
        assert!(
            check(s, &code, t, Some(step), Algorithm::Sha1)
                .unwrap()
                .is_none()
        );
        // Garbage is refused, never an error.
        for bad in ["", "12345", "abcdef", "1234567890", " 12 34 56"] {
            assert!(
                check(s, bad, t, None, Algorithm::Sha1).unwrap().is_none(),
                "{bad}"
            );
        }
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")
                .unwrap()
                .as_slice(),
            b"12345678901234567890"
        );
        assert!(from_base32("not base32!").is_none());
        let uri = otpauth_uri(
            "aigis fraud",
            "alice@x",
            b"12345678901234567890",
            Algorithm::Sha1,
        );
        assert!(
            uri.starts_with("otpauth://totp/aigis%20fraud:alice%40x?secret=GEZDGNBV"),
            "{uri}"
        );
        let codes = recovery_codes(10);
        assert_eq!(codes.len(), 10);
        assert_eq!(
            recovery_digest(&codes[0]),
            recovery_digest(&codes[0].to_uppercase())
        );
        assert_ne!(recovery_digest(&codes[0]), recovery_digest(&codes[1]));
    }
}
