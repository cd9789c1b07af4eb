//! Test services the suite needs beyond in-process servers: each is installed (idempotently,
//! pinned, cached outside the clone), started, awaited, told to the tests through environment
//! variables, and stopped by PID by `cargo xtask test` even when a step fails.
//!
//! Emulators follow TESTBED.md: moto serves S3, Kinesis and SQS, Azurite serves Azure Blob,
//! fake-gcs-server serves GCS, Google's Pub/Sub emulator (from the machine image, not installable
//! from a registry) serves Pub/Sub, OpenSSH's sshd serves SFTP, PostgreSQL serves `courier
//! serve`'s Postgres store, RabbitMQ serves the broker connectors (which start their own
//! nats-server, redis-server, mosquitto and tansu, installed with it).

mod azurite;
mod brokers;
mod fake_gcs;
mod moto;
pub(crate) mod postgres;
mod pubsub;
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Environment variables handed to the tests.
pub type Env = Vec<(String, String)>;

/// One external service the tests talk to.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    /// Makes the service runnable on a fresh machine; idempotent and pinned.
    pub install: fn(cache: &Path) -> Result<()>,
    /// A port the service should get when it is free (else any free port).
    pub preferred_port: Option<u16>,
    /// Starts the service as a child process on a free loopback port.
    pub start: fn(cache: &Path, port: u16) -> Result<Child>,
    /// Whether the service answers yet.
    pub ready: fn(port: u16) -> bool,
    /// How long to wait for `ready`.
    pub ready_timeout: Duration,
    /// Prepares the started service (accounts, keys) and returns the variables that tell the
    /// tests where and how to reach it.
    pub prepare: fn(cache: &Path, port: u16) -> Result<Env>,
    /// A scratch directory the service writes outside the cache (a database cluster), removed
    /// once the service has stopped.
    pub scratch: Option<fn(port: u16) -> PathBuf>,
}

/// Runs an install command, failing with the command line when it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Installs Debian packages without letting their scripts start system services (openssh-server
/// would start an sshd on port 22, postgresql its cluster).
pub fn apt_install_without_starting(packages: &[&str]) -> Result<()> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")?;
        std::fs::set_permissions(policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let result = run(Command::new("apt-get").arg("update")).and_then(|()| {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    });
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// Installs the system tools tests call directly: `ip` (iproute2), with which the attack suite
/// puts an address that looks public on the loopback device of a network of its own.
pub fn ensure_tools() -> Result<()> {
    let has_ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .any(|p| Path::new(p).exists());
    if !has_ip {
        println!("installing iproute2 (for `ip`)");
        apt_install_without_starting(&["iproute2"])?;
    }
    Ok(())
}

/// Whether `marker` records that `what` is installed.
pub fn installed(marker: &Path, what: &str) -> bool {
    std::fs::read_to_string(marker).is_ok_and(|m| m.trim() == what)
}

/// Installs the pinned npm `packages` under `dir` (its `node_modules`), unless its marker says
/// they already are; Debian's Node.js and npm first, on a machine without them.
pub fn npm_install(dir: &Path, packages: &[&str]) -> Result<()> {
    let marker = dir.join(".courier-installed");
    let wanted = packages.join(" ");
    if installed(&marker, &wanted) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_err()
    {
        run(std::process::Command::new("apt-get").arg("update"))?;
        run(std::process::Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "nodejs", "npm"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    run(std::process::Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(dir)
        .args(packages))?;
    std::fs::write(&marker, &wanted)?;
    Ok(())
}

/// A log file for a service's output under the cache.
pub fn log_file(cache: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    std::fs::File::create(cache.join(format!("{name}.log")))
        .with_context(|| format!("cannot create {name}.log"))
}

/// Every service, in start order.
pub const SERVICES: &[Service] = &[
    moto::MOTO,
    azurite::AZURITE,
    fake_gcs::FAKE_GCS,
    pubsub::PUBSUB,
    sshd::SSHD_SERVICE,
    postgres::POSTGRES,
    brokers::RABBITMQ,
];

/// Where installs are cached: outside the clone, so repeated runs are fast and clones stay clean.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join(".cache/courier/emulators")
}

/// A started service; stopped by its PID when dropped, so a failing step cannot leak it.
#[derive(Debug)]
pub struct Running {
    name: &'static str,
    child: Child,
    pub env: Env,
    scratch: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.child.id();
        let exited = matches!(self.child.try_wait(), Ok(Some(_)));
        if !exited {
            // A service started in a process group of its own (RabbitMQ: a script, the Erlang
            // VM and epmd) is stopped as a group; for the others there is no such group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
        match if exited { Ok(()) } else { self.child.kill() } {
            Ok(()) => {
                let _ = self.child.wait();
                if !exited {
                    println!("stopped {} (pid {pid})", self.name);
                }
            }
            Err(e) => eprintln!("could not stop {} (pid {pid}): {e}", self.name),
        }
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; the service binds it next).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether something accepts connections on the port (a TCP connect, no request: some
/// emulators count every request they see).
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

/// Installs, starts, awaits and prepares every service. On error, those already started are
/// stopped as the returned vector is dropped.
pub fn start_all(services: &[Service], cache: &Path) -> Result<Vec<Running>> {
    let mut running = Vec::new();
    for service in services {
        println!(
            "service {}: install (cache {})",
            service.name,
            cache.display()
        );
        (service.install)(cache).with_context(|| format!("installing {}", service.name))?;
        let port = match service.preferred_port {
            Some(p) if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() => p,
            _ => free_port()?,
        };
        let child =
            (service.start)(cache, port).with_context(|| format!("starting {}", service.name))?;
        println!(
            "service {}: started on 127.0.0.1:{port} (pid {})",
            service.name,
            child.id()
        );
        running.push(Running {
            name: service.name,
            child,
            env: Vec::new(),
            scratch: service.scratch.map(|dir| dir(port)),
        });
        wait_ready(service, port)?;
        let env = (service.prepare)(cache, port)
            .with_context(|| format!("preparing {}", service.name))?;
        if let Some(last) = running.last_mut() {
            last.env = env;
        }
    }
    Ok(running)
}

fn wait_ready(service: &Service, port: u16) -> Result<()> {
    let deadline = Instant::now() + service.ready_timeout;
    while !(service.ready)(port) {
        if Instant::now() >= deadline {
            bail!(
                "{} was not ready within {:?}",
                service.name,
                service.ready_timeout
            );
        }
        sleep(Duration::from_millis(100));
    }
    println!("service {}: ready", service.name);
    Ok(())
}

/// The variables every test command gets, so tests can find the services.
pub fn env(running: &[Running]) -> Env {
    running.iter().flat_map(|r| r.env.iter().cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_services_are_stopped_on_drop() {
        let service = Service {
            name: "sleeper",
            install: |_| Ok(()),
            preferred_port: None,
            start: |_, _| Ok(Command::new("sleep").arg("30").spawn()?),
            ready: |_| true,
            ready_timeout: Duration::from_secs(1),
            prepare: |_, port| Ok(vec![("COURIER_TEST_SLEEPER".into(), port.to_string())]),
            scratch: None,
        };
        let services = [service];
        let running = start_all(&services, Path::new(".")).unwrap();
        assert_eq!(env(&running)[0].0, "COURIER_TEST_SLEEPER");
        let pid = running[0].child.id();
        drop(running);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || cfg!(not(target_os = "linux")));
    }
}
