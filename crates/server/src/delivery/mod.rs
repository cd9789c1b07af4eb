//! Event delivery: the engine that stores accepted events and delivers them (group commit of
//! intake and results, an in-memory hand-off to one lane per destination, polling only for
//! retries, leftovers and other replicas' lapsed claims), the routing cache intake reads,
//! field mapping, ordered lanes and rate limits. `docs/engine.md` describes the design.

mod claims;
mod cycle;
mod dispatch;
mod engine;
pub mod filter;
pub mod held;
mod lane;
pub mod mapping;
#[cfg(test)]
mod model_check;
pub mod notices;
mod poller;
mod retention;
pub mod routing;
mod stats_book;
pub(crate) mod throttle;
mod verdicts;
mod writer;

pub use engine::{Engine, EngineSettings};
pub use routing::Routing;
