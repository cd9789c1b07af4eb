//! Certificates made for one test (a CA of its own and what it signs, as PEM), a rustls client
//! config trusting that CA, and a TLS front that terminates TLS on a loopback port and forwards
//! each connection to a plain server, for brokers that cannot serve TLS themselves.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The names every server certificate made here is valid for.
const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate and its private key, as PEM.
#[derive(Clone, Debug)]
pub struct KeyedCert {
    /// The certificate.
    pub cert: String,
    /// Its private key (PKCS#8).
    pub key: String,
}

/// A CA made for one test: its certificate, and its key to sign with.
pub struct TestCa {
    /// The CA's certificate, as PEM: what a config's `ca_pem` takes.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("pem", &self.pem)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA with `name` as its common name.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("a self-signed CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, signed by this CA.
    pub fn server(&self) -> KeyedCert {
        let key = KeyPair::generate().expect("a server key");
        let mut params =
            CertificateParams::new(SERVER_NAMES.map(String::from).to_vec()).expect("server params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("a server cert");
        KeyedCert {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A client certificate with `common_name`, signed by this CA.
    pub fn client(&self, common_name: &str) -> KeyedCert {
        let key = KeyPair::generate().expect("a client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("a client cert");
        KeyedCert {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// rustls client settings trusting this CA alone, presenting `client` when given.
    pub fn client_config(&self, client: Option<&KeyedCert>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).expect("the CA's PEM"))
            .expect("the CA as a root");
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match client {
            Some(client) => builder
                .with_client_auth_cert(chain(&client.cert), key(&client.key))
                .expect("the client certificate"),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_slice(pem.as_bytes()).expect("a certificate PEM")]
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("a private key PEM")
}

/// A loopback listener that terminates TLS with `server` and forwards each connection to
/// `backend` (`host:port`); returns its port. It runs until the runtime stops. A handshake the
/// client abandons (an untrusted certificate) closes that connection only.
pub async fn tls_front(server: &KeyedCert, backend: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    tls_front_on(listener, server, backend)
}

/// [`tls_front`] on a listener bound beforehand, for a server that must be told the front's
/// port before it starts (a broker advertising it); returns the port.
pub fn tls_front_on(listener: tokio::net::TcpListener, server: &KeyedCert, backend: String) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain(&server.cert), key(&server.key))
        .expect("the server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}
