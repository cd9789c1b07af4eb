//! SSH and SFTP failures as classified connector errors, naming the host, user and path. No
//! message ever includes a credential: libssh2's own messages are kept only as the source.

use courier_core::{ConnectorError, ErrorKind};
use ssh2::ErrorCode;

// SFTP status codes (draft-ietf-secsh-filexfer-02, which OpenSSH speaks).
const FX_NO_SUCH_FILE: i32 = 2;
const FX_PERMISSION_DENIED: i32 = 3;
const FX_FAILURE: i32 = 4;
const FX_NO_SUCH_PATH: i32 = 10;
const FX_FILE_ALREADY_EXISTS: i32 = 11;
const FX_WRITE_PROTECT: i32 = 12;
const FX_NO_SPACE_ON_FILESYSTEM: i32 = 14;
const FX_QUOTA_EXCEEDED: i32 = 15;
const FX_OP_UNSUPPORTED: i32 = 8;

// libssh2 session error codes (libssh2.h).
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_TIMEOUT: i32 = -30;

/// What an SFTP status code means for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SftpStatus {
    NotFound,
    Denied,
    /// OpenSSH's catch-all (rename onto an existing name, ...).
    Failure,
    Exists,
    Full,
    Unsupported,
    Other,
}

/// The SFTP status of `e`, or `None` when it is a session (connection) failure.
pub fn sftp_status(e: &ssh2::Error) -> Option<SftpStatus> {
    match e.code() {
        ErrorCode::SFTP(code) => Some(match code {
            FX_NO_SUCH_FILE | FX_NO_SUCH_PATH => SftpStatus::NotFound,
            FX_PERMISSION_DENIED | FX_WRITE_PROTECT => SftpStatus::Denied,
            FX_FAILURE => SftpStatus::Failure,
            FX_FILE_ALREADY_EXISTS => SftpStatus::Exists,
            FX_NO_SPACE_ON_FILESYSTEM | FX_QUOTA_EXCEEDED => SftpStatus::Full,
            FX_OP_UNSUPPORTED => SftpStatus::Unsupported,
            _ => SftpStatus::Other,
        }),
        ErrorCode::Session(_) => None,
    }
}

/// Whether the connection itself failed (so it must not be reused), not just one operation.
pub fn is_connection_failure(e: &ssh2::Error) -> bool {
    sftp_status(e).is_none()
}

pub fn unresolvable(target: &str, e: std::io::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!("could not resolve {target}"),
        "check config.host and DNS",
    )
    .with_source(e)
}

pub fn connect_failed(target: &str, e: std::io::Error) -> ConnectorError {
    let (kind, what) = match e.kind() {
        std::io::ErrorKind::TimedOut => (ErrorKind::Timeout, "timed out"),
        std::io::ErrorKind::ConnectionRefused => (ErrorKind::Unavailable, "connection refused"),
        _ => (ErrorKind::Unavailable, "network error"),
    };
    ConnectorError::new(
        kind,
        format!("could not connect to {target} ({what})"),
        "check config.host and config.port, and that the server accepts connections from Courier",
    )
    .with_source(e)
}

pub fn handshake_failed(host: &str, port: u16, e: ssh2::Error) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unavailable,
        format!(
            "the SSH handshake with {host}:{port} failed ({})",
            e.message()
        ),
        "check that config.port is the server's SSH port",
    )
    .with_source(e)
}

pub fn auth_refused(username: &str, method: &str, e: Option<ssh2::Error>) -> ConnectorError {
    // libssh2's messages name the method and key format problems, never the secret itself.
    let detail = e
        .as_ref()
        .map(|e| format!(" ({})", e.message()))
        .unwrap_or_default();
    let error = ConnectorError::new(
        ErrorKind::Unauthenticated,
        format!("the server refused the {method} for user {username}{detail}"),
        match method {
            "password" => "check config.username and auth_config.password",
            _ => {
                "check config.username, that the key's public half is in the user's authorized_keys, and auth_config.passphrase for an encrypted key"
            }
        },
    );
    match e {
        Some(e) => error.with_source(e),
        None => error,
    }
}

/// A failed SFTP operation (`action` on `path`).
pub fn operation(action: &str, path: &str, e: ssh2::Error) -> ConnectorError {
    let (kind, hint) = match sftp_status(&e) {
        Some(SftpStatus::NotFound) => (
            ErrorKind::NotFound,
            "check config.directory, or set create_directories: true",
        ),
        Some(SftpStatus::Denied) => (
            ErrorKind::Forbidden,
            "give the user write permission on the directory",
        ),
        Some(SftpStatus::Full) => (
            ErrorKind::Unavailable,
            "the server is out of space or over quota; the delivery is retried",
        ),
        Some(SftpStatus::Exists | SftpStatus::Failure) => (
            ErrorKind::Conflict,
            "check what already exists at that path on the server",
        ),
        Some(SftpStatus::Unsupported | SftpStatus::Other) => (
            ErrorKind::Rejected,
            "the server does not allow this operation",
        ),
        None => match e.code() {
            ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT | LIBSSH2_ERROR_SOCKET_TIMEOUT) => (
                ErrorKind::Timeout,
                "the server stopped answering; the delivery is retried",
            ),
            _ => (
                ErrorKind::Unavailable,
                "the connection failed; the delivery is retried on a new one",
            ),
        },
    };
    ConnectorError::new(
        kind,
        format!("could not {action} {path} ({})", e.message()),
        hint,
    )
    .with_source(e)
}

/// A failed write of file bytes (the encoder's sink is the SFTP file, so this is an I/O error).
pub fn write_failed(path: &str, e: std::io::Error) -> ConnectorError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        // The file's own content was refused while writing it (a payload that is not JSON):
        // the shared layer's error, which it recognizes to plan the batch again.
        return courier_files::encode_error(e);
    }
    let kind = match e.kind() {
        std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
        std::io::ErrorKind::InvalidData => ErrorKind::Internal,
        _ => ErrorKind::Unavailable,
    };
    ConnectorError::new(
        kind,
        format!("could not write {path} ({e})"),
        "the delivery is retried; a partial file never takes the final name",
    )
    .with_source(e)
}
