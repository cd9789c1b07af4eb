//! The sshd `cargo xtask test` starts (a test user with a password and several authorized
//! keys), and helpers that make a fresh directory per test and read files back from the
//! server's disk, as a consumer on that machine would.

#![allow(dead_code)]

pub mod proxy;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Sshd {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub passphrase: String,
    pub keys: PathBuf,
    pub fingerprint: String,
    /// The test user's login directory on the server's disk.
    pub root: PathBuf,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: the SFTP tests need sshd, which `cargo xtask test` (or `cargo xtask services`) starts")
    })
}

/// The running sshd, or a clear instruction to start it.
pub fn sshd() -> Sshd {
    Sshd {
        host: var("COURIER_TEST_SFTP_HOST"),
        port: var("COURIER_TEST_SFTP_PORT").parse().unwrap(),
        user: var("COURIER_TEST_SFTP_USER"),
        password: var("COURIER_TEST_SFTP_PASSWORD"),
        passphrase: var("COURIER_TEST_SFTP_KEY_PASSPHRASE"),
        keys: PathBuf::from(var("COURIER_TEST_SFTP_KEYS")),
        fingerprint: var("COURIER_TEST_SFTP_FINGERPRINT"),
        root: PathBuf::from(var("COURIER_TEST_SFTP_ROOT")),
    }
}

impl Sshd {
    /// A fresh, empty directory owned by the test user; returns its absolute path.
    pub fn new_dir(&self, label: &str) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = self.root.join(format!("{label}-{nanos}"));
        std::fs::create_dir_all(&dir).unwrap();
        let owner = std::fs::metadata(&self.root).unwrap();
        std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).unwrap();
        dir.display().to_string()
    }

    /// Config for `directory`, with the server's real host key fingerprint.
    pub fn config(&self, directory: &str) -> Value {
        json!({
            "host": self.host, "port": self.port, "username": self.user,
            "directory": directory, "host_key_fingerprint": self.fingerprint,
            "file_name_template": "{batch_id}.{ext}",
        })
    }

    pub fn password_auth(&self) -> Value {
        json!({"password": self.password})
    }

    /// A private key from the run's key directory (`id_ed25519`, `id_rsa.pem`, ...).
    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.keys.join(name)).unwrap()
    }

    pub fn key_auth(&self, name: &str) -> Value {
        json!({"private_key": self.key(name)})
    }
}

/// Every file under `dir` (recursively): path relative to `dir`, and bytes. Sorted by path.
pub fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(dir), Path::new(dir), &mut out);
    out.sort();
    out
}

/// The names of the files under `dir`.
pub fn names(dir: &str) -> Vec<String> {
    files(dir).into_iter().map(|(name, _)| name).collect()
}
