//! TLS per libpq's `sslmode`, on rustls.
//!
//! - `disable`: no TLS. `allow` / `prefer`: TLS when the server offers it, unverified (as libpq).
//! - `require`: TLS, certificate not verified (libpq's meaning, unless a root cert is given:
//!   then libpq verifies the chain, and so do we).
//! - `verify-ca`: the chain must lead to `sslrootcert` (or the system roots); the host name is
//!   not checked.
//! - `verify-full`: chain *and* host name. This is the mode that stops a man in the middle.
//!
//! Client certificates come from `sslcert` / `sslkey` (paths, or PEM text via `secret://`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::errors::error;
use super::settings::{PgSettings, SslMode};
use crate::bindings::types::{ConnectorError, ErrorKind};

/// The TLS connector for `settings`, or `None` for `sslmode=disable`.
pub fn connector(settings: &PgSettings) -> Result<Option<MakeRustlsConnect>, ConnectorError> {
    let fail = |what: String| {
        error(
            ErrorKind::Config,
            format!("postgres profile `{}`: {what}", settings.profile),
        )
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (settings.sslmode, &settings.sslrootcert) {
        (SslMode::Disable, _) => return Ok(None),
        (SslMode::Allow | SslMode::Prefer, _) | (SslMode::Require, None) => {
            Arc::new(AcceptAny(provider.clone()))
        }
        (SslMode::Require | SslMode::VerifyCa, _) => {
            Arc::new(ChainOnly(webpki(settings, &provider).map_err(fail)?))
        }
        (SslMode::VerifyFull, _) => webpki(settings, &provider).map_err(fail)?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&settings.sslcert, &settings.sslkey) {
        (Some(cert), Some(key)) => {
            let certs = cert.read("sslcert").map_err(&fail)?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certs)
                .collect::<Result<_, _>>()
                .map_err(|e| fail(format!("sslcert is not a PEM certificate ({e})")))?;
            let key = key.read("sslkey").map_err(&fail)?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|_| fail("sslkey is not a PEM private key".into()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| fail(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(fail("sslcert and sslkey must be set together".into())),
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// A chain-and-name verifier over `sslrootcert`, or the system roots without one.
fn webpki(
    settings: &PgSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut roots = RootCertStore::empty();
    match &settings.sslrootcert {
        Some(pem) => {
            let bytes = pem.read("sslrootcert")?;
            for cert in CertificateDer::pem_slice_iter(&bytes) {
                let cert =
                    cert.map_err(|e| format!("sslrootcert is not a PEM certificate ({e})"))?;
                roots.add(cert).map_err(|e| format!("sslrootcert: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("no root certificates to verify the server with: set `sslrootcert`".into());
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("TLS verifier: {e}"))
}

/// `verify-ca`: everything webpki checks except the host name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` / `require` without a root certificate: encrypted, certificate not verified
/// (libpq's documented behaviour). Handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
