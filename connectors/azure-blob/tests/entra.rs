//! The Entra ID service principal end to end: an Azurite of this test's own, serving HTTPS
//! with OAuth (`--oauth basic`: it checks a bearer token's issuer, audience and lifetime, not
//! its signature), and a local HTTPS token endpoint standing in for Microsoft's, both with a
//! certificate from a throwaway CA trusted through `SSL_CERT_FILE`. The Azure SDK refuses
//! tokens over plain http and authority hosts that are not https, so nothing less would
//! exercise the real path. The test runs itself again in a child process with `SSL_CERT_FILE`
//! set, since a test must not change its own process's environment.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use courier_conformance::helpers::{records, reference, spec, test_report};
use courier_connector_azure_blob::AzureBlob;
use courier_core::{Batch, DynConnector, ErrorKind, StepStatus};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::json;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "courier-test-app";
const SECRET: &str = "entra-secret-sentinel-5c1d";
const ACCOUNT: &str = "courier";

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a certificate it signed for 127.0.0.1.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Courier test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params
        .signed_by(&key, &Issuer::new(ca_params, ca_key))
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An access token as Entra ID issues them for storage (unsigned: Azurite does not check).
fn storage_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({
        "aud": "https://storage.azure.com",
        "iss": format!("https://sts.windows.net/{TENANT}/"),
        "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
        "tid": TENANT, "appid": CLIENT_ID, "oid": "00000000-0000-0000-0000-000000000001",
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

/// The token endpoint: client-credentials grants for CLIENT_ID with SECRET; counts requests.
async fn token_endpoint(pki: &Pki, calls: Arc<AtomicUsize>) -> u16 {
    use rustls::pki_types::pem::PemObject;
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, calls) = (acceptor.clone(), calls.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| {
                        let calls = calls.clone();
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            let path = req.uri().path().to_string();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let form: std::collections::HashMap<String, String> =
                                url::form_urlencoded::parse(&body).into_owned().collect();
                            let (status, answer) = if path != format!("/{TENANT}/oauth2/v2.0/token")
                            {
                                (404, json!({"error": "not_found"}))
                            } else if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                                || form.get("client_secret").map(String::as_str) != Some(SECRET)
                            {
                                (
                                    401,
                                    json!({"error": "invalid_client",
                                "error_description": "AADSTS7000215: Invalid client secret provided."}),
                                )
                            } else {
                                (
                                    200,
                                    json!({"token_type": "Bearer", "expires_in": 3599,
                                "ext_expires_in": 3599, "access_token": storage_token()}),
                                )
                            };
                            Ok::<_, hyper::Error>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(answer.to_string())))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

struct Azurite(Child);

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Azurite over HTTPS with basic OAuth, with the account `courier` and `key`.
fn azurite_https(dir: &Path, port: u16, key: &str) -> Azurite {
    let child = Command::new(courier_testbed::azurite::bin())
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
        ])
        .arg(dir.join("data"))
        .arg("--cert")
        .arg(dir.join("cert.pem"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args([
            "--oauth",
            "basic",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ])
        .env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{key}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start azurite-blob");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "Azurite did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
    Azurite(child)
}

const CHILD: &str = "COURIER_TEST_ENTRA_DIR";

/// Writes the PKI, then runs the scenario in a child copy of this test binary that trusts the
/// CA (`SSL_CERT_FILE`), and fails with the child's output when it fails.
#[test]
fn a_service_principal_signs_in_and_writes_over_https() {
    if let Ok(dir) = std::env::var(CHILD) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        return runtime.block_on(scenario(Path::new(&dir)));
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    for (name, text) in [
        ("ca.pem", &pki.ca_pem),
        ("cert.pem", &pki.cert_pem),
        ("key.pem", &pki.key_pem),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_service_principal_signs_in_and_writes_over_https",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the scenario failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn scenario(dir: &Path) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let pki = Pki {
        ca_pem: read("ca.pem"),
        cert_pem: read("cert.pem"),
        key_pem: read("key.pem"),
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let token_port = token_endpoint(&pki, calls.clone()).await;
    let account_key = STANDARD.encode([7u8; 32]);
    let port = free_port();
    let _azurite = azurite_https(dir, port, &account_key);
    let endpoint = format!("https://127.0.0.1:{port}/{ACCOUNT}");

    // A container to write into, made with the account key (over the same HTTPS).
    let container = {
        use azure_core::http::{ClientOptions, Url};
        use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
        let policy =
            courier_connector_azure_blob::shared_key::SharedKeyPolicy::new(ACCOUNT, &account_key)
                .unwrap();
        let options = BlobContainerClientOptions {
            client_options: ClientOptions {
                per_try_policies: vec![Arc::new(policy)],
                ..Default::default()
            },
            ..Default::default()
        };
        BlobContainerClient::new(
            Url::parse(&format!("{endpoint}/entra")).unwrap(),
            None,
            Some(options),
        )
        .unwrap()
    };
    container.create(None).await.unwrap();

    let config = json!({"account": ACCOUNT, "container": "entra", "endpoint": endpoint,
        "key_template": "{batch_id}.{ext}", "format": "ndjson"});
    let principal = |secret: &str| {
        json!({"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": secret,
            "authority_host": format!("https://127.0.0.1:{token_port}")})
    };
    let report = test_report(
        &AzureBlob,
        &spec("dest_entra", config.clone(), principal(SECRET)),
    )
    .await;
    assert!(report.success, "{report:#?}");
    assert!(
        report
            .steps
            .iter()
            .any(|s| s.name == "write_permission" && s.status == StepStatus::Passed)
    );

    let dest = AzureBlob
        .build(&spec("dest_entra", config.clone(), principal(SECRET)))
        .await
        .unwrap();
    let batch = Batch::new("entra-1", records(3));
    reference(&dest.deliver(&batch).await);
    let downloaded = container
        .blob_client("entra-1.ndjson")
        .download(None)
        .await
        .unwrap();
    let bytes = downloaded.body.collect().await.unwrap();
    let expected: Vec<u8> = batch
        .records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect();
    assert_eq!(bytes.to_vec(), expected);
    let before = calls.load(Ordering::SeqCst);
    reference(&dest.deliver(&Batch::new("entra-2", records(1))).await);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "the token is cached, not fetched per upload"
    );

    // A wrong secret fails at authentication, naming what to fix and never echoing it.
    let wrong = "not-the-secret-sentinel";
    let report = test_report(&AzureBlob, &spec("dest_entra", config, principal(wrong))).await;
    let failed = report.failed_step().expect("a failed step");
    assert_eq!(failed.name, "authentication", "{report:#?}");
    assert!(
        matches!(
            failed.error_kind,
            Some(ErrorKind::Unauthenticated | ErrorKind::Forbidden)
        ),
        "{failed:?}"
    );
    let shown = format!("{report:?}");
    assert!(!shown.contains(wrong) && !shown.contains(SECRET));
}
