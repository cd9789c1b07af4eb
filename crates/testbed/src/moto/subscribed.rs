//! The queues a topic or a bus delivers to: their ARN, and every message read back, left in
//! the queue.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::Moto;
use crate::moto::SqsMessage;

impl Moto {
    /// The ARN of the queue at `queue_url`.
    pub async fn queue_arn(&self, queue_url: &str) -> String {
        let attributes = self
            .sqs()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("a queue has an ARN")
            .clone()
    }

    /// Every message in the queue at `queue_url`, left in the queue. A standard queue is read
    /// with a visibility timeout until it hands out nothing more (moto hands out the same first
    /// ten again with none), then every message is made visible again; a FIFO queue, which holds
    /// back a group while any of its messages is hidden, is read as [`Moto::messages`] reads it.
    pub async fn every_message(&self, queue_url: &str) -> Vec<SqsMessage> {
        if queue_url.ends_with(".fifo") {
            return self.messages(queue_url).await;
        }
        let sqs = self.sqs();
        let mut out = Vec::new();
        let mut receipts = Vec::new();
        for _ in 0..1000 {
            let received = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            if received.messages().is_empty() {
                break;
            }
            for m in received.messages() {
                receipts.push(m.receipt_handle().unwrap_or_default().to_string());
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
                    group_id: None,
                    attributes,
                });
            }
        }
        for receipt in receipts {
            sqs.change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        out
    }
}
