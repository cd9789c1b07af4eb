//! The explicit, feature-gated registration list: one line per connector, written by
//! `cargo xtask new-connector` and checked by `cargo xtask tidy`.

use crate::Catalog;

pub(crate) fn builtin() -> Catalog {
    #[allow(unused_mut)]
    let mut catalog = Catalog::empty();
    #[cfg(feature = "webhook")]
    catalog.add(courier_connector_webhook::Webhook);
    #[cfg(feature = "s3")]
    catalog.add(courier_connector_s3::S3);
    #[cfg(feature = "kinesis")]
    catalog.add(courier_connector_kinesis::Kinesis);
    #[cfg(feature = "azure-blob")]
    catalog.add(courier_connector_azure_blob::AzureBlob);
    #[cfg(feature = "gcs")]
    catalog.add(courier_connector_gcs::Gcs);
    #[cfg(feature = "sftp")]
    catalog.add(courier_connector_sftp::Sftp);
    #[cfg(feature = "google-drive")]
    catalog.add(courier_connector_google_drive::GoogleDrive);
    #[cfg(feature = "onedrive")]
    catalog.add(courier_connector_onedrive::OneDrive);
    #[cfg(feature = "sqs")]
    catalog.add(courier_connector_sqs::Sqs);
    #[cfg(feature = "sns")]
    catalog.add(courier_connector_sns::Sns);
    #[cfg(feature = "eventbridge")]
    catalog.add(courier_connector_eventbridge::Eventbridge);
    #[cfg(feature = "gcp-pubsub")]
    catalog.add(courier_connector_gcp_pubsub::GcpPubsub);
    #[cfg(feature = "azure-service-bus")]
    catalog.add(courier_connector_azure_service_bus::AzureServiceBus);
    #[cfg(feature = "kafka")]
    catalog.add(courier_connector_kafka::Kafka);
    #[cfg(feature = "rabbitmq")]
    catalog.add(courier_connector_rabbitmq::Rabbitmq);
    #[cfg(feature = "nats")]
    catalog.add(courier_connector_nats::Nats);
    #[cfg(feature = "redis-streams")]
    catalog.add(courier_connector_redis_streams::RedisStreams);
    #[cfg(feature = "mqtt")]
    catalog.add(courier_connector_mqtt::Mqtt);
    // xtask:register (new connectors are inserted above this line)
    catalog
}
