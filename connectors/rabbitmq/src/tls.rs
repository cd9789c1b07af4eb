//! TLS for `amqps://` brokers: always verified, against the platform's roots or, with
//! `ca_pem`, against that CA alone.

use std::sync::Arc;

use courier_core::{ConnectorError, ErrorKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The client TLS config: an explicit crypto provider (aws-lc-rs), because the build has both
/// of rustls' providers and rustls then picks no default of its own.
pub fn client_config(ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, ConnectorError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectorError::internal("could not set up TLS").with_source(e))?;
    let config = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|_| bad_ca("is not readable PEM"))?;
                roots
                    .add(cert)
                    .map_err(|_| bad_ca("holds a certificate TLS cannot use as a root"))?;
            }
            if roots.is_empty() {
                return Err(bad_ca("holds no certificate"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| {
                    ConnectorError::internal("could not load the platform's certificate verifier")
                        .with_source(e)
                })?
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

fn bad_ca(problem: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("config.ca_pem {problem}"),
        "paste the PEM of the CA that signed the broker's certificate into config.ca_pem",
    )
}
