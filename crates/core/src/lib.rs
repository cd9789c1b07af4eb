//! The Connector contract shared by every Courier destination: the typed `Connector` trait, its
//! object-safe twin, records and outcomes, the error taxonomy, secrets, config schemas and test steps.
//!
//! # Example
//!
//! A connector that accepts every record, built from JSON through [`DynConnector::build`] and
//! handed a batch:
//!
//! ```
//! use std::time::Duration;
//! use courier_core::spec::NoAuth;
//! use courier_core::{
//!     Batch, BatchOutcome, Capabilities, Category, ConfigSpec, Connector, ConnectorError,
//!     ConnectorMeta, Delivered, DestinationSpec, DynConnector, Endpoint, Env, Field, Probe, Record,
//! };
//!
//! /// No settings; unknown fields are refused.
//! #[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Config {}
//! impl ConfigSpec for Config {}
//!
//! #[derive(Debug, Clone)]
//! struct Accept;
//!
//! static META: ConnectorMeta = ConnectorMeta {
//!     type_id: "accept",
//!     label: "Accept",
//!     description: "Accepts every record and sends it nowhere.",
//!     category: Category::Http,
//!     capabilities: Capabilities::DEFAULT,
//!     test_steps: &[],
//!     examples: &[],
//!     docs_url: None,
//! };
//!
//! #[courier_core::async_trait]
//! impl Connector for Accept {
//!     type Config = Config;
//!     type Auth = NoAuth;
//!     type Client = ();
//!     fn metadata(&self) -> &'static ConnectorMeta {
//!         &META
//!     }
//!     async fn connect(&self, _: Config, _: NoAuth, _: &Env) -> Result<(), ConnectorError> {
//!         Ok(())
//!     }
//!     fn endpoints(&self, _: &Config, _: &NoAuth) -> Vec<Endpoint> {
//!         Vec::new()
//!     }
//!     async fn test(&self, _: &(), _: &mut Probe) -> Result<(), ConnectorError> {
//!         Ok(())
//!     }
//!     async fn describe_fields(&self, _: &()) -> Result<Vec<Field>, ConnectorError> {
//!         Ok(Vec::new())
//!     }
//!     async fn deliver(&self, _: &(), batch: &Batch) -> BatchOutcome {
//!         let delivered = Delivered {
//!             reference: "accepted".into(),
//!             status: None,
//!             latency: Duration::ZERO,
//!             response_body: None,
//!         };
//!         BatchOutcome::all_delivered(batch, &delivered)
//!     }
//! }
//!
//! fn main() {
//!     let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//!     runtime.block_on(async {
//!         let spec = DestinationSpec {
//!             destination_id: "dest_1".into(),
//!             config: serde_json::json!({}),
//!             ..DestinationSpec::default() // auth_config: null, read as {}
//!         };
//!         let destination = Accept.build(&spec).await.unwrap();
//!         let records = vec![Record::new("r1", r#"{"n":1}"#), Record::new("r2", "{}")];
//!         let outcome = destination.deliver(&Batch::new("batch_1", records)).await;
//!         assert_eq!(outcome.delivered_count(), 2);
//!         assert_eq!(outcome.records[1].record_id, "r2");
//!     });
//! }
//! ```

#![warn(missing_docs)]

pub mod connector;
pub mod endpoint;
pub mod erased;
pub mod error;
pub mod field;
pub mod meta;
pub mod net;
pub mod payload;
pub mod probe;
pub mod record;
pub mod retry_after;
pub mod schema;
pub mod secret;
pub mod spec;
pub mod tokens;

pub use async_trait::async_trait;
pub use connector::{Connector, Env};
pub use endpoint::{Endpoint, Host};
pub use erased::{BuildError, Destination, DestinationSpec, DynConnector};
pub use error::{ConnectorError, ErrorKind};
pub use field::{Field, FieldType};
pub use meta::{Capabilities, Category, ConnectorMeta, Example, OAuthNeeds, StepSpec};
pub use payload::{DEFAULT_PAYLOAD_CAP_BYTES, PayloadCap};
pub use probe::{Probe, StepReport, StepStatus, TestEvent, TestReport};
pub use record::{
    Batch, BatchOutcome, Delivered, EventRef, Outcome, Record, RecordOutcome, Response,
};
pub use secret::Secret;
pub use spec::{AuthSpec, ConfigSpec, FieldError};
pub use tokens::{OAuthClient, SharedTokenStore, TokenStore, Tokens};
