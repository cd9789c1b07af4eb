//! Opening an SFTP connection in the stages the connection test reports: TCP connect, SSH
//! handshake, host key verification, authentication, SFTP channel. Every function here blocks
//! (libssh2 is a blocking library) and runs on Tokio's blocking pool, never on a worker thread.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use courier_core::{ConnectorError, ErrorKind};
use ssh2::{HashType, HostKeyType, Session, Sftp};

use crate::config::{HostKeyCheck, SftpAuth, SftpConfig};
use crate::errors;

/// How long one connect attempt may take per address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any single libssh2 call may block (a stalled server must not hang a worker).
const CALL_TIMEOUT_MS: u32 = 30_000;

/// An authenticated session with its SFTP channel, ready to write files.
pub struct Connection {
    pub session: Session,
    pub sftp: Sftp,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// The host key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenHostKey {
    /// `SHA256:` and unpadded base64, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub key_type: &'static str,
}

/// The fingerprint `accept_new` pinned on first use, for the life of the client.
#[derive(Debug, Default)]
pub struct PinnedHostKey(Mutex<Option<String>>);

/// What the host key check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// It is the configured `host_key_fingerprint`.
    Matches,
    /// `accept_new`, first connection: this key is now pinned.
    PinnedNow,
    /// `accept_new`: it is the key pinned by an earlier connection.
    MatchesPinned,
}

/// Stage 1: a TCP connection to the first address of `host:port` that answers. Unless
/// `allow_private`, every address the host resolves to must be public (one that is not refuses
/// the host: a mixed answer is how DNS rebinding looks), and only those addresses are dialled.
pub fn tcp_connect(config: &SftpConfig, allow_private: bool) -> Result<TcpStream, ConnectorError> {
    let target = format!("{}:{}", config.host, config.port);
    let addresses: Vec<_> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| errors::unresolvable(&target, e))?
        .collect();
    if !allow_private
        && let Some(reason) = addresses
            .iter()
            .find_map(|a| courier_core::net::check_ip(a.ip()).err())
    {
        // The address is not named: it would map the operator's network for a tenant.
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!(
                "{} resolves to {reason}; refused by the SSRF guard",
                config.host
            ),
            "use a public host: this server does not allow destinations on private networks",
        ));
    }
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                // Small SFTP requests (open, rename, acks) must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => errors::connect_failed(&target, e),
        None => errors::unresolvable(&target, std::io::Error::other("no addresses")),
    })
}

/// Stage 2: the SSH handshake (key exchange) over `stream`.
pub fn handshake(config: &SftpConfig, stream: TcpStream) -> Result<Session, ConnectorError> {
    let mut session = Session::new()
        .map_err(|_| ConnectorError::internal("libssh2 could not start a session"))?;
    session.set_timeout(CALL_TIMEOUT_MS);
    session.set_tcp_stream(stream);
    session
        .handshake()
        .map_err(|e| errors::handshake_failed(&config.host, config.port, e))?;
    Ok(session)
}

/// The server's host key as `ssh-keygen -lf` would print it.
pub fn seen_host_key(session: &Session) -> Result<SeenHostKey, ConnectorError> {
    let hash = session
        .host_key_hash(HashType::Sha256)
        .ok_or_else(|| ConnectorError::internal("the server's host key hash is not available"))?;
    let key_type = match session.host_key().map(|(_, kind)| kind) {
        Some(HostKeyType::Rsa) => "RSA",
        Some(HostKeyType::Dss) => "DSA",
        Some(HostKeyType::Ecdsa256 | HostKeyType::Ecdsa384 | HostKeyType::Ecdsa521) => "ECDSA",
        Some(HostKeyType::Ed25519) => "ED25519",
        _ => "unknown type",
    };
    Ok(SeenHostKey {
        fingerprint: format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
        ),
        key_type,
    })
}

/// Stage 3: the host key is the configured one, or (`accept_new`) the one pinned on first use.
/// A mismatch is refused whatever `host_key_check` says.
pub fn verify_host_key(
    config: &SftpConfig,
    pinned: &PinnedHostKey,
    seen: &SeenHostKey,
) -> Result<HostKeyVerdict, ConnectorError> {
    let mismatch = |expected: &str| {
        ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!(
                "the host key of {}:{} is {} ({}), not the expected {expected}; refusing to connect",
                config.host, config.port, seen.fingerprint, seen.key_type
            ),
            "if the server's key was changed on purpose, update config.host_key_fingerprint; otherwise something may be intercepting the connection",
        )
    };
    if let Some(expected) = &config.host_key_fingerprint {
        return if same_fingerprint(expected, &seen.fingerprint) {
            Ok(HostKeyVerdict::Matches)
        } else {
            Err(mismatch(expected))
        };
    }
    if config.host_key_check == HostKeyCheck::Strict {
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            "host_key_fingerprint is required with host_key_check: strict",
            "set config.host_key_fingerprint",
        ));
    }
    let mut pin = pinned.0.lock().unwrap_or_else(|p| p.into_inner());
    match pin.as_deref() {
        None => {
            *pin = Some(seen.fingerprint.clone());
            Ok(HostKeyVerdict::PinnedNow)
        }
        Some(expected) if same_fingerprint(expected, &seen.fingerprint) => {
            Ok(HostKeyVerdict::MatchesPinned)
        }
        Some(expected) => Err(mismatch(expected)),
    }
}

/// Fingerprints compare without base64 padding, which some tools print and others do not.
fn same_fingerprint(a: &str, b: &str) -> bool {
    a.trim_end_matches('=') == b.trim_end_matches('=')
}

/// Stage 4: log in with the password or the private key.
pub fn authenticate(
    config: &SftpConfig,
    auth: &SftpAuth,
    session: &Session,
) -> Result<&'static str, ConnectorError> {
    let (method, result) = match (&auth.password, &auth.private_key) {
        (Some(password), _) => (
            "password",
            session.userauth_password(&config.username, password.expose()),
        ),
        (None, Some(key)) => (
            "private key",
            session.userauth_pubkey_memory(
                &config.username,
                None,
                key.expose(),
                auth.passphrase.as_ref().map(|p| p.expose()),
            ),
        ),
        (None, None) => {
            return Err(ConnectorError::new(
                ErrorKind::InvalidConfig,
                "auth_config has neither password nor private_key",
                "set auth_config.password or auth_config.private_key",
            ));
        }
    };
    match result {
        Ok(()) if session.authenticated() => Ok(method),
        Ok(()) => Err(errors::auth_refused(&config.username, method, None)),
        Err(e) => Err(errors::auth_refused(&config.username, method, Some(e))),
    }
}

/// Stage 5: the SFTP channel.
pub fn open_sftp(config: &SftpConfig, session: &Session) -> Result<Sftp, ConnectorError> {
    session.sftp().map_err(|e| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "{}:{} accepted the login but did not start the SFTP subsystem",
                config.host, config.port
            ),
            "check that the server enables SFTP for this user (Subsystem sftp)",
        )
        .with_source(e)
    })
}

/// Every stage in order: a connection ready for writing.
pub fn open(
    config: &SftpConfig,
    auth: &SftpAuth,
    pinned: &PinnedHostKey,
    allow_private: bool,
) -> Result<Connection, ConnectorError> {
    let stream = tcp_connect(config, allow_private)?;
    let session = handshake(config, stream)?;
    let seen = seen_host_key(&session)?;
    verify_host_key(config, pinned, &seen)?;
    authenticate(config, auth, &session)?;
    let sftp = open_sftp(config, &session)?;
    Ok(Connection { session, sftp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fingerprint: Option<&str>, check: HostKeyCheck) -> SftpConfig {
        let mut c: SftpConfig = serde_json::from_value(serde_json::json!({
            "host": "h", "username": "u", "directory": "d"
        }))
        .unwrap();
        c.host_key_fingerprint = fingerprint.map(str::to_string);
        c.host_key_check = check;
        c
    }

    fn seen(fp: &str) -> SeenHostKey {
        SeenHostKey {
            fingerprint: fp.to_string(),
            key_type: "ED25519",
        }
    }

    #[test]
    fn private_hosts_are_refused_before_any_connection_unless_allowed() {
        // A closed port on loopback: allowed, the dial is tried (and refused by the kernel).
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for host in ["localhost", "127.0.0.1", "127.1", "::1", "2130706433"] {
            let mut c = config(None, HostKeyCheck::Strict);
            c.host = host.to_string();
            c.port = closed;
            let refused = tcp_connect(&c, false).unwrap_err();
            assert_eq!(
                refused.kind,
                ErrorKind::InvalidConfig,
                "{host}: {refused:?}"
            );
            assert!(
                refused.message.contains("SSRF guard"),
                "{}",
                refused.message
            );
            if host == "localhost" {
                assert!(
                    !refused.message.contains("127.0.0.1"),
                    "{}",
                    refused.message
                );
            }
        }
        let mut c = config(None, HostKeyCheck::Strict);
        c.host = "127.0.0.1".into();
        c.port = closed;
        assert_ne!(
            tcp_connect(&c, true).unwrap_err().kind,
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn a_configured_fingerprint_must_match_whatever_the_check_mode() {
        let a = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let b = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
        for check in [HostKeyCheck::Strict, HostKeyCheck::AcceptNew] {
            let pin = PinnedHostKey::default();
            let c = config(Some(a), check);
            assert_eq!(
                verify_host_key(&c, &pin, &seen(a)).unwrap(),
                HostKeyVerdict::Matches
            );
            assert_eq!(
                verify_host_key(&c, &pin, &seen(&format!("{a}="))).unwrap(),
                HostKeyVerdict::Matches
            );
            let err = verify_host_key(&c, &pin, &seen(b)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidConfig);
            assert!(err.message.contains(b) && err.message.contains(a), "{err}");
        }
    }

    #[test]
    fn accept_new_pins_the_first_key_and_refuses_a_change() {
        let a = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        let b = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
        let pin = PinnedHostKey::default();
        let c = config(None, HostKeyCheck::AcceptNew);
        assert_eq!(
            verify_host_key(&c, &pin, &seen(a)).unwrap(),
            HostKeyVerdict::PinnedNow
        );
        assert_eq!(
            verify_host_key(&c, &pin, &seen(a)).unwrap(),
            HostKeyVerdict::MatchesPinned
        );
        assert!(verify_host_key(&c, &pin, &seen(b)).is_err());
    }
}
