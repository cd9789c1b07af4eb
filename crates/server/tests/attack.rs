//! The guard attacked end to end, in a network of the test's own. Each test moves its thread
//! (and the runtime it then starts) into fresh network and mount namespaces: there `lo` also
//! carries 11.0.0.2, an address outside every private range, so a listener on it is a "public"
//! host, and `/etc/hosts` is a file the test rewrites, so a name can resolve public when a
//! destination is saved and to loopback when it is used. Nothing leaves the machine, and the
//! host's own network and files are untouched (the namespaces end with the test's process).
//!
//! The server runs with private destinations off. Listeners on 127.0.0.1 stand for the
//! operator's network: they must never receive a request.
//!
//! Needs root (namespaces) and `ip` from iproute2; `cargo xtask test` runs as root here.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_core::{Batch, DestinationSpec, Record};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Backend, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The address that looks public inside the test's network.
const PUBLIC: &str = "11.0.0.2";

/// The test's network and hosts file.
struct Sandbox {
    hosts: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    /// Enters the namespaces. Must run before the runtime starts: threads started afterwards
    /// from this thread share them; the test harness's other threads do not.
    fn enter() -> Sandbox {
        use nix::mount::{MsFlags, mount};
        use nix::sched::{CloneFlags, unshare};
        unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
            .expect("new network and mount namespaces (these tests need root)");
        // Mounts made here stay here.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make the mount namespace private");
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        mount(
            Some(&hosts),
            "/etc/hosts",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind the test's hosts file over /etc/hosts");
        for args in [
            &["link", "set", "lo", "up"][..],
            &["addr", "add", &format!("{PUBLIC}/32"), "dev", "lo"],
        ] {
            let status = std::process::Command::new("ip")
                .args(args)
                .status()
                .expect("`ip` from iproute2");
            assert!(status.success(), "ip {args:?}");
        }
        Sandbox { hosts, _dir: dir }
    }

    /// Replaces the hosts file (same file, so the bind mount sees it): `(address, name)`.
    fn resolve(&self, entries: &[(&str, &str)]) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for (address, name) in entries {
            text.push_str(&format!("{address} {name}\n"));
        }
        std::fs::write(&self.hosts, text).unwrap();
    }

    /// Runs the test's body on a runtime whose threads live in the namespaces.
    fn run<F: std::future::Future<Output = ()>>(&self, body: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    }
}

/// Requests a listener received (head and body as text).
type Seen = Arc<Mutex<Vec<String>>>;

/// A listener on `ip:port` (port 0: any) answering every request with what `answer` returns
/// for its text; every answer closes the connection, so each request resolves its host anew.
async fn listener(ip: &str, port: u16, answer: fn(&str) -> String) -> (u16, Seen) {
    let listener = TcpListener::bind((ip, port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                // The head, then as much body as it declares.
                loop {
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
                    {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let reply = answer(&text);
                log.lock().unwrap().push(text);
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn no_content(_: &str) -> String {
    "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".into()
}

fn ok_empty(_: &str) -> String {
    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
}

/// The private listener's port, in answers that point at it (set before the public one starts).
static PRIVATE_PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

fn private_url() -> String {
    format!("http://127.0.0.1:{}/steal", PRIVATE_PORT.get().unwrap())
}

fn redirect_to_private(_: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        private_url()
    )
}

fn json_answer(status: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Google (GCS, Drive): no file of that name yet; an upload session opened with its
/// `Location` on the private listener.
fn google_session_at_private(request: &str) -> String {
    if request.starts_with("GET ") {
        return json_answer("200 OK", &json!({"files": []}));
    }
    format!(
        "HTTP/1.1 200 OK\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        private_url()
    )
}

/// Graph: no item at that path yet; an upload session created with its `uploadUrl` on the
/// private listener.
fn graph_session_at_private(request: &str) -> String {
    if request.starts_with("GET ") {
        let missing = json!({"error": {"code": "itemNotFound", "message": "not found"}});
        return json_answer("404 Not Found", &missing);
    }
    json_answer(
        "200 OK",
        &json!({"uploadUrl": private_url(), "expirationDateTime": "2030-01-01T00:00:00Z"}),
    )
}

async fn server() -> TestServer {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut config = support::config(dir.path(), &Backend::Sqlite);
    config.allow_private_destinations = false;
    TestServer::start_with(config, dir).await
}

/// Creates a destination and a route for `order.*`; returns the destination's id.
async fn destination(server: &TestServer, body: Value) -> String {
    let (status, d) = server
        .call(Method::POST, &server.path("/destinations"), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    let route = format!("Orders to {}", d["name"].as_str().unwrap());
    let (status, r) = server
        .call(
            Method::POST,
            &server.path("/routes"),
            Some(json!({"name": route, "destination_id": id, "event_types": ["order.*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    id
}

async fn send_event(server: &TestServer) {
    let (status, body) = server
        .call(
            Method::POST,
            &server.path("/events"),
            Some(json!({"type": "order.created", "payload": {"id": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// The destination's deliveries, once `n` of them have ended (delivered or failed).
async fn ended(server: &TestServer, destination: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = server
            .call(
                Method::GET,
                &server.path(&format!("/deliveries?destination_id={destination}")),
                None,
            )
            .await;
        let rows = list["data"].as_array().cloned().unwrap_or_default();
        let done: Vec<Value> = rows
            .into_iter()
            .filter(|d| d["status"] == "delivered" || d["status"] == "failed")
            .collect();
        if done.len() >= n {
            let mut full = Vec::new();
            for d in done {
                let path = server.path(&format!("/deliveries/{}", d["id"].as_str().unwrap()));
                full.push(server.call(Method::GET, &path, None).await.1);
            }
            return full;
        }
        assert!(Instant::now() < deadline, "deliveries never ended: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_status<'a>(deliveries: &'a [Value], status: &str) -> Vec<&'a Value> {
    deliveries
        .iter()
        .filter(|d| d["status"] == status)
        .collect()
}

/// A webhook saved while its name resolved to a public address is never dialled once the name
/// resolves to loopback (DNS rebinding), and a public host's redirect to loopback is not
/// followed. The refusal does not name the address the name resolved to.
#[test]
fn names_that_turn_private_and_redirects_never_reach_the_operators_network() {
    let sandbox = Sandbox::enter();
    sandbox.run(async {
        let server = server().await;
        let (private_port, private_seen) = listener("127.0.0.1", 0, ok_empty).await;
        PRIVATE_PORT.set(private_port).unwrap();
        // The public host on the same port as the private one: after rebinding, the same URL
        // would reach the private listener.
        let (port, public_seen) = listener(PUBLIC, private_port, no_content).await;
        sandbox.resolve(&[(PUBLIC, "hooks.courier.test")]);
        let hook = destination(
            &server,
            json!({"name": "Hook", "destination_type": "webhook", "retry_max_attempts": 1,
                   "config": {"url": format!("http://hooks.courier.test:{port}/in")}}),
        )
        .await;
        send_event(&server).await;
        let first = ended(&server, &hook, 1).await;
        assert_eq!(by_status(&first, "delivered").len(), 1, "{first:?}");
        assert_eq!(
            public_seen.lock().unwrap().len(),
            1,
            "the public host is reached"
        );

        sandbox.resolve(&[("127.0.0.1", "hooks.courier.test")]);
        send_event(&server).await;
        let both = ended(&server, &hook, 2).await;
        let failed = by_status(&both, "failed");
        assert_eq!(failed.len(), 1, "{both:?}");
        let text = failed[0].to_string();
        assert!(text.contains("loopback"), "the refusal says why: {text}");
        assert!(
            !text.contains("127.0.0.1"),
            "the address is not named: {text}"
        );

        // A public host that redirects to loopback.
        let (redirect_port, redirect_seen) = listener(PUBLIC, 0, redirect_to_private).await;
        let hop = destination(
            &server,
            json!({"name": "Hop", "destination_type": "webhook", "retry_max_attempts": 1,
                   "config": {"url": format!("http://{PUBLIC}:{redirect_port}/in")}}),
        )
        .await;
        send_event(&server).await;
        let hopped = ended(&server, &hop, 1).await;
        assert_eq!(by_status(&hopped, "failed").len(), 1, "{hopped:?}");
        assert_eq!(redirect_seen.lock().unwrap().len(), 1);

        assert!(
            private_seen.lock().unwrap().is_empty(),
            "the private listener was reached: {:?}",
            private_seen.lock().unwrap()
        );
        assert_eq!(public_seen.lock().unwrap().len(), 1);
    });
}

/// Endpoints a connector derives from what the tenant wrote are checked like the ones spelled
/// out: S3's virtual host (`{bucket}.{endpoint host}`), on save and at send after the name
/// turned private; Azure endpoints built from a connection string's suffix or from
/// `UseDevelopmentStorage=true`.
#[test]
fn derived_endpoints_are_checked_on_save_and_at_send() {
    let sandbox = Sandbox::enter();
    sandbox.run(async {
        let server = server().await;
        let (private_port, private_seen) = listener("127.0.0.1", 0, ok_empty).await;
        let (port, public_seen) = listener(PUBLIC, private_port, ok_empty).await;
        let s3 = |bucket: &str| {
            json!({"name": "Bucket", "destination_type": "s3", "retry_max_attempts": 1, "batch_max_age_ms": 200,
                   "config": {"bucket": bucket, "region": "us-east-1", "endpoint_url": format!("http://s3.courier.test:{port}")},
                   "auth_config": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}})
        };
        // The endpoint is public, the bucket's virtual host is not: refused on save.
        sandbox.resolve(&[(PUBLIC, "s3.courier.test"), ("127.0.0.1", "loot.s3.courier.test")]);
        let (status, refused) = server
            .call(Method::POST, &server.path("/destinations"), Some(s3("loot")))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.to_string().contains("loopback"), "{refused}");

        // Saved while public, used after the virtual host turned private: refused at send.
        sandbox.resolve(&[(PUBLIC, "s3.courier.test"), (PUBLIC, "loot.s3.courier.test")]);
        let bucket = destination(&server, s3("loot")).await;
        send_event(&server).await;
        let first = ended(&server, &bucket, 1).await;
        assert_eq!(by_status(&first, "delivered").len(), 1, "{first:?}");
        let put = public_seen.lock().unwrap().concat();
        assert!(put.to_lowercase().contains("host: loot.s3.courier.test"), "{put}");
        sandbox.resolve(&[(PUBLIC, "s3.courier.test"), ("127.0.0.1", "loot.s3.courier.test")]);
        send_event(&server).await;
        let both = ended(&server, &bucket, 2).await;
        assert_eq!(by_status(&both, "failed").len(), 1, "{both:?}");

        // Azure: a suffix that turns the account's endpoint private, and the emulator's string.
        sandbox.resolve(&[("127.0.0.1", "acct.blob.courier.test")]);
        let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        for connection_string in [
            format!("DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={key};EndpointSuffix=courier.test:{private_port}"),
            "UseDevelopmentStorage=true".to_string(),
        ] {
            let body = json!({"name": "Blobs", "destination_type": "azure_blob",
                "config": {"account": "acct", "container": "loot"},
                "auth_config": {"connection_string": connection_string}});
            let (status, refused) = server
                .call(Method::POST, &server.path("/destinations"), Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{connection_string}: {refused}");
        }

        assert!(
            private_seen.lock().unwrap().is_empty(),
            "the private listener was reached: {:?}",
            private_seen.lock().unwrap()
        );
    });
}

/// URLs a remote service hands back are checked before anything is sent to them: a GCS or
/// Drive resumable session's `Location` and a Graph upload session's `uploadUrl` that point at
/// loopback are refused, and the file is never sent there.
#[test]
fn upload_urls_handed_back_are_checked_before_use() {
    let sandbox = Sandbox::enter();
    sandbox.run(async {
        let (private_port, private_seen) = listener("127.0.0.1", 0, ok_empty).await;
        PRIVATE_PORT.set(private_port).unwrap();
        let (port, public_seen) = listener(PUBLIC, 0, google_session_at_private).await;
        let (graph_port, graph_seen) = listener(PUBLIC, 0, graph_session_at_private).await;
        let catalog = courier_catalog::Catalog::builtin();
        let big = "x".repeat(6 * 1024);
        let batch = Batch::new(
            "b1",
            (0..1024)
                .map(|i| Record::new(format!("r{i}"), format!(r#"{{"i":{i},"p":"{big}"}}"#)))
                .collect(),
        );
        let oauth = json!({"client_id": "app", "client_secret": "app-secret", "access_token": "token-for-the-test"});
        let cases = [
            (
                "gcs",
                json!({"bucket": "loot", "endpoint": format!("http://{PUBLIC}:{port}"), "chunk_size_bytes": 262144}),
                json!({}),
            ),
            (
                "google_drive",
                json!({"folder_id": "root", "api_base_url": format!("http://{PUBLIC}:{port}")}),
                oauth.clone(),
            ),
            (
                "onedrive",
                json!({"drive_id": "me", "folder_path": "exports", "graph_base_url": format!("http://{PUBLIC}:{graph_port}/v1.0")}),
                oauth.clone(),
            ),
        ];
        for (type_id, config, auth_config) in cases {
            let spec = DestinationSpec {
                destination_id: format!("dest_{type_id}"),
                config,
                auth_config,
                payload_cap_bytes: Some(64 << 20),
                allow_private_network: false,
                ..Default::default()
            };
            let connector = catalog.get(type_id).unwrap();
            let dest = connector.build(&spec).await.unwrap_or_else(|e| panic!("{type_id}: {e}"));
            let out = dest.deliver(&batch).await;
            let error = out.records[0]
                .error()
                .unwrap_or_else(|| panic!("{type_id}: delivered to a private URL"));
            assert!(error.message.contains("loopback"), "{type_id}: {error:?}");
        }
        assert!(public_seen.lock().unwrap().len() >= 2, "the sessions were opened");
        assert!(!graph_seen.lock().unwrap().is_empty(), "the Graph session was opened");
        assert!(
            private_seen.lock().unwrap().is_empty(),
            "the private listener was reached: {:?}",
            private_seen.lock().unwrap()
        );
    });
}
