//! Every connector type that exists in this repository, with its cargo feature, so a lookup can
//! tell "not compiled into this build" apart from "no such type".

/// `(type id, cargo feature)` pairs.
pub const KNOWN_TYPES: &[(&str, &str)] = &[
    ("webhook", "webhook"),
    ("s3", "s3"),
    ("kinesis", "kinesis"),
    ("azure_blob", "azure-blob"),
    ("gcs", "gcs"),
    ("sftp", "sftp"),
    ("google_drive", "google-drive"),
    ("onedrive", "onedrive"),
    ("sqs", "sqs"),
    ("sns", "sns"),
    ("eventbridge", "eventbridge"),
    ("gcp_pubsub", "gcp-pubsub"),
    ("azure_service_bus", "azure-service-bus"),
    ("kafka", "kafka"),
    ("rabbitmq", "rabbitmq"),
    ("nats", "nats"),
    ("redis_streams", "redis-streams"),
    ("mqtt", "mqtt"),
    // xtask:known (new connectors are inserted above this line)
];
