//! JWT bearer tokens, verified against each issuer's JWKS.
//!
//! ```toml
//! [serve.auth.jwt]                 # or [[serve.auth.jwt]], one per issuer
//! issuer = "https://issuer.test"   # the `iss` a token must carry, exactly
//! jwks = "jwks.json"               # the issuer's keys: a JWKS file, or an https URL
//! # jwks_ca = "idp-ca.pem"         # with a URL: the CAs to trust for it (default: the system's)
//! audience = "aigis"               # `aud` must hold it
//! algorithms = ["RS256"]           # the only ones accepted from this issuer
//! # leeway_s = 30                  # clock skew allowed on `exp` and `nbf` (at most 300)
//! # jwks_ttl_s = 300               # how long keys are used before they are re-read
//! # jwks_refresh_min_s = 10        # at most one re-read per this many seconds
//! ```
//!
//! What a token must be, in the order it is checked:
//! - at most 8 KiB, three base64url parts, a header that parses, with no `crit` but `b64`
//!   and no `b64: false` (jsonwebtoken's header rules);
//! - from a configured issuer (its `iss`, read before the signature is checked, only
//!   picks which issuer's rules apply; it is checked again with the signature);
//! - signed with one of that issuer's `algorithms`: `none` and every HMAC algorithm are
//!   refused at configuration, so a public key can never be used as an HMAC secret;
//! - by the one key of the issuer's JWKS that has the token's `kid` (without a `kid`:
//!   the one key that fits the algorithm, if there is exactly one), whose type and curve
//!   fit the algorithm, whose own `alg` (if any) is the token's, and whose `use` (if any)
//!   is `sig`. Keys in the token's header (`jwk`, `jku`, `x5u`, `x5c`) are never used;
//! - with `exp` (required), `nbf` (when present), `iss` and `aud` valid, allowing
//!   `leeway_s` of clock skew, and a `sub` that names the principal (printable ASCII
//!   without spaces or quotes, at most 256 bytes).
//!
//! Keys are cached per issuer. A token with an unknown `kid` re-reads the JWKS at once
//! (a rotation: the new key works from its first token), but at most once per
//! `jwks_refresh_min_s`, and one re-read at a time, so a flood of made-up `kid`s cannot
//! turn into a flood of re-reads. Keys older than `jwks_ttl_s` are re-read in the
//! background while the old ones keep working; a failed re-read keeps the keys that were
//! read last (and is logged), so a JWKS that is briefly unreadable does not lock every
//! client out.
//!
//! A token that passed every check is remembered (by its SHA-256, up to 10,000 tokens), so
//! a client that sends it again is not verified again: it is accepted while its `exp` and
//! `nbf` still hold, each checked again at every use with the same leeway, and only while
//! the issuer's keys are the very set it was verified with. A re-read of the JWKS (at the
//! TTL, or for an unknown `kid`) forgets every token verified before it, so a key removed
//! from the JWKS stops its tokens as it would without the memory. A configuration reload
//! starts with none remembered.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Digest as _;

use crate::Error;
use crate::auth::{Method, Principal};

/// The longest token read.
pub const MAX_TOKEN: usize = 8 << 10;
/// The largest JWKS read.
const MAX_JWKS: u64 = 1 << 20;
/// The most clock skew that may be allowed.
const MAX_LEEWAY: u64 = 300;

/// One issuer: `[serve.auth.jwt]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    /// A JWKS file, relative to the configuration's folder, or an `https://` URL.
    pub jwks: String,
    /// With an https `jwks`: CA certificates (PEM) to trust for it, instead of the system's.
    #[serde(default)]
    pub jwks_ca: Option<PathBuf>,
    pub audience: String,
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
    #[serde(default = "default_ttl")]
    pub jwks_ttl_s: u64,
    #[serde(default = "default_refresh_min")]
    pub jwks_refresh_min_s: u64,
}

fn default_leeway() -> u64 {
    30
}
fn default_ttl() -> u64 {
    300
}
fn default_refresh_min() -> u64 {
    10
}

/// The algorithms an issuer may be pinned to: the asymmetric ones.
fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

impl JwtConfig {
    /// Checks the values; `at` is the key's dotted name (`serve.auth.jwt[0]`).
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.issuer.is_empty() {
            return Err((format!("{at}.issuer"), "must not be empty".into()));
        }
        if self.audience.is_empty() {
            return Err((format!("{at}.audience"), "must not be empty".into()));
        }
        if self.algorithms.is_empty() {
            return Err((
                format!("{at}.algorithms"),
                "name the algorithms this issuer signs with, for example [\"RS256\"]".into(),
            ));
        }
        for (i, a) in self.algorithms.iter().enumerate() {
            if algorithm(a).is_none() {
                let why = if a.starts_with("HS") {
                    "HMAC needs a shared secret, and a JWKS is public: only asymmetric algorithms are accepted"
                } else if a.eq_ignore_ascii_case("none") {
                    "unsigned tokens are never accepted"
                } else {
                    "not an algorithm aigis accepts"
                };
                return Err((
                    format!("{at}.algorithms[{i}]"),
                    format!(
                        "`{a}`: {why} (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
                    ),
                ));
            }
        }
        if self.leeway_s > MAX_LEEWAY {
            return Err((
                format!("{at}.leeway_s"),
                format!("at most {MAX_LEEWAY} seconds"),
            ));
        }
        if self.jwks.starts_with("http://") {
            return Err((
                format!("{at}.jwks"),
                "a JWKS over plain HTTP could be swapped on the way: use https".into(),
            ));
        }
        if self.jwks_ca.is_some() && !self.jwks.starts_with("https://") {
            return Err((format!("{at}.jwks_ca"), "only with an https `jwks`".into()));
        }
        if self.jwks_ttl_s == 0 {
            return Err((format!("{at}.jwks_ttl_s"), "must be above 0".into()));
        }
        Ok(())
    }
}

/// Why a token was refused: for the log, never for the client (who gets 401).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("longer than {MAX_TOKEN} bytes")]
    TooLong,
    #[error("not a JWT: {0}")]
    Malformed(String),
    #[error("no configured issuer is `{0}`")]
    UnknownIssuer(String),
    #[error("algorithm {0:?} is not one this issuer signs with")]
    Algorithm(Algorithm),
    #[error("no key of the issuer's JWKS fits (kid {kid:?}, {alg:?})")]
    NoKey { kid: Option<String>, alg: Algorithm },
    #[error("{0}")]
    Invalid(String),
    #[error("`sub` is not a principal name")]
    Subject,
}

/// A verification key from a JWKS, with what it may verify.
struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    /// The algorithms its type and curve fit.
    fits: &'static [Algorithm],
    decoding: DecodingKey,
}

/// The algorithms a JWK's type and curve can verify, or `None` for a key that is not an
/// asymmetric signing key (an `oct` secret, an encryption key, an unknown type).
fn fits(jwk: &Jwk) -> Option<&'static [Algorithm]> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    Some(match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return None,
        },
        _ => return None,
    })
}

/// A JWK's `alg`, when it is a signature algorithm aigis accepts.
fn key_algorithm(alg: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The signing keys of a JWKS document; keys that are not asymmetric signing keys are
/// left out (and counted in the log).
fn parse_jwks(bytes: &[u8]) -> Result<Vec<Key>, String> {
    // Key by key, so that one key of a kind jsonwebtoken does not know (an `alg` such as
    // ES512) leaves out that key rather than the whole set.
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    let mut skipped = 0usize;
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            skipped += 1;
            continue;
        };
        let jwk = &jwk;
        let Some(fits) = fits(jwk) else {
            skipped += 1;
            continue;
        };
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(a) => match key_algorithm(a) {
                Some(a) if fits.contains(&a) => Some(a),
                _ => {
                    skipped += 1;
                    continue;
                }
            },
        };
        let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
            skipped += 1;
            continue;
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            fits,
            decoding,
        });
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "JWKS keys that are not asymmetric signing keys were left out"
        );
    }
    Ok(keys)
}

/// Where an issuer's keys come from.
enum Source {
    File(PathBuf),
    Https {
        uri: hyper::Uri,
        tls: Arc<rustls::ClientConfig>,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Https { uri, .. } => write!(f, "{uri}"),
        }
    }
}

/// How long fetching a JWKS over https may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

impl Source {
    fn of(config: &JwtConfig, base: &Path) -> Result<Self, String> {
        if !config.jwks.starts_with("https://") {
            return Ok(Source::File(base.join(&config.jwks)));
        }
        let uri: hyper::Uri = config
            .jwks
            .parse()
            .map_err(|e| format!("`{}` is not a URL: {e}", config.jwks))?;
        if uri.host().is_none() {
            return Err(format!("`{}` names no host", config.jwks));
        }
        let ca = config.jwks_ca.as_ref().map(|ca| base.join(ca));
        let tls = crate::client::tls(ca.as_deref(), None)?;
        Ok(Source::Https { uri, tls })
    }

    /// The JWKS document.
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        match self {
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Source::Https { uri, tls } => tokio::time::timeout(FETCH_TIMEOUT, get(uri, tls))
                .await
                .map_err(|_| format!("no answer within {}s", FETCH_TIMEOUT.as_secs()))?,
        }
    }

    /// The JWKS document, from a thread of its own (the gateway may start inside or
    /// outside an async runtime).
    fn fetch_now(&self) -> Result<Vec<u8>, String> {
        crate::client::block_on(self.fetch())?
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_JWKS + 1), &mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_JWKS {
        return Err(format!("larger than {MAX_JWKS} bytes"));
    }
    Ok(bytes)
}

/// `GET uri` over TLS (HTTP/1.1): the body of a 200 answer, at most [`MAX_JWKS`] bytes.
async fn get(uri: &hyper::Uri, tls: &Arc<rustls::ClientConfig>) -> Result<Vec<u8>, String> {
    let answer = crate::client::request(
        hyper::Method::GET,
        uri,
        None,
        Some(tls),
        usize::try_from(MAX_JWKS).unwrap_or(usize::MAX),
        None,
        &[],
    )
    .await
    .map_err(|e| e.to_string())?;
    if answer.status != hyper::StatusCode::OK {
        return Err(format!("answered {}", answer.status));
    }
    Ok(answer.body)
}

struct Cached {
    keys: Arc<Vec<Key>>,
    read_at: Instant,
    tried_at: Instant,
}

/// An issuer's keys, cached.
struct Jwks {
    source: Source,
    ttl: Duration,
    refresh_min: Duration,
    cached: RwLock<Cached>,
    /// One re-read at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// Re-reads since the start (shared with the metrics).
    reads: prometheus_client::metrics::counter::Counter,
}

impl Jwks {
    fn keys(&self) -> (Arc<Vec<Key>>, bool) {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (cached.keys.clone(), cached.read_at.elapsed() >= self.ttl)
    }

    /// Re-reads the JWKS unless it was tried within `refresh_min` (or is being re-read:
    /// then waits for that one).
    async fn refresh(&self) {
        let _one = self.refreshing.lock().await;
        {
            let cached = self
                .cached
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.tried_at.elapsed() < self.refresh_min {
                return;
            }
        }
        self.reads.inc();
        let read = self.source.fetch().await.and_then(|b| parse_jwks(&b));
        let mut cached = self
            .cached
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cached.tried_at = Instant::now();
        match read {
            Ok(keys) => {
                cached.keys = Arc::new(keys);
                cached.read_at = Instant::now();
            }
            Err(e) => {
                tracing::warn!(jwks = %self.source, error = %e, "re-reading the JWKS failed; the keys read last stay in use");
            }
        }
    }
}

struct Issuer {
    name: String,
    algorithms: Vec<Algorithm>,
    validation: Validation,
    jwks: Arc<Jwks>,
}

/// The configured issuers.
pub struct Issuers {
    issuers: Vec<Issuer>,
    /// Tokens verified, by the SHA-256 of their text.
    verified: crate::kept::Kept<[u8; 32], Verified>,
}

impl std::fmt::Debug for Issuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.issuers.iter().map(|i| &i.name))
            .finish()
    }
}

#[derive(Deserialize)]
struct Peek {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    /// Checked by jsonwebtoken (required, a whole number); kept for the memory of tokens.
    exp: Option<u64>,
    nbf: Option<u64>,
}

/// The most tokens remembered as verified; when full, the memory starts over.
const REMEMBERED: usize = 10_000;

/// A token that passed every check: what it takes to accept it again.
#[derive(Clone)]
struct Verified {
    name: String,
    issuer: usize,
    /// The key set it was verified with; a re-read set is another allocation. A `Weak`
    /// keeps the old allocation's address from being reused while this is remembered.
    keys: std::sync::Weak<Vec<Key>>,
    exp: u64,
    nbf: Option<u64>,
}

/// A `sub` that can name a principal in logs, evidence and policies.
pub(crate) fn is_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\' | b'`'))
}

impl Issuers {
    /// Reads every issuer's JWKS (files relative to `base`); an unreadable one, or one
    /// without a single usable key, stops the start. `source` names the configuration.
    pub fn load(
        configs: &[JwtConfig],
        base: &Path,
        source: &Path,
        reads: prometheus_client::metrics::counter::Counter,
    ) -> Result<Self, Error> {
        // jsonwebtoken picks its crypto from its features; say which, once, so a build
        // that ever enabled both would still verify with aws-lc-rs rather than panic.
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        }
        let mut issuers = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let bad = |message: String| Error::Config {
                file: source.to_owned(),
                key: format!("serve.auth.jwt[{i}].jwks"),
                message,
            };
            let source = Source::of(c, base).map_err(&bad)?;
            let keys = source
                .fetch_now()
                .and_then(|b| parse_jwks(&b))
                .map_err(|e| bad(format!("`{}`: {e}", c.jwks)))?;
            if keys.is_empty() {
                return Err(bad(format!("`{}` holds no asymmetric signing key", c.jwks)));
            }
            let algorithms: Vec<Algorithm> =
                c.algorithms.iter().filter_map(|a| algorithm(a)).collect();
            // Validation::new's one algorithm is replaced by the issuer's list at once.
            let mut validation = Validation::new(Algorithm::RS256);
            validation.algorithms = algorithms.clone();
            validation.leeway = c.leeway_s;
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.validate_aud = true;
            validation.set_issuer(&[&c.issuer]);
            validation.set_audience(&[&c.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            let now = Instant::now();
            let refresh_min = Duration::from_secs(c.jwks_refresh_min_s);
            issuers.push(Issuer {
                name: c.issuer.clone(),
                algorithms,
                validation,
                jwks: Arc::new(Jwks {
                    source,
                    ttl: Duration::from_secs(c.jwks_ttl_s),
                    refresh_min,
                    cached: RwLock::new(Cached {
                        keys: Arc::new(keys),
                        read_at: now,
                        // A rotation right after the start is re-read at once.
                        tried_at: now.checked_sub(refresh_min).unwrap_or(now),
                    }),
                    refreshing: tokio::sync::Mutex::new(()),
                    reads: reads.clone(),
                }),
            });
        }
        Ok(Issuers {
            issuers,
            verified: crate::kept::Kept::new(REMEMBERED),
        })
    }

    /// The principal of a token verified before, if it still holds: its issuer's keys are
    /// the set it was verified with (and are not due for a re-read), and `exp` and `nbf`
    /// hold now as jsonwebtoken checks them.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Principal> {
        let v = self.verified.get(digest)?;
        let issuer = self.issuers.get(v.issuer)?;
        let (keys, stale) = issuer.jwks.keys();
        if stale || !std::ptr::eq(Arc::as_ptr(&keys), v.keys.as_ptr()) {
            return None;
        }
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = issuer.validation.leeway;
        if v.exp < now.saturating_sub(leeway) || v.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return None;
        }
        Some(Principal {
            name: v.name.clone(),
            method: Method::Jwt,
        })
    }

    fn remember(&self, digest: [u8; 32], v: Verified) {
        self.verified.put(digest, v);
    }

    /// Whether any issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The principal of a token, or why it is refused.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Refused> {
        if token.len() > MAX_TOKEN {
            return Err(Refused::TooLong);
        }
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = self.remembered(&digest) {
            return Ok(principal);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refused::Malformed(e.to_string()))?;
        let peek: Peek = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| Refused::Malformed(e.to_string()))?;
        let iss = peek.iss.unwrap_or_default();
        let (index, issuer) = self
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.name == iss)
            .ok_or_else(|| Refused::UnknownIssuer(iss.chars().take(100).collect()))?;
        let alg = header.alg;
        if !issuer.algorithms.contains(&alg) {
            return Err(Refused::Algorithm(alg));
        }
        let kid = header.kid.map(|k| k.chars().take(200).collect::<String>());
        let (keys, stale) = issuer.jwks.keys();
        let keys = match pick(&keys, kid.as_deref(), alg) {
            Some(_) => {
                if stale {
                    let jwks = issuer.jwks.clone();
                    tokio::spawn(async move { jwks.refresh().await });
                }
                keys
            }
            None => {
                // Perhaps a rotation: re-read (at most once per refresh_min) and look again.
                issuer.jwks.refresh().await;
                issuer.jwks.keys().0
            }
        };
        let key = pick(&keys, kid.as_deref(), alg).ok_or(Refused::NoKey { kid, alg })?;
        let mut validation = issuer.validation.clone();
        validation.algorithms = vec![alg];
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        if !is_subject(&data.claims.sub) {
            return Err(Refused::Subject);
        }
        if let Some(exp) = data.claims.exp {
            self.remember(
                digest,
                Verified {
                    name: data.claims.sub.clone(),
                    issuer: index,
                    keys: Arc::downgrade(&keys),
                    exp,
                    nbf: data.claims.nbf,
                },
            );
        }
        Ok(Principal {
            name: data.claims.sub,
            method: Method::Jwt,
        })
    }
}

/// The one key for `kid` and `alg`: with a `kid`, the key with that id (if exactly one
/// has it) when it fits `alg`; without, the key that fits `alg`, if exactly one does.
fn pick<'k>(keys: &'k [Key], kid: Option<&str>, alg: Algorithm) -> Option<&'k Key> {
    let mut found = keys.iter().filter(|k| match kid {
        Some(kid) => k.kid.as_deref() == Some(kid),
        None => true,
    });
    let fitting = |k: &&Key| k.fits.contains(&alg) && k.alg.is_none_or(|a| a == alg);
    match kid {
        Some(_) => {
            let key = found.next()?;
            if found.next().is_some() {
                return None;
            }
            fitting(&key).then_some(key)
        }
        None => {
            let mut fit = found.filter(fitting);
            let key = fit.next()?;
            fit.next().is_none().then_some(key)
        }
    }
}
