//! The object-safe twin of `Connector`, produced by one blanket impl: hosts hold
//! `Arc<dyn DynConnector>` in the catalog and `Arc<dyn Destination>` per configured destination.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::connector::{Connector, Env};
use crate::endpoint::Endpoint;
use crate::error::ConnectorError;
use crate::field::Field;
use crate::meta::ConnectorMeta;
use crate::payload::{DEFAULT_PAYLOAD_CAP_BYTES, PayloadCap};
use crate::probe::Probe;
use crate::record::{Batch, BatchOutcome, Record, RecordOutcome};
use crate::schema::{parse_lenient, schema_of};
use crate::spec::{AuthSpec, ConfigSpec, FieldError};
use crate::tokens::{OAuthClient, SharedTokenStore};

/// Everything needed to build one destination, as JSON from an API, a file or the CLI.
#[derive(Clone, Default)]
pub struct DestinationSpec {
    /// The host's id of the destination (handed to the connector in [`Env::destination_id`]).
    pub destination_id: String,
    /// The connector's config, a JSON object checked against its config schema.
    pub config: Value,
    /// The connector's credentials, a JSON object checked against its auth schema; `null` is
    /// read as `{}`.
    pub auth_config: Value,
    /// The largest record payload to send, in bytes, from 1 up to the connector's
    /// [`max_payload_bytes`](crate::Capabilities::max_payload_bytes). `None`: the config's own
    /// `payload_cap_bytes` if it has one (file connectors), else 5 MiB or the connector's
    /// maximum if lower. When both are set they must agree.
    pub payload_cap_bytes: Option<u64>,
    /// The host's token store, for connectors that need OAuth.
    pub token_store: Option<SharedTokenStore>,
    /// May the destination's connections reach loopback, private, link-local and other
    /// non-public addresses? The host decides (a multi-tenant server: only if its operator
    /// allows private destinations; a local tool: yes).
    pub allow_private_network: bool,
}

impl fmt::Debug for DestinationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // auth_config is raw JSON and may hold secrets in clear: never print it.
        f.debug_struct("DestinationSpec")
            .field("destination_id", &self.destination_id)
            .field("config", &self.config)
            .field("auth_config", &"<redacted>")
            .field("payload_cap_bytes", &self.payload_cap_bytes)
            .field("token_store", &self.token_store.is_some())
            .field("allow_private_network", &self.allow_private_network)
            .finish()
    }
}

/// Why a destination could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// Every validation problem, each at its JSON path.
    Invalid(Vec<FieldError>),
    /// Validation passed but the client could not be built.
    Connect(ConnectorError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Invalid(errors) => {
                let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "invalid destination: {}", lines.join("; "))
            }
            BuildError::Connect(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A connector type, erased: schemas, validation and building destinations from JSON.
#[async_trait]
pub trait DynConnector: Send + Sync + 'static {
    /// The connector's static description (see [`Connector::metadata`]).
    fn metadata(&self) -> &'static ConnectorMeta;
    /// The JSON Schema (draft 2020-12) of the connector's `config`.
    fn config_schema(&self) -> Value;
    /// The JSON Schema (draft 2020-12) of the connector's `auth_config`; secrets are `writeOnly`.
    fn auth_schema(&self) -> Value;
    /// Every problem with `spec`, each with its JSON path; empty when valid. Pure.
    fn validate(&self, spec: &DestinationSpec) -> Vec<FieldError>;
    /// Every host the destination would contact, at the paths of the fields they come from
    /// (see [`Connector::endpoints`]); the validation errors when `spec` is invalid.
    fn endpoints(&self, spec: &DestinationSpec) -> Result<Vec<Endpoint>, Vec<FieldError>>;
    /// Validates `spec` and connects: a destination ready to test and deliver, with the
    /// payload cap from the spec (or the default) enforced on every delivery.
    async fn build(&self, spec: &DestinationSpec) -> Result<Arc<dyn Destination>, BuildError>;
    /// How to run the OAuth flow for this destination (`Ok(None)`: no OAuth).
    fn oauth_client(&self, spec: &DestinationSpec) -> Result<Option<OAuthClient>, BuildError>;
}

/// A configured destination with its client, ready to test, describe and deliver.
#[async_trait]
pub trait Destination: fmt::Debug + Send + Sync {
    /// The static description of the destination's connector.
    fn metadata(&self) -> &'static ConnectorMeta;
    /// The host's id of the destination, from [`DestinationSpec::destination_id`].
    fn destination_id(&self) -> &str;
    /// The effective payload cap `deliver` enforces.
    fn payload_cap(&self) -> PayloadCap;
    /// Runs the connector's own test steps against the real target (see [`Connector::test`]).
    async fn test(&self, probe: &mut Probe) -> Result<(), ConnectorError>;
    /// The fields the destination accepts (see [`Connector::describe_fields`]).
    async fn describe_fields(&self) -> Result<Vec<Field>, ConnectorError>;
    /// One attempt: records over the payload cap fail with `payload_too_large` before any I/O;
    /// the rest go to the connector. Exactly one outcome per record, in the batch's order.
    async fn deliver(&self, batch: &Batch) -> BatchOutcome;
}

struct Parsed<C: Connector> {
    config: C::Config,
    auth: C::Auth,
    cap: PayloadCap,
}

fn parse_spec<C: Connector>(c: &C, spec: &DestinationSpec) -> Result<Parsed<C>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let config = if spec.config.is_object() {
        let (cfg, errs) =
            parse_lenient::<C::Config>(&schema_of::<C::Config>(), &spec.config, "/config", true);
        errors.extend(errs);
        if let Some(cfg) = &cfg {
            add_new(&mut errors, ConfigSpec::validate(cfg), "/config");
        }
        cfg
    } else {
        errors.push(FieldError::new("/config", "must be an object"));
        None
    };
    let empty = Value::Object(Default::default());
    let auth_json = if spec.auth_config.is_null() {
        &empty
    } else {
        &spec.auth_config
    };
    let auth = if auth_json.is_object() {
        let (auth, errs) =
            parse_lenient::<C::Auth>(&schema_of::<C::Auth>(), auth_json, "/auth_config", false);
        errors.extend(errs);
        if let Some(auth) = &auth {
            add_new(&mut errors, AuthSpec::validate(auth), "/auth_config");
        }
        auth
    } else {
        errors.push(FieldError::new("/auth_config", "must be an object"));
        None
    };
    let max = c.metadata().capabilities.max_payload_bytes;
    // File connectors also take the cap inside their config; the schema has checked its type.
    let in_config = spec.config.get("payload_cap_bytes").and_then(Value::as_u64);
    let (cap_path, requested) = match (spec.payload_cap_bytes, in_config) {
        (Some(outer), Some(inner)) if outer != inner => {
            errors.push(FieldError::new(
                "/config/payload_cap_bytes",
                "differs from the destination's payload_cap_bytes; set only one",
            ));
            ("/payload_cap_bytes", Some(outer))
        }
        (None, Some(inner)) => ("/config/payload_cap_bytes", Some(inner)),
        (outer, _) => ("/payload_cap_bytes", outer),
    };
    let cap = match requested {
        None => PayloadCap(DEFAULT_PAYLOAD_CAP_BYTES.min(max)),
        Some(0) => {
            add_new(
                &mut errors,
                vec![FieldError::new(cap_path, "must be at least 1")],
                "",
            );
            PayloadCap(0)
        }
        Some(n) if n > max => {
            let message = format!(
                "must be at most {max} for {} destinations",
                c.metadata().type_id
            );
            add_new(&mut errors, vec![FieldError::new(cap_path, message)], "");
            PayloadCap(max)
        }
        Some(n) => PayloadCap(n),
    };
    match (config, auth) {
        (Some(config), Some(auth)) if errors.is_empty() => Ok(Parsed { config, auth, cap }),
        _ => Err(errors),
    }
}

/// Adds semantic errors under `parent`, except for fields the schema already reported.
fn add_new(errors: &mut Vec<FieldError>, found: Vec<FieldError>, parent: &str) {
    for e in found.into_iter().map(|e| e.under(parent)) {
        if !errors.iter().any(|x| x.path == e.path) {
            errors.push(e);
        }
    }
}

#[async_trait]
impl<C: Connector> DynConnector for C {
    fn metadata(&self) -> &'static ConnectorMeta {
        Connector::metadata(self)
    }

    fn config_schema(&self) -> Value {
        schema_of::<C::Config>()
    }

    fn auth_schema(&self) -> Value {
        schema_of::<C::Auth>()
    }

    fn validate(&self, spec: &DestinationSpec) -> Vec<FieldError> {
        parse_spec(self, spec).err().unwrap_or_default()
    }

    fn endpoints(&self, spec: &DestinationSpec) -> Result<Vec<Endpoint>, Vec<FieldError>> {
        let parsed = parse_spec(self, spec)?;
        Ok(Connector::endpoints(self, &parsed.config, &parsed.auth))
    }

    fn oauth_client(&self, spec: &DestinationSpec) -> Result<Option<OAuthClient>, BuildError> {
        let parsed = parse_spec(self, spec).map_err(BuildError::Invalid)?;
        Ok(Connector::oauth_client(self, &parsed.auth))
    }

    async fn build(&self, spec: &DestinationSpec) -> Result<Arc<dyn Destination>, BuildError> {
        let parsed = parse_spec(self, spec).map_err(BuildError::Invalid)?;
        let env = Env {
            destination_id: spec.destination_id.clone(),
            payload_cap: parsed.cap,
            token_store: spec.token_store.clone(),
            allow_private_network: spec.allow_private_network,
        };
        let client = self
            .connect(parsed.config, parsed.auth, &env)
            .await
            .map_err(BuildError::Connect)?;
        Ok(Arc::new(Bound {
            connector: self.clone(),
            client,
            env,
        }))
    }
}

/// Binds a connector to a client the host built itself (e.g. with extra SDK settings), with
/// the same payload-cap enforcement as `DynConnector::build`.
pub fn bind<C: Connector>(connector: C, client: C::Client, env: Env) -> Arc<dyn Destination> {
    Arc::new(Bound {
        connector,
        client,
        env,
    })
}

/// A connector bound to its client: the one implementation of `Destination`.
struct Bound<C: Connector> {
    connector: C,
    client: C::Client,
    env: Env,
}

impl<C: Connector> fmt::Debug for Bound<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("type", &self.connector.metadata().type_id)
            .field("destination_id", &self.env.destination_id)
            .field("client", &self.client)
            .finish()
    }
}

#[async_trait]
impl<C: Connector> Destination for Bound<C> {
    fn metadata(&self) -> &'static ConnectorMeta {
        self.connector.metadata()
    }

    fn destination_id(&self) -> &str {
        &self.env.destination_id
    }

    fn payload_cap(&self) -> PayloadCap {
        self.env.payload_cap
    }

    async fn test(&self, probe: &mut Probe) -> Result<(), ConnectorError> {
        self.connector.test(&self.client, probe).await
    }

    async fn describe_fields(&self) -> Result<Vec<Field>, ConnectorError> {
        self.connector.describe_fields(&self.client).await
    }

    async fn deliver(&self, batch: &Batch) -> BatchOutcome {
        let cap = self.env.payload_cap;
        let over_cap = |r: &Record| cap.check(r.payload.len(), || format!("record {}", r.id));
        if batch.records.iter().all(|r| over_cap(r).is_ok()) {
            // The common case: nothing refused, so the batch goes to the connector as it is.
            let sent = self.connector.deliver(&self.client, batch).await;
            let in_order = sent.records.len() == batch.records.len()
                && sent
                    .records
                    .iter()
                    .zip(&batch.records)
                    .all(|(o, r)| o.record_id == r.id);
            if in_order {
                return sent;
            }
            return self.reorder(batch, sent, HashMap::new());
        }
        let mut refused: HashMap<String, ConnectorError> = HashMap::new();
        let mut accepted = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            match over_cap(record) {
                Ok(()) => accepted.push(record.clone()),
                Err(e) => {
                    refused.insert(record.id.clone(), e);
                }
            }
        }
        let sent = if accepted.is_empty() {
            BatchOutcome::default()
        } else {
            let sub = batch.with_records(accepted);
            self.connector.deliver(&self.client, &sub).await
        };
        self.reorder(batch, sent, refused)
    }
}

impl<C: Connector> Bound<C> {
    /// One outcome per record of `batch`, in its order: refusals, then what the connector said,
    /// and an internal error for any record the connector left without an outcome.
    fn reorder(
        &self,
        batch: &Batch,
        sent: BatchOutcome,
        mut refused: HashMap<String, ConnectorError>,
    ) -> BatchOutcome {
        let mut by_id: HashMap<String, RecordOutcome> = sent
            .records
            .into_iter()
            .map(|o| (o.record_id.clone(), o))
            .collect();
        let records = batch
            .records
            .iter()
            .map(|r| {
                if let Some(e) = refused.remove(&r.id) {
                    return RecordOutcome::failed(&r.id, e);
                }
                by_id.remove(&r.id).unwrap_or_else(|| {
                    RecordOutcome::failed(
                        &r.id,
                        ConnectorError::internal(format!(
                            "the {} connector returned no outcome for record {}",
                            self.connector.metadata().type_id,
                            r.id
                        )),
                    )
                })
            })
            .collect();
        BatchOutcome { records }
    }
}
