//! A built SFTP destination: its validated settings, the host key pinned on first use, and the
//! connections kept for reuse. All SSH work runs on Tokio's blocking pool through
//! [`SftpClient::with_connection`].

use std::fmt;
use std::sync::Arc;

use courier_core::{ConnectorError, ErrorKind, PayloadCap};
use courier_files::KeyTemplate;

use crate::config::{SftpAuth, SftpConfig};
use crate::pool::Pool;
use crate::session::{self, Connection, PinnedHostKey};

/// What every delivery of one destination shares (moved into blocking tasks behind an `Arc`).
#[derive(Debug)]
pub struct Shared {
    pub config: SftpConfig,
    pub auth: SftpAuth,
    pub template: KeyTemplate,
    pub destination_id: String,
    pub cap: PayloadCap,
    pub pinned: PinnedHostKey,
    pub pool: Pool,
    /// Whether connections may reach non-public addresses (the host's decision).
    pub allow_private: bool,
}

/// A failed piece of work on a connection, and whether the connection itself broke (then it
/// is dropped, not reused).
#[derive(Debug)]
pub struct Failure {
    pub error: ConnectorError,
    pub connection_broken: bool,
}

impl Failure {
    /// A failure of one SFTP operation; the connection is fine unless libssh2 says otherwise.
    pub fn sftp(action: &str, path: &str, e: ssh2::Error) -> Self {
        Failure {
            connection_broken: crate::errors::is_connection_failure(&e),
            error: crate::errors::operation(action, path, e),
        }
    }
}

#[derive(Clone)]
pub struct SftpClient {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SftpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("SftpClient")
            .field("host", &c.host)
            .field("port", &c.port)
            .field("username", &c.username)
            .field("directory", &c.directory)
            .finish_non_exhaustive()
    }
}

impl SftpClient {
    pub fn new(
        config: SftpConfig,
        auth: SftpAuth,
        destination_id: String,
        cap: PayloadCap,
        allow_private: bool,
    ) -> Result<Self, ConnectorError> {
        let template = KeyTemplate::parse(&config.file_name_template).map_err(|m| {
            ConnectorError::new(
                ErrorKind::InvalidConfig,
                format!("file_name_template {m}"),
                "correct config.file_name_template",
            )
        })?;
        Ok(SftpClient {
            shared: Arc::new(Shared {
                config,
                auth,
                template,
                destination_id,
                cap,
                pinned: PinnedHostKey::default(),
                pool: Pool::default(),
                allow_private,
            }),
        })
    }

    pub fn config(&self) -> &SftpConfig {
        &self.shared.config
    }

    /// How many SSH connections this destination has opened so far.
    pub fn connections_opened(&self) -> usize {
        self.shared.pool.opened()
    }

    /// Runs `work` on the blocking pool with a connection: an idle one when there is one, else
    /// a new one. When a reused connection turns out to be broken, `work` runs once more on a
    /// fresh connection (what it does must therefore be safe to repeat).
    pub async fn with_connection<T, F>(&self, work: F) -> Result<T, ConnectorError>
    where
        T: Send + 'static,
        F: Fn(&Shared, &Connection) -> Result<T, Failure> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            if let Some(connection) = shared.pool.take() {
                match shared.run(&work, connection) {
                    Err(f) if f.connection_broken => {
                        tracing::debug!(host = %shared.config.host, error = %f.error, "a reused SFTP connection failed; reconnecting");
                    }
                    done => return done.map_err(|f| f.error),
                }
            }
            let connection = shared.open()?;
            shared.run(&work, connection).map_err(|f| f.error)
        })
        .await
        .map_err(|_| ConnectorError::internal("the SFTP worker stopped unexpectedly"))?
    }

    /// Keeps a connection the connection test opened, so the first delivery need not log in.
    pub fn keep(&self, connection: Connection) {
        self.shared.pool.put(connection);
    }

    /// A counted new connection (the connection test opens its own, stage by stage).
    pub fn opened_one(&self) {
        self.shared.pool.opened_one();
    }
}

impl Shared {
    /// Opens a new connection through every stage.
    fn open(&self) -> Result<Connection, ConnectorError> {
        let connection = session::open(&self.config, &self.auth, &self.pinned, self.allow_private)?;
        self.pool.opened_one();
        Ok(connection)
    }

    /// Runs `work`, then keeps the connection unless it broke.
    fn run<T>(
        &self,
        work: &impl Fn(&Shared, &Connection) -> Result<T, Failure>,
        connection: Connection,
    ) -> Result<T, Failure> {
        let result = work(self, &connection);
        if !matches!(&result, Err(f) if f.connection_broken) {
            self.pool.put(connection);
        }
        result
    }

    /// Where a key goes: `directory/key`, as a path the server resolves.
    pub fn remote_path(&self, key: &str) -> String {
        join(&self.config.directory, key)
    }

    /// A reference for messages and delivery outcomes: `sftp://host:port/path` (`~/` marks a
    /// path relative to the login directory).
    pub fn url_of(&self, path: &str) -> String {
        let c = &self.config;
        if path.starts_with('/') {
            format!("sftp://{}:{}{path}", c.host, c.port)
        } else {
            format!("sftp://{}:{}/~/{path}", c.host, c.port)
        }
    }
}

/// `dir/name`, without doubled or trailing separators; `.` is the login directory.
pub fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    match dir {
        "" if name.is_empty() => "/".to_string(),
        "" => format!("/{name}"),
        "." => name.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn paths_join_without_doubled_separators() {
        assert_eq!(join("upload/", "a/b.json"), "upload/a/b.json");
        assert_eq!(join("/upload", "b.json"), "/upload/b.json");
        assert_eq!(join("/", "b.json"), "/b.json");
        assert_eq!(join(".", "b.json"), "b.json");
    }
}
