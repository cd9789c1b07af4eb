//! OpenSSH's sshd, which `cargo xtask test` starts with a test user who has a password and
//! several authorized keys (`COURIER_TEST_SFTP_*`): fresh directories, the SFTP connector's
//! config and credentials, and files read back from the server's disk, as a consumer on that
//! machine would.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The running sshd and its test user.
#[derive(Debug, Clone)]
pub struct Sshd {
    /// The address sshd listens on.
    pub host: String,
    /// The port sshd listens on.
    pub port: u16,
    /// The test user's name.
    pub user: String,
    /// The test user's password.
    pub password: String,
    /// The passphrase of the encrypted keys in `keys`.
    pub passphrase: String,
    /// The directory of the test user's private keys (`id_ed25519`, `id_rsa.pem`, ...).
    pub keys: PathBuf,
    /// The server's host key fingerprint (`SHA256:...`).
    pub fingerprint: String,
    /// The test user's login directory on the server's disk.
    pub root: PathBuf,
}

/// The running sshd, or a panic naming the missing variable and how to start sshd.
pub fn sshd() -> Sshd {
    let var = |name| crate::required_var(name, "sshd");
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
        let dir = self.root.join(crate::fresh_name(label));
        std::fs::create_dir_all(&dir).unwrap();
        let owner = std::fs::metadata(&self.root).unwrap();
        std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).unwrap();
        dir.display().to_string()
    }

    /// The SFTP connector's `config` JSON for `directory`, with the server's real host key
    /// fingerprint.
    pub fn config(&self, directory: &str) -> Value {
        json!({
            "host": self.host, "port": self.port, "username": self.user,
            "directory": directory, "host_key_fingerprint": self.fingerprint,
            "file_name_template": "{batch_id}.{ext}",
        })
    }

    /// The connector's `auth` JSON: the test user's password.
    pub fn password_auth(&self) -> Value {
        json!({"password": self.password})
    }

    /// A private key from the run's key directory (`id_ed25519`, `id_rsa.pem`, ...).
    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.keys.join(name)).unwrap()
    }

    /// The connector's `auth` JSON: the private key `name` from the run's key directory.
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
