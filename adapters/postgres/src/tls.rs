//! TLS for the store's connections: the `sslmode` a URL asks for (libpq's names), and the
//! rustls connector that mode needs (certificates checked against a CA file or Mozilla's roots).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::PgConfigError;

/// What a connection's transport must be, from the URL's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: plain TCP, TLS never tried.
    Disable,
    /// `prefer`, also when the URL names no `sslmode`: TLS when the server offers it, plain TCP
    /// when it does not. As with libpq the certificate is not checked, so this keeps passive
    /// eavesdroppers out but not a server in the middle.
    Prefer,
    /// `require`, `verify-ca` or `verify-full`: TLS or no connection, and the server's
    /// certificate must chain to a trusted root (the CA file, else Mozilla's roots) and name
    /// the host connected to. Stricter than libpq's `require` (which checks nothing) and
    /// `verify-ca` (which skips the host name).
    Require,
}

impl SslMode {
    /// The libpq name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }
}

/// `url` as tokio-postgres can parse it: `sslmode=verify-ca` and `sslmode=verify-full` (which
/// it does not know) become `require`, which it does and which this adapter verifies as
/// strictly. Values libpq knows but this adapter does not (`allow`), and unknown ones, are
/// refused.
pub(crate) fn normalise_ssl_mode(url: &str) -> Result<String, PgConfigError> {
    let check = |value: &str| -> Result<&'static str, PgConfigError> {
        match value {
            "disable" => Ok("disable"),
            "prefer" => Ok("prefer"),
            "require" | "verify-ca" | "verify-full" => Ok("require"),
            other => Err(PgConfigError::SslMode { value: other.to_owned() }),
        }
    };
    if let Some((head, query)) = url.split_once('?')
        && url.contains("://")
    {
        let params = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some(("sslmode", value)) => check(value).map(|mode| format!("sslmode={mode}")),
                _ => Ok(param.to_owned()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(format!("{head}?{}", params.join("&")));
    }
    if url.contains("://") {
        return Ok(url.to_owned());
    }
    // Key-value form: `host=... sslmode=verify-full ...` (a value may be quoted).
    let words = url
        .split_whitespace()
        .map(|word| match word.split_once('=') {
            Some(("sslmode", value)) => check(value.trim_matches('\'')).map(|mode| format!("sslmode={mode}")),
            _ => Ok(word.to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(words.join(" "))
}

/// The mode tokio-postgres parsed.
pub(crate) fn mode_of(pg: &tokio_postgres::Config) -> SslMode {
    match pg.get_ssl_mode() {
        tokio_postgres::config::SslMode::Disable => SslMode::Disable,
        tokio_postgres::config::SslMode::Prefer => SslMode::Prefer,
        // `Require`, and any stricter mode a later tokio-postgres adds.
        _ => SslMode::Require,
    }
}

/// The connector for `mode`: certificates checked against `ca_file` (PEM, replacing the
/// built-in roots, like libpq's `sslrootcert`) or Mozilla's roots for [`SslMode::Require`];
/// not checked for [`SslMode::Prefer`]; never used for [`SslMode::Disable`].
pub(crate) fn connector(mode: SslMode, ca_file: Option<&Path>) -> Result<MakeRustlsConnect, PgConfigError> {
    if let Some(path) = ca_file
        && mode != SslMode::Require
    {
        return Err(PgConfigError::CaFileUnused { path: path.to_owned(), mode: mode.as_str() });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(PgConfigError::Tls)?;
    let config = match mode {
        SslMode::Require => builder.with_root_certificates(roots(ca_file)?).with_no_client_auth(),
        SslMode::Prefer | SslMode::Disable => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of `ca_file`, else Mozilla's roots.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, PgConfigError> {
    let Some(path) = ca_file else {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    };
    let unusable = |reason: String| PgConfigError::CaFile { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(format!("not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(unusable("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| unusable(format!("a certificate cannot be used as a root: {e}")))?;
    }
    Ok(roots)
}

/// `sslmode=prefer`'s verifier: any certificate goes (libpq's `prefer` checks none), but the
/// handshake's signatures are still checked, so the session is encrypted to the key the
/// certificate names (which SCRAM channel binding then ties the password exchange to).
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
