//! SNS on moto: topics (standard or FIFO) with an SQS queue subscribed to each (raw message
//! delivery, so a message's body arrives as published, with its attributes), the SNS
//! connector's config, and what was published read back from that queue.

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};

use super::{Moto, REGION};
use crate::moto::SqsMessage;

/// A topic with a queue subscribed to it.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    /// The topic's ARN.
    pub topic_arn: String,
    /// The URL of the queue that receives every message (a FIFO queue for a FIFO topic).
    pub queue_url: String,
}

impl Moto {
    /// A plain SNS client for moto.
    pub fn sns(&self) -> aws_sdk_sns::Client {
        let conf = aws_sdk_sns::config::Builder::new()
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
        aws_sdk_sns::Client::from_conf(conf)
    }

    /// Creates a topic with a fresh name (a FIFO topic when `fifo`) and a queue of the same
    /// kind subscribed to it with raw message delivery.
    pub async fn new_topic(&self, fifo: bool) -> SnsTopic {
        let mut name = crate::fresh_name("courier");
        let mut request = self.sns().create_topic();
        if fifo {
            name.push_str(".fifo");
            request = request.attributes("FifoTopic", "true");
        }
        let created = request.name(&name).send().await.unwrap();
        let topic_arn = created.topic_arn().unwrap().to_string();
        let queue_url = self.subscribe_queue(&topic_arn, fifo, true).await;
        SnsTopic {
            topic_arn,
            queue_url,
        }
    }

    /// Subscribes a new queue (FIFO when `fifo`, as a FIFO topic needs) to the topic and
    /// returns its URL. With `raw` the queue receives each message's body as published, its
    /// attributes as message attributes; without, SNS's JSON envelope (`Message`, `Subject`,
    /// `MessageAttributes`, ...).
    pub async fn subscribe_queue(&self, topic_arn: &str, fifo: bool, raw: bool) -> String {
        let queue_url = self.new_queue(fifo).await;
        let queue_arn = self.queue_arn(&queue_url).await;
        self.sns()
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", raw.to_string())
            .send()
            .await
            .unwrap();
        queue_url
    }

    /// The SNS connector's `config` JSON for the topic `topic_arn` on moto.
    pub fn sns_config(&self, topic_arn: &str) -> Value {
        json!({"topic_arn": topic_arn, "region": REGION, "endpoint_url": self.url})
    }

    /// Every message published to the topic, as its subscribed queue received it (body as
    /// published, message attributes, FIFO group), left in the queue.
    pub async fn published(&self, topic: &SnsTopic) -> Vec<SqsMessage> {
        self.every_message(&topic.queue_url).await
    }
}
