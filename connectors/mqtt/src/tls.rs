//! TLS for `mqtts://` brokers: the broker's certificate verified against the platform's roots
//! or the configured CA, and the client certificate for mutual TLS.

use std::sync::Arc;

use courier_core::{ConnectorError, ErrorKind, Secret};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificates in `pem`, or why there are none (without quoting it).
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "is not valid PEM")?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(certs)
}

/// The private key in `pem`, or why there is none (never quoting it).
pub fn parse_key(pem: &Secret) -> Result<PrivateKeyDer<'static>, &'static str> {
    PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
        .map_err(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")
}

fn invalid(field: &str, message: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("{field} {message}"),
        format!("correct {field}"),
    )
}

/// The TLS settings for the broker: trust in `ca_pem` (else the platform's roots) and, when
/// given, the client certificate and key.
pub fn client_config(
    ca_pem: Option<&str>,
    client_cert_pem: Option<&str>,
    client_key_pem: Option<&Secret>,
) -> Result<Arc<rustls::ClientConfig>, ConnectorError> {
    // The workspace builds rustls with two providers, so one is named here.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::internal("could not set up TLS").with_source(e))?;
    let builder = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in parse_certificates(pem).map_err(|m| invalid("config.ca_pem", m))? {
                roots
                    .add(cert)
                    .map_err(|_| invalid("config.ca_pem", "holds a certificate TLS cannot use"))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder.with_platform_verifier().map_err(|e| {
                ConnectorError::internal("could not load the platform's certificate verifier")
                    .with_source(e)
            })?
        }
    };
    let config = match (client_cert_pem, client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain =
                parse_certificates(cert).map_err(|m| invalid("auth_config.client_cert_pem", m))?;
            let key = parse_key(key).map_err(|m| invalid("auth_config.client_key_pem", m))?;
            builder.with_client_auth_cert(chain, key).map_err(|_| {
                invalid(
                    "auth_config.client_key_pem",
                    "does not match client_cert_pem, or is a key type TLS cannot use",
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
