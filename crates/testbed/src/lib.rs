//! The local emulators Courier's connector tests and benchmarks run against, as handles: moto
//! (S3, Kinesis, SQS, SNS, EventBridge), Azurite (Azure Blob), fake-gcs-server (GCS), the Pub/Sub
//! emulator (Google Cloud Pub/Sub) and OpenSSH's sshd (SFTP).
//!
//! `cargo xtask test` starts every emulator before the tests run, and `cargo xtask services`
//! starts them for a shell of one's own; both export each emulator's address and credentials
//! as `COURIER_TEST_*` variables. A handle reads those variables (and panics with the variable's
//! name and the command to run when one is missing), makes fresh buckets, containers, streams or
//! directories, builds the connector's `config` and `auth` JSON against the emulator, and reads
//! what was written back with the provider's plain SDK (or from the server's disk), apart from
//! the connector under test.
//!
//! Each emulator sits behind a cargo feature, so a crate compiles only the SDKs it reads back
//! with: `s3`, `kinesis`, `sqs`, `sns` and `eventbridge` (module `moto`), `azure` (module
//! `azurite`), `gcs` (module `fake_gcs`), `pubsub` (module `pubsub`, Google's Pub/Sub
//! emulator) and `sftp` (module `sshd`). Feature `tls` brings module `tls`: a CA made for a test,
//! the certificates it signs, and a TLS front for servers that cannot terminate TLS themselves.

#![warn(missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "azure")]
pub mod azurite;
#[cfg(any(
    feature = "kafka",
    feature = "mqtt",
    feature = "nats",
    feature = "rabbitmq",
    feature = "redis"
))]
pub mod brokers;
#[cfg(feature = "gcs")]
pub mod fake_gcs;
#[cfg(any(
    feature = "s3",
    feature = "kinesis",
    feature = "sqs",
    feature = "sns",
    feature = "eventbridge"
))]
pub mod moto;
#[cfg(feature = "pubsub")]
pub mod pubsub;
#[cfg(feature = "sftp")]
pub mod sshd;
#[cfg(feature = "tls")]
pub mod tls;

/// The variable `name`, or a panic naming it and saying that `cargo xtask test` (or
/// `cargo xtask services`) starts `emulator`, which sets it.
pub fn required_var(name: &str, emulator: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need {emulator}, which `cargo xtask test` (or `cargo xtask services`) starts"
        )
    })
}

/// A fresh name for a bucket, container, stream or directory: `label`, a dash and the
/// nanoseconds since the Unix epoch.
pub fn fresh_name(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("{label}-{nanos}")
}
