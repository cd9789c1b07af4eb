//! Event delivery: the engine that stores accepted events and delivers them (group commit of
//! intake and results, an in-memory hand-off to one lane per destination, polling only for
//! retries, leftovers and other replicas' lapsed claims), the routing cache intake reads, and
//! field mapping. `docs/engine.md` describes the design.

mod claims;
mod cycle;
mod dispatch;
mod engine;
pub mod filter;
pub mod held;
mod lane;
pub mod mapping;
pub mod notices;
mod poller;
mod retention;
pub mod routing;
mod stats_book;
mod verdicts;
mod writer;

pub use engine::{Engine, EngineSettings};
pub use routing::Routing;
