//! `TokenStore`: where a host keeps each destination's tokens so they survive restarts.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use courier_core::ConnectorError;

use crate::tokens::Tokens;

/// Implemented by the host (encrypting at rest). `save` must be durable before it returns:
/// a rotated refresh token is saved before the new access token is used.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    async fn load(&self, destination_id: &str) -> Result<Option<Tokens>, ConnectorError>;
    async fn save(&self, destination_id: &str, tokens: &Tokens) -> Result<(), ConnectorError>;
}

/// An in-memory store, for tests and one-shot CLI use.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, Tokens>>,
}

impl MemoryTokenStore {
    pub fn with(destination_id: &str, tokens: Tokens) -> Self {
        let store = MemoryTokenStore::default();
        store.lock().insert(destination_id.to_string(), tokens);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tokens>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

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
