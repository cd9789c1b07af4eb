//! Redis failures as classified connector errors: the connection's (refused, lost, timed out,
//! TLS), the handshake's (credentials, database) and each entry's (ACL, wrong type, memory,
//! replica), each with what to change.

use courier_core::{ConnectorError, ErrorKind};
use redis::{RedisError, ServerErrorKind};

/// What the connector was doing, for messages.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Opening the connection (TCP, TLS, AUTH, SELECT).
    Connect,
    /// Appending to `stream`.
    Append(&'a str),
    /// A command of the connection test (`TYPE orders`).
    Check(&'a str),
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Connect => f.write_str("connect"),
            Action::Append(stream) => write!(f, "append to stream {stream}"),
            Action::Check(what) => write!(f, "run {what}"),
        }
    }
}

/// The ACL rules a producer needs, for hints.
pub const ACL_HINT: &str = "grant the ACL user +evalsha +eval (the delivery script), +xadd +get +set, and the keys of the streams and of courier:dedup:*";

/// A failed Redis call as a classified error. `target` names the server (never with
/// credentials: the URL holds none).
pub fn classify(error: &RedisError, target: &str, action: Action<'_>) -> ConnectorError {
    let detail = error
        .detail()
        .map(|d| format!(": {}", d.chars().take(300).collect::<String>()))
        .unwrap_or_default();
    let code = error.code().unwrap_or("");
    let (kind, message, hint) = match (error.kind(), code) {
        (redis::ErrorKind::AuthenticationFailed, _) | (_, "WRONGPASS") => (
            ErrorKind::Unauthenticated,
            format!("Redis at {target} did not accept the credentials"),
            "check auth_config.username and auth_config.password, and that the ACL user is on".to_string(),
        ),
        // A SELECT refused during the handshake loses its code: its detail still says why.
        _ if code == "NOAUTH" || detail.contains("Authentication required") => (
            ErrorKind::Unauthenticated,
            format!("Redis at {target} requires authentication"),
            "set auth_config.password (and auth_config.username for an ACL user)".to_string(),
        ),
        (redis::ErrorKind::Server(ServerErrorKind::NoPerm), _) | (_, "NOPERM") => (
            ErrorKind::Forbidden,
            format!("Redis at {target} refused to let the user {action}{detail}"),
            ACL_HINT.to_string(),
        ),
        (_, "WRONGTYPE") => (
            ErrorKind::Conflict,
            format!("cannot {action}: the key holds a value that is not a stream"),
            "change stream_key_template, or remove the key that is in the way".to_string(),
        ),
        (_, "OOM") => (
            ErrorKind::Unavailable,
            format!("Redis at {target} is out of memory and refuses writes{detail}"),
            "free memory, raise maxmemory, or set config.maxlen; the records are retried".to_string(),
        ),
        (_, "READONLY") => (
            ErrorKind::Unavailable,
            format!("Redis at {target} is a read-only replica"),
            "point config.url at the primary; the records are retried (a failover may be under way)".to_string(),
        ),
        (_, "LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN") => (
            ErrorKind::Unavailable,
            format!("Redis at {target} cannot {action} now ({code}){detail}"),
            "the records are retried".to_string(),
        ),
        (_, "MOVED" | "ASK" | "CROSSSLOT") => (
            ErrorKind::InvalidConfig,
            format!("Redis at {target} is a cluster node ({code}), which this destination does not support"),
            "point config.url at a standalone Redis server (or a proxy in front of the cluster)".to_string(),
        ),
        (redis::ErrorKind::InvalidClientConfig, _) => (
            ErrorKind::InvalidConfig,
            format!("cannot {action} Redis at {target}: {error}"),
            "check config.url and config.ca_pem".to_string(),
        ),
        _ if detail.contains("DB index is out of range") => (
            ErrorKind::InvalidConfig,
            format!("Redis at {target} has no such database{detail}"),
            "use a database number the server has (its `databases` setting) in config.url".to_string(),
        ),
        (redis::ErrorKind::Io, _) => return io_error(error, target, action),
        (redis::ErrorKind::Parse, _) => (
            ErrorKind::Unavailable,
            format!("the server at {target} did not answer as Redis does: {error}"),
            "check that config.url points at a Redis server (and rediss:// for a TLS port)".to_string(),
        ),
        (redis::ErrorKind::Server(_) | redis::ErrorKind::Extension, _) => (
            ErrorKind::Rejected,
            format!("Redis at {target} refused to {action} ({code}){detail}"),
            "check the destination's config and the record".to_string(),
        ),
        _ => (
            ErrorKind::Unavailable,
            format!("cannot {action} Redis at {target}: {error}"),
            "the records are retried".to_string(),
        ),
    };
    ConnectorError::new(kind, message, hint).with_source(error.clone())
}

/// A failed connection: refused, lost, timed out, or a TLS handshake that failed.
fn io_error(error: &RedisError, target: &str, action: Action<'_>) -> ConnectorError {
    let text = error.to_string();
    let (kind, message, hint) = if text.contains("certificate") || text.contains("Certificate") {
        (
            ErrorKind::InvalidConfig,
            format!("the TLS certificate of Redis at {target} was not accepted: {text}"),
            "set config.ca_pem to the CA that signed the server's certificate, and use the host name the certificate names",
        )
    } else if error.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("Redis at {target} did not answer in time ({action})"),
            "the records are retried; check the server's load and the network",
        )
    } else if error.is_connection_refusal() {
        (
            ErrorKind::Unavailable,
            format!("Redis at {target} refused the connection"),
            "check config.url (host and port) and that Redis is running",
        )
    } else if target.starts_with("redis:") && !matches!(action, Action::Append(_)) {
        // A TLS port drops a plain client's first command: opening a connection is where a
        // redis:// URL for a TLS server shows, so say so there.
        (
            ErrorKind::Unavailable,
            format!("the connection to Redis at {target} failed ({action}): {text}"),
            "check config.url and that Redis is running; a server that drops the connection at once may want TLS: use rediss://",
        )
    } else {
        (
            ErrorKind::Unavailable,
            format!("the connection to Redis at {target} failed ({action}): {text}"),
            "the records are retried; check config.url and that Redis is running",
        )
    };
    ConnectorError::new(kind, message, hint).with_source(error.clone())
}

/// Whether the connection `error` came from is unusable and must be opened anew.
pub fn breaks_connection(error: &RedisError) -> bool {
    error.is_unrecoverable_error()
        || error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error Redis answers with `line` (`WRONGTYPE Operation against a key ...`).
    fn server(line: &str) -> RedisError {
        match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()) {
            Ok(redis::Value::ServerError(e)) => e.into(),
            other => panic!("not a server error: {other:?}"),
        }
    }

    fn kind(line: &str) -> ErrorKind {
        classify(&server(line), "redis://h:6379/0", Action::Append("s")).kind
    }

    #[test]
    fn server_errors_are_classified() {
        assert_eq!(
            kind("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind("NOPERM this user has no permissions to run the 'evalsha' command"),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind("NOAUTH Authentication required."),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind("WRONGPASS invalid username-password pair or user is disabled."),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind("OOM command not allowed when used memory > 'maxmemory'."),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind("READONLY You can't write against a read only replica."),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind("LOADING Redis is loading the dataset in memory"),
            ErrorKind::Unavailable
        );
        assert_eq!(kind("MOVED 3999 127.0.0.1:6381"), ErrorKind::InvalidConfig);
        assert_eq!(
            kind("ERR DB index is out of range"),
            ErrorKind::InvalidConfig
        );
        assert_eq!(kind("ERR something else"), ErrorKind::Rejected);
    }

    #[test]
    fn lost_connections_are_retried_and_break_the_connection() {
        let lost: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into();
        let e = classify(&lost, "redis://h:6379/0", Action::Append("s"));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(breaks_connection(&lost));
        assert!(!breaks_connection(&server("WRONGTYPE x")));
        // Dropped while opening a plain connection: perhaps a TLS port.
        let opening = classify(&lost, "redis://h:6379/0", Action::Connect);
        assert!(opening.hint.contains("rediss://"), "{opening:?}");
        assert!(!e.hint.contains("rediss://"), "{e:?}");
        assert!(
            !classify(&lost, "rediss://h:6379/0", Action::Connect)
                .hint
                .contains("rediss://")
        );
        let timeout: RedisError = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow").into();
        assert_eq!(
            classify(&timeout, "redis://h:6379/0", Action::Connect).kind,
            ErrorKind::Timeout
        );
    }
}
