//! TLS termination with rustls: TLS 1.3 and 1.2 only, the hybrid post-quantum key
//! exchange X25519MLKEM768 offered first (aws-lc-rs, rustls's `prefer-post-quantum`), then
//! X25519 and the NIST curves for clients without it. With `client_ca`, client
//! certificates chaining to it are verified (mutual TLS), and required unless
//! `client_auth = "optional"`.
//!
//! ```toml
//! [serve]
//! listen = "0.0.0.0:8443"
//! tls = { cert = "gw.pem", key = "gw.key" }
//! # tls = { cert = "gw.pem", key = "gw.key", client_ca = "clients-ca.pem" }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Error;

/// The largest certificate or key file read.
const MAX_PEM: u64 = 1 << 20;

/// `tls = { cert = "…", key = "…" }`; paths are relative to the configuration's folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to: mutual TLS.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: whether a client must present a certificate (`required` when
    /// absent).
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
}

/// Whether a client certificate is required (`client_auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A client without a certificate chaining to `client_ca` fails the handshake.
    #[default]
    Required,
    /// A client may present one; without it, it authenticates with a key or a token.
    Optional,
}

/// The key exchange groups offered, in order of preference.
pub fn key_exchange_groups() -> Vec<&'static str> {
    provider()
        .kx_groups
        .iter()
        .map(|g| g.name().as_str().unwrap_or("?"))
        .collect()
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn read_pem(
    path: &Path,
    what: &str,
    key: &str,
    source: &Path,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bad = |message: String| Error::Config {
        file: source.to_owned(),
        key: key.to_owned(),
        message,
    };
    let file = std::fs::File::open(path)
        .map_err(|e| bad(format!("cannot read the {what} `{}`: {e}", path.display())))?;
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PEM + 1), &mut bytes)
        .map_err(|e| bad(format!("cannot read the {what} `{}`: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(bad(format!(
            "the {what} `{}` is larger than {MAX_PEM} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

fn certificates(
    path: &Path,
    what: &str,
    key: &str,
    source: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read_pem(path, what, key, source)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Config {
            file: source.to_owned(),
            key: key.to_owned(),
            message: format!("`{}` is not PEM certificates: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(Error::Config {
            file: source.to_owned(),
            key: key.to_owned(),
            message: format!("`{}` holds no CERTIFICATE block", path.display()),
        });
    }
    Ok(certs)
}

/// The server's certificate chain and key, read from `tls`'s files and checked to fit.
fn certified_key(tls: &TlsConfig, base: &Path, source: &Path) -> Result<Arc<CertifiedKey>, Error> {
    let bad = |key: &str, message: String| Error::Config {
        file: source.to_owned(),
        key: key.to_owned(),
        message,
    };
    let chain = certificates(
        &base.join(&tls.cert),
        "certificate",
        "serve.tls.cert",
        source,
    )?;
    let key_pem = read_pem(&base.join(&tls.key), "private key", "serve.tls.key", source)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        bad(
            "serve.tls.key",
            format!(
                "`{}` holds no private key in PEM (PKCS#8, PKCS#1 or SEC1): {e}",
                tls.key.display()
            ),
        )
    })?;
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(|e| {
            bad(
                "serve.tls.key",
                format!("the key does not fit the certificate, or cannot be used: {e}"),
            )
        })
}

/// The server's certificate and key, which a reload replaces while serving (a renewed
/// certificate takes effect for the next handshake; connections open keep theirs).
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Reads `tls`'s certificate and key again and, when they fit, uses them from the
    /// next handshake on; on an error the ones in use stay.
    pub fn reload(&self, tls: &TlsConfig, base: &Path, source: &Path) -> Result<(), Error> {
        self.install(certified_key(tls, base, source)?);
        Ok(())
    }

    /// Reads and checks `tls`'s certificate and key, to [`Certificates::install`] later.
    pub(crate) fn read(
        tls: &TlsConfig,
        base: &Path,
        source: &Path,
    ) -> Result<Arc<CertifiedKey>, Error> {
        certified_key(tls, base, source)
    }

    /// Uses `key` from the next handshake on.
    pub(crate) fn install(&self, key: Arc<CertifiedKey>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The rustls server configuration of `tls`, its files relative to `base`; `source` names
/// the configuration file in errors, which name the key (`serve.tls.cert` …).
pub fn server_config(
    tls: &TlsConfig,
    base: &Path,
    source: &Path,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    server_config_reloadable(tls, base, source).map(|(config, _)| config)
}

/// As [`server_config`], with the [`Certificates`] a reload replaces.
pub fn server_config_reloadable(
    tls: &TlsConfig,
    base: &Path,
    source: &Path,
) -> Result<(Arc<rustls::ServerConfig>, Arc<Certificates>), Error> {
    let bad = |key: &str, message: String| Error::Config {
        file: source.to_owned(),
        key: key.to_owned(),
        message,
    };
    let served = Arc::new(Certificates {
        current: RwLock::new(certified_key(tls, base, source)?),
    });
    let provider = Arc::new(provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad("serve.tls", e.to_string()))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(&base.join(ca), "client CA", "serve.tls.client_ca", source)? {
                roots.add(cert).map_err(|e| {
                    bad(
                        "serve.tls.client_ca",
                        format!(
                            "`{}`: not a CA certificate rustls accepts: {e}",
                            ca.display()
                        ),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match tls.client_auth.unwrap_or_default() {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| bad("serve.tls.client_ca", e.to_string()))?,
            )
        }
    };
    let mut config = builder.with_cert_resolver(served.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), served))
}

/// What the TLS layer knows about a connection, for authentication and the audit.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The client's address.
    pub addr: Option<std::net::SocketAddr>,
    /// The verified client certificate's leaf (DER), with mutual TLS.
    pub client_cert: Option<CertificateDer<'static>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hybrid_post_quantum_group_is_offered_first() {
        assert_eq!(key_exchange_groups()[0], "X25519MLKEM768");
        assert!(key_exchange_groups().contains(&"X25519"));
    }
}
