//! Server settings: defaults that need nothing, then a TOML file, then `COURIER_*` environment
//! variables, then command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use courier_core::Secret;
use serde::Deserialize;

/// Everything `courier serve` needs to run.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Where the SQLite database and the encryption key file live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; a SQLite file under `data_dir` when unset.
    pub database_url: Option<String>,
    /// Whether destinations may set `allow_private_network` (reach loopback and private
    /// addresses), or name endpoints (`*_url`, `endpoint`) on them, by address or by a host
    /// name resolving there. Off by default: tenants must not reach the operator's internal
    /// network.
    pub allow_private_destinations: bool,
    /// Whether AWS destinations (S3, Kinesis, SQS) without keys may use this process's own AWS
    /// identity (its environment, instance or container role). Off by default: a tenant must
    /// not borrow the operator's credentials.
    pub allow_ambient_credentials: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <this token>`.
    #[serde(skip)]
    pub metrics_token: Option<Secret>,
    /// The largest request body accepted, in bytes (8 MiB: a batch of 1,000 events of a few
    /// KiB, or one event with a payload at the default 5 MiB payload cap).
    pub max_body_bytes: usize,
    /// Requests per second one API key may make to the management API (everything but
    /// sending events; a burst of twice this is allowed).
    pub rate_limit_per_second: u32,
    /// Requests per second one API key may make sending events (`POST .../events`; a burst of
    /// twice this is allowed). High by default: a busy customer's backend posts single events.
    pub intake_rate_limit_per_second: u32,
    /// Ended deliveries (with their attempts) and events older than this many days are
    /// pruned (fractions allowed; 0 keeps everything). Deliveries still waiting or retrying
    /// are kept, with their events, however old.
    pub retention_days: f64,
    /// Destinations a workspace may hold, unless its own `limits` say otherwise.
    pub workspace_max_destinations: u64,
    /// Routes a workspace may hold, unless its own `limits` say otherwise.
    pub workspace_max_routes: u64,
    /// Events per second a whole workspace may send (unset: no workspace-wide limit; each
    /// key's intake limit still applies), unless its own `limits` say otherwise.
    pub workspace_events_per_second: Option<f64>,
    /// Audit log entries older than this many days are pruned (fractions allowed; 0 keeps
    /// them all).
    pub audit_retention_days: f64,
    /// How long a connection test may run, in milliseconds.
    pub test_timeout_ms: u64,
    /// How long a client gets to send a request's headers, in milliseconds; also how long an
    /// idle keep-alive connection stays open. A slow client's connection is closed after it.
    pub header_read_timeout_ms: u64,
    /// How long a client gets to send a request's body, in milliseconds (408 after it).
    pub body_read_timeout_ms: u64,
    /// Connections served at once; further clients wait in the listen queue.
    pub max_connections: usize,
    /// Failed authentications one client address may make per minute (a burst of that many,
    /// refilled evenly); beyond it, 429 with Retry-After before any key is looked up.
    pub auth_failures_per_minute: u32,
    /// Whether this process delivers events (off for an API-only replica).
    pub run_worker: bool,
    /// How long a worker's claim on a delivery lasts without renewal, in milliseconds; a
    /// crashed worker's deliveries are taken again after this (renewed while attempts run).
    pub delivery_lease_ms: u64,
    /// A destination with failed deliveries and no success for this long is disabled, in
    /// milliseconds (5 days by default).
    pub disable_after_failing_ms: u64,
    /// The address people's browsers reach this server at, for OAuth redirects
    /// (`{public_url}/api/v1/oauth/callback`); `http://` and the listening address when unset.
    pub public_url: Option<String>,
    /// Origins (`https://app.example.com`) an OAuth start's `return_to` may send the browser
    /// back to, besides `public_url`'s own.
    pub allowed_return_origins: Vec<String>,
    /// Origins (`https://app.example.com`) whose pages may embed the portal in a frame
    /// (`Content-Security-Policy: frame-ancestors`); this server's own origin always may.
    pub portal_frame_ancestors: Vec<String>,
    /// The portal cookie's SameSite: `lax` (the default: embedding pages on the same site),
    /// `strict`, or `none` (embedding from another site; needs an https `public_url`).
    pub portal_cookie_same_site: SameSite,
    /// The first admin key on an empty database (`COURIER_BOOTSTRAP_API_KEY`; never read from
    /// the file, never printed).
    #[serde(skip)]
    pub bootstrap_api_key: Option<Secret>,
    /// The key sealing secrets at rest, base64 of 32 bytes (`COURIER_ENCRYPTION_KEY`); a key
    /// file in the data directory when unset.
    #[serde(skip)]
    pub encryption_key: Option<Secret>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./courier-data"),
            database_url: None,
            allow_private_destinations: false,
            allow_ambient_credentials: false,
            metrics_token: None,
            max_body_bytes: 8 * 1024 * 1024,
            rate_limit_per_second: 100,
            intake_rate_limit_per_second: 20_000,
            retention_days: 30.0,
            audit_retention_days: 365.0,
            workspace_max_destinations: 1_000,
            workspace_max_routes: 1_000,
            workspace_events_per_second: None,
            test_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_connections: 1_024,
            auth_failures_per_minute: 30,
            run_worker: true,
            delivery_lease_ms: 45_000,
            disable_after_failing_ms: 5 * 24 * 60 * 60 * 1000,
            public_url: None,
            allowed_return_origins: Vec::new(),
            portal_frame_ancestors: Vec::new(),
            portal_cookie_same_site: SameSite::Lax,
            bootstrap_api_key: None,
            encryption_key: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::store::redact_url),
            )
            .field(
                "allow_private_destinations",
                &self.allow_private_destinations,
            )
            .field("allow_ambient_credentials", &self.allow_ambient_credentials)
            .field("public_url", &self.public_url)
            .field("portal_frame_ancestors", &self.portal_frame_ancestors)
            .field("portal_cookie_same_site", &self.portal_cookie_same_site)
            .finish_non_exhaustive()
    }
}

/// The SameSite attribute of the portal's session cookie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SameSite {
    #[default]
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

impl std::str::FromStr for SameSite {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(()),
        }
    }
}

/// Refuses a frame ancestor that is not an origin (`scheme://host[:port]`, http or https): the
/// value goes into a response header, where anything else could add directives.
fn check_origin(origin: &str) -> Result<()> {
    let parsed = url::Url::parse(origin).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.origin().ascii_serialization() == origin
    });
    match parsed {
        Some(_) => Ok(()),
        None => bail!(
            "portal_frame_ancestors: {origin:?} is not an origin (scheme://host[:port], no path)"
        ),
    }
}

/// Command-line values, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub config_file: Option<PathBuf>,
    pub allow_private_destinations: bool,
}

impl ServerConfig {
    /// Loads the settings: defaults, the TOML file (`--config` or `COURIER_CONFIG`), the
    /// environment, then the flags.
    pub fn load(overrides: Overrides) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let file = overrides
            .config_file
            .clone()
            .or_else(|| env("COURIER_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => Self::from_file(path)?,
            None => ServerConfig::default(),
        };
        config.apply_env(|name| env(name))?;
        if !(0.0..=1_000_000.0).contains(&config.retention_days) {
            bail!("retention_days must be a number of days from 0 (keep everything) to 1000000");
        }
        if !(0.0..=1_000_000.0).contains(&config.audit_retention_days) {
            bail!(
                "audit_retention_days must be a number of days from 0 (keep everything) to 1000000"
            );
        }
        for origin in &config.portal_frame_ancestors {
            check_origin(origin)?;
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = overrides.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = overrides.database_url {
            config.database_url = Some(url);
        }
        if overrides.allow_private_destinations {
            config.allow_private_destinations = true;
        }
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T> {
            match value.parse() {
                Ok(v) => Ok(v),
                Err(_) => bail!("{name} has an invalid value"),
            }
        }
        if let Some(v) = env("COURIER_LISTEN") {
            self.listen = parse("COURIER_LISTEN", v)?;
        }
        if let Some(v) = env("COURIER_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("COURIER_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("COURIER_ALLOW_PRIVATE_DESTINATIONS") {
            self.allow_private_destinations = parse("COURIER_ALLOW_PRIVATE_DESTINATIONS", v)?;
        }
        if let Some(v) = env("COURIER_ALLOW_AMBIENT_CREDENTIALS") {
            self.allow_ambient_credentials = parse("COURIER_ALLOW_AMBIENT_CREDENTIALS", v)?;
        }
        if let Some(v) = env("COURIER_METRICS_TOKEN") {
            self.metrics_token = Some(Secret::new(v));
        }
        if let Some(v) = env("COURIER_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("COURIER_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = env("COURIER_RATE_LIMIT_PER_SECOND") {
            self.rate_limit_per_second = parse("COURIER_RATE_LIMIT_PER_SECOND", v)?;
        }
        if let Some(v) = env("COURIER_INTAKE_RATE_LIMIT_PER_SECOND") {
            self.intake_rate_limit_per_second = parse("COURIER_INTAKE_RATE_LIMIT_PER_SECOND", v)?;
        }
        if let Some(v) = env("COURIER_DELIVERY_LEASE_MS") {
            self.delivery_lease_ms = parse("COURIER_DELIVERY_LEASE_MS", v)?;
        }
        if let Some(v) = env("COURIER_DISABLE_AFTER_FAILING_MS") {
            self.disable_after_failing_ms = parse("COURIER_DISABLE_AFTER_FAILING_MS", v)?;
        }
        if let Some(v) = env("COURIER_RUN_WORKER") {
            self.run_worker = parse("COURIER_RUN_WORKER", v)?;
        }
        if let Some(v) = env("COURIER_BOOTSTRAP_API_KEY") {
            self.bootstrap_api_key = Some(Secret::new(v));
        }
        if let Some(v) = env("COURIER_ENCRYPTION_KEY") {
            self.encryption_key = Some(Secret::new(v));
        }
        if let Some(v) = env("COURIER_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = env("COURIER_ALLOWED_RETURN_ORIGINS") {
            self.allowed_return_origins = v
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = env("COURIER_PORTAL_FRAME_ANCESTORS") {
            self.portal_frame_ancestors = v
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = env("COURIER_PORTAL_COOKIE_SAME_SITE") {
            self.portal_cookie_same_site = parse("COURIER_PORTAL_COOKIE_SAME_SITE", v)?;
        }
        if let Some(v) = env("COURIER_TEST_TIMEOUT_MS") {
            self.test_timeout_ms = parse("COURIER_TEST_TIMEOUT_MS", v)?;
        }
        if let Some(v) = env("COURIER_RETENTION_DAYS") {
            self.retention_days = parse("COURIER_RETENTION_DAYS", v)?;
        }
        if let Some(v) = env("COURIER_WORKSPACE_MAX_DESTINATIONS") {
            self.workspace_max_destinations = parse("COURIER_WORKSPACE_MAX_DESTINATIONS", v)?;
        }
        if let Some(v) = env("COURIER_WORKSPACE_MAX_ROUTES") {
            self.workspace_max_routes = parse("COURIER_WORKSPACE_MAX_ROUTES", v)?;
        }
        if let Some(v) = env("COURIER_WORKSPACE_EVENTS_PER_SECOND") {
            self.workspace_events_per_second =
                Some(parse("COURIER_WORKSPACE_EVENTS_PER_SECOND", v)?);
        }
        if let Some(v) = env("COURIER_AUDIT_RETENTION_DAYS") {
            self.audit_retention_days = parse("COURIER_AUDIT_RETENTION_DAYS", v)?;
        }
        if let Some(v) = env("COURIER_HEADER_READ_TIMEOUT_MS") {
            self.header_read_timeout_ms = parse("COURIER_HEADER_READ_TIMEOUT_MS", v)?;
        }
        if let Some(v) = env("COURIER_BODY_READ_TIMEOUT_MS") {
            self.body_read_timeout_ms = parse("COURIER_BODY_READ_TIMEOUT_MS", v)?;
        }
        if let Some(v) = env("COURIER_MAX_CONNECTIONS") {
            self.max_connections = parse("COURIER_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = env("COURIER_AUTH_FAILURES_PER_MINUTE") {
            self.auth_failures_per_minute = parse("COURIER_AUTH_FAILURES_PER_MINUTE", v)?;
        }
        Ok(())
    }

    /// The database URL in use: the configured one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("courier.db").display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("courier.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nrate_limit_per_second = 7\n",
        )
        .unwrap();
        let mut config = ServerConfig::from_file(&file).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.rate_limit_per_second, 7);
        config
            .apply_env(|n| (n == "COURIER_RATE_LIMIT_PER_SECOND").then(|| "9".to_string()))
            .unwrap();
        assert_eq!(config.rate_limit_per_second, 9);
        assert!(
            config
                .apply_env(|n| (n == "COURIER_LISTEN").then(|| "nope".to_string()))
                .is_err()
        );
        std::fs::write(&file, "listn = 1\n").unwrap();
        let err = ServerConfig::from_file(&file).unwrap_err();
        assert!(format!("{err:#}").contains("listn"), "{err:#}");
    }
}

#[cfg(test)]
mod portal_tests {
    use super::*;

    #[test]
    fn frame_ancestors_must_be_origins() {
        for good in ["https://app.example.com", "http://localhost:3000"] {
            check_origin(good).unwrap();
        }
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://a.example.com; script-src *",
            "javascript:alert(1)",
            "*",
            "app.example.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn portal_settings_come_from_the_environment() {
        let mut config = ServerConfig::default();
        config
            .apply_env(|n| match n {
                "COURIER_PORTAL_FRAME_ANCESTORS" => {
                    Some("https://a.example.com, https://b.example.com".into())
                }
                "COURIER_PORTAL_COOKIE_SAME_SITE" => Some("none".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            config.portal_frame_ancestors,
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(config.portal_cookie_same_site, SameSite::None);
        assert!(
            config
                .apply_env(|n| (n == "COURIER_PORTAL_COOKIE_SAME_SITE").then(|| "loose".into()))
                .is_err()
        );
    }
}
