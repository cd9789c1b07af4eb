//! Test services the suite needs beyond in-process servers: each can be installed, started,
//! awaited and stopped by `cargo xtask test`, which stops what it started even when a step fails.
//!
//! The list is empty today: the webhook suite runs against in-process HTTP servers. Emulators for
//! the storage connectors go here as they arrive (see TESTBED.md): moto (S3 and Kinesis),
//! Azurite (Azure Blob), fake-gcs-server (GCS) and an OpenSSH server (SFTP).

use std::path::Path;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One external service the tests talk to.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    /// Makes the service runnable on a fresh machine (downloads into `.emulators/`); idempotent.
    pub install: fn(emulators: &Path) -> Result<()>,
    /// Starts the service as a child process.
    pub start: fn(emulators: &Path) -> Result<Child>,
    /// Whether the service answers yet (e.g. its port accepts connections).
    pub ready: fn() -> bool,
    /// How long to wait for `ready`.
    pub ready_timeout: Duration,
    /// Variables that tell the tests where the service is (`COURIER_TEST_S3_ENDPOINT=...`).
    pub env: &'static [(&'static str, &'static str)],
}

/// Every service, in start order.
pub const SERVICES: &[Service] = &[];

/// A started service; stopped by its PID when dropped, so a failing step cannot leak it.
#[derive(Debug)]
pub struct Running {
    name: &'static str,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.child.id();
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        match self.child.kill() {
            Ok(()) => {
                let _ = self.child.wait();
                println!("stopped {} (pid {pid})", self.name);
            }
            Err(e) => eprintln!("could not stop {} (pid {pid}): {e}", self.name),
        }
    }
}

/// Installs and starts every service and waits until each is ready. On error, those already
/// started are stopped as the returned vector is dropped.
pub fn start_all(services: &[Service], emulators: &Path) -> Result<Vec<Running>> {
    let mut running = Vec::new();
    for service in services {
        println!("service {}: install", service.name);
        (service.install)(emulators).with_context(|| format!("installing {}", service.name))?;
        println!("service {}: start", service.name);
        let child =
            (service.start)(emulators).with_context(|| format!("starting {}", service.name))?;
        println!("service {}: started (pid {})", service.name, child.id());
        running.push(Running {
            name: service.name,
            child,
        });
        wait_ready(service)?;
    }
    Ok(running)
}

fn wait_ready(service: &Service) -> Result<()> {
    let deadline = Instant::now() + service.ready_timeout;
    while !(service.ready)() {
        if Instant::now() >= deadline {
            bail!(
                "{} was not ready within {:?}",
                service.name,
                service.ready_timeout
            );
        }
        sleep(Duration::from_millis(200));
    }
    println!("service {}: ready", service.name);
    Ok(())
}

/// The variables every test command gets, so tests can find the services.
pub fn env(services: &[Service]) -> Vec<(&'static str, &'static str)> {
    services
        .iter()
        .flat_map(|s| s.env.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn started_services_are_stopped_on_drop() {
        let service = Service {
            name: "sleeper",
            install: |_| Ok(()),
            start: |_| Ok(Command::new("sleep").arg("30").spawn()?),
            ready: || true,
            ready_timeout: Duration::from_secs(1),
            env: &[("COURIER_TEST_SLEEPER", "1")],
        };
        let services = [service];
        let running = start_all(&services, Path::new(".")).unwrap();
        assert_eq!(env(&services), vec![("COURIER_TEST_SLEEPER", "1")]);
        let pid = running[0].child.id();
        drop(running);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || cfg!(not(target_os = "linux")));
    }
}
