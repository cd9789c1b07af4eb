//! TLS for servers that use it: the platform's verifier, or the config's own CA (`ca_pem`),
//! always with the aws-lc-rs provider named explicitly (the build has two, so rustls cannot
//! pick one itself) and host names verified.

use std::sync::Arc;

use async_nats::rustls;
use courier_core::ConnectorError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates of a `ca_pem`, or why it is not one.
pub fn parse_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("must be a PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "must be a PEM certificate; it does not parse".to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|_| "holds a certificate that cannot be a trust anchor".to_string())?;
    }
    Ok(certs)
}

/// The client's TLS settings: trust `ca_pem` when given, else the platform's roots.
pub fn client_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, ConnectorError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::internal("could not set up TLS").with_source(e))?;
    match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = parse_ca(pem).map_err(|m| {
                ConnectorError::new(
                    courier_core::ErrorKind::InvalidConfig,
                    format!("ca_pem {m}"),
                    "correct config.ca_pem",
                )
            })?;
            for cert in certs {
                // parse_ca has added each to a store already.
                let _ = roots.add(cert);
            }
            Ok(builder.with_root_certificates(roots).with_no_client_auth())
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map(|b| b.with_no_client_auth())
                .map_err(|e| {
                    ConnectorError::internal("could not load the platform's certificate verifier")
                        .with_source(e)
                })
        }
    }
}
