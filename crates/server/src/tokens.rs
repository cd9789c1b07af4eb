//! The server's `TokenStore`: each destination's OAuth tokens sealed in its database row, so a
//! refreshed (and, with Microsoft, rotated) token is durable before it is used and every replica
//! and restart sees it.

use std::time::{Duration, UNIX_EPOCH};

use courier_core::{ConnectorError, Secret, TokenStore, Tokens, async_trait};
use serde_json::{Value, json};

use crate::crypto::Sealer;
use crate::store::Store;

/// What the tokens of `destination_id` are sealed under.
pub fn tokens_context(destination_id: &str) -> String {
    format!("oauth-tokens:{destination_id}")
}

/// Tokens as sealed JSON.
pub fn seal_tokens(sealer: &Sealer, destination_id: &str, tokens: &Tokens) -> String {
    let plain = json!({
        "access_token": tokens.access_token.expose(),
        "refresh_token": tokens.refresh_token.as_ref().map(Secret::expose),
        "expires_at": tokens.expires_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
        "scopes": tokens.scopes,
    });
    sealer.seal(
        &tokens_context(destination_id),
        plain.to_string().as_bytes(),
    )
}

fn open_tokens(sealer: &Sealer, destination_id: &str, sealed: &str) -> Option<Tokens> {
    let plain = sealer.open(&tokens_context(destination_id), sealed).ok()?;
    let v: Value = serde_json::from_slice(&plain).ok()?;
    Some(Tokens {
        access_token: Secret::new(v["access_token"].as_str()?),
        refresh_token: v["refresh_token"].as_str().map(Secret::new),
        expires_at: v["expires_at"]
            .as_u64()
            .map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        scopes: v["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Tokens kept in the destinations table, sealed.
#[derive(Debug, Clone)]
pub struct DbTokenStore {
    store: Store,
    sealer: Sealer,
}

impl DbTokenStore {
    pub fn new(store: Store, sealer: Sealer) -> Self {
        DbTokenStore { store, sealer }
    }
}

fn store_error(e: anyhow::Error) -> ConnectorError {
    // Not a target failure: the host's database is unavailable; retrying later can help.
    ConnectorError::new(
        courier_core::ErrorKind::Unavailable,
        "the host could not read or write the destination's OAuth tokens",
        "the delivery is retried",
    )
    .with_source(std::io::Error::other(format!("{e:#}")))
}

#[async_trait]
impl TokenStore for DbTokenStore {
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError> {
        let sealed = self
            .store
            .oauth_tokens(destination_id)
            .await
            .map_err(store_error)?;
        Ok(sealed.and_then(|s| {
            let tokens = open_tokens(&self.sealer, destination_id, &s);
            if tokens.is_none() {
                tracing::warn!(destination = %destination_id, "stored OAuth tokens cannot be opened");
            }
            tokens
        }))
    }

    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError> {
        let sealed = seal_tokens(&self.sealer, destination_id, tokens);
        self.store
            .save_oauth_tokens(destination_id, Some(&sealed))
            .await
            .map_err(store_error)
    }
}
