//! The message brokers the broker connectors' tests run against: RabbitMQ, nats-server,
//! redis-server and mosquitto from Debian's packages (pinned to bookworm's versions), and tansu,
//! a Kafka-protocol broker, built once with `cargo install` into the cache (15-35 minutes on
//! two cores, so never inside the clone and never twice).
//!
//! Only RabbitMQ (~10 s to start) is shared: tests start their own nats-server, redis-server,
//! mosquitto and tansu (and their own RabbitMQ to restart it) through
//! `courier_testbed::brokers`, whose command starts the shared one too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use courier_testbed::brokers::rabbitmq;

use super::{Service, apt_install_without_starting, installed, log_file, port_open, run};

/// Debian bookworm's broker packages, pinned.
const PACKAGES: &[(&str, &str)] = &[
    ("rabbitmq-server", "3.10.8-1.1+deb12u1"),
    ("nats-server", "2.9.10-1+b3"),
    ("redis-server", "5:7.0.15-1~deb12u10"),
    ("mosquitto", "2.0.11-1.2+deb12u2"),
];

/// The binaries the packages install, checked before apt is asked.
const BINARIES: &[&str] = &[
    rabbitmq::SCRIPT,
    "/usr/sbin/nats-server",
    "/usr/bin/redis-server",
    "/usr/sbin/mosquitto",
    "/usr/bin/mosquitto_passwd",
];

/// tansu's crate version and features: `dynostore` for memory://, `libsql` for sqlite://, a
/// store that survives a restart (and creates its own schema).
const TANSU: &str = "tansu 0.6.0 --features dynostore,libsql";

pub const RABBITMQ: Service = Service {
    name: "rabbitmq",
    install,
    preferred_port: None,
    start: start_rabbitmq,
    ready: port_open,
    ready_timeout: Duration::from_secs(90),
    prepare: prepare_rabbitmq,
    scratch: Some(rabbitmq_dir),
};

/// Installs the brokers' packages and tansu (which the Kafka tests start themselves).
fn install(cache: &Path) -> Result<()> {
    install_packages()?;
    install_tansu(cache)
}

fn install_packages() -> Result<()> {
    if BINARIES.iter().all(|b| Path::new(b).exists()) {
        return Ok(());
    }
    let pinned: Vec<String> = PACKAGES.iter().map(|(p, v)| format!("{p}={v}")).collect();
    let started = Instant::now();
    apt_install_without_starting(&pinned.iter().map(String::as_str).collect::<Vec<_>>())?;
    println!(
        "installed the brokers' packages in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn rabbitmq_dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("courier-rabbitmq-{port}"))
}

fn start_rabbitmq(cache: &Path, port: u16) -> Result<Child> {
    let dir = rabbitmq_dir(port);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    spawn_group(rabbitmq::command(&dir, port), cache, "rabbitmq")
}

fn prepare_rabbitmq(_cache: &Path, port: u16) -> Result<super::Env> {
    Ok(vec![("COURIER_TEST_AMQP_URL".into(), rabbitmq::url(port))])
}

fn tansu_binary(cache: &Path) -> PathBuf {
    cache.join("tansu/bin/tansu")
}

fn install_tansu(cache: &Path) -> Result<()> {
    let marker = cache.join("tansu/.courier-installed");
    if installed(&marker, TANSU) && tansu_binary(cache).exists() {
        return Ok(());
    }
    println!("building {TANSU} into the cache (once; 15-35 minutes on two cores)");
    let started = Instant::now();
    let build = cache.join("tansu-build");
    run(Command::new("cargo")
        .args(["install", "tansu", "--version", "0.6.0", "--locked"])
        .args(["--features", "dynostore,libsql"])
        .arg("--root")
        .arg(cache.join("tansu"))
        .env("CARGO_TARGET_DIR", &build))?;
    std::fs::write(&marker, TANSU).context("cannot write the install marker")?;
    // The build tree is 1.4 GB; the binary is all the tests need.
    let _ = std::fs::remove_dir_all(&build);
    println!("built tansu in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Spawns `command` in a process group of its own (stopped as a group: RabbitMQ's script runs
/// the Erlang VM and epmd), its output in the cache's log for `name`.
fn spawn_group(mut command: Command, cache: &Path, name: &str) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let log = log_file(cache, name)?;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {name}"))
}
