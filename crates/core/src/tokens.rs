//! OAuth tokens and the `TokenStore` a host implements so a destination's tokens survive
//! restarts; the host hands its store to connectors through `Env` (the OAuth machinery itself
//! lives in `courier-oauth`).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::ConnectorError;
use crate::secret::Secret;

/// A destination's tokens. Debug shows no token value.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// `None`: unknown (the API's 401 tells when it has expired).
    pub expires_at: Option<SystemTime>,
    pub scopes: Vec<String>,
}

impl Tokens {
    /// Usable for at least `margin` more.
    pub fn fresh(&self, margin: Duration) -> bool {
        match self.expires_at {
            None => true,
            Some(at) => at > SystemTime::now() + margin,
        }
    }
}

/// Implemented by the host (encrypting at rest). `save` must be durable before it returns:
/// a rotated refresh token is saved before the new access token is used.
#[async_trait]
pub trait TokenStore: Debug + Send + Sync + 'static {
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError>;
    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError>;
}

/// How a destination authorizes with its OAuth provider: what a host needs to run the
/// authorization-code flow for it (the connector derives it from its auth_config).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The provider's name (`google`, `microsoft`).
    pub provider: &'static str,
    pub authorization_url: String,
    pub token_url: String,
    pub scopes: Vec<String>,
    /// Extra authorization-URL parameters (offline access, consent).
    pub extra_params: Vec<(String, String)>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
}

/// A shared token store, as hosts pass it in a `DestinationSpec`.
pub type SharedTokenStore = Arc<dyn TokenStore>;
