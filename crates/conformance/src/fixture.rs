//! `Fixture`: what a connector hands the suite: itself, working and broken configs, and a way to
//! read deliveries back from the real target.

use std::sync::Arc;

use bytes::Bytes;
use courier_core::{DestinationSpec, DynConnector, Record};
use futures::future::BoxFuture;
use serde_json::Value;

/// For each record, the payload found at the target (`None`: not there).
pub type ReadBack =
    Arc<dyn Fn(Vec<Record>) -> BoxFuture<'static, Vec<Option<Bytes>>> + Send + Sync>;

/// How many distinct deliveries (objects, files, messages by id) the target holds now.
pub type StoredCount = Arc<dyn Fn() -> BoxFuture<'static, usize> + Send + Sync>;

pub struct Fixture {
    pub connector: Arc<dyn DynConnector>,
    /// A working config for the real local target.
    pub config: Value,
    /// Working credentials for it.
    pub auth_config: Value,
    /// Credentials the target refuses (`None`: the connector has none to get wrong).
    pub bad_auth_config: Option<Value>,
    /// A config whose target cannot be reached (a closed port, a missing host).
    pub unreachable_config: Option<Value>,
    /// A value placed in a secret field of `auth_config` and `bad_auth_config`.
    pub secret_sentinel: Option<String>,
    pub read_back: Option<ReadBack>,
    pub stored_count: Option<StoredCount>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("type", &self.connector.metadata().type_id)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    pub fn spec(&self) -> DestinationSpec {
        self.spec_with(self.config.clone(), self.auth_config.clone())
    }

    pub fn spec_with(&self, config: Value, auth_config: Value) -> DestinationSpec {
        DestinationSpec {
            destination_id: "dest_conformance".to_string(),
            config,
            auth_config,
            payload_cap_bytes: None,
            token_store: None,
            allow_private_network: true,
        }
    }
}
