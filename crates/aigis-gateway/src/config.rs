//! `[serve]` in `aigis.toml` (or a file of its own): what to serve, where, and to whom.
//! Every key is checked when the gateway starts; a wrong one stops the start with its
//! name.
//!
//! ```toml
//! [serve]
//! listen = "0.0.0.0:8443"
//! tls = { cert = "gw.pem", key = "gw.key" }   # see [`crate::tls`]; mutual TLS with client_ca
//! # plain = true                   # HTTP without TLS instead: on a loopback address only
//! max_body_bytes = 4194304         # larger requests get 413
//! timeout_ms = 2000                # a model call that takes longer gets 504
//! # instance = "eu-west-1a"        # this replica's name in its monitoring evidence
//! #                                # (default: an id drawn at each start)
//!
//! [[serve.models]]
//! name = "digits"
//! path = "models/digits.onnx"      # relative to the folder of the config file
//! # signature = "models/digits.onnx.sig"   # the default: the path + `.sig`
//! # verify = false                 # serve it unsigned: said in so many words
//! # identity = "keys/serving.key"  # for an encrypted file (`path = "models/digits.onnx.aigis-enc"`):
//! #                                # the recipient key that opens it (default: the project's)
//!
//! [[serve.api_keys]]
//! name = "ci-bot"                  # the principal the key authenticates
//! sha256 = "<64 hex digits>"       # of the key; `aigis keys api new` makes both
//!
//! [serve.admin]                    # optional: keys, swaps and reloads over HTTP
//! listen = "127.0.0.1:9443"        # see [`crate::admin`]
//! principals = ["ops"]
//!
//! [serve.audit]                    # optional: see [`crate::audit::AuditConfig`]
//! mode = "buffered"                # answers do not wait for the ledger (a bounded queue)
//!
//! [serve.limits]                   # optional: per principal and model
//! rate = "50/s"                    # rows per second (also /min, /h, /d)
//! burst = 20                       # rows that may arrive at once
//! delay_ms = 50                    # wait up to this long for capacity before 429
//! daily_quota = 100000             # rows per UTC day
//! # fail_open = true               # when the rate store fails (refused by default)
//! # store = "redis://10.0.0.5:6379/0"   # shared by several replicas (in process by default)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;
pub use crate::tls::TlsConfig;

/// The largest request body by default (4 MiB).
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
/// The model call timeout by default.
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;

/// The `[serve]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Serve HTTP without TLS; only on a loopback address.
    #[serde(default)]
    pub plain: bool,
    /// TLS termination (certificate and key files).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The largest request body accepted.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How long a model call may take.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Rate limits and quotas per principal and model; none when absent.
    #[serde(default)]
    pub limits: Option<crate::limits::LimitsConfig>,
    /// Other ways to authenticate than API keys.
    #[serde(default)]
    pub auth: AuthConfig,
    /// How much of an answer each principal sees.
    #[serde(default)]
    pub outputs: Option<crate::harden::OutputsConfig>,
    /// Prometheus metrics on a listener of their own.
    #[serde(default)]
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// Cedar policies; without them every authenticated principal may call every model.
    #[serde(default)]
    pub authz: Option<crate::authz::AuthzConfig>,
    /// How calls are recorded: `sync` (the default) or `buffered`.
    #[serde(default)]
    pub audit: Option<crate::audit::AuditConfig>,
    /// The admin API, on a listener of its own.
    #[serde(default)]
    pub admin: Option<crate::admin::AdminConfig>,
    /// Alerts to the log, the ledger and a webhook ([`crate::alerts`]).
    #[serde(default)]
    pub alerts: Option<crate::alerts::AlertsConfig>,
    /// This gateway's name in its `monitor-window` evidence, so that replicas serving the
    /// same model keep their windows apart [default: an id drawn at each start].
    #[serde(default)]
    pub instance: Option<String>,
    /// The file this configuration was read from, for errors.
    #[serde(skip)]
    pub source: PathBuf,
}

/// `[serve.auth]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// JWT issuers: `[serve.auth.jwt]` for one, `[[serve.auth.jwt]]` for several.
    #[serde(default, deserialize_with = "one_or_many")]
    pub jwt: Vec<crate::jwt::JwtConfig>,
}

/// `[serve]` as its types; an error names the full key it is about
/// (`serve.models[0].upstream.protocol`), not only the table.
fn typed(serve: toml::Value, source: &Path) -> Result<ServeConfig, Error> {
    serde_path_to_error::deserialize(serve).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            Error::Config {
                file: source.to_owned(),
                key: if path == "." {
                    "serve".to_owned()
                } else {
                    format!("serve.{path}")
                },
                message: e.inner().message().to_owned(),
            }
        },
    )
}

/// A table or an array of tables. Read straight from the deserializer (not through a
/// `toml::Value`), so an error inside names its full key (`serve.auth.jwt[1].leeway_s`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::jwt::JwtConfig>, D::Error> {
    struct OneOrMany;
    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Vec<crate::jwt::JwtConfig>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a table ([serve.auth.jwt]) or an array of tables ([[serve.auth.jwt]])")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let one = crate::jwt::JwtConfig::deserialize(
                serde::de::value::MapAccessDeserializer::new(map),
            )?;
            Ok(vec![one])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(OneOrMany)
}

/// `[[serve.models]]`: one model, served under `/v2/models/<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    /// An ONNX file (or `registry` instead).
    #[serde(default)]
    pub path: PathBuf,
    /// A registry stage instead of a file: `"fraud@production"`, the version the gate put
    /// at that stage; a promotion or rollback swaps it in while serving.
    #[serde(default)]
    pub registry: Option<String>,
    /// With `registry`: which file of the version to serve (by default its one `.onnx`).
    #[serde(default)]
    pub file: Option<String>,
    /// Its OpenSSF model-signing signature; `<path>.sig` when absent.
    #[serde(default)]
    pub signature: Option<PathBuf>,
    /// `false` serves the file without checking a signature.
    #[serde(default = "yes")]
    pub verify: bool,
    /// For an encrypted file (`aigis model encrypt`): the recipient key that opens it;
    /// the project's recipient key when absent.
    #[serde(default)]
    pub identity: Option<PathBuf>,
    /// The data stage's profile of the training data: validation of the features and the
    /// profile-range detector ([`crate::inspect`]).
    #[serde(default)]
    pub profile: Option<crate::inspect::ProfileConfig>,
    /// The detectors of `aigis detect fit` (out-of-distribution, feature squeezing)
    /// ([`crate::detect`]).
    #[serde(default)]
    pub detector: Option<crate::detect::DetectorConfig>,
    /// The extraction detector ([`crate::extraction`]).
    #[serde(default)]
    pub extraction: Option<crate::extraction::ExtractionConfig>,
    /// Drift windows against the profile ([`crate::drift`]).
    #[serde(default)]
    pub drift: Option<crate::drift::DriftConfig>,
    /// Delayed labels and the KPIs ([`crate::feedback`]).
    #[serde(default)]
    pub feedback: Option<crate::feedback::FeedbackConfig>,
    /// A candidate version answering the same calls off the response path
    /// ([`crate::shadow`]).
    #[serde(default)]
    pub shadow: Option<crate::shadow::ShadowConfig>,
    /// A model on another server instead of a file ([`crate::upstream`]).
    #[serde(default)]
    pub upstream: Option<crate::upstream::UpstreamConfig>,
}

impl ModelConfig {
    /// A model called `name` with every other setting at its default (no file yet).
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            path: PathBuf::new(),
            registry: None,
            file: None,
            signature: None,
            verify: true,
            identity: None,
            profile: None,
            detector: None,
            extraction: None,
            drift: None,
            feedback: None,
            shadow: None,
            upstream: None,
        }
    }

    /// `registry = "name@stage"`, split.
    pub fn registry_stage(&self) -> Option<(&str, &str)> {
        let (name, stage) = self.registry.as_deref()?.split_once('@')?;
        (is_name(name) && is_name(stage)).then_some((name, stage))
    }
}

/// `[[serve.api_keys]]`: a key, by the SHA-256 of its text, and the principal it
/// authenticates. Two entries with one name are two keys of one principal (a rotation:
/// both work until the old entry is removed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    pub sha256: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn yes() -> bool {
    true
}

/// Model and principal names: what a URL path segment and a log line carry safely.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.')
}

/// An instance name: 1 to 64 ASCII letters, digits, `.`, `_`, `:` or `-`.
fn valid_instance(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

impl ServeConfig {
    /// Plain HTTP on a free loopback port with the defaults, serving `models` to
    /// `api_keys`, without limits (for embedding the gateway: tests, the demo).
    pub fn loopback(models: Vec<ModelConfig>, api_keys: Vec<ApiKeyConfig>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plain: true,
            tls: None,
            max_body_bytes: DEFAULT_MAX_BODY,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            models,
            api_keys,
            limits: None,
            auth: AuthConfig::default(),
            authz: None,
            metrics: None,
            outputs: None,
            audit: None,
            alerts: None,
            admin: None,
            instance: None,
            source: PathBuf::from("aigis.toml"),
        }
    }

    /// Reads `[serve]` from a TOML document (`aigis.toml`, or a file holding only the
    /// serve table under `[serve]`), and checks it. `source` names the file in errors.
    pub fn from_toml(text: &str, source: &Path) -> Result<Self, Error> {
        let bad = |key: &str, message: String| Error::Config {
            file: source.to_owned(),
            key: key.to_owned(),
            message,
        };
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| bad("", e.message().to_owned()))?;
        let serve = doc
            .remove("serve")
            .ok_or_else(|| bad("serve", "there is no [serve] table".into()))?;
        let mut config = typed(serve, source)?;
        config.source = source.to_owned();
        config.check(source)?;
        Ok(config)
    }

    /// Reads `[serve]` from an already parsed table (the project's).
    pub fn from_table(table: &toml::Table, source: &Path) -> Result<Self, Error> {
        let mut config = typed(toml::Value::Table(table.clone()), source)?;
        config.source = source.to_owned();
        config.check(source)?;
        Ok(config)
    }

    fn check(&self, source: &Path) -> Result<(), Error> {
        let bad = |key: String, message: String| {
            Err(Error::Config {
                file: source.to_owned(),
                key,
                message,
            })
        };
        if let Some(name) = &self.instance
            && !valid_instance(name)
        {
            return bad(
                "serve.instance".into(),
                format!("`{name}` is not a name: 1 to 64 letters, digits, `.`, `_`, `:` or `-`"),
            );
        }
        match (&self.tls, self.plain) {
            (Some(_), true) => {
                return bad(
                    "serve.plain".into(),
                    "`plain = true` and `tls` exclude each other".into(),
                );
            }
            (Some(tls), false) => {
                if tls.client_auth.is_some() && tls.client_ca.is_none() {
                    return bad(
                        "serve.tls.client_auth".into(),
                        "says whether client certificates are required, and needs `client_ca`, the CA they chain to".into(),
                    );
                }
            }
            (None, false) => {
                return bad(
                    "serve.tls".into(),
                    "say how to terminate TLS (`tls = { cert = \"…\", key = \"…\" }`), or `plain = true` to serve HTTP without TLS on a loopback address"
                        .into(),
                );
            }
            (None, true) if !self.listen.ip().is_loopback() => {
                return bad(
                    "serve.listen".into(),
                    format!(
                        "`{}` is not a loopback address, and plain HTTP is served on loopback only",
                        self.listen
                    ),
                );
            }
            (None, true) => {}
        }
        if self.max_body_bytes == 0 {
            return bad("serve.max_body_bytes".into(), "must be above 0".into());
        }
        if self.timeout_ms == 0 || self.timeout_ms > 600_000 {
            return bad(
                "serve.timeout_ms".into(),
                "must be between 1 and 600000".into(),
            );
        }
        if self.models.is_empty() {
            return bad(
                "serve.models".into(),
                "no model to serve: add a [[serve.models]] entry".into(),
            );
        }
        for (i, m) in self.models.iter().enumerate() {
            if let Some(u) = &m.upstream {
                if m.registry.is_some() || !m.path.as_os_str().is_empty() {
                    return bad(
                        format!("serve.models[{i}].upstream"),
                        "`upstream`, `path` and `registry` exclude each other".into(),
                    );
                }
                if m.verify {
                    return bad(
                        format!("serve.models[{i}].verify"),
                        "a model on an upstream server cannot be verified by aigis: say `verify = false` to serve it".into(),
                    );
                }
                if let Err((key, message)) = u.check() {
                    return bad(format!("serve.models[{i}].upstream.{key}"), message);
                }
                if !is_name(&m.name) || self.models.iter().take(i).any(|o| o.name == m.name) {
                    return bad(
                        format!("serve.models[{i}].name"),
                        format!("`{}` is not a model name, or is served twice", m.name),
                    );
                }
                continue;
            }
            match (&m.registry, m.path.as_os_str().is_empty()) {
                (Some(_), false) => {
                    return bad(
                        format!("serve.models[{i}].registry"),
                        "`path` and `registry` exclude each other".into(),
                    );
                }
                (None, true) => {
                    return bad(
                        format!("serve.models[{i}].path"),
                        "say what to serve: `path = \"model.onnx\"` or `registry = \"name@stage\"`"
                            .into(),
                    );
                }
                (Some(r), true) if m.registry_stage().is_none() => {
                    return bad(
                        format!("serve.models[{i}].registry"),
                        format!("`{r}` is not `name@stage`"),
                    );
                }
                (Some(_), _) if m.identity.is_some() => {
                    return bad(
                        format!("serve.models[{i}].identity"),
                        "only with `path`: registry versions are served as registered".into(),
                    );
                }
                (None, false) if m.file.is_some() => {
                    return bad(
                        format!("serve.models[{i}].file"),
                        "only with `registry`".into(),
                    );
                }
                _ => {}
            }
            if !is_name(&m.name) {
                return bad(
                    format!("serve.models[{i}].name"),
                    format!(
                        "`{}` is not a model name (letters, digits, `-`, `_`, `.`; not starting with `.`)",
                        m.name
                    ),
                );
            }
            if self.models.iter().take(i).any(|o| o.name == m.name) {
                return bad(
                    format!("serve.models[{i}].name"),
                    format!("`{}` is served twice", m.name),
                );
            }
        }
        let certificates = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if self.api_keys.is_empty() && self.auth.jwt.is_empty() && !certificates {
            return bad(
                "serve.api_keys".into(),
                "no way to authenticate: every call is; add an API key (`aigis keys api new`), a JWT issuer ([serve.auth.jwt]) or client certificates (tls.client_ca)"
                    .into(),
            );
        }
        for (i, j) in self.auth.jwt.iter().enumerate() {
            if let Err((key, message)) = j.check(&format!("serve.auth.jwt[{i}]")) {
                return bad(key, message);
            }
            if self.auth.jwt.iter().take(i).any(|o| o.issuer == j.issuer) {
                return bad(
                    format!("serve.auth.jwt[{i}].issuer"),
                    format!("`{}` is configured twice", j.issuer),
                );
            }
        }
        for (i, k) in self.api_keys.iter().enumerate() {
            if !is_name(&k.name) {
                return bad(
                    format!("serve.api_keys[{i}].name"),
                    format!("`{}` is not a principal name", k.name),
                );
            }
            let hex_ok = k.sha256.len() == 64 && k.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex_ok {
                return bad(
                    format!("serve.api_keys[{i}].sha256"),
                    "must be the 64 hex digits of the key's SHA-256".into(),
                );
            }
        }
        if let Some(o) = &self.outputs
            && let Err((key, message)) = o.check()
        {
            return bad(key, message);
        }
        if let Some(m) = &self.metrics {
            if !m.listen.ip().is_loopback() && !m.public {
                return bad(
                    "serve.metrics.listen".into(),
                    format!(
                        "`{}` is not a loopback address; the metrics ask no credentials, so say `public = true` to serve them there",
                        m.listen
                    ),
                );
            }
            if m.listen == self.listen && m.listen.port() != 0 {
                return bad(
                    "serve.metrics.listen".into(),
                    "is the gateway's own address; give the metrics a port of their own".into(),
                );
            }
        }
        if let Some(a) = &self.audit
            && (a.buffer == 0 || a.buffer > 10_000_000)
        {
            return bad(
                "serve.audit.buffer".into(),
                "must be between 1 and 10000000 records".into(),
            );
        }
        if let Some(admin) = &self.admin
            && let Err((key, message)) = admin.check(self)
        {
            return bad(key, message);
        }
        if let Some(authz) = &self.authz {
            for (group, members) in &authz.groups {
                if !is_name(group) {
                    return bad(
                        "serve.authz.groups".into(),
                        format!("`{group}` is not a group name"),
                    );
                }
                if members.iter().any(String::is_empty) {
                    return bad(
                        format!("serve.authz.groups.{group}"),
                        "a member's name is empty".into(),
                    );
                }
            }
        }
        if let Some(limits) = &self.limits
            && let Err(message) = crate::limits::Limiter::store_of(limits)
        {
            return bad("serve.limits.store".into(), message);
        }
        if let Some(limits) = &self.limits
            && let Err(message) =
                crate::limits::Limiter::new(limits, Box::new(crate::limits::MemoryStore::default()))
        {
            return bad("serve.limits".into(), message);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn parse(serve: &str) -> Result<ServeConfig, Error> {
        ServeConfig::from_toml(&format!("[serve]\n{serve}"), Path::new("aigis.toml"))
    }

    fn good() -> String {
        format!(
            "plain = true\n[[serve.models]]\nname = \"m\"\npath = \"m.onnx\"\n[[serve.api_keys]]\nname = \"ci\"\nsha256 = \"{KEY}\"\n"
        )
    }

    fn key_of(e: Error) -> String {
        match e {
            Error::Config { key, .. } => key,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_good_config_reads_with_its_defaults() {
        let c = parse(&good()).unwrap();
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY);
        assert!(c.models[0].verify);
        assert_eq!(c.instance, None);
        let named =
            parse(&good().replace("plain = true", "plain = true\ninstance = \"eu-west-1a:2\""));
        assert_eq!(named.unwrap().instance.as_deref(), Some("eu-west-1a:2"));
    }

    #[test]
    fn every_wrong_key_is_named() {
        let cases = [
            (good().replace("plain = true\n", ""), "serve.tls"),
            (
                good().replace(
                    "plain = true",
                    "plain = true\ntls = { cert = \"c\", key = \"k\" }",
                ),
                "serve.plain",
            ),
            (
                good().replace(
                    "plain = true",
                    "tls = { cert = \"c\", key = \"k\", client_auth = \"maybe\" }",
                ),
                "serve.tls.client_auth",
            ),
            (
                good().replace("plain = true", "plain = true\nlisten = \"0.0.0.0:80\""),
                "serve.listen",
            ),
            (
                good().replace("plain = true", "plain = true\ntimeout_ms = 0"),
                "serve.timeout_ms",
            ),
            (
                good().replace("name = \"m\"", "name = \"a/b\""),
                "serve.models[0].name",
            ),
            (good().replace(KEY, "xyz"), "serve.api_keys[0].sha256"),
            (
                good().replace(
                    "[[serve.api_keys]]\nname = \"ci\"\nsha256",
                    "[[serve.api_keys]]\nname = \"ci\"\nsha25",
                ),
                "serve.api_keys[0].sha25",
            ),
            // Errors of type, found while the TOML is read into aigis's types.
            (
                good().replace("path = \"m.onnx\"", "path = \"m.onnx\"\nverify = \"no\""),
                "serve.models[0].verify",
            ),
            (
                good().replace(
                    "path = \"m.onnx\"",
                    "upstream = { url = \"http://127.0.0.1:9/v2/models/m\", protocol = \"v3\" }",
                ),
                "serve.models[0].upstream.protocol",
            ),
            (
                good().replace(
                    "plain = true",
                    "plain = true\naudit = { mode = \"bufered\" }",
                ),
                "serve.audit.mode",
            ),
            (
                good().replace("plain = true", "plain = true\ntimeout_ms = \"fast\""),
                "serve.timeout_ms",
            ),
            (
                good().replace("plain = true", "plain = true\ninstance = \"eu west\""),
                "serve.instance",
            ),
            (
                good().replace("plain = true", "plain = true\ninstance = \"\""),
                "serve.instance",
            ),
            ("plain = true\n".to_owned(), "serve.models"),
        ];
        for (text, key) in cases {
            assert_eq!(key_of(parse(&text).unwrap_err()), key, "{text}");
        }
        let no_keys = good()
            .split("[[serve.api_keys]]")
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(key_of(parse(&no_keys).unwrap_err()), "serve.api_keys");
        // Inside `[serve.auth.jwt]`, one table or several.
        let issuer = |n: u32| {
            format!(
                "[[serve.auth.jwt]]\nissuer = \"https://i{n}.test\"\njwks = \"j.json\"\naudience = \"a\"\nalgorithms = [\"RS256\"]\n"
            )
        };
        let one =
            good() + &issuer(1).replace("[[serve.auth.jwt]]", "[serve.auth.jwt]") + "leway = 3\n";
        assert_eq!(key_of(parse(&one).unwrap_err()), "serve.auth.jwt.leway");
        let two = good() + &issuer(1) + &issuer(2) + "leeway_s = \"x\"\n";
        assert_eq!(
            key_of(parse(&two).unwrap_err()),
            "serve.auth.jwt[1].leeway_s"
        );
        let neither = good().replace("plain = true", "plain = true\nauth = { jwt = 3 }");
        assert_eq!(key_of(parse(&neither).unwrap_err()), "serve.auth.jwt");
        let twice = good().replace(
            "[[serve.api_keys]]",
            "[[serve.models]]\nname = \"m\"\npath = \"x.onnx\"\n[[serve.api_keys]]",
        );
        assert_eq!(key_of(parse(&twice).unwrap_err()), "serve.models[1].name");
    }
}
