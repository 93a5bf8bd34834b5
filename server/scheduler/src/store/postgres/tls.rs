//! How a replica reaches PostgreSQL: the URL read as libpq reads its TLS options, for the pool and
//! for the LISTEN connection alike. tokio-postgres knows `sslmode=disable|prefer|require` only, and
//! no `sslrootcert`; both are taken out of the URL here and become a rustls client (the `ring`
//! provider, as nbgate's other TLS clients; tokio-postgres-rustls carries it).
//!
//! - no `sslmode`, or `disable`: no TLS (a unix socket, the default set-up);
//! - `prefer` (TLS if the server offers it) and `require`: encrypted, the certificate not checked,
//!   unless `sslrootcert` is given: then `require` checks it as `verify-ca` does (as libpq does);
//! - `verify-ca`: the server's certificate must chain to a root of `sslrootcert`;
//! - `verify-full`: that, and its names must include the host connected to.
//!
//! `sslrootcert=PATH` is a PEM file of root certificates; without it (or with `system`) the system's
//! roots are used. A file that cannot be read is an error at start, naming it.

use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;

/// The connection settings and the TLS connector of a `postgres://` URL.
#[derive(Clone)]
pub(crate) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// `sslmode` as libpq names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The URL's TLS options, and the rest as tokio-postgres reads it.
struct Parsed {
    config: tokio_postgres::Config,
    mode: Mode,
    root_cert: Option<String>,
}

/// The connection settings of `url`, read without reading any file, or the one-line reason it is
/// refused.
pub(crate) fn config(url: &str) -> Result<tokio_postgres::Config, String> {
    parse(url).map(|parsed| parsed.config)
}

/// Reads `url` and its root certificates.
pub(crate) fn target(url: &str) -> Result<Target, StoreError> {
    let refused = |reason: String| {
        StoreError::Unavailable(format!("{}: {reason}", super::super::redacted(url)))
    };
    let parsed = parse(url).map_err(refused)?;
    let tls = connector(parsed.mode, parsed.root_cert.as_deref()).map_err(refused)?;
    Ok(Target {
        config: parsed.config,
        tls,
    })
}

fn parse(url: &str) -> Result<Parsed, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = Mode::Disable;
    let mut root_cert = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = match value {
                    "disable" => Mode::Disable,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, prefer, require, verify-ca, \
                             verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => root_cert = Some(percent_decoded(value)),
            _ => rest.push(pair),
        }
    }
    let rest = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&rest).map_err(|error| error.to_string())?;
    config.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    Ok(Parsed {
        config,
        mode,
        root_cert,
    })
}

fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn connector(mode: Mode, root_cert: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let check_chain = match mode {
        Mode::Disable => false,
        Mode::Prefer | Mode::Require => root_cert.is_some(),
        Mode::VerifyCa | Mode::VerifyFull => true,
    };
    let chain = match check_chain {
        true => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root_cert)?), provider)
                .build()
                .map_err(|error| error.to_string())?,
        ),
        false => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match chain {
        Some(webpki) if mode == Mode::VerifyFull => webpki,
        chain => Arc::new(Lenient { chain, algorithms }),
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `sslrootcert`'s certificates, or the system's.
fn roots(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) if path != "system" => {
            let unreadable = |error: &dyn std::fmt::Display| format!("sslrootcert {path}: {error}");
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|error| unreadable(&error))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| unreadable(&error))?;
            if certs.is_empty() {
                return Err(unreadable(&"no PEM certificate in it"));
            }
            for cert in certs {
                roots.add(cert).map_err(|error| unreadable(&error))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no system root certificate found: give sslrootcert=PATH".into());
            }
        }
    }
    Ok(roots)
}

/// `verify-ca` (`chain`: the chain is checked, the names are not), or `prefer` and `require`
/// without `sslrootcert` (no `chain`: the certificate taken as it comes). The handshake's signature
/// is checked either way.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_read_as_libpq_reads_them() {
        let plain = parse("postgres://u@%2Ftmp%2Fpg/db").expect("plain");
        assert_eq!(plain.mode, Mode::Disable);
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
        let full = parse(
            "postgres://u@db.example:5433/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem\
             &application_name=x",
        )
        .expect("verify-full");
        assert_eq!(full.mode, Mode::VerifyFull);
        assert_eq!(full.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(full.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(full.config.get_application_name(), Some("x"));
        let bad = parse("postgres://u@db/x?sslmode=always")
            .err()
            .expect("refused");
        assert!(bad.contains("sslmode=always is not one of"), "{bad}");
    }

    #[test]
    fn an_unreadable_root_certificate_is_named() {
        let error =
            match target("postgres://u@db/x?sslmode=verify-full&sslrootcert=/nonexistent.pem") {
                Err(StoreError::Unavailable(reason)) => reason,
                Err(other) => panic!("{other}"),
                Ok(_) => panic!("a missing sslrootcert was accepted"),
            };
        assert!(error.contains("sslrootcert /nonexistent.pem"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}
