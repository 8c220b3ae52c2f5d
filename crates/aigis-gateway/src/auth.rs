//! Who a request comes from.
//!
//! - **API keys**: a key is 32 random bytes written `aigis_<base64url>`; the gateway keeps
//!   only the SHA-256 of each, and compares the hash of a presented key with every stored
//!   one in constant time, so neither the keys nor the timing of a comparison give one away.
//! - **JWT bearer tokens** from a configured issuer, verified against its JWKS
//!   ([`crate::jwt`]); a bearer value that starts with `aigis_` is taken as a key, any other
//!   as a token.
//! - **Client certificates** (mutual TLS): rustls has verified the chain to `client_ca`;
//!   the principal is the subject's common name, which must be a principal name and must
//!   be the only one.
//!
//! A request with an `Authorization` header is authenticated by it, and refused when it
//! does not authenticate, whatever certificate the connection holds; one without is
//! authenticated by its certificate, if any.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::config::ApiKeyConfig;

/// The start of every key aigis makes.
pub const KEY_PREFIX: &str = "aigis_";

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    /// How it authenticated.
    pub method: Method,
}

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ApiKey,
    Jwt,
    Certificate,
}

impl Method {
    /// The name in logs and evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ApiKey => "api_key",
            Method::Jwt => "jwt",
            Method::Certificate => "certificate",
        }
    }
}

/// The credential of an `Authorization` header value: what follows `Bearer `.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, credential) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
        .filter(|c| !c.is_empty())
}

/// The principal of a client certificate that TLS has verified: the subject's one common
/// name, when it is a principal name ([`crate::config::is_name`]).
pub fn from_certificate(der: &[u8]) -> Option<Principal> {
    use x509_cert::der::Decode as _;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let mut names = cert
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == x509_cert::der::oid::db::rfc4519::CN)
        .map(|atv| {
            use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
            Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_owned())
                })
                .ok()
        });
    let name = names.next()??;
    if names.next().is_some() || !crate::config::is_name(&name) {
        return None;
    }
    Some(Principal {
        name,
        method: Method::Certificate,
    })
}

/// The stored keys.
#[derive(Clone)]
pub struct ApiKeys {
    /// Principal, SHA-256, and when the key stops authenticating.
    keys: Vec<(String, [u8; 32], Option<std::time::SystemTime>)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field(
                "principals",
                &self.keys.iter().map(|k| &k.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The text of a new key: shown once to the operator, wiped when dropped, never in
/// `Debug`.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The key's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A new key and the SHA-256 to put in the configuration.
pub fn generate() -> Result<(Secret, String), rand_core::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand_core::OsRng.try_fill_bytes(bytes.as_mut())?;
    let key = Zeroizing::new(format!(
        "{KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    Ok((Secret(key), hash))
}

impl ApiKeys {
    /// The keys of the configuration (already checked to be 64 hex digits each).
    pub fn new(config: &[ApiKeyConfig]) -> Self {
        Self::with_expiry(
            config
                .iter()
                .map(|k| (k.name.clone(), k.sha256.clone(), None)),
        )
    }

    /// Keys as (principal, SHA-256 in hex, when it stops authenticating); an entry whose
    /// hash is not 64 hex digits is left out.
    pub fn with_expiry(
        keys: impl IntoIterator<Item = (String, String, Option<std::time::SystemTime>)>,
    ) -> Self {
        let keys = keys
            .into_iter()
            .filter_map(|(name, sha256, expires)| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&sha256, &mut hash).ok()?;
                Some((name, hash, expires))
            })
            .collect();
        ApiKeys { keys }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The principal whose key `presented` is, comparing its hash with every stored hash
    /// (all of them, whatever matches first).
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, stored, expires) in &self.keys {
            if bool::from(stored.ct_eq(&hash)) && found.is_none() {
                found = Some((name, expires));
            }
        }
        let (name, expires) = found?;
        // An expired key (a rotation's overlap that ended) authenticates no one.
        if expires.is_some_and(|t| t <= std::time::SystemTime::now()) {
            return None;
        }
        Some(Principal {
            name: name.clone(),
            method: Method::ApiKey,
        })
    }

    /// The principal of an `Authorization` header value (`Bearer <key>`).
    pub fn from_header(&self, value: Option<&str>) -> Option<Principal> {
        self.authenticate(bearer(value?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_authenticates_its_principal_and_nothing_else_does() {
        let (key, hash) = generate().unwrap();
        let (other, other_hash) = generate().unwrap();
        assert!(key.expose().starts_with(KEY_PREFIX));
        assert_ne!(key.expose(), other.expose());
        let keys = ApiKeys::new(&[
            ApiKeyConfig {
                name: "ci".into(),
                sha256: hash,
            },
            ApiKeyConfig {
                name: "ops".into(),
                sha256: other_hash,
            },
        ]);
        let bearer = |k: &str| keys.from_header(Some(&format!("Bearer {k}")));
        assert_eq!(bearer(key.expose()).unwrap().name, "ci");
        assert_eq!(bearer(other.expose()).unwrap().name, "ops");
        assert!(
            keys.from_header(Some(&format!("bearer  {}", key.expose())))
                .is_some()
        );
        assert_eq!(bearer("aigis_wrong"), None);
        assert_eq!(bearer(""), None);
        assert_eq!(keys.from_header(Some(key.expose())), None);
        assert_eq!(
            keys.from_header(Some(&format!("Basic {}", key.expose()))),
            None
        );
        assert_eq!(keys.from_header(None), None);
        assert!(!format!("{keys:?}").contains(key.expose()));
        assert!(!format!("{key:?}").contains(key.expose()));
    }
}
