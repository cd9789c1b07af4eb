//! A built SFTP destination's remote side: the host key pinned on first use and the
//! connections kept for reuse. All SSH work runs on Tokio's blocking pool through
//! [`SftpRemote::with_connection`].

use std::fmt;
use std::sync::Arc;

use courier_core::{ConnectorError, Env};
use courier_files::FileClient;

use crate::config::{SftpAuth, SftpConfig};
use crate::pool::Pool;
use crate::session::{self, Connection, PinnedHostKey};

/// An SFTP destination's client: config, name template and the SFTP side.
pub type SftpClient = FileClient<crate::SftpFiles>;

/// What opening and reusing connections needs, moved into blocking tasks behind an `Arc`.
#[derive(Debug)]
pub struct Shared {
    /// A copy of the destination's config: blocking tasks cannot borrow the client's.
    pub config: SftpConfig,
    pub auth: SftpAuth,
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

/// The SFTP side of an [`SftpClient`]: its connections and the pinned host key.
pub struct SftpRemote {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SftpRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("SftpRemote")
            .field("host", &c.host)
            .field("port", &c.port)
            .field("username", &c.username)
            .field("directory", &c.directory)
            .finish_non_exhaustive()
    }
}

impl SftpRemote {
    /// No I/O: the first delivery or the connection test logs in.
    pub fn new(config: &SftpConfig, auth: SftpAuth, env: &Env) -> Self {
        SftpRemote {
            shared: Arc::new(Shared {
                config: config.clone(),
                auth,
                pinned: PinnedHostKey::default(),
                pool: Pool::default(),
                allow_private: env.allow_private_network,
            }),
        }
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
