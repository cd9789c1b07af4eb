//! The largest message the topic takes: its own `max.message.bytes` (DescribeConfigs), read
//! once per client, capped by the config's `max_message_bytes`. A broker refuses a whole
//! produce request for a partition when one message in it is too large, so records over the
//! topic's limit are refused before they are produced, alone.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::KafkaClient;

/// The limit deliveries plan with. A cluster that does not answer DescribeConfigs (or an
/// identity without DESCRIBE_CONFIGS) keeps the config's limit; a failure to ask is tried
/// again at the next delivery.
pub async fn max_message_bytes(client: &KafkaClient) -> usize {
    let configured = client.config.max_message_bytes();
    let read = client
        .max_message_bytes
        .get_or_try_init(|| async { topic_limit(client).await.map(|t| t.min(configured)) })
        .await;
    read.copied().unwrap_or(configured)
}

/// The topic's `max.message.bytes`; `Ok(usize::MAX)` when the cluster has no answer for it.
async fn topic_limit(client: &KafkaClient) -> Result<usize, ()> {
    // The admin client dials the same brokers: only once the producer has checked them.
    client.producer().await.map_err(|_| ())?;
    let admin: AdminClient<DefaultClientContext> = client.settings().create().map_err(|_| ())?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let topic = ResourceSpecifier::Topic(&client.config.topic);
    let answer = admin.describe_configs([&topic], &options).await;
    let Ok(results) = answer else {
        return Err(());
    };
    let value = results
        .into_iter()
        .next()
        .and_then(|r| r.ok())
        .and_then(|r| r.get("max.message.bytes").and_then(|e| e.value.clone()))
        .and_then(|v| v.parse::<usize>().ok());
    Ok(value.unwrap_or(usize::MAX))
}
