//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "courier",
    version,
    about = "Courier: send records to the destinations your customers choose"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the catalog document (JSON) of the connectors in this build.
    Catalog {
        /// Only this connector type.
        #[arg(long = "type")]
        r#type: Option<String>,
    },
    /// Print the OpenAPI 3.1 document of `courier serve`'s API (JSON), as the server serves it
    /// at /api/v1/openapi.json: for generating clients.
    Openapi,
    /// Test a connection step by step; exit 0 only if no step failed.
    Test(TargetArgs),
    /// Print the fields the destination accepts, as JSON.
    Fields(TargetArgs),
    /// Deliver each line of an NDJSON file as one record, through the delivery policy.
    Deliver(DeliverArgs),
    /// Run the Destinations API service (SQLite under --data-dir unless --database-url is set).
    Serve(ServeArgs),
    /// Connect an OAuth destination (google_drive, onedrive) from a terminal: prints the
    /// authorization URL, receives the redirect on a loopback port, and prints the auth_config
    /// with the tokens (or writes it to --output).
    Oauth(OAuthArgs),
}

#[derive(Debug, Args)]
pub struct OAuthArgs {
    /// `google_drive` or `onedrive`.
    #[arg(long = "type")]
    pub r#type: String,
    /// The OAuth client id.
    #[arg(long)]
    pub client_id: String,
    /// The OAuth client secret (omit for a public client); also `COURIER_OAUTH_CLIENT_SECRET`.
    #[arg(long, env = "COURIER_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Microsoft tenant for onedrive: common, organizations, consumers, or a tenant id.
    #[arg(long, default_value = "common")]
    pub tenant: String,
    /// The loopback port the redirect comes back to (0: any free port). The OAuth client must
    /// allow `http://127.0.0.1:PORT/callback` (Google desktop clients and Microsoft's
    /// `http://localhost` registrations accept any port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Override the provider's authorization URL.
    #[arg(long)]
    pub authorization_url: Option<String>,
    /// Override the provider's token URL (kept in the printed auth_config).
    #[arg(long)]
    pub token_url: Option<String>,
    /// Write the auth_config to this file (mode 0600) instead of printing it.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Give up when the redirect has not come back after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Where the SQLite database and the encryption key file live [default: ./courier-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB` (for several replicas).
    #[arg(long)]
    pub database_url: Option<String>,
    /// A TOML settings file (also `COURIER_CONFIG`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Let destinations reach loopback and private networks (allow_private_network, and
    /// endpoint URLs on such addresses or on names resolving to them).
    #[arg(long)]
    pub allow_private_destinations: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The connector type, e.g. `webhook`.
    #[arg(long = "type")]
    pub r#type: String,
    /// The config: JSON text, or @path to a JSON file.
    #[arg(long)]
    pub config: String,
    /// The auth_config: JSON text, or @path to a JSON file.
    #[arg(long)]
    pub auth: Option<String>,
    /// The destination id used in keys and test events.
    #[arg(long, default_value = "dest_cli")]
    pub destination_id: String,
    /// Override the 5 MiB payload cap, in bytes.
    #[arg(long)]
    pub payload_cap_bytes: Option<u64>,
    /// Print machine-readable JSON (for `test`: one event per line).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The NDJSON file: each non-empty line is one record's payload.
    #[arg(long)]
    pub input: PathBuf,
    /// Records per batch.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// The delivery policy (retries, backoff, timeouts, circuit breaker): JSON or @path.
    #[arg(long)]
    pub policy: Option<String>,
}
