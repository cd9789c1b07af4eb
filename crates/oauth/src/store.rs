//! Token stores: an in-memory one (tests, one-shot CLI use) and the seeded view connectors use,
//! which falls back to the tokens in a destination's auth_config until the host's store has any.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
pub use courier_core::TokenStore;
use courier_core::{ConnectorError, SharedTokenStore, Tokens};

/// An in-memory store, for tests and one-shot CLI use.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, Tokens>>,
}

impl MemoryTokenStore {
    /// A store holding `tokens` for `destination_id`.
    pub fn with(destination_id: &str, tokens: Tokens) -> Self {
        let store = MemoryTokenStore::default();
        store.lock().insert(destination_id.to_string(), tokens);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tokens>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tokens stored for `destination_id`, if any.
    pub fn get(&self, destination_id: &str) -> Option<Tokens> {
        self.lock().get(destination_id).cloned()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError> {
        Ok(self.get(destination_id))
    }

    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError> {
        self.lock()
            .insert(destination_id.to_string(), tokens.clone());
        Ok(())
    }
}

/// The store a connector uses: the host's (or memory, without one), which until it holds tokens
/// for a destination answers with the tokens the auth_config was created with.
#[derive(Debug)]
pub struct SeededStore {
    inner: SharedTokenStore,
    seed: Option<Tokens>,
}

impl SeededStore {
    /// Over `host`'s store (a fresh in-memory one when `None`), falling back to `seed`.
    pub fn new(host: Option<SharedTokenStore>, seed: Option<Tokens>) -> Self {
        SeededStore {
            inner: host.unwrap_or_else(|| Arc::new(MemoryTokenStore::default())),
            seed,
        }
    }
}

#[async_trait]
impl TokenStore for SeededStore {
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError> {
        Ok(self
            .inner
            .load(destination_id)
            .await?
            .or_else(|| self.seed.clone()))
    }

    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError> {
        self.inner.save(destination_id, tokens).await
    }
}
