//! EventBridge on moto: event buses with a rule sending every event to an SQS queue, the
//! EventBridge connector's config, and the events put on a bus read back from that queue (the
//! event as EventBridge delivers it: `source`, `detail-type`, `detail`, ...).

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::types::Target;
use serde_json::{Value, json};

use super::{Moto, REGION};

/// An event bus with a rule that sends every event on it to a queue.
#[derive(Debug, Clone)]
pub struct EventBus {
    /// The bus's name.
    pub name: String,
    /// The bus's ARN.
    pub arn: String,
    /// The URL of the queue that receives every event put on the bus.
    pub queue_url: String,
}

impl Moto {
    /// A plain EventBridge client for moto.
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::new()
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
        aws_sdk_eventbridge::Client::from_conf(conf)
    }

    /// Creates an event bus with a fresh name, a queue, and a rule on the bus whose target is
    /// the queue, matching every event.
    pub async fn new_bus(&self) -> EventBus {
        let name = crate::fresh_name("courier");
        let events = self.eventbridge();
        let created = events.create_event_bus().name(&name).send().await.unwrap();
        let arn = created.event_bus_arn().unwrap().to_string();
        let queue_url = self.new_queue(false).await;
        let queue_arn = self.queue_arn(&queue_url).await;
        events
            .put_rule()
            .name("courier-every-event")
            .event_bus_name(&name)
            .event_pattern(json!({"source": [{"prefix": ""}]}).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("courier-every-event")
            .event_bus_name(&name)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        EventBus {
            name,
            arn,
            queue_url,
        }
    }

    /// The EventBridge connector's `config` JSON for the bus `event_bus_name` (a name or an
    /// ARN) on moto, with events from `source`.
    pub fn eventbridge_config(&self, event_bus_name: &str, source: &str) -> Value {
        json!({
            "event_bus_name": event_bus_name,
            "region": REGION,
            "endpoint_url": self.url,
            "source": source,
        })
    }

    /// Every event put on the bus, as its rule delivered it to the queue (the whole event:
    /// `id`, `source`, `detail-type`, `detail`, ...), left in the queue.
    pub async fn events(&self, bus: &EventBus) -> Vec<Value> {
        self.every_message(&bus.queue_url)
            .await
            .into_iter()
            .map(|m| serde_json::from_str(&m.body).expect("an event is JSON"))
            .collect()
    }
}
