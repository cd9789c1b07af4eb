//! Delivery policy around any connector (retries with backoff, Retry-After, per-attempt timeout,
//! circuit breaker, concurrency limit) and the connection-test driver that streams step events.

pub mod attempt;
pub mod backoff;
pub mod breaker;
pub mod deliverer;
pub mod policy;
pub mod test_driver;

pub use attempt::{Attempt, Gate, Guarded, Next, Slot, Verdict};
pub use breaker::CircuitBreaker;
pub use deliverer::Deliverer;
pub use policy::{BackoffType, DeliveryPolicy};
pub use test_driver::{run_test, test_events};
