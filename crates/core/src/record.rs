//! Records in, outcomes out: `Batch`, `Record`, and the per-record `Outcome` of a delivery.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Serialize, Serializer};

use crate::error::ConnectorError;

/// One record: a stable id and its payload, delivered exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Stable across retries: the idempotency key of this record (e.g. the `webhook-id`).
    pub id: String,
    /// The body, sent as is (usually one JSON value; see [`Batch::json_payloads`]).
    pub payload: Bytes,
    /// The event this record carries, where the host knows it: message destinations send its
    /// type and id as attributes or headers so a receiver can tell `order.created` from
    /// `order.deleted` without parsing the body.
    pub event: Option<EventRef>,
}

/// The event behind a record: its type (e.g. `order.created`) and its id at the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// The event's type, as routes match it.
    pub event_type: String,
    /// The event's id (one event fans out to a record per destination; they share this id).
    pub event_id: String,
    /// When the event was accepted, RFC 3339 in UTC, where the host knows it.
    pub occurred_at: Option<String>,
}

impl Record {
    /// A record from its id and payload.
    pub fn new(id: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Record {
            id: id.into(),
            payload: payload.into(),
            event: None,
        }
    }

    /// The same record, naming the event it carries.
    pub fn with_event(
        mut self,
        event_type: impl Into<String>,
        event_id: impl Into<String>,
    ) -> Self {
        self.event = Some(EventRef {
            event_type: event_type.into(),
            event_id: event_id.into(),
            occurred_at: None,
        });
        self
    }

    /// The same record, saying when its event was accepted (RFC 3339, UTC); a record naming
    /// no event is returned as is.
    pub fn with_event_time(mut self, occurred_at: impl Into<String>) -> Self {
        if let Some(event) = &mut self.event {
            event.occurred_at = Some(occurred_at.into());
        }
        self
    }
}

/// A batch: a stable id (the idempotency key of batch-shaped writes such as a file), when it was
/// made (file keys take their date from it, so a retry after midnight keeps its key) and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Stable across retries: the idempotency key of batch-shaped writes.
    pub id: String,
    /// When the batch was first made; kept by [`Batch::with_records`] so retries keep their keys.
    pub created_at: SystemTime,
    /// The records, in the order outcomes are reported.
    pub records: Vec<Record>,
    /// The host vouches that every payload is one JSON value (for instance because it
    /// serialized each one from parsed JSON), so connectors that need JSON (file formats)
    /// skip parsing the payloads again. Off unless a host turns it on with
    /// [`Batch::with_json_payloads`]; a host that turns it on for payloads it did not parse
    /// can get malformed files.
    pub json_payloads: bool,
}

impl Batch {
    /// A batch made now, without the JSON-payload promise.
    pub fn new(id: impl Into<String>, records: Vec<Record>) -> Self {
        Batch {
            id: id.into(),
            created_at: SystemTime::now(),
            records,
            json_payloads: false,
        }
    }

    /// The same batch, with the host's word that every payload is one JSON value (see
    /// [`Batch::json_payloads`]).
    pub fn with_json_payloads(mut self) -> Self {
        self.json_payloads = true;
        self
    }

    /// The same batch (id and creation time) with other records: what a retry of some records
    /// or a refusal of others sends on.
    pub fn with_records(&self, records: Vec<Record>) -> Self {
        Batch {
            id: self.id.clone(),
            created_at: self.created_at,
            records,
            json_payloads: self.json_payloads,
        }
    }

    /// The total size of the records' payloads, in bytes.
    pub fn payload_bytes(&self) -> usize {
        self.records.iter().map(|r| r.payload.len()).sum()
    }
}

/// Proof of delivery: where the record landed and what the target answered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Delivered {
    /// The remote reference: `HTTP 200`, an object key, a sequence number.
    pub reference: String,
    /// The HTTP status the target answered with, when the connector reports one (webhooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the write took at the target (serialized as `latency_ms`).
    #[serde(serialize_with = "as_millis", rename = "latency_ms")]
    pub latency: Duration,
    /// The start of the target's response body (at most 4 KiB), when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

fn as_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What the target answered to a failed attempt, when it answered at all.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// How long the target took to answer (serialized as `latency_ms`).
    #[serde(serialize_with = "as_millis", rename = "latency_ms")]
    pub latency: Duration,
    /// The start of the response body (at most 4 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// The result for one record.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The target accepted the record.
    Delivered(Delivered),
    /// The attempt failed.
    Failed {
        /// Why, classified (its kind decides whether the runtime retries).
        error: ConnectorError,
        /// What the target answered, when it answered at all.
        #[serde(skip_serializing_if = "Option::is_none")]
        response: Option<Response>,
    },
}

/// The outcome of one record, by its id.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    /// The [`Record::id`] this outcome is for.
    pub record_id: String,
    /// Delivered or failed (flattened into this object in JSON).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How many attempts this record took (set by the runtime; 1 for a single attempt).
    pub attempts: u32,
}

impl RecordOutcome {
    /// A delivery after one attempt.
    pub fn delivered(record_id: impl Into<String>, d: Delivered) -> Self {
        RecordOutcome {
            record_id: record_id.into(),
            outcome: Outcome::Delivered(d),
            attempts: 1,
        }
    }

    /// A failure after one attempt, without a response from the target.
    pub fn failed(record_id: impl Into<String>, error: ConnectorError) -> Self {
        Self::failed_with(record_id, error, None)
    }

    /// A failure together with what the target answered.
    pub fn failed_with(
        record_id: impl Into<String>,
        error: ConnectorError,
        response: Option<Response>,
    ) -> Self {
        RecordOutcome {
            record_id: record_id.into(),
            outcome: Outcome::Failed { error, response },
            attempts: 1,
        }
    }

    /// The error, when the record failed.
    pub fn error(&self) -> Option<&ConnectorError> {
        match &self.outcome {
            Outcome::Failed { error, .. } => Some(error),
            Outcome::Delivered(_) => None,
        }
    }

    /// Whether the record was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self.outcome, Outcome::Delivered(_))
    }
}

/// One outcome per record of the batch, in the batch's order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchOutcome {
    /// The outcomes, one per record, in the batch's order.
    pub records: Vec<RecordOutcome>,
}

impl BatchOutcome {
    /// Every record of `batch` failed with (a copy of) `error`.
    pub fn all_failed(batch: &Batch, error: &ConnectorError) -> Self {
        BatchOutcome {
            records: batch
                .records
                .iter()
                .map(|r| RecordOutcome::failed(&r.id, error.detached()))
                .collect(),
        }
    }

    /// Every record of `batch` delivered with (a copy of) `delivered`.
    pub fn all_delivered(batch: &Batch, delivered: &Delivered) -> Self {
        BatchOutcome {
            records: batch
                .records
                .iter()
                .map(|r| RecordOutcome::delivered(&r.id, delivered.clone()))
                .collect(),
        }
    }

    /// How many records were delivered.
    pub fn delivered_count(&self) -> usize {
        self.records.iter().filter(|r| r.is_delivered()).count()
    }

    /// How many records failed (every outcome that is not a delivery).
    pub fn failed_count(&self) -> usize {
        self.records.len() - self.delivered_count()
    }
}
