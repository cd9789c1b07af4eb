//! The Connector contract shared by every Courier destination: the typed `Connector` trait, its
//! object-safe twin, records and outcomes, the error taxonomy, secrets, config schemas and test steps.

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
pub use record::{Batch, BatchOutcome, Delivered, Outcome, Record, RecordOutcome, Response};
pub use secret::Secret;
pub use spec::{AuthSpec, ConfigSpec, FieldError};
pub use tokens::{OAuthClient, SharedTokenStore, TokenStore, Tokens};
