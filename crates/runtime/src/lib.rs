//! Delivery policy around any connector (retries with backoff, Retry-After, per-attempt timeout,
//! circuit breaker, concurrency limit) and the connection-test driver that streams step events.
//!
//! A [`Deliverer`] puts a destination (built by a connector, usually through the catalog) behind
//! a [`DeliveryPolicy`] and retries transient failures until each record is delivered or given up:
//!
//! ```
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use courier_core::{
//! #     Batch, BatchOutcome, Capabilities, Category, ConnectorError, ConnectorMeta, Delivered,
//! #     Destination, Field, PayloadCap, Probe, Record,
//! # };
//! use courier_runtime::{Deliverer, DeliveryPolicy};
//!
//! # // A stand-in destination that accepts every record.
//! # #[derive(Debug)]
//! # struct Accepting;
//! # static META: ConnectorMeta = ConnectorMeta {
//! #     type_id: "accepting",
//! #     label: "Accepting",
//! #     description: "Accepts every record.",
//! #     category: Category::Http,
//! #     capabilities: Capabilities::DEFAULT,
//! #     test_steps: &[],
//! #     examples: &[],
//! #     docs_url: None,
//! # };
//! # #[courier_core::async_trait]
//! # impl Destination for Accepting {
//! #     fn metadata(&self) -> &'static ConnectorMeta { &META }
//! #     fn destination_id(&self) -> &str { "dest_1" }
//! #     fn payload_cap(&self) -> PayloadCap { PayloadCap::default() }
//! #     async fn test(&self, _: &mut Probe) -> Result<(), ConnectorError> { Ok(()) }
//! #     async fn describe_fields(&self) -> Result<Vec<Field>, ConnectorError> { Ok(Vec::new()) }
//! #     async fn deliver(&self, batch: &Batch) -> BatchOutcome {
//! #         let delivered = Delivered {
//! #             reference: "ok".into(),
//! #             status: None,
//! #             latency: Duration::ZERO,
//! #             response_body: None,
//! #         };
//! #         BatchOutcome::all_delivered(batch, &delivered)
//! #     }
//! # }
//! # #[tokio::main]
//! # async fn main() {
//! # let destination: Arc<dyn Destination> = Arc::new(Accepting);
//! // Three attempts in all, one second apart, each cut off after ten seconds.
//! let policy = DeliveryPolicy::from_json(
//!     &serde_json::json!({
//!         "retry_max_attempts": 3,
//!         "retry_intervals": [1000],
//!         "timeout_ms": 10000
//!     }),
//!     "/delivery_policy",
//! )
//! .expect("a valid policy");
//!
//! let deliverer = Deliverer::new(destination, policy);
//! let batch = Batch::new("batch_1", vec![Record::new("rec_1", r#"{"id":1}"#)]);
//! let outcome = deliverer.deliver(batch).await;
//! for record in &outcome.records {
//!     let delivered = record.is_delivered();
//!     println!("{}: delivered={delivered}, attempts={}", record.record_id, record.attempts);
//! }
//! assert_eq!(outcome.delivered_count(), 1);
//! # }
//! ```

#![warn(missing_docs)]

pub mod attempt;
pub mod backoff;
pub mod breaker;
pub mod deliverer;
pub mod policy;
pub mod test_driver;

pub use attempt::{Attempt, Gate, Guarded, Next, Slot, Verdict};
pub use breaker::CircuitBreaker;
pub use deliverer::Deliverer;
pub use policy::{BackoffType, DeliveryPolicy, OrderingMode};
pub use test_driver::{run_test, test_events};
