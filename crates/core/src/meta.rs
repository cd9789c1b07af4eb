//! Connector metadata: what a connector is, what it can do, which test steps it runs, and examples.

use serde::Serialize;

use crate::payload::DEFAULT_PAYLOAD_CAP_BYTES;

/// Static description of a connector, served in the catalog.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectorMeta {
    /// The type id in APIs and the catalog, snake_case (`azure_blob`).
    #[serde(rename = "type")]
    pub type_id: &'static str,
    /// The name people see (`Azure Blob Storage`).
    pub label: &'static str,
    /// One or two sentences on what the connector does with records.
    pub description: &'static str,
    /// The kind of destination, for grouping in the catalog.
    pub category: Category,
    /// What the connector can do and its limits.
    pub capabilities: Capabilities,
    /// The connector's own test steps, in order. The runtime runs [`RUNTIME_STEPS`] first;
    /// the catalog lists them all, in the order a test reports them.
    #[serde(serialize_with = "with_runtime_steps")]
    pub test_steps: &'static [StepSpec],
    /// Example destinations for the catalog and documentation (not serialized with the rest).
    #[serde(skip)]
    pub examples: &'static [Example],
    /// A page of the target service's own documentation worth reading, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<&'static str>,
}

/// The steps every connection test runs before the connector's own: the config is checked,
/// then the connector's client is built.
pub const RUNTIME_STEPS: &[StepSpec] = &[
    StepSpec {
        name: "validate",
        label: "Configuration is valid",
    },
    StepSpec {
        name: "build",
        label: "Client created",
    },
];

fn with_runtime_steps<S: serde::Serializer>(
    steps: &&'static [StepSpec],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(RUNTIME_STEPS.iter().chain(steps.iter()))
}

/// The kind of destination a connector writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// HTTP endpoints (webhooks).
    Http,
    /// Object stores (S3, GCS, Azure Blob).
    ObjectStorage,
    /// File servers reached over a transfer protocol (SFTP).
    FileTransfer,
    /// Streaming services (Kinesis).
    Stream,
    /// A person's cloud drive, reached with their OAuth consent (Google Drive, OneDrive).
    FileSharing,
}

/// What a connector can do; the conformance suite selects its cases from this.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Capabilities {
    /// Records per `deliver` call the target accepts (`None`: no limit of its own).
    pub max_batch_records: Option<u32>,
    /// The highest `payload_cap_bytes` a destination may set; the default cap is 5 MiB.
    pub max_payload_bytes: u64,
    /// The signing scheme applied to deliveries, if any (`standard_webhooks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<&'static str>,
    /// OAuth needs: the destination must complete an OAuth flow before it can connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthNeeds>,
    /// Redelivering a batch with the same id replaces rather than duplicates at the target
    /// (or carries the same idempotency key, for receivers to de-duplicate).
    pub idempotent_redelivery: bool,
    /// Whether `describe_fields` depends on the remote target (vs. config alone).
    pub remote_fields: bool,
    /// The auth_config field without which the connector uses the host's own ambient
    /// credentials (its environment, instance or container role), for hosts that must not
    /// lend them to tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambient_credentials: Option<&'static str>,
    /// Config fields whose values are kept but never shown again (a webhook's custom headers
    /// may carry keys): hosts list an object's keys only, and bind them to the destination's
    /// endpoints like its auth_config.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub write_only_config: &'static [&'static str],
}

impl Capabilities {
    /// What a connector can do unless it says otherwise: no batch limit of its own, the
    /// default payload cap, no signing or OAuth, idempotent redelivery, fields from config
    /// alone. Connectors spell out only what differs: `Capabilities { max_payload_bytes: N,
    /// ..Capabilities::DEFAULT }`.
    pub const DEFAULT: Capabilities = Capabilities {
        max_batch_records: None,
        max_payload_bytes: DEFAULT_PAYLOAD_CAP_BYTES,
        signing: None,
        oauth: None,
        idempotent_redelivery: true,
        remote_fields: false,
        ambient_credentials: None,
        write_only_config: &[],
    };
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::DEFAULT
    }
}

/// The OAuth provider a connector authorizes with, and the scopes it asks consent for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OAuthNeeds {
    /// The provider's name (`google`, `microsoft`).
    pub provider: &'static str,
    /// The scopes requested.
    pub scopes: &'static [&'static str],
}

/// One named test step a connector runs.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct StepSpec {
    /// The step's id, as `Probe::step` and reports name it (`write_permission`).
    pub name: &'static str,
    /// What the step checks, as a person reads it when it passes (`Container reachable`).
    pub label: &'static str,
}

/// A documented example destination; the conformance suite checks that every example validates.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// A short title (`Signed JSON webhook`).
    pub name: &'static str,
    /// The config, as JSON text.
    pub config: &'static str,
    /// The auth_config, as JSON text (placeholders for secrets).
    pub auth_config: &'static str,
}
