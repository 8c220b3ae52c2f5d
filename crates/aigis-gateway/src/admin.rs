//! The admin API: a listener of its own, apart from the model routes, to create, rotate
//! and revoke API keys, swap a model's version and reload the configuration while the
//! gateway serves.
//!
//! ```toml
//! [serve.admin]
//! listen = "127.0.0.1:9443"        # its own port; TLS as the gateway's (plain: loopback only)
//! principals = ["api_key:ops"]     # who may use it, as `method:name` or `name` (and, with
//!                                  # [serve.authz], whom a policy permits `Aigis::Action::"admin"`
//!                                  # on `Aigis::Server::"aigis"`)
//! state = "gateway-admin.json"     # what it changed, kept across restarts (the default)
//! ```
//!
//! | route | what |
//! |---|---|
//! | `GET /admin/v1/models` | the models served: version, digest, signer, where from |
//! | `POST /admin/v1/models/{name}/swap` | serve another file (`{"path", "signature", "identity"}`; `identity` for an encrypted one) or registry stage (`{"registry", "file"}`) under `name`; verified as at start, never unsigned |
//! | `DELETE /admin/v1/models/{name}/swap` | back to the configuration's source |
//! | `GET /admin/v1/keys` | every API key by id (the first 16 hex digits of its SHA-256), its principal, where it comes from, and when it expires or was revoked |
//! | `POST /admin/v1/keys` | a new key for `{"principal", "expires_in_s"?}`: its text is in this answer only |
//! | `POST /admin/v1/keys/rotate` | a new key for `{"principal", "overlap_s"?}`; the principal's other keys expire after the overlap (1 hour by default) |
//! | `POST /admin/v1/keys/revoke` | `{"id"}` or `{"principal"}`: those keys stop authenticating now |
//! | `POST /admin/v1/reload` | read the configuration again, as SIGHUP does |
//! | `GET /admin/v1/extraction` | each model's principals suspected of extraction, and why |
//! | `DELETE /admin/v1/models/{name}/extraction/{principal}` | clear a principal's suspicion on a model (it starts over, with no history) |
//!
//! Callers authenticate as on the model routes (API key, JWT, client certificate) and
//! must be one of `principals`: the list is always asked, so a broad Cedar `permit`
//! cannot open the admin API to every principal. An entry `api_key:ops`,
//! `certificate:ops` or `jwt:ops` admits `ops` only when it authenticated that way; a bare
//! `ops` admits it however it authenticated, and is refused when a JWT issuer is
//! configured: an identity provider's `sub` could then be `ops` too. Every call is a `gateway-call` record
//! like any other; every change is also a `gateway-admin` record, written before the change
//! takes effect (a change that cannot be recorded is not made). A key's text is never
//! recorded or logged: only its id.
//!
//! Changes are kept in the `state` file (written whole to a temporary file and renamed
//! into place), laid over the configuration at every start and reload: keys the API made,
//! the expiry or revocation of any key (the configuration's too), and swapped models. A
//! A second factor: with `totp`, each admin call must also carry the caller's one-time
//! password (RFC 6238) in `X-Aigis-OTP`, checked against the principal's secret (base32),
//! named by reference (`env:NAME` or `file:PATH`, see `aigis_crypto::secret`); a code is
//! never accepted twice, and five wrong codes lock the principal out of the admin API for
//! fifteen minutes. A listed principal with no secret is refused: with `totp`, none is
//! let in on one factor.
//!
//! ```toml
//! [serve.admin.totp]
//! "api_key:ops" = "env:AIGIS_ADMIN_TOTP_OPS"   # the entry of `principals`, and its secret
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::audit::Trail;
use crate::config::{ApiKeyConfig, ServeConfig, is_name};
use crate::{ApiError, Gateway, Live, auth, authz, tls};

/// Every route of the admin listener, as (method, path).
pub const ROUTES: [(&str, &str); 10] = [
    ("GET", "/admin/v1/models"),
    ("POST", "/admin/v1/models/{name}/swap"),
    ("DELETE", "/admin/v1/models/{name}/swap"),
    ("GET", "/admin/v1/keys"),
    ("POST", "/admin/v1/keys"),
    ("POST", "/admin/v1/keys/rotate"),
    ("POST", "/admin/v1/keys/revoke"),
    ("POST", "/admin/v1/reload"),
    ("GET", "/admin/v1/extraction"),
    ("DELETE", "/admin/v1/models/{name}/extraction/{principal}"),
];

/// A rotation's overlap when none is asked: both keys work for an hour.
pub const DEFAULT_OVERLAP_S: u64 = 3600;
/// The longest overlap or key lifetime a call may ask (a year).
const MAX_SECONDS: u64 = 366 * 24 * 3600;
/// The largest body of an admin call.
const MAX_BODY: usize = 64 << 10;
/// The largest state file read.
const MAX_STATE: u64 = 16 << 20;

/// `[serve.admin]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin API listens: a port of its own.
    pub listen: SocketAddr,
    /// The principals that may use it.
    pub principals: Vec<String>,
    /// The file of the changes made through it, relative to the configuration's folder.
    #[serde(default = "default_state")]
    pub state: PathBuf,
    /// Each principal's TOTP secret (base32), by reference (`env:NAME`, `file:PATH`),
    /// keyed by its entry of `principals`. Set, every admin call needs `X-Aigis-OTP`.
    #[serde(default)]
    pub totp: BTreeMap<String, String>,
}

fn default_state() -> PathBuf {
    PathBuf::from("gateway-admin.json")
}

impl AdminConfig {
    /// The checks of `[serve.admin]` within `serve`: the key and the message on failure.
    pub(crate) fn check(&self, serve: &ServeConfig) -> Result<(), (String, String)> {
        if self.principals.is_empty() {
            return Err((
                "serve.admin.principals".into(),
                "say who may use the admin API: `principals = [\"ops\"]` (with [serve.authz], a policy must also permit them `Aigis::Action::\"admin\"`)".into(),
            ));
        }
        for p in &self.principals {
            let fits = match p.split_once(':') {
                Some(("api_key" | "certificate", name)) => is_name(name),
                Some(("jwt", sub)) => crate::jwt::is_subject(sub),
                Some(_) => false,
                None => is_name(p),
            };
            if !fits {
                return Err((
                    "serve.admin.principals".into(),
                    format!(
                        "`{p}` is not a principal: `name`, or `api_key:name`, `certificate:name` or `jwt:sub`"
                    ),
                ));
            }
            if !p.contains(':') && !serve.auth.jwt.is_empty() {
                return Err((
                    "serve.admin.principals".into(),
                    format!(
                        "with a JWT issuer configured, `{p}` could be any token's `sub`: say how it authenticates (`api_key:{p}`, `certificate:{p}` or `jwt:{p}`)"
                    ),
                ));
            }
        }
        for entry in self.totp.keys() {
            if !self.principals.contains(entry) {
                return Err((
                    "serve.admin.totp".into(),
                    format!("`{entry}` is not an entry of `principals`"),
                ));
            }
        }
        let taken = [Some(serve.listen), serve.metrics.as_ref().map(|m| m.listen)];
        if self.listen.port() != 0 && taken.contains(&Some(self.listen)) {
            return Err((
                "serve.admin.listen".into(),
                "is taken by the gateway or its metrics; give the admin API a port of its own"
                    .into(),
            ));
        }
        if serve.plain && !self.listen.ip().is_loopback() {
            return Err((
                "serve.admin.listen".into(),
                format!(
                    "`{}` is not a loopback address, and without TLS the admin API is served on loopback only",
                    self.listen
                ),
            ));
        }
        if self.state.as_os_str().is_empty() {
            return Err(("serve.admin.state".into(), "is empty".into()));
        }
        Ok(())
    }
}

/// What the admin API changed, laid over the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The format: 1.
    #[serde(default = "one")]
    pub version: u32,
    /// Keys the API made, and the expiry or revocation of any key.
    #[serde(default)]
    pub keys: Vec<KeyRecord>,
    /// Models served from another source than the configuration's.
    #[serde(default)]
    pub models: BTreeMap<String, ModelSource>,
}

fn one() -> u32 {
    1
}

impl Default for State {
    fn default() -> Self {
        State {
            version: 1,
            keys: Vec::new(),
            models: BTreeMap::new(),
        }
    }
}

/// One key of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub principal: String,
    /// The key's SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// When the API made it (RFC 3339); absent for a key of the configuration that this
    /// record only sets to expire or revokes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

/// Where a swapped model comes from: a file and its signature, or a registry stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For an encrypted `path`: the recipient key that opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
}

impl ModelSource {
    fn check(&self) -> Result<(), String> {
        match (&self.path, &self.registry) {
            (Some(_), Some(_)) => Err("`path` and `registry` exclude each other".into()),
            (None, None) => Err(
                "say what to serve: `path` (and `signature`) or `registry` (`name@stage`)".into(),
            ),
            (Some(p), None) if p.as_os_str().is_empty() => Err("`path` is empty".into()),
            (Some(_), None) if self.file.is_some() => Err("`file` goes with `registry`".into()),
            (None, Some(_)) if self.identity.is_some() => {
                Err("`identity` goes with `path` (an encrypted file)".into())
            }
            (None, Some(_)) if self.signature.is_some() => {
                Err("`signature` goes with `path` (a registry version carries its own)".into())
            }
            _ => Ok(()),
        }
    }
}

/// The id of a key: the first 16 hex digits of its SHA-256.
pub fn key_id(sha256: &str) -> &str {
    sha256.get(..16).unwrap_or(sha256)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A key as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub principal: String,
    /// `config` or `admin`.
    pub source: &'static str,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    /// Whether it authenticates now.
    pub active: bool,
}

impl State {
    /// Reads the state file; a file that does not exist is an empty state.
    pub fn read(path: &Path) -> Result<State, String> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(format!("`{}`: cannot read: {e}", path.display())),
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_STATE + 1), &mut bytes)
            .map_err(|e| format!("`{}`: cannot read: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_STATE {
            return Err(format!(
                "`{}`: larger than {MAX_STATE} bytes",
                path.display()
            ));
        }
        let state: State = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}`: not an admin state file: {e}", path.display()))?;
        state
            .check()
            .map_err(|m| format!("`{}`: {m}", path.display()))?;
        Ok(state)
    }

    fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!("format version {} is not 1", self.version));
        }
        for (i, k) in self.keys.iter().enumerate() {
            if !is_name(&k.principal) {
                return Err(format!("keys[{i}].principal is not a principal name"));
            }
            if !is_sha256(&k.sha256) {
                return Err(format!("keys[{i}].sha256 is not 64 lowercase hex digits"));
            }
            for (field, value) in [
                ("created", &k.created),
                ("expires", &k.expires),
                ("revoked", &k.revoked),
            ] {
                if value.as_deref().is_some_and(|v| parse_time(v).is_none()) {
                    return Err(format!("keys[{i}].{field} is not an RFC 3339 time"));
                }
            }
        }
        for (name, source) in &self.models {
            source.check().map_err(|m| format!("models.{name}: {m}"))?;
        }
        Ok(())
    }

    /// Writes the state next to `path` (a temporary file, flushed to disk), to be put in
    /// place with [`commit`] once the change is recorded.
    pub(crate) fn stage(&self, path: &Path) -> Result<PathBuf, String> {
        use std::io::Write as _;
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        let tmp = PathBuf::from(name);
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        text.push(b'\n');
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("`{}`: cannot write: {e}", tmp.display()));
        }
        Ok(tmp)
    }

    /// The configuration with the swapped models' sources (always verified: only the
    /// configuration file can say `verify = false`).
    pub fn overlay(&self, config: &ServeConfig) -> ServeConfig {
        let mut config = config.clone();
        for m in &mut config.models {
            if let Some(s) = self.models.get(&m.name) {
                m.path = s.path.clone().unwrap_or_default();
                m.signature.clone_from(&s.signature);
                m.registry.clone_from(&s.registry);
                m.file.clone_from(&s.file);
                m.identity.clone_from(&s.identity);
                m.verify = true;
            }
        }
        config
    }

    fn record(&self, sha256: &str) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.sha256 == sha256)
    }

    /// Changes the record of the key `sha256` with `f`, making one for it first if there is
    /// none.
    fn update<T>(
        &mut self,
        principal: &str,
        sha256: &str,
        f: impl FnOnce(&mut KeyRecord) -> T,
    ) -> T {
        if let Some(record) = self.keys.iter_mut().find(|k| k.sha256 == sha256) {
            return f(record);
        }
        let mut record = KeyRecord {
            principal: principal.to_owned(),
            sha256: sha256.to_owned(),
            created: None,
            expires: None,
            revoked: None,
        };
        let out = f(&mut record);
        self.keys.push(record);
        out
    }

    /// Every key: the configuration's and the API's, with what the state says of each.
    pub fn keys(&self, config: &[ApiKeyConfig], now: SystemTime) -> Vec<KeyView> {
        let configured = config.iter().map(|k| {
            let sha = k.sha256.to_ascii_lowercase();
            let record = self.record(&sha);
            (k.name.clone(), sha, "config", record)
        });
        let made = self
            .keys
            .iter()
            .filter(|k| k.created.is_some())
            .map(|k| (k.principal.clone(), k.sha256.clone(), "admin", Some(k)));
        configured
            .chain(made)
            .map(|(principal, sha, source, record)| {
                let expires = record.and_then(|r| r.expires.clone());
                let revoked = record.and_then(|r| r.revoked.clone());
                let active = revoked.is_none()
                    && expires
                        .as_deref()
                        .and_then(parse_time)
                        .is_none_or(|t| t > now);
                KeyView {
                    id: key_id(&sha).to_owned(),
                    principal,
                    source,
                    created: record.and_then(|r| r.created.clone()),
                    expires,
                    revoked,
                    active,
                }
            })
            .collect()
    }

    /// The keys that authenticate (or will until they expire), for [`auth::ApiKeys`].
    pub(crate) fn api_keys(&self, config: &[ApiKeyConfig]) -> auth::ApiKeys {
        let configured = config
            .iter()
            .map(|k| (k.name.clone(), k.sha256.to_ascii_lowercase()));
        let made = self
            .keys
            .iter()
            .filter(|k| k.created.is_some())
            .map(|k| (k.principal.clone(), k.sha256.clone()));
        auth::ApiKeys::with_expiry(configured.chain(made).filter_map(|(name, sha)| {
            let record = self.record(&sha);
            if record.is_some_and(|r| r.revoked.is_some()) {
                return None;
            }
            let expires = record
                .and_then(|r| r.expires.as_deref())
                .and_then(parse_time);
            Some((name, sha, expires))
        }))
    }
}

/// Moves a staged state file into place.
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<(), String> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        format!("`{}`: cannot replace: {e}", path.display())
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The admin listener's settings, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub config: AdminConfig,
    pub state_path: PathBuf,
    /// Each principal's second-factor state (the last step accepted, wrong codes, the
    /// lock), kept in memory: a restart forgets a lock, never a secret.
    pub second: Arc<std::sync::Mutex<BTreeMap<String, Second>>>,
    /// The configuration's folder: `file:` secrets are relative to it.
    pub base: PathBuf,
}

/// A principal's second-factor state.
#[derive(Debug, Default, Clone)]
pub(crate) struct Second {
    last_step: Option<u64>,
    failures: u32,
    locked_until: u64,
}

/// Wrong codes before the lock, and its length.
const OTP_TRIES: u32 = 5;
const OTP_LOCK_S: u64 = 15 * 60;

/// The TOTP secret `reference` names (base32, as authenticator apps show it), or why it
/// cannot be used. The message never holds the secret.
pub(crate) fn totp_secret(
    reference: &str,
    base: &Path,
) -> Result<aigis_crypto::Zeroizing<Vec<u8>>, String> {
    let text = aigis_crypto::secret::resolve(reference, base).map_err(|e| e.to_string())?;
    aigis_crypto::totp::from_base32(&text)
        .filter(|s| s.len() >= 10)
        .ok_or_else(|| {
            format!("`{reference}` does not hold a base32 TOTP secret of at least 80 bits")
        })
}

/// The caller's second factor, when `[serve.admin] totp_env` asks for one.
fn second_factor(
    setup: &Setup,
    principal: &auth::Principal,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if setup.config.totp.is_empty() {
        return Ok(());
    }
    let Some((entry, reference)) = setup
        .config
        .totp
        .iter()
        .find(|(entry, _)| admits(entry, principal))
    else {
        return Err(ApiError::forbidden());
    };
    let now = crate::unix_ms().max(0) as u64 / 1000;
    let mut all = setup
        .second
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let state = all.entry(entry.clone()).or_default();
    if state.locked_until > now {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "second_factor_locked",
            format!(
                "too many wrong one-time passwords: try again in {} s",
                state.locked_until - now
            ),
        ));
    }
    let Some(code) = headers.get("x-aigis-otp").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "second_factor_required",
            "the admin API needs the caller's one-time password in `X-Aigis-OTP`",
        ));
    };
    let secret = totp_secret(reference, &setup.base).map_err(|_| ApiError::internal())?;
    match aigis_crypto::totp::check(
        &secret,
        code,
        now,
        state.last_step,
        aigis_crypto::totp::Algorithm::Sha1,
    ) {
        Ok(Some(step)) => {
            state.last_step = Some(step);
            state.failures = 0;
            Ok(())
        }
        Ok(None) => {
            state.failures += 1;
            if state.failures >= OTP_TRIES {
                state.failures = 0;
                state.locked_until = now + OTP_LOCK_S;
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_wrong",
                "the one-time password is wrong, or was used already",
            ))
        }
        Err(_) => Err(ApiError::internal()),
    }
}

/// The state file of `config` (relative to `base`), read.
pub(crate) fn setup(
    config: &ServeConfig,
    base: &Path,
) -> Result<Option<(Setup, State)>, crate::Error> {
    let Some(admin) = &config.admin else {
        return Ok(None);
    };
    let state_path = if admin.state.is_absolute() {
        admin.state.clone()
    } else {
        base.join(&admin.state)
    };
    let state = State::read(&state_path).map_err(|message| crate::Error::Config {
        file: config.source.clone(),
        key: "serve.admin.state".into(),
        message,
    })?;
    // Every second-factor secret must be there at start: a gateway that could not check
    // one would refuse its principal later, or worse, be configured to.
    for (entry, reference) in &admin.totp {
        totp_secret(reference, base).map_err(|m| crate::Error::Config {
            file: config.source.clone(),
            key: "serve.admin.totp".into(),
            message: format!("`{entry}`: {m}"),
        })?;
    }
    Ok(Some((
        Setup {
            config: admin.clone(),
            state_path,
            second: Arc::new(std::sync::Mutex::new(BTreeMap::new())),
            base: base.to_owned(),
        },
        state,
    )))
}

/// What an admin call does to the state, given what is in force: what it answers, and
/// the keys it touched. It runs while the gateway's changes are locked, so two admin
/// calls never work on the same state and one of them lost.
pub(crate) type Edit<T> = Box<
    dyn FnOnce(&crate::Current, &mut State) -> Result<(T, Vec<aigis_evidence::AdminKey>), ApiError>
        + Send,
>;

impl Gateway {
    /// The router of the admin listener ([`crate::admin`]).
    pub fn admin_router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/admin/v1/models", get(models))
            .route("/admin/v1/models/{name}/swap", post(swap).delete(unswap))
            .route("/admin/v1/keys", get(list_keys).post(create_key))
            .route("/admin/v1/keys/rotate", post(rotate_key))
            .route("/admin/v1/keys/revoke", post(revoke_key))
            .route("/admin/v1/reload", post(reload))
            .route("/admin/v1/extraction", get(extraction_suspects))
            .route(
                "/admin/v1/models/{name}/extraction/{principal}",
                axum::routing::delete(clear_extraction),
            )
            .fallback(crate::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::observed,
            ))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(self)
    }
}

/// Whether an entry of `principals` (`name`, or `method:name`) is `principal`.
fn admits(entry: &str, principal: &auth::Principal) -> bool {
    match entry.split_once(':') {
        Some((method, name)) => method == principal.method.as_str() && name == principal.name,
        None => entry == principal.name,
    }
}

/// Authenticates the caller and checks that it may use the admin API.
async fn admitted(
    gw: &Gateway,
    live: &Live,
    headers: &HeaderMap,
    peer: Option<&tls::Peer>,
    trail: &mut Trail,
) -> Result<auth::Principal, ApiError> {
    let principal = crate::authenticated(live, headers, peer, trail).await?;
    trail.enter("authorize");
    let listed = gw.admin.as_ref().is_some_and(|a| {
        a.config
            .principals
            .iter()
            .any(|entry| admits(entry, &principal))
    });
    if !listed {
        return Err(ApiError::forbidden());
    }
    if let Some(setup) = gw.admin.as_ref() {
        second_factor(setup, &principal, headers)?;
    }
    if let Some(authz) = &live.authz {
        let context = authz::CallContext {
            unix_ms: crate::unix_ms(),
            source_ip: peer.and_then(|p| p.addr).map(|a| a.ip()),
            request_bytes: 0,
            rows: 0,
        };
        if !authz.allows(
            &principal,
            authz::Action::Admin,
            authz::Resource::Server,
            &context,
        ) {
            return Err(ApiError::forbidden());
        }
    }
    Ok(principal)
}

/// The body of an admin call, as `T`.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not what this call takes: {e}"),
        )
    })
}

/// Runs `f` with the admitted caller, and attaches the trail.
async fn call<F, Fut>(
    gw: Arc<Gateway>,
    headers: HeaderMap,
    peer: Option<axum::Extension<tls::Peer>>,
    f: F,
) -> Response
where
    F: FnOnce(Arc<Gateway>, auth::Principal) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let mut trail = Trail::default();
    let live = gw.live();
    let result = match admitted(&gw, &live, &headers, peer.as_deref(), &mut trail).await {
        Ok(principal) => {
            trail.enter("admin");
            f(gw.clone(), principal).await
        }
        Err(e) => Err(e),
    };
    crate::finish(trail, result)
}

/// Makes the change `edit` describes (`action`, asked by `by`) in a blocking thread (it
/// may load and verify models: `models`).
async fn change<T: Send + 'static>(
    gw: Arc<Gateway>,
    action: &'static str,
    by: String,
    models: bool,
    edit: Edit<T>,
) -> Result<(crate::Reloaded, T), ApiError> {
    tokio::task::spawn_blocking(move || gw.apply_admin(action, &by, models, edit))
        .await
        .map_err(|_| ApiError::internal())?
}

pub(crate) fn refusal(e: crate::Error) -> ApiError {
    match e {
        crate::Error::Unrecorded(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the change could not be recorded, so it was not made; try again later",
        ),
        e => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "change_refused",
            format!("refused, what was in force stays: {}", crate::chain(&e)),
        ),
    }
}

fn now() -> SystemTime {
    SystemTime::now()
}

type Peer = Option<axum::Extension<tls::Peer>>;

async fn models(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, _| async move {
        let swapped = gw.current().state.models;
        let list: Vec<_> = gw
            .models()
            .into_iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "version": m.version,
                    "sha256": m.digest.hex(),
                    "signed_by": m.signed_by,
                    "stage": m.stage.as_ref().map(|(n, s)| format!("{n}@{s}")),
                    "swapped": swapped.get(&m.name),
                })
            })
            .collect();
        Ok(axum::Json(serde_json::json!({ "models": list })).into_response())
    })
    .await
}

async fn swap(
    AxumState(gw): AxumState<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let source: ModelSource = body(&bytes)?;
        source.check().map_err(|m| ApiError::invalid("body", m))?;
        let edit: Edit<()> = Box::new(move |current, state| {
            if !current.config.models.iter().any(|m| m.name == name) {
                return Err(ApiError::no_model(&name));
            }
            state.models.insert(name, source);
            Ok(((), Vec::new()))
        });
        let (report, ()) = change(gw, "model-swap", principal.name, true, edit).await?;
        Ok(reloaded(&report))
    })
    .await
}

async fn unswap(
    AxumState(gw): AxumState<Arc<Gateway>>,
    UrlPath(name): UrlPath<String>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let edit: Edit<()> = Box::new(move |_, state| {
            if state.models.remove(&name).is_none() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("model `{name}` is served from its configured source"),
                ));
            }
            Ok(((), Vec::new()))
        });
        let (report, ()) = change(gw, "model-unswap", principal.name, true, edit).await?;
        Ok(reloaded(&report))
    })
    .await
}

/// `GET /admin/v1/extraction`.
async fn extraction_suspects(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, _| async move {
        let models: Vec<_> = gw
            .extraction_suspects()
            .into_iter()
            .filter(|s| !s.suspects.is_empty())
            .map(|s| {
                serde_json::json!({
                    "model": s.model,
                    "sha256": s.sha256,
                    "suspects": s.suspects.iter().map(|p| serde_json::json!({
                        "principal": p.principal,
                        "sign": p.suspicion.reason.kind(),
                        "reason": p.suspicion.reason.describe(),
                        "after_rows": p.suspicion.after_rows,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(axum::Json(serde_json::json!({ "models": models })).into_response())
    })
    .await
}

/// `DELETE /admin/v1/models/{name}/extraction/{principal}`.
async fn clear_extraction(
    AxumState(gw): AxumState<Arc<Gateway>>,
    UrlPath((name, who)): UrlPath<(String, String)>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let by = principal.name;
        let cleared = tokio::task::spawn_blocking(move || gw.clear_extraction(&name, &who, &by))
            .await
            .map_err(|_| ApiError::internal())??;
        Ok(axum::Json(serde_json::json!({ "cleared": cleared })).into_response())
    })
    .await
}

fn reloaded(report: &crate::Reloaded) -> Response {
    axum::Json(serde_json::json!({
        "models": report.models.iter().map(|(n, v, p)| serde_json::json!({"name": n, "version": v, "previous": p})).collect::<Vec<_>>(),
        "removed": report.removed,
        "api_keys": report.api_keys,
        "jwt_issuers": report.jwt_issuers,
        "policies": report.policies,
        "certificate": report.certificate,
        "need_restart": report.need_restart,
    }))
    .into_response()
}

async fn reload(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let report = tokio::task::spawn_blocking(move || {
            gw.reload_from_source("admin", Some(&principal.name))
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(refusal)?;
        Ok(reloaded(&report))
    })
    .await
}

async fn list_keys(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    call(gw, headers, peer, |gw, _| async move {
        let current = gw.current();
        let keys = current.state.keys(&current.config.api_keys, now());
        Ok(axum::Json(serde_json::json!({ "keys": keys })).into_response())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    principal: String,
    #[serde(default)]
    expires_in_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    principal: String,
    #[serde(default)]
    overlap_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    principal: Option<String>,
}

fn seconds(field: &str, s: u64) -> Result<Duration, ApiError> {
    if s > MAX_SECONDS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_SECONDS} seconds"),
        ));
    }
    Ok(Duration::from_secs(s))
}

fn principal_name(p: &str) -> Result<(), ApiError> {
    if is_name(p) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "principal",
            "not a principal name (letters, digits, `-`, `_`, `.`)",
        ))
    }
}

/// A new key for `principal` in `state`, expiring at `expires`.
fn new_key(
    state: &mut State,
    principal: &str,
    expires: Option<SystemTime>,
    at: SystemTime,
) -> Result<(auth::Secret, aigis_evidence::AdminKey), ApiError> {
    let (secret, sha256) = auth::generate().map_err(|_| ApiError::internal())?;
    let record = KeyRecord {
        principal: principal.to_owned(),
        sha256,
        created: Some(rfc3339(at)),
        expires: expires.map(rfc3339),
        revoked: None,
    };
    let evidence = aigis_evidence::AdminKey {
        id: key_id(&record.sha256).to_owned(),
        principal: principal.to_owned(),
        change: aigis_evidence::KeyChange::Created,
        expires: record.expires.clone(),
    };
    state.keys.push(record);
    Ok((secret, evidence))
}

fn created(
    secret: &auth::Secret,
    key: &aigis_evidence::AdminKey,
    extra: serde_json::Value,
) -> Response {
    let mut body = serde_json::json!({
        "principal": key.principal,
        "id": key.id,
        "key": secret.expose(),
        "expires": key.expires,
    });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    // The key is in this answer only: no cache may keep it.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn create_key(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let asked: NewKey = body(&bytes)?;
        principal_name(&asked.principal)?;
        let at = now();
        let expires = asked
            .expires_in_s
            .map(|s| seconds("expires_in_s", s).map(|d| at + d))
            .transpose()?;
        let edit: Edit<(auth::Secret, aigis_evidence::AdminKey)> = Box::new(move |_, state| {
            let (secret, key) = new_key(state, &asked.principal, expires, at)?;
            Ok(((secret, key.clone()), vec![key]))
        });
        let (_, (secret, key)) = change(gw, "key-create", principal.name, false, edit).await?;
        Ok(created(&secret, &key, serde_json::Value::Null))
    })
    .await
}

async fn rotate_key(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let asked: Rotate = body(&bytes)?;
        principal_name(&asked.principal)?;
        let at = now();
        let overlap = seconds("overlap_s", asked.overlap_s.unwrap_or(DEFAULT_OVERLAP_S))?;
        let retire_at = at + overlap;
        let edit: Edit<_> = Box::new(move |current, state| {
            let retiring = chosen(state, current, at, |k| {
                k.active && k.principal == asked.principal
            });
            if retiring.is_empty() {
                return Err(ApiError::invalid(
                    "principal",
                    format!(
                        "`{}` has no active API key to rotate; make one with POST /admin/v1/keys",
                        asked.principal
                    ),
                ));
            }
            let mut keys = Vec::new();
            let mut retired = Vec::new();
            for (p, sha) in &retiring {
                let expires = state.update(p, sha, |record| {
                    // An overlap never extends a key that expires sooner.
                    let sooner = record
                        .expires
                        .as_deref()
                        .and_then(parse_time)
                        .is_some_and(|t| t <= retire_at);
                    if !sooner {
                        record.expires = Some(rfc3339(retire_at));
                    }
                    record.expires.clone()
                });
                keys.push(aigis_evidence::AdminKey {
                    id: key_id(sha).to_owned(),
                    principal: p.clone(),
                    change: aigis_evidence::KeyChange::Expires,
                    expires: expires.clone(),
                });
                retired.push(serde_json::json!({"id": key_id(sha), "expires": expires}));
            }
            let (secret, key) = new_key(state, &asked.principal, None, at)?;
            keys.insert(0, key.clone());
            Ok(((secret, key, retired), keys))
        });
        let (_, (secret, key, retired)) =
            change(gw, "key-rotate", principal.name, false, edit).await?;
        Ok(created(
            &secret,
            &key,
            serde_json::json!({ "retiring": retired }),
        ))
    })
    .await
}

/// The keys `pick` chooses among every key (the configuration's and the API's): each
/// one's principal and SHA-256.
fn chosen(
    state: &State,
    current: &crate::Current,
    at: SystemTime,
    pick: impl Fn(&KeyView) -> bool,
) -> Vec<(String, String)> {
    let config = &current.config.api_keys;
    let shas = config.iter().map(|k| k.sha256.to_ascii_lowercase()).chain(
        state
            .keys
            .iter()
            .filter(|k| k.created.is_some())
            .map(|k| k.sha256.clone()),
    );
    state
        .keys(config, at)
        .into_iter()
        .zip(shas)
        .filter(|(v, _)| pick(v))
        .map(|(v, sha)| (v.principal, sha))
        .collect()
}

async fn revoke_key(
    AxumState(gw): AxumState<Arc<Gateway>>,
    peer: Peer,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    call(gw, headers, peer, |gw, principal| async move {
        let asked: Revoke = body(&bytes)?;
        let at = now();
        let id = match (&asked.id, &asked.principal) {
            (Some(id), None) => {
                if id.len() < 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ApiError::invalid("id", "a key id is 16 hex digits"));
                }
                Some(id.to_ascii_lowercase())
            }
            (None, Some(p)) => {
                principal_name(p)?;
                None
            }
            _ => {
                return Err(ApiError::invalid(
                    "body",
                    "say which keys: `id` or `principal`, one of them",
                ));
            }
        };
        let edit: Edit<Vec<String>> = Box::new(move |current, state| {
            let picked = chosen(state, current, at, |v| {
                v.revoked.is_none()
                    && match &id {
                        Some(id) => v.id.starts_with(id.get(..16).unwrap_or(id)),
                        None => asked.principal.as_deref() == Some(v.principal.as_str()),
                    }
            });
            if picked.is_empty() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no key that is not already revoked matches",
                ));
            }
            let mut keys = Vec::new();
            for (p, sha) in &picked {
                state.update(p, sha, |record| record.revoked = Some(rfc3339(at)));
                keys.push(aigis_evidence::AdminKey {
                    id: key_id(sha).to_owned(),
                    principal: p.clone(),
                    change: aigis_evidence::KeyChange::Revoked,
                    expires: None,
                });
            }
            let ids = keys.iter().map(|k| k.id.clone()).collect();
            Ok((ids, keys))
        });
        let (_, ids) = change(gw, "key-revoke", principal.name, false, edit).await?;
        Ok(axum::Json(serde_json::json!({ "revoked": ids })).into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qualified_entry_admits_only_its_method() {
        let p = |name: &str, method| auth::Principal {
            name: name.into(),
            method,
        };
        let (key, jwt, cert) = (
            auth::Method::ApiKey,
            auth::Method::Jwt,
            auth::Method::Certificate,
        );
        assert!(admits("api_key:ops", &p("ops", key)));
        assert!(!admits("api_key:ops", &p("ops", jwt)));
        assert!(!admits("api_key:ops", &p("ops", cert)));
        assert!(admits("jwt:auth0|42", &p("auth0|42", jwt)));
        assert!(!admits("jwt:auth0|42", &p("auth0|42", key)));
        // A `sub` that spells a qualified entry is still a JWT's.
        assert!(!admits("api_key:ops", &p("api_key:ops", jwt)));
        assert!(admits("ops", &p("ops", cert)));
        assert!(!admits("ops", &p("ops2", key)));
    }

    fn sha(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    #[test]
    fn the_state_lays_expiry_and_revocation_over_the_configured_keys() {
        let config = vec![
            ApiKeyConfig {
                name: "ci".into(),
                sha256: sha(1).to_uppercase(),
            },
            ApiKeyConfig {
                name: "ops".into(),
                sha256: sha(2),
            },
        ];
        let now = SystemTime::now();
        let state = State {
            version: 1,
            keys: vec![
                KeyRecord {
                    principal: "ci".into(),
                    sha256: sha(1),
                    created: None,
                    expires: Some(rfc3339(now - Duration::from_secs(5))),
                    revoked: None,
                },
                KeyRecord {
                    principal: "ops".into(),
                    sha256: sha(2),
                    created: None,
                    expires: None,
                    revoked: Some(rfc3339(now)),
                },
                KeyRecord {
                    principal: "new".into(),
                    sha256: sha(3),
                    created: Some(rfc3339(now)),
                    expires: Some(rfc3339(now + Duration::from_secs(60))),
                    revoked: None,
                },
            ],
            models: BTreeMap::new(),
        };
        state.check().unwrap();
        let views = state.keys(&config, now);
        let active: Vec<(&str, bool)> = views
            .iter()
            .map(|v| (v.principal.as_str(), v.active))
            .collect();
        assert_eq!(active, [("ci", false), ("ops", false), ("new", true)]);
        assert_eq!(views[2].source, "admin");
        assert_eq!(views[0].id, sha(1)[..16]);
        // The revoked key is gone; the expired one is kept and refused by its time.
        assert_eq!(state.api_keys(&config).len(), 2);
    }

    #[test]
    fn a_state_file_that_is_wrong_is_refused_with_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert_eq!(State::read(&path).unwrap(), State::default());
        for (text, says) in [
            ("{", "not an admin state file"),
            (r#"{"version": 2}"#, "format version 2"),
            (
                r#"{"keys": [{"principal": "a b", "sha256": "00"}]}"#,
                "keys[0].principal",
            ),
            (
                r#"{"keys": [{"principal": "a", "sha256": "00"}]}"#,
                "keys[0].sha256",
            ),
            (
                &format!(
                    r#"{{"keys": [{{"principal": "a", "sha256": "{}", "expires": "soon"}}]}}"#,
                    sha(1)
                ),
                "keys[0].expires",
            ),
            (r#"{"models": {"m": {}}}"#, "models.m"),
            (r#"{"extra": 1}"#, "unknown field"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = State::read(&path).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_staged_state_reads_back_once_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut state = State::default();
        state.models.insert(
            "m".into(),
            ModelSource {
                path: Some("v2.onnx".into()),
                signature: None,
                registry: None,
                file: None,
                identity: None,
            },
        );
        let tmp = state.stage(&path).unwrap();
        assert!(!path.exists());
        commit(&tmp, &path).unwrap();
        assert!(!tmp.exists());
        assert_eq!(State::read(&path).unwrap(), state);
    }
}
