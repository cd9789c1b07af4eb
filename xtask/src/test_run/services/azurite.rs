//! Azurite (Azure Blob), pinned, installed with npm under the cache. It runs with a storage
//! account of its own whose key is made fresh for every run, so tests can tell a right key
//! from a wrong one and scan their output for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Service, log_file, port_open};

const PACKAGE: &str = "azurite@3.35.0";
const ACCOUNT: &str = "courier";

pub const AZURITE: Service = Service {
    name: "azurite",
    install,
    preferred_port: None,
    start,
    ready: port_open,
    ready_timeout: Duration::from_secs(60),
    prepare,
    scratch: None,
};

fn dir(cache: &Path) -> PathBuf {
    cache.join("azurite")
}

fn install(cache: &Path) -> Result<()> {
    super::npm_install(&dir(cache), &[PACKAGE])
}

/// A base64 account key from the kernel's random source.
fn fresh_key() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // 48 bytes encode to exactly 64 characters, with no padding.
    Ok(bytes
        .chunks(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            [18, 12, 6, 0].map(|s| ALPHABET[((n >> s) & 63) as usize] as char)
        })
        .collect())
}

fn key_file(cache: &Path) -> PathBuf {
    dir(cache).join("account-key")
}

fn start(cache: &Path, port: u16) -> Result<Child> {
    let dir = dir(cache);
    let data = dir.join("data");
    // Every run starts empty.
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let key = fresh_key()?;
    std::fs::write(key_file(cache), &key)?;
    let log = log_file(cache, "azurite")?;
    Command::new(dir.join("node_modules/.bin/azurite-blob"))
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--location",
        ])
        .arg(&data)
        .args(["--skipApiVersionCheck", "--disableTelemetry"])
        .env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{key}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start azurite-blob")
}

fn prepare(cache: &Path, port: u16) -> Result<super::Env> {
    let key = std::fs::read_to_string(key_file(cache))?;
    Ok(vec![
        (
            "COURIER_TEST_AZURITE_URL".into(),
            format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        ),
        ("COURIER_TEST_AZURITE_ACCOUNT".into(), ACCOUNT.into()),
        ("COURIER_TEST_AZURITE_KEY".into(), key),
        // For tests that start an Azurite of their own (HTTPS with OAuth, which the shared one
        // does not run).
        (
            "COURIER_TEST_AZURITE_BIN".into(),
            dir(cache)
                .join("node_modules/.bin/azurite-blob")
                .display()
                .to_string(),
        ),
    ])
}
