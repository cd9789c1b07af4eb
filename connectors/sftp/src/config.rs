//! SFTP config and auth_config: typed, documented (doc comments become the JSON Schema), and
//! validated without I/O.

use courier_core::{AuthSpec, ConfigSpec, FieldError, Secret};
use courier_files::{FileConfig, FileLayout, check_template};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file name template used when none is set: flat, dated, named after the batch.
pub const DEFAULT_FILE_NAME_TEMPLATE: &str = "{yyyy}{mm}{dd}-{batch_id}.{ext}";

/// Where and how batches are written as files over SFTP.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
// `flatten` cannot be combined with serde's deny_unknown_fields; the schema (validated before
// deserializing) refuses unknown fields instead.
#[schemars(extend("additionalProperties" = false))]
pub struct SftpConfig {
    /// The SSH server's host name or IP address.
    pub host: String,
    /// The SSH server's port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The user to log in as.
    pub username: String,
    /// The directory files are written to: absolute (`/upload/courier`) or relative to the
    /// user's login directory (`exports`).
    pub directory: String,
    /// Each file's name (and optional subdirectories) inside `directory`. Variables:
    /// {destination_id}, {batch_id}, {yyyy}, {mm}, {dd}, {hh}, {record_count}, {ext}. Must
    /// contain {batch_id}.
    #[serde(default = "default_file_name_template")]
    pub file_name_template: String,
    /// Create `directory` and any subdirectories the template names when they are missing.
    #[serde(default)]
    pub create_directories: bool,
    /// Ask the server to flush each file to disk before renaming it into place
    /// (`fsync@openssh.com`, like `sftp -f`), so a renamed file survives a server crash; costs
    /// about a tenth of the throughput.
    #[serde(default)]
    pub fsync: bool,
    /// The server's host key fingerprint as `ssh-keygen -lf` prints it (`SHA256:` and 43
    /// base64 characters). A server presenting another key is refused, always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
    /// `strict` (default): `host_key_fingerprint` is required. `accept_new`: without a
    /// fingerprint, the first key seen is accepted and pinned; a later change is refused.
    #[serde(default)]
    pub host_key_check: HostKeyCheck,
    /// The file layout: format, compression, CSV columns and the size limit.
    #[serde(flatten)]
    pub layout: FileLayout,
}

impl FileConfig for SftpConfig {
    fn layout(&self) -> &FileLayout {
        &self.layout
    }

    fn name_template(&self) -> (&'static str, &str) {
        ("file_name_template", &self.file_name_template)
    }
}

fn default_port() -> u16 {
    22
}

fn default_file_name_template() -> String {
    DEFAULT_FILE_NAME_TEMPLATE.to_string()
}

/// How the server's host key is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostKeyCheck {
    /// `host_key_fingerprint` is required and the server's key must match it (the default).
    #[default]
    Strict,
    /// Without `host_key_fingerprint`, the first key seen is pinned for the life of the
    /// destination's client; a later change is refused.
    AcceptNew,
}

/// How Courier logs in: a password, or a private key (with its passphrase when encrypted).
// `Secret` redacts itself in Debug output.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SftpAuth {
    /// The user's password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A private key, OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM (RSA, EC, PKCS#8);
    /// RSA, ed25519 or ECDSA.
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// The passphrase of an encrypted `private_key`.
    #[serde(default)]
    pub passphrase: Option<Secret>,
}

impl AuthSpec for SftpAuth {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.password, &self.private_key) {
            (None, None) => errors.push(FieldError::new(
                "",
                "needs `password` or `private_key` (with `passphrase` when the key is encrypted)",
            )),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                "/private_key",
                "cannot be combined with `password`; set one of them",
            )),
            (None, Some(key)) => {
                if let Err(message) = check_private_key(key.expose()) {
                    errors.push(FieldError::new("/private_key", message));
                }
            }
            (Some(password), None) => {
                if password.expose().is_empty() {
                    errors.push(FieldError::new("/password", "must not be empty"));
                }
                if self.passphrase.is_some() {
                    errors.push(FieldError::new(
                        "/passphrase",
                        "only applies to an encrypted `private_key`",
                    ));
                }
            }
        }
        errors
    }
}

/// Checks that a private key is PEM-armoured; the message never quotes the key.
pub fn check_private_key(text: &str) -> Result<(), &'static str> {
    let text = text.trim();
    let armoured = text.starts_with("-----BEGIN ")
        && text.ends_with("-----")
        && text
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("PRIVATE KEY-----"));
    if !armoured {
        return Err(
            "must be a private key in OpenSSH or PEM form (starting `-----BEGIN ... PRIVATE KEY-----`)",
        );
    }
    if text.contains("\\n") && !text.contains('\n') {
        return Err("has literal `\\n` sequences instead of line breaks");
    }
    Ok(())
}

/// Whether `fingerprint` is an OpenSSH SHA-256 fingerprint (`SHA256:` + unpadded base64).
pub fn is_fingerprint(fingerprint: &str) -> bool {
    fingerprint.strip_prefix("SHA256:").is_some_and(|b64| {
        let b64 = b64.trim_end_matches('=');
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

impl ConfigSpec for SftpConfig {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.layout.validate();
        errors.extend(check_template(
            "/file_name_template",
            &self.file_name_template,
        ));
        let host_ok = !self.host.is_empty()
            && self.host.len() <= 253
            && !self
                .host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c));
        if !host_ok {
            errors.push(FieldError::new(
                "/host",
                "must be a host name or IP address, without a scheme, user or path",
            ));
        }
        if self.port == 0 {
            errors.push(FieldError::new("/port", "must be between 1 and 65535"));
        }
        if self.username.is_empty() || self.username.chars().any(|c| c.is_control()) {
            errors.push(FieldError::new(
                "/username",
                "must be a non-empty user name without control characters",
            ));
        }
        let dir = &self.directory;
        if dir.is_empty()
            || dir.split('/').any(|s| s == "..")
            || dir.chars().any(|c| c.is_control() || c == '\\')
        {
            errors.push(FieldError::new(
                "/directory",
                "must be a directory path without `..` segments, `\\` or control characters (`.` for the login directory)",
            ));
        }
        match (&self.host_key_fingerprint, self.host_key_check) {
            (Some(fp), _) if !is_fingerprint(fp) => errors.push(FieldError::new(
                "/host_key_fingerprint",
                "must be a SHA-256 fingerprint as `ssh-keygen -lf` prints it, e.g. SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            )),
            (None, HostKeyCheck::Strict) => errors.push(FieldError::new(
                "/host_key_fingerprint",
                "is required unless host_key_check is \"accept_new\" (get it with `ssh-keyscan HOST | ssh-keygen -lf -`, or run the connection test with accept_new, which prints it)",
            )),
            _ => {}
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> SftpConfig {
        let mut value =
            json!({"host": "sftp.example.com", "username": "courier", "directory": "upload"});
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    fn paths(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn strict_host_key_checking_needs_a_fingerprint() {
        let errors = paths(config(json!({})).validate());
        assert!(
            errors[0].starts_with("/host_key_fingerprint: is required"),
            "{errors:?}"
        );
        assert!(
            config(json!({"host_key_check": "accept_new"}))
                .validate()
                .is_empty()
        );
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert!(
            config(json!({"host_key_fingerprint": fp}))
                .validate()
                .is_empty()
        );
        let errors = paths(config(json!({"host_key_fingerprint": "MD5:aa:bb"})).validate());
        assert!(
            errors[0].starts_with("/host_key_fingerprint: must be"),
            "{errors:?}"
        );
    }

    #[test]
    fn hostile_paths_and_templates_are_refused_by_name() {
        let errors = paths(
            config(json!({
                "host_key_check": "accept_new",
                "directory": "upload/../../etc",
                "file_name_template": "{nope}",
                "host": "user@host",
            }))
            .validate(),
        );
        let fields: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["/file_name_template", "/host", "/directory"],
            "{errors:?}"
        );
    }

    #[test]
    fn auth_needs_exactly_one_way_to_log_in() {
        let auth =
            |v: serde_json::Value| paths(serde_json::from_value::<SftpAuth>(v).unwrap().validate());
        assert_eq!(auth(json!({"password": "pw"})), Vec::<String>::new());
        assert!(auth(json!({}))[0].starts_with("/: needs `password` or `private_key`"));
        assert!(
            auth(json!({"password": "pw", "private_key": "k"}))[0]
                .starts_with("/private_key: cannot")
        );
        assert!(auth(json!({"password": "pw", "passphrase": "x"}))[0].starts_with("/passphrase"));
        let errors = auth(json!({"private_key": "ssh-ed25519 AAAAC3Nza s3cr3t"}));
        assert!(
            errors[0].starts_with("/private_key: must be a private key"),
            "{errors:?}"
        );
        assert!(!errors[0].contains("s3cr3t"));
        let key =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            auth(json!({"private_key": key, "passphrase": "x"})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn debug_output_hides_credentials() {
        let auth: SftpAuth = serde_json::from_value(
            json!({"private_key": "KEY-SENTINEL", "passphrase": "PASS-SENTINEL"}),
        )
        .unwrap();
        let shown = format!("{auth:?}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
    }
}
