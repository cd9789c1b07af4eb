//! The message-connector shape shared by destinations that send each record as one message
//! (Kinesis today; queues, topics, buses and brokers next): implement [`MessageConnector`]
//! (one record's entry, one request's send) and [`Messages`] makes it a connector, with key
//! templates read from each record, provider batch limits and per-record partial failure.

pub mod connector;
mod deliver;
pub mod key;
pub mod limits;

pub use connector::{
    BatchLimits, KeySpec, Keys, MessageClient, MessageConfig, MessageConnector, Messages,
};
pub use key::KeyTemplate;
pub use limits::{group, human_bytes};

#[cfg(test)]
mod tests;
