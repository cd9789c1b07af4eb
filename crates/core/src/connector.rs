//! The typed `Connector` trait every destination implements, and the environment it is built in.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::endpoint::Endpoint;
use crate::error::ConnectorError;
use crate::field::Field;
use crate::meta::ConnectorMeta;
use crate::payload::PayloadCap;
use crate::probe::Probe;
use crate::record::{Batch, BatchOutcome};
use crate::spec::{AuthSpec, ConfigSpec};
use crate::tokens::{OAuthClient, SharedTokenStore};

/// What the host tells a connector about the destination it is building a client for.
#[derive(Debug, Clone)]
pub struct Env {
    /// The host's id of the destination (used in file keys and test events).
    pub destination_id: String,
    /// The effective payload cap, already checked against the connector's maximum.
    pub payload_cap: PayloadCap,
    /// Where OAuth connectors load and save this destination's tokens; `None` keeps them in
    /// memory, seeded from the auth_config (one-shot CLI use).
    pub token_store: Option<SharedTokenStore>,
    /// Whether connections may reach non-public addresses (see
    /// [`crate::DestinationSpec::allow_private_network`]); when not, every connection's
    /// addresses go through [`crate::net::resolve_checked`].
    pub allow_private_network: bool,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            destination_id: "dest_local".to_string(),
            payload_cap: PayloadCap::default(),
            token_store: None,
            allow_private_network: false,
        }
    }
}

/// A destination type. Implementations are small: the catalog erases them into
/// [`crate::DynConnector`] with one blanket impl, and the runtime adds retries, timeouts and
/// circuit breaking around `deliver`. Connectors classify errors; they never retry or sleep.
#[async_trait]
pub trait Connector: Clone + Send + Sync + 'static {
    /// The destination's non-secret configuration, parsed from the spec's `config`.
    type Config: ConfigSpec;
    /// The destination's credentials, parsed from the spec's `auth_config` (use
    /// [`NoAuth`](crate::spec::NoAuth) when there are none).
    type Auth: AuthSpec;
    /// A reusable client (HTTP client, SDK client, session pool) that owns the config and
    /// credentials. Its Debug output must not show secrets (use `Secret`).
    type Client: Debug + Send + Sync + 'static;

    /// The connector's static description: type id, capabilities, test steps, examples.
    fn metadata(&self) -> &'static ConnectorMeta;

    /// Builds the client. Should not do network I/O: `test` is where the target is checked.
    async fn connect(
        &self,
        config: Self::Config,
        auth: Self::Auth,
        env: &Env,
    ) -> Result<Self::Client, ConnectorError>;

    /// Every host `config` and `auth` make the connector contact, each at the JSON path of the
    /// field it comes from (`/config/endpoint_url`), derived hosts included (an S3 bucket's
    /// virtual host, endpoints built from an account name and a suffix). Hosts check these
    /// against the operator's network rules and bind stored credentials to them; the
    /// conformance suite fails a connector with a URL- or host-like field it does not declare.
    fn endpoints(&self, config: &Self::Config, auth: &Self::Auth) -> Vec<Endpoint>;

    /// Checks the connection step by step through `probe`, touching the real target.
    async fn test(&self, client: &Self::Client, probe: &mut Probe) -> Result<(), ConnectorError>;

    /// The fields the destination accepts, for field mapping.
    async fn describe_fields(&self, client: &Self::Client) -> Result<Vec<Field>, ConnectorError>;

    /// For OAuth destinations, how to run the authorization flow with this auth_config
    /// (`None`: the connector does not use OAuth).
    fn oauth_client(&self, auth: &Self::Auth) -> Option<OAuthClient> {
        let _ = auth;
        None
    }

    /// One attempt at one batch: an outcome per record, in the batch's order. Records over the
    /// payload cap were already refused by the caller; batch-level encodings must check
    /// `env.payload_cap` themselves before sending.
    async fn deliver(&self, client: &Self::Client, batch: &Batch) -> BatchOutcome;
}
