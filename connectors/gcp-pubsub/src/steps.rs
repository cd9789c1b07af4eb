//! The Pub/Sub connection test: credentials → authentication → topic (one GET of the topic
//! answers both) → write permission (one clearly marked `courier.connection_test` message is
//! published: the emulator does not implement `testIamPermissions`, and a real publish proves
//! what delivery needs). Without a service account (the emulator) the first two are skipped,
//! saying so.

use std::time::{SystemTime, UNIX_EPOCH};

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::client::GcpPubsubClient;
use crate::errors::{Call, Failure, SERVICE, classify};
use crate::publish::{publish, topic};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "Pub/Sub accepts the credentials",
    },
    StepSpec {
        name: "topic",
        label: "Topic exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Messages can be published (one test message)",
    },
];

/// What a GET of the topic found.
enum Looked {
    /// The topic is there.
    Found,
    /// Pub/Sub answered with a failure.
    Refused(ConnectorError),
    /// No answer came (or no token could be signed).
    Failed(ConnectorError),
}

async fn look(client: &GcpPubsubClient, headers: &http::HeaderMap) -> Looked {
    let sent = client
        .http
        .get(&client.topic_url)
        .headers(headers.clone())
        .send()
        .await;
    match sent {
        Err(e) => Looked::Failed(courier_net::transport_error(SERVICE, e)),
        Ok(r) if r.status().is_success() => Looked::Found,
        Ok(r) => {
            let failure = Failure::read(r).await;
            Looked::Refused(classify(Call::GetTopic, topic(client), &failure))
        }
    }
}

/// Runs the steps through `probe`.
pub async fn run(client: &GcpPubsubClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let name = &client.topic_name;
    if client.signs() {
        probe
            .step("credentials", async {
                Ok(((), format!("signing as {}", client.identity)))
            })
            .await?;
    } else {
        probe.skip(
            "credentials",
            format!(
                "no service_account_json: requests to {} go unsigned, as the emulator accepts",
                client.endpoint
            ),
        );
    }

    let headers = client.auth_headers().await;
    let looked = match &headers {
        Ok(headers) => look(client, headers).await,
        Err(e) => Looked::Failed(e.clone()),
    };
    if client.signs() {
        probe
            .step("authentication", async {
                match &looked {
                    Looked::Failed(e) => Err(e.clone()),
                    Looked::Refused(e) if e.kind == ErrorKind::Unauthenticated => Err(e.clone()),
                    _ => Ok((
                        (),
                        format!("Pub/Sub accepted the credentials ({})", client.identity),
                    )),
                }
            })
            .await?;
    } else {
        probe.skip(
            "authentication",
            "no credentials to check: the emulator needs none",
        );
    }

    match looked {
        Looked::Refused(e) if e.kind == ErrorKind::Forbidden => probe.skip(
            "topic",
            format!(
                "these credentials may not read {name} (pubsub.topics.get is not granted, as with the Pub/Sub Publisher role alone); the next step publishes to it"
            ),
        ),
        looked => {
            probe
                .step("topic", async {
                    match looked {
                        Looked::Found => Ok(((), format!("topic {name} exists"))),
                        Looked::Refused(e) | Looked::Failed(e) => Err(e),
                    }
                })
                .await?
        }
    }

    probe
        .step("write_permission", async {
            let headers = headers?;
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let data = format!(r#"{{"type":"courier.connection_test","at_ns":{nanos}}}"#);
            let message = serde_json::json!({
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data),
                "attributes": {
                    courier_messages::EVENT_TYPE_ATTRIBUTE: "courier.connection_test",
                    courier_messages::EVENT_ID_ATTRIBUTE: format!("courier_test_{nanos}"),
                },
            })
            .to_string();
            let (ids, _) = publish(client, &headers, &[message.as_bytes()]).await?;
            let id = ids.first().map(String::as_str).unwrap_or("?");
            Ok((
                (),
                format!("published one courier.connection_test message to {name} (id {id})"),
            ))
        })
        .await
}
