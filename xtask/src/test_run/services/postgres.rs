//! PostgreSQL 15 (Debian bookworm's package) for `courier serve`'s Postgres store: a throwaway
//! cluster in a temporary directory, run as the `postgres` system user on a loopback port,
//! trusting local connections (it listens on 127.0.0.1 only and lives for one test run).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Service, apt_install_without_starting, log_file, port_open, run};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PACKAGE: &str = "postgresql-15";
const SUPERUSER: &str = "courier";

pub const POSTGRES: Service = Service {
    name: "postgres",
    install,
    preferred_port: None,
    start,
    ready,
    ready_timeout: Duration::from_secs(30),
    prepare,
    scratch: Some(dir),
};

/// The same server syncing every commit as a production one does, for benchmarks.
pub const POSTGRES_DURABLE: Service = Service {
    name: "postgres (durable)",
    start: start_durable,
    ..POSTGRES
};

/// Accepting connections, not just listening (the port opens before startup ends).
fn ready(port: u16) -> bool {
    port_open(port)
        && Command::new(Path::new(BIN).join("pg_isready"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                SUPERUSER,
                "-q",
            ])
            .status()
            .is_ok_and(|s| s.success())
}

fn install(_cache: &Path) -> Result<()> {
    if !Path::new(BIN).join("postgres").exists() {
        apt_install_without_starting(&[PACKAGE])?;
    }
    Ok(())
}

/// The uid and gid of the `postgres` system user the package creates (the server refuses to
/// run as root).
fn postgres_user() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        if !out.status.success() {
            bail!("there is no postgres user (is {PACKAGE} installed?)");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

fn dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("courier-postgres-{port}"))
}

fn start(cache: &Path, port: u16) -> Result<Child> {
    // Test data need not survive a crash.
    start_with(cache, port, &["fsync=off", "synchronous_commit=off"])
}

fn start_durable(cache: &Path, port: u16) -> Result<Child> {
    start_with(cache, port, &["fsync=on", "synchronous_commit=on"])
}

fn start_with(_cache: &Path, port: u16, settings: &[&str]) -> Result<Child> {
    let (uid, gid) = postgres_user()?;
    let dir = dir(port);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
    let data = dir.join("data");
    run(Command::new(Path::new(BIN).join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "-A", "trust", "--no-sync", "-E", "UTF8"])
        .stdout(Stdio::null())
        .uid(uid)
        .gid(gid))
    .context("initdb failed")?;
    let log = log_file(&dir, "postgres")?;
    std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid))?;
    Command::new(Path::new(BIN).join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
        .arg(&dir)
        .args(settings.iter().flat_map(|s| ["-c", s]))
        .args(["-c", "max_connections=300"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .uid(uid)
        .gid(gid)
        .spawn()
        .context("cannot start postgres")
}

fn prepare(_cache: &Path, port: u16) -> Result<super::Env> {
    Ok(vec![(
        "COURIER_TEST_POSTGRES_URL".into(),
        format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"),
    )])
}
