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
    /// The bearer token sent to the API.
    pub access_token: Secret,
    /// The token that gets a new access token; `None` when the provider issued none.
    pub refresh_token: Option<Secret>,
    /// `None`: unknown (the API's 401 tells when it has expired).
    pub expires_at: Option<SystemTime>,
    /// The scopes the provider granted.
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
    /// The destination's stored tokens; `None` when it has none (not yet authorized).
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError>;
    /// Stores the destination's tokens, replacing any before; durable when it returns.
    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError>;
}

/// How a destination authorizes with its OAuth provider: what a host needs to run the
/// authorization-code flow for it (the connector derives it from its auth_config).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The provider's name (`google`, `microsoft`).
    pub provider: &'static str,
    /// Where the user is sent to give consent.
    pub authorization_url: String,
    /// Where codes and refresh tokens are exchanged for tokens.
    pub token_url: String,
    /// The scopes to request.
    pub scopes: Vec<String>,
    /// Extra authorization-URL parameters (offline access, consent).
    pub extra_params: Vec<(String, String)>,
    /// The OAuth client (application) id registered with the provider.
    pub client_id: String,
    /// The client secret; `None` for a public client.
    pub client_secret: Option<Secret>,
}

/// A shared token store, as hosts pass it in a `DestinationSpec`.
pub type SharedTokenStore = Arc<dyn TokenStore>;
