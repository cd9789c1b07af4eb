//! `courier serve` as a child process on a fresh store (a temporary SQLite data directory, or a
//! fresh Postgres database), with its settings left at their defaults but for reaching the
//! loopback receiver; plus the few API calls the bench makes and its peak memory.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const KEY: &str = "ck_engine_bench_admin_key_0123456789abcdefghij";
/// Replicas on one database must seal with one key.
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A running `courier serve`.
#[derive(Debug)]
pub struct Courier {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Courier {
    /// Starts `binary serve` on a free port, with `database_url` or a fresh SQLite file.
    /// `retention`: how long it keeps ended deliveries and events (its default otherwise).
    pub async fn start(
        binary: &Path,
        database_url: Option<&str>,
        retention: Option<Duration>,
    ) -> Result<Courier> {
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--allow-private-destinations",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .env("COURIER_BOOTSTRAP_API_KEY", KEY)
            .env("COURIER_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env_remove("COURIER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        if let Some(keep) = retention {
            command.env(
                "COURIER_RETENTION_DAYS",
                (keep.as_secs_f64() / 86_400.0).to_string(),
            );
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Courier is listening on http://") {
                    return Ok(url.trim().parse::<SocketAddr>()?);
                }
            }
            bail!("courier serve exited before listening")
        })
        .await
        .context("courier serve did not start within 60 s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Courier {
            addr,
            child,
            _dir: dir,
        })
    }

    /// Measures the bytes of its SQLite database: the file, its WAL and shared memory (0 on
    /// Postgres), whenever called.
    pub fn database_measure(&self) -> impl Fn() -> u64 + Send + 'static {
        let dir = self._dir.path().to_path_buf();
        move || database_bytes(&dir)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process's peak and current resident memory, in KiB (`VmHWM`, `VmRSS`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = self
            .pid()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Calls the API; `(status, JSON body or Null)`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let text = self.call_text(method, path, body).await?;
        Ok((text.0, serde_json::from_str(&text.1).unwrap_or(Value::Null)))
    }

    async fn call_text(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String)> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::AUTHORIZATION, format!("Bearer {KEY}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The sum of every sample of the Prometheus counter `name` on `/metrics`.
    pub async fn counter(&self, name: &str) -> Result<f64> {
        let (_, text) = self.call_text("GET", "/metrics", None).await?;
        Ok(text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// The first workspace's API base path.
    pub async fn workspace_api(&self) -> Result<String> {
        let (status, list) = self.call("GET", "/api/v1/workspaces", None).await?;
        let id = list["data"][0]["id"]
            .as_str()
            .with_context(|| format!("listing workspaces answered {status}: {list}"))?;
        Ok(format!("/api/v1/workspaces/{id}"))
    }

    /// A webhook destination to `receiver` and a route sending it events of `event_type`.
    pub async fn route_to(
        &self,
        api: &str,
        receiver: SocketAddr,
        event_type: &str,
        max_concurrency: u32,
    ) -> Result<()> {
        let (status, d) = self
            .call(
                "POST",
                &format!("{api}/destinations"),
                Some(serde_json::json!({
                    "name": format!("Receiver {event_type}"),
                    "destination_type": "webhook",
                    "max_concurrency": max_concurrency,
                    "config": {"url": format!("http://{receiver}/hooks"), "allow_private_network": true},
                })),
            )
            .await?;
        if status != 201 {
            bail!("creating the destination answered {status}: {d}");
        }
        let (status, r) = self
            .call(
                "POST",
                &format!("{api}/routes"),
                Some(serde_json::json!({
                    "name": format!("All {event_type}"),
                    "destination_id": d["id"],
                    "event_types": [event_type],
                })),
            )
            .await?;
        if status != 201 {
            bail!("creating the route answered {status}: {r}");
        }
        Ok(())
    }
}

/// A fresh database `name` on the Postgres server `base` points at; its URL.
pub async fn fresh_postgres(base: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .context("cannot reach Postgres")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let (server, _) = base.rsplit_once('/').context("a database URL")?;
    Ok(format!("{server}/{name}"))
}

/// A connection for [`postgres_size`], or none when Postgres cannot be reached.
pub async fn postgres_size_probe(url: &str) -> Option<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.ok()
}

/// The database's size on disk as Postgres reports it (`pg_database_size`), 0 if unknown.
pub async fn postgres_size(probe: &mut sqlx::PgConnection) -> u64 {
    sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
        .fetch_one(probe)
        .await
        .map_or(0, |b| b.max(0) as u64)
}

fn database_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("courier.db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
