//! Secrets at rest: XChaCha20-Poly1305 with a random nonce per value and the owning row and
//! column as associated data, so a sealed value cannot be moved to another destination or
//! field. The key comes from `COURIER_ENCRYPTION_KEY` or a key file created on first start
//! (mode 0600).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 24;

/// Seals and opens secret values.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8]) -> Result<Self> {
        if key.len() != 32 {
            bail!("the encryption key must be 32 bytes (base64 encoded)");
        }
        Ok(Sealer {
            cipher: XChaCha20Poly1305::new_from_slice(key).context("invalid encryption key")?,
        })
    }

    /// The key from `COURIER_ENCRYPTION_KEY` (base64), else from `data_dir/encryption.key`,
    /// created with a fresh random key and mode 0600 when missing.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(text) = env_key {
            let key = STANDARD
                .decode(text.trim())
                .context("COURIER_ENCRYPTION_KEY is not base64")?;
            return Self::from_key(&key);
        }
        let path = data_dir.join("encryption.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let key = STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not a base64 key", path.display()))?;
            return Self::from_key(&key);
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut file = create_private(&path)?;
        writeln!(file, "{}", STANDARD.encode(key))?;
        file.sync_all()?;
        tracing::info!(path = %path.display(), "created a new encryption key file");
        Self::from_key(&key)
    }

    /// Seals `plain` for `context` (e.g. `destination:<id>:auth_config`).
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Opens a value sealed for `context`; fails when it was sealed with another key or for
    /// another context, or was altered.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_BYTES)
            .context("a stored secret is not in the sealed format")?;
        let (nonce, body) = raw.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .ok()
            .context("a stored secret cannot be decrypted (wrong encryption key?)")
    }
}

/// Creates a file only its owner can read.
fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let sealer = Sealer::from_key(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("destination:a:auth_config", b"SECRET-SENTINEL");
        assert!(!sealed.contains("SECRET"));
        assert_eq!(
            sealer.open("destination:a:auth_config", &sealed).unwrap(),
            b"SECRET-SENTINEL"
        );
        assert!(sealer.open("destination:b:auth_config", &sealed).is_err());
        assert!(
            Sealer::from_key(&[8u8; 32])
                .unwrap()
                .open("destination:a:auth_config", &sealed)
                .is_err()
        );
        assert_ne!(
            sealed,
            sealer.seal("destination:a:auth_config", b"SECRET-SENTINEL")
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::load(None, dir.path()).unwrap();
        let sealed = a.seal("c", b"x");
        let b = Sealer::load(None, dir.path()).unwrap();
        assert_eq!(b.open("c", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("encryption.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
