//! The parties' TLS: TLS 1.3 only, each side authenticated by its project's Ed25519 key
//! sent as a raw public key (RFC 7250) rather than a certificate. The coordinator accepts
//! exactly the clients' keys it was given; a client accepts exactly the coordinator's.
//! No certificate authority, names or expiry are involved: a key is trusted because it
//! was handed over (`aigis keys show`), as SSH host keys are.
//!
//! The handshake's signatures are checked by rustls's own raw-key verification
//! ([`rustls::crypto::verify_tls13_signature_with_raw_key`]); what is added here is only
//! the comparison of the peer's key with the ones allowed.

use std::sync::Arc;

use aigis_crypto::{PublicKey, SigningKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer,
    UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::Error;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// `key` as rustls's signing key with its raw public key as the "certificate".
fn certified(key: &SigningKey, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, Error> {
    let pkcs8 = key.to_pkcs8_der().map_err(|e| Error::Tls(e.to_string()))?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
    let signer = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| Error::Tls(format!("the project key: {e}")))?;
    let spki = key
        .public()
        .to_spki_der()
        .map_err(|e| Error::Tls(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(spki)],
        signer,
    )))
}

/// The peer's key as the raw public key it presented, if it is one of `allowed`.
fn pinned(
    presented: &CertificateDer<'_>,
    allowed: &[PublicKey],
) -> Result<PublicKey, rustls::Error> {
    let key = PublicKey::from_spki_der(presented.as_ref())
        .map_err(|e| rustls::Error::General(format!("the peer's raw public key: {e}")))?;
    // Public keys: comparing them in variable time reveals nothing secret.
    if allowed.contains(&key) {
        Ok(key)
    } else {
        Err(rustls::Error::General(format!(
            "the peer's key {} is not one this party was given",
            key.key_id()
        )))
    }
}

/// The key a connection's peer authenticated with.
pub fn peer_key(certificates: Option<&[CertificateDer<'_>]>) -> Result<PublicKey, Error> {
    let first = certificates
        .and_then(|c| c.first())
        .ok_or_else(|| Error::Tls("the peer presented no key".into()))?;
    PublicKey::from_spki_der(first.as_ref()).map_err(|e| Error::Tls(e.to_string()))
}

#[derive(Debug)]
struct Pinned {
    allowed: Vec<PublicKey>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a raw public key has no chain".into(),
            ));
        }
        pinned(end_entity, &self.allowed).map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is configured: a 1.2 handshake never gets here.
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a raw public key has no chain".into(),
            ));
        }
        pinned(end_entity, &self.allowed).map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is configured: a 1.2 handshake never gets here.
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The coordinator's TLS: its `key`, and only `clients` may connect.
pub fn server_config(
    key: &SigningKey,
    clients: &[PublicKey],
) -> Result<rustls::ServerConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(Pinned {
        allowed: clients.to_vec(),
        algorithms: provider.signature_verification_algorithms,
    });
    let cert = certified(key, &provider)?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(
            rustls::server::AlwaysResolvesServerRawPublicKeys::new(cert),
        ));
    Ok(config)
}

/// A client's TLS: its `key`, and only `coordinator` is accepted at the other end.
pub fn client_config(
    key: &SigningKey,
    coordinator: &PublicKey,
) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(Pinned {
        allowed: vec![*coordinator],
        algorithms: provider.signature_verification_algorithms,
    });
    let cert = certified(key, &provider)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(cert),
        ));
    Ok(config)
}
