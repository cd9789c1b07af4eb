//! Starting the service: data directory, encryption key, database, first workspace and admin
//! key on an empty database, then the API until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use courier_catalog::Catalog;
use tokio::net::TcpListener;

use crate::api::rules::ServerRules;
use crate::api::{self, AppState};
use crate::config::ServerConfig;
use crate::crypto::Sealer;
use crate::delivery::{Engine, EngineSettings};
use crate::ids;
use crate::listen::ConnectionLimits;
use crate::store::{Role, Store};

/// A server bound to its address, ready to serve.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    listener: TcpListener,
    state: Arc<AppState>,
    engine: Arc<Engine>,
}

/// What bootstrapping an empty database made.
#[derive(Debug)]
pub struct Bootstrapped {
    pub workspace_id: String,
    /// The operator key when Courier generated it (shown once); `None` when it came from
    /// `COURIER_BOOTSTRAP_API_KEY`.
    pub generated_key: Option<String>,
}

/// On an empty database: a workspace and the operator's key (`bootstrap_key`, or a generated
/// one), which manages workspaces and acts in any of them.
pub async fn bootstrap(
    store: &Store,
    bootstrap_key: Option<String>,
) -> Result<Option<Bootstrapped>> {
    if store.workspace_count().await? > 0 {
        return Ok(None);
    }
    let workspace = store
        .create_workspace(&crate::store::WorkspaceChange {
            name: Some("Default".into()),
            ..Default::default()
        })
        .await?;
    let (key, generated) = match bootstrap_key {
        Some(key) if key.len() < 32 => {
            anyhow::bail!(
                "COURIER_BOOTSTRAP_API_KEY must be at least 32 characters (it is the operator's credential)"
            )
        }
        Some(key) => (key, false),
        None => (ids::new_api_key(), true),
    };
    store
        .add_api_key(
            &workspace.id,
            "operator (bootstrap)",
            Role::Operator,
            &key,
            None,
        )
        .await?;
    Ok(Some(Bootstrapped {
        workspace_id: workspace.id,
        generated_key: generated.then_some(key),
    }))
}

/// The data directory, created readable by this user only (0700), and the SQLite database in
/// it created (or tightened) to 0600 before SQLite opens it: its WAL and shared-memory files
/// take the database file's permissions.
fn prepare_data_dir(config: &ServerConfig) -> Result<()> {
    let dir = &config.data_dir;
    let fresh = !dir.exists();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    if !fresh {
        tracing::debug!(dir = %dir.display(), "using an existing data directory as it is");
    }
    if config.database_url.is_none() {
        let db = dir.join("courier.db");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            options
                .open(&db)
                .with_context(|| format!("cannot create {}", db.display()))?;
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", db.display()))?;
        }
        #[cfg(not(unix))]
        options
            .open(&db)
            .with_context(|| format!("cannot create {}", db.display()))?;
    }
    Ok(())
}

/// Every process on one database must seal with the same key: the first one stores a value
/// sealed with its key, and a process whose key cannot open it refuses to start (rather than
/// failing every delivery whose secrets it cannot read).
async fn check_encryption_key(store: &Store, sealer: &Sealer) -> Result<()> {
    const CONTEXT: &str = "courier:encryption-key-check";
    let check = store
        .setting_or_insert("encryption_key_check", &sealer.seal(CONTEXT, b"courier"))
        .await?;
    if sealer.open(CONTEXT, &check).is_err() {
        anyhow::bail!(
            "this database's secrets were sealed with another encryption key: give every replica the same COURIER_ENCRYPTION_KEY (or the original data directory's encryption.key)"
        );
    }
    Ok(())
}

impl Server {
    /// Prepares everything and binds the listener (so the caller knows the port).
    pub async fn bind(config: ServerConfig, catalog: Catalog) -> Result<Server> {
        // A route that declares no access would ship unguarded: refuse to start.
        api::check_routes().map_err(anyhow::Error::msg)?;
        prepare_data_dir(&config)?;
        let sealer = Sealer::load(
            config.encryption_key.as_ref().map(|k| k.expose()),
            &config.data_dir,
        )?;
        let store = Store::open(&config.database_url()).await?;
        store.listen_for_changes();
        check_encryption_key(&store, &sealer).await?;
        if store.is_postgres() {
            // The queue's clock is the database's: measured before anything is queued.
            store.poll_config_changes().await?;
        }
        let bootstrap_key = config
            .bootstrap_api_key
            .as_ref()
            .map(|k| k.expose().trim().to_string());
        let lock = store.startup_lock().await?;
        let made = bootstrap(&store, bootstrap_key).await;
        store.startup_unlock(lock).await?;
        if let Some(made) = made? {
            match &made.generated_key {
                Some(key) => println!(
                    "Created workspace {} and the operator API key (shown only now; store it):\n  {key}",
                    made.workspace_id
                ),
                None => println!(
                    "Created workspace {} and the operator API key from COURIER_BOOTSTRAP_API_KEY",
                    made.workspace_id
                ),
            }
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let mut config = config;
        if config.public_url.is_none() {
            config.public_url = Some(format!("http://{addr}"));
        }
        if config.portal_cookie_same_site == crate::config::SameSite::None
            && !config
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        {
            anyhow::bail!(
                "portal_cookie_same_site = \"none\" needs an https public_url: browsers drop a SameSite=None cookie that is not Secure"
            );
        }
        let engine = Engine::start(
            store.clone(),
            sealer.clone(),
            catalog.clone(),
            ServerRules::of(&config, &catalog),
            EngineSettings {
                deliver: config.run_worker,
                lease: Duration::from_millis(config.delivery_lease_ms.max(1_000)),
                disable_after: Duration::from_millis(config.disable_after_failing_ms),
                retention: days(config.retention_days),
                audit_retention: days(config.audit_retention_days),
            },
        );
        let state = Arc::new(AppState::new(
            store,
            sealer,
            catalog,
            config,
            engine.clone(),
        ));
        Ok(Server {
            addr,
            listener,
            state,
            engine,
        })
    }

    /// Serves until `shutdown` completes; in-flight requests finish first.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        tracing::info!(addr = %self.addr, "courier serve listening");
        let limits = ConnectionLimits {
            max_connections: self.state.config.max_connections,
            header_read_timeout: Duration::from_millis(
                self.state.config.header_read_timeout_ms.max(1),
            ),
        };
        crate::listen::serve(self.listener, api::router(self.state), limits, shutdown).await;
        // The API has stopped taking events; in-flight attempts finish or are released.
        self.engine.shutdown().await;
        Ok(())
    }
}

/// A retention period in days (fractions allowed) as a duration; 0 keeps everything.
fn days(days: f64) -> Option<Duration> {
    (days > 0.0)
        .then(|| Duration::try_from_secs_f64(days * 86_400.0).ok())
        .flatten()
}

/// `courier serve`: runs until Ctrl-C or SIGTERM.
pub async fn run(config: ServerConfig, catalog: Catalog) -> Result<()> {
    let server = Server::bind(config, catalog).await?;
    println!("Courier is listening on http://{}", server.addr);
    server.serve(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
