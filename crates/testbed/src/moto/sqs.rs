//! SQS on moto: queues (standard or FIFO), the SQS connector's config, and every message read
//! back with the plain SDK without consuming it.

use std::collections::HashMap;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};

use super::{Moto, REGION};

/// A message read back: body, message group (FIFO), and its string message attributes.
#[derive(Debug, Clone)]
pub struct SqsMessage {
    /// The message body.
    pub body: String,
    /// The FIFO message group, if any.
    pub group_id: Option<String>,
    /// The message attributes with string values.
    pub attributes: HashMap<String, String>,
}

impl Moto {
    /// A plain SQS client for moto.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                &self.key_id,
                &self.secret,
                None,
                None,
                "tests",
            ))
            .endpoint_url(&self.url)
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    /// Creates a queue with a fresh name (a FIFO queue when `fifo`) and returns its URL.
    pub async fn new_queue(&self, fifo: bool) -> String {
        let mut name = crate::fresh_name("courier");
        let mut request = self.sqs().create_queue();
        if fifo {
            name.push_str(".fifo");
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let created = request.queue_name(&name).send().await.unwrap();
        created.queue_url().unwrap().to_string()
    }

    /// The SQS connector's `config` JSON for the queue at `queue_url` on moto.
    pub fn sqs_config(&self, queue_url: &str) -> Value {
        json!({"queue_url": queue_url, "region": REGION, "endpoint_url": self.url})
    }

    /// Every message in the queue, in the order SQS hands them out, left in the queue (read
    /// with a zero visibility timeout until three rounds in a row find nothing new: a FIFO
    /// queue hands out one group's messages at a time).
    pub async fn messages(&self, queue_url: &str) -> Vec<SqsMessage> {
        let sqs = self.sqs();
        let mut seen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut empty_rounds = 0;
        for _ in 0..100 {
            let received = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let mut fresh = 0;
            for m in received.messages() {
                let id = m.message_id().unwrap_or_default().to_string();
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
                fresh += 1;
                let group_id = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned();
                let attributes = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(SqsMessage {
                    body: m.body().unwrap_or_default().to_string(),
                    group_id,
                    attributes,
                });
            }
            empty_rounds = if fresh == 0 { empty_rounds + 1 } else { 0 };
            if empty_rounds == 3 {
                break;
            }
        }
        out
    }
}
