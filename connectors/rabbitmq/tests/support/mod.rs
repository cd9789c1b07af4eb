//! What the RabbitMQ tests share: the broker's URL without credentials (as a config holds it),
//! the test user's auth_config, and an independent client (lapin used directly, none of the
//! connector's code) that declares queues and reads messages back.
#![allow(dead_code)] // each test file uses its own share of these

use std::time::Duration;

use courier_core::DestinationSpec;
use courier_testbed::brokers::{PASSWORD, USERNAME};
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicGetOptions, BasicNackOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};

/// How long an unused test queue lives on the shared broker before it deletes it itself.
const QUEUE_EXPIRES_MS: i32 = 15 * 60 * 1000;

/// The shared broker's URL with the test user, as the suite gives it.
pub fn shared_url_with_user() -> String {
    courier_testbed::brokers::rabbitmq::shared_url()
}

/// `url` without its user and password, as a config takes it.
pub fn without_user(url: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("the broker URL parses");
    parsed.set_username("").unwrap();
    parsed.set_password(None).unwrap();
    parsed.to_string()
}

/// The shared broker's URL, for configs.
pub fn broker_url() -> String {
    without_user(&shared_url_with_user())
}

/// The test user.
pub fn auth() -> Value {
    json!({"username": USERNAME, "password": PASSWORD})
}

/// The test user with a wrong password.
pub fn bad_auth() -> Value {
    json!({"username": USERNAME, "password": "not-the-password"})
}

/// A spec for the tests, private addresses allowed (the broker is on loopback).
pub fn spec(config: Value, auth: Value) -> DestinationSpec {
    DestinationSpec {
        destination_id: "dest_rabbitmq".into(),
        config,
        auth_config: auth,
        allow_private_network: true,
        ..DestinationSpec::default()
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An independent client of the broker at `url` (with credentials).
pub struct Reader {
    connection: Connection,
}

/// One message as read back.
#[derive(Debug, Clone)]
pub struct ReadMessage {
    pub body: Vec<u8>,
    pub routing_key: String,
    pub properties: BasicProperties,
}

impl ReadMessage {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        let headers = self.properties.headers().as_ref()?;
        match headers.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.to_string()),
            other => Some(format!("{other:?}")),
        }
    }

    /// The message id.
    pub fn message_id(&self) -> Option<String> {
        self.properties.message_id().as_ref().map(|s| s.to_string())
    }
}

impl Reader {
    /// Connects to `url` (with credentials).
    pub async fn connect(url: &str) -> Reader {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("the independent client connects");
        Reader { connection }
    }

    /// Connects to the shared broker.
    pub async fn shared() -> Reader {
        Reader::connect(&shared_url_with_user()).await
    }

    /// Declares a durable queue (which the broker drops after a while unused).
    pub async fn queue(&self, name: &str) {
        let channel = self.connection.create_channel().await.unwrap();
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongInt(QUEUE_EXPIRES_MS));
        channel
            .queue_declare(name.into(), QueueDeclareOptions::durable(), arguments)
            .await
            .expect("the queue is declared");
    }

    /// Declares a durable direct exchange and a queue bound to it with `key`.
    pub async fn exchange_with_queue(&self, exchange: &str, queue: &str, key: &str) {
        self.queue(queue).await;
        let channel = self.connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .expect("the exchange is declared");
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("the queue is bound");
    }

    /// How many messages `queue` holds.
    pub async fn count(&self, queue: &str) -> usize {
        let channel = self.connection.create_channel().await.unwrap();
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .expect("the queue exists")
            .message_count() as usize
    }

    /// Every message in `queue`, taken out of it (a consumer, for many messages).
    pub async fn drain(&self, queue: &str) -> Vec<ReadMessage> {
        let expected = self.count(queue).await;
        let channel = self.connection.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "courier-test-reader".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("basic.consume works");
        let mut found = Vec::with_capacity(expected);
        while found.len() < expected {
            let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("the queue's messages arrive")
                .expect("the consumer is open")
                .expect("a delivery");
            found.push(ReadMessage {
                body: delivery.data,
                routing_key: delivery.routing_key.to_string(),
                properties: delivery.properties,
            });
        }
        found
    }

    /// Every message in `queue`, left in it: read unacknowledged, then given back.
    pub async fn peek(&self, queue: &str) -> Vec<ReadMessage> {
        let channel = self.connection.create_channel().await.unwrap();
        let mut found = Vec::new();
        let mut last_tag = None;
        loop {
            let got = tokio::time::timeout(
                Duration::from_secs(10),
                channel.basic_get(queue.into(), BasicGetOptions { no_ack: false }),
            )
            .await
            .expect("basic.get answers")
            .expect("basic.get works");
            let Some(message) = got else { break };
            let delivery = message.delivery;
            last_tag = Some(delivery.delivery_tag);
            found.push(ReadMessage {
                body: delivery.data.clone(),
                routing_key: delivery.routing_key.to_string(),
                properties: delivery.properties.clone(),
            });
        }
        if let Some(tag) = last_tag {
            channel
                .basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await
                .unwrap();
        }
        found
    }
}
