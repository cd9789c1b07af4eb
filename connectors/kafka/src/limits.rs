//! The largest message the topic takes: its own `max.message.bytes` (DescribeConfigs), read
//! once per client, capped by the config's `max_message_bytes`. A broker refuses a whole
//! produce request for a partition when one message in it is too large, so records over the
//! topic's limit are refused before they are produced, alone.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::KafkaClient;

/// How long after a failed DescribeConfigs deliveries go on with the config's limit before it
/// is asked again: asking costs a new admin connection and up to its request timeout, which a
/// cluster that cannot answer would otherwise add to every delivery.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// The limit deliveries plan with. A cluster that does not answer DescribeConfigs (or an
/// identity without DESCRIBE_CONFIGS) keeps the config's limit; a failure to ask is tried
/// again at the first delivery [`ASK_AGAIN_AFTER`] it.
pub async fn max_message_bytes(client: &KafkaClient) -> usize {
    let configured = client.config.max_message_bytes();
    if let Some(known) = client.max_message_bytes.get() {
        return *known;
    }
    if recently_failed(client) {
        return configured;
    }
    let read = client
        .max_message_bytes
        .get_or_try_init(|| async {
            // Deliveries that waited here while it failed do not ask again at once.
            if recently_failed(client) {
                return Err(());
            }
            let asked = topic_limit(client).await.map(|t| t.min(configured));
            if asked.is_err()
                && let Ok(mut failed_at) = client.limit_failed_at.lock()
            {
                *failed_at = Some(Instant::now());
            }
            asked
        })
        .await;
    read.copied().unwrap_or(configured)
}

/// Whether asking for the topic's limit failed less than [`ASK_AGAIN_AFTER`] ago.
fn recently_failed(client: &KafkaClient) -> bool {
    client
        .limit_failed_at
        .lock()
        .ok()
        .and_then(|failed_at| *failed_at)
        .is_some_and(|at| at.elapsed() < ASK_AGAIN_AFTER)
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

#[cfg(test)]
mod tests {
    use courier_core::Env;
    use serde_json::json;

    use super::*;
    use crate::{KafkaAuth, KafkaConfig, KafkaRemote};

    #[tokio::test]
    async fn a_failed_ask_keeps_the_configured_limit_and_is_not_repeated_at_once() {
        // Nothing listens on loopback port 1: the brokers cannot be reached, so asking fails.
        let config: KafkaConfig = serde_json::from_value(
            json!({"bootstrap_servers": ["127.0.0.1:1"], "topic": "t", "max_message_bytes": 4096}),
        )
        .unwrap();
        let auth: KafkaAuth =
            serde_json::from_value(json!({"security_protocol": "plaintext"})).unwrap();
        let env = Env {
            allow_private_network: true,
            ..Env::default()
        };
        let remote = KafkaRemote::new(&config, &auth, &env);
        let client = KafkaClient::new(config, remote).unwrap();

        assert_eq!(max_message_bytes(&client).await, 4096);
        let failed_at = *client.limit_failed_at.lock().unwrap();
        assert!(failed_at.is_some(), "the failure is remembered");
        assert_eq!(max_message_bytes(&client).await, 4096);
        assert_eq!(
            *client.limit_failed_at.lock().unwrap(),
            failed_at,
            "not asked again within a minute"
        );
        assert!(client.max_message_bytes.get().is_none());
    }
}
