//! The portal's browser tests (`crates/server/portal-src/e2e`): Debian's Chromium, pinned and
//! installed when missing, driven by playwright-core (no browser download) with axe-core for
//! the accessibility scan, against a `courier serve` of their own on a free loopback port with
//! a fresh data directory, stopped by PID afterwards. Screenshots go to
//! `~/.cache/courier/portal-screenshots`, outside the repository.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::test_run::services::{self, apt_install_without_starting, run as run_command};
use crate::{bench, cmd};

/// Debian bookworm's Chromium, the browser the tests drive.
const CHROMIUM: (&str, &str) = ("chromium", "156.0.8078.114-1~deb12u1");
const CHROMIUM_BINARY: &str = "/usr/bin/chromium";
/// The browser driver (no browser of its own) and the accessibility checker.
const NODE_MODULES: &[&str] = &["playwright-core@1.65.2", "axe-core@4.14.1"];
/// The operator key of the server the tests start (it lives only as long as the run).
const KEY: &str = "ck_portal_e2e_operator_0123456789abcdefghijklmnopqr";

fn install() -> Result<PathBuf> {
    if !Path::new(CHROMIUM_BINARY).exists() {
        let started = Instant::now();
        apt_install_without_starting(&[&format!("{}={}", CHROMIUM.0, CHROMIUM.1)])?;
        println!(
            "installed Chromium in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    let modules = services::cache_dir().join("portal/e2e");
    services::npm_install(&modules, NODE_MODULES)?;
    Ok(modules)
}

/// `courier serve`, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the browser tests in `tests` (a directory of `*.test.mjs`).
pub fn run(tests: &Path) -> Result<()> {
    let modules = install()?;
    if !cmd::succeeds(&mut cmd::cargo(["build", "-p", "courier-cli"]))? {
        bail!("courier did not build");
    }
    let courier = bench::target_dir()?.join("debug/courier");
    let data = std::env::temp_dir().join(format!("courier-portal-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let port = services::free_port()?;
    // The page of the tests' own that frames the portal, as an embedding platform would.
    let embedder = services::free_port()?;
    let log = std::fs::File::create(data.join("serve.log"))?;
    let child = Command::new(&courier)
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.join("data"))
        .arg("--allow-private-destinations")
        .env("COURIER_BOOTSTRAP_API_KEY", KEY)
        // OAuth callbacks and the portal's return address are on this server.
        .env("COURIER_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env(
            "COURIER_PORTAL_FRAME_ANCESTORS",
            format!("http://127.0.0.1:{embedder}"),
        )
        // The catalog's examples include roles assumed with the server's own identity.
        .env("COURIER_ALLOW_AMBIENT_CREDENTIALS", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", courier.display()))?;
    let serving = Serving(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !services::port_open(port) {
        if Instant::now() > deadline {
            bail!("courier serve did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let screenshots = services::cache_dir()
        .parent()
        .map(|p| p.join("portal-screenshots"))
        .unwrap_or_else(|| data.join("screenshots"));
    let result = run_command(
        Command::new("node")
            .arg("--test")
            .arg(tests)
            .env("COURIER_URL", format!("http://127.0.0.1:{port}"))
            .env("COURIER_KEY", KEY)
            .env("EMBEDDER_PORT", embedder.to_string())
            .env("CHROMIUM", CHROMIUM_BINARY)
            .env("E2E_MODULES", &modules)
            .env("SCREENSHOTS", &screenshots),
    );
    drop(serving);
    if result.is_err() {
        let log = std::fs::read_to_string(data.join("serve.log")).unwrap_or_default();
        eprintln!("the server's last log lines:");
        for line in log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            eprintln!("  {line}");
        }
    } else {
        println!("screenshots of each page: {}", screenshots.display());
    }
    let _ = std::fs::remove_dir_all(&data);
    result
}
