//! The message-connector shape shared by destinations that send each record as one message
//! (Kinesis today; queues, topics, buses and brokers next): implement [`MessageConnector`]
//! (one record's entry, one request's send) and [`Messages`] makes it a connector, with key
//! templates read from each record, provider batch limits and per-record partial failure.
//!
//! ```
//! use courier_messages::{BatchLimits, KeyTemplate, group};
//! use serde_json::json;
//!
//! // A key read from each record's payload; a missing or empty value names its path.
//! let key = KeyTemplate::parse("{user.id}-{type}")?;
//! let payload = json!({"user": {"id": 42}, "type": "signup"});
//! assert_eq!(key.render(&payload)?, "42-signup");
//! assert_eq!(key.render(&json!({"type": "signup"})), Err("user.id".to_string()));
//!
//! // Entries (by size, in batch order) grouped into requests within the provider's limits.
//! let limits = BatchLimits {
//!     max_records: 2,
//!     max_request_bytes: 1024,
//!     max_record_bytes: 1024,
//! };
//! let sizes = [100, 200, 900, 50, 60];
//! assert_eq!(group(&sizes, limits), [vec![0, 1], vec![2, 3], vec![4]]);
//! # Ok::<(), String>(())
//! ```

#![warn(missing_docs)]

pub mod connector;
mod deliver;
pub mod event;
pub mod key;
pub mod limits;

pub use connector::{
    BatchLimits, KeySpec, Keys, MessageClient, MessageConfig, MessageConnector, Messages,
};
pub use event::{
    EVENT_ATTRIBUTE_COUNT, EVENT_ID_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, check_named_templates,
    event_attributes, is_event_attribute,
};
pub use key::KeyTemplate;
pub use limits::{group, human_bytes};

#[cfg(test)]
mod tests;
