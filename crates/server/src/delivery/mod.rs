//! Event delivery: field mapping and the worker that drains the durable queue.

pub mod mapping;
pub mod worker;

pub use worker::Worker;
