//! The fake-gcs-server handle from `courier-testbed`, and a recording proxy for what the client
//! sends.

#![allow(dead_code)]

pub mod recorder;

pub use courier_testbed::fake_gcs::*;
