//! The Service Bus connection test: credentials → authentication (a service principal signs in
//! with Entra ID; then Service Bus must accept the signature) → the entity exists (its
//! description, when the credentials may read it) → write permission (one clearly marked
//! `courier.connection_test` message, as Service Bus has no dry run).

use std::time::{SystemTime, UNIX_EPOCH};

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::auth::Signer;
use crate::client::AzureServiceBusClient;
use crate::errors::{Action, Answer, classify};

/// The steps, in order.
pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "credentials",
        label: "Credentials resolved",
    },
    StepSpec {
        name: "authentication",
        label: "Service Bus accepts the credentials",
    },
    StepSpec {
        name: "entity",
        label: "Queue or topic exists",
    },
    StepSpec {
        name: "write_permission",
        label: "Messages can be sent (one test message)",
    },
];

/// What the entity's description says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description {
    /// `topic` or `queue`.
    pub kind: &'static str,
    /// Every message needs a SessionId.
    pub requires_session: bool,
    /// Repeated MessageIds are dropped.
    pub duplicate_detection: bool,
}

/// Reads an ATOM answer to Get Entity: `None` when it describes no queue or topic (Service Bus
/// answers some lookups of a missing entity with an empty feed rather than 404).
pub fn describe(atom: &str) -> Option<Description> {
    let kind = if atom.contains("<QueueDescription") {
        "queue"
    } else if atom.contains("<TopicDescription") {
        "topic"
    } else {
        return None;
    };
    let flag = |name: &str| atom.contains(&format!("<{name}>true</{name}>"));
    Some(Description {
        kind,
        requires_session: flag("RequiresSession"),
        duplicate_detection: flag("RequiresDuplicateDetection"),
    })
}

/// How reading the entity's description went.
enum Read {
    Described(Description),
    /// The credential was accepted but may not read descriptions (no Manage right).
    NotReadable(ConnectorError),
    Failed(ConnectorError),
}

async fn read_entity(client: &AzureServiceBusClient) -> Read {
    let url = format!("{}?api-version=2021-05", client.entity_url);
    let request = client.http.get(url);
    let response = match client.execute(Action::ReadEntity, request).await {
        Ok(r) => r,
        Err(e) if e.kind == ErrorKind::Forbidden => return Read::NotReadable(e),
        Err(e) => return Read::Failed(e),
    };
    let text = match courier_net::body::json_text("Azure Service Bus", "the entity", response).await
    {
        Ok(t) => t,
        Err(e) => return Read::Failed(e),
    };
    match describe(&text) {
        Some(d) => Read::Described(d),
        None => {
            let answer = Answer {
                status: 404,
                retry_after: None,
                detail: String::new(),
            };
            Read::Failed(classify(Action::ReadEntity, &client.entity, &answer))
        }
    }
}

/// The entity step's verdict on a description: a session queue needs a session id.
fn found(client: &AzureServiceBusClient, d: Description) -> Result<((), String), ConnectorError> {
    let entity = &client.entity;
    if d.requires_session && client.config.session_id_template.is_none() {
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("queue {entity} requires sessions, and the config sets no session id"),
            "set config.session_id_template so every message carries a SessionId",
        ));
    }
    let mut notes = Vec::new();
    if d.requires_session {
        notes.push("sessions required");
    }
    notes.push(if d.duplicate_detection {
        "duplicate detection on: a retried record is dropped as a copy"
    } else {
        "duplicate detection off: a retried record may arrive twice"
    });
    let notes = notes.join("; ");
    Ok(((), format!("{} {entity} exists ({notes})", d.kind)))
}

/// Runs the steps through `probe`.
pub async fn run(client: &AzureServiceBusClient, probe: &mut Probe) -> Result<(), ConnectorError> {
    let entity = client.entity.clone();
    probe
        .step("credentials", async {
            let detail = match &client.signer {
                Signer::Sas(key) => format!("{} (policy {})", client.method, key.key_name()),
                Signer::Entra(_) => client.method.to_string(),
            };
            Ok(((), format!("{detail} for {}", client.entity_url)))
        })
        .await?;

    // A service principal signs in with Entra ID first: a refused secret fails here.
    if let Signer::Entra(_) = &client.signer
        && let Err(e) = client.signer.authorization().await
    {
        probe.fail("authentication", &e);
        return Err(e);
    }
    // One Get Entity answers both: is the signature accepted, is the entity there.
    let read = read_entity(client).await;
    // Refused credentials, and an entity that could not be asked at all, fail here; a missing
    // entity or a missing right is the next step's to report.
    let refused = match &read {
        Read::Failed(e)
            if e.is_retryable()
                || matches!(
                    e.kind,
                    ErrorKind::Unauthenticated | ErrorKind::InvalidConfig
                ) =>
        {
            Some(e.clone())
        }
        _ => None,
    };
    let accepted = match &read {
        Read::NotReadable(_) => format!(
            "Service Bus accepted the {} (it lacks the Manage right to read the entity's description)",
            client.method
        ),
        _ => format!("Service Bus accepted the {}", client.method),
    };
    probe
        .step("authentication", async {
            match refused {
                Some(e) => Err(e),
                None => Ok(((), accepted)),
            }
        })
        .await?;

    let description = match read {
        Read::Described(d) => {
            probe.step("entity", async { found(client, d) }).await?;
            Some(d)
        }
        Read::NotReadable(e) => {
            let why = format!(
                "not checked: the credentials may not read the description of {entity} ({}); \
                 the test message below shows whether it accepts messages",
                e.message
            );
            probe.skip("entity", why);
            None
        }
        Read::Failed(e) => {
            probe.fail("entity", &e);
            return Err(e);
        }
    };

    probe
        .step("write_permission", async {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let message_id = format!("courier-connection-test-{nanos}");
            let session = client.config.session_id_template.is_some()
                || description.is_some_and(|d| d.requires_session);
            let mut broker = serde_json::json!({"MessageId": message_id});
            if session {
                broker["SessionId"] = "courier-connection-test".into();
            }
            let request = client
                .http
                .post(&client.messages_url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("BrokerProperties", broker.to_string())
                .header(
                    courier_messages::EVENT_TYPE_ATTRIBUTE,
                    "\"courier.connection_test\"",
                )
                .header(
                    courier_messages::EVENT_ID_ATTRIBUTE,
                    format!("\"{message_id}\""),
                )
                .body(format!(
                    r#"{{"type":"courier.connection_test","at_ns":{nanos}}}"#
                ));
            client.execute(Action::Send, request).await?;
            Ok((
                (),
                format!("sent one courier.connection_test message ({message_id}) to {entity}"),
            ))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_read_from_the_atom_entry() {
        let queue = "<entry><content><QueueDescription xmlns=\"x\"><RequiresDuplicateDetection>true</RequiresDuplicateDetection><RequiresSession>false</RequiresSession></QueueDescription></content></entry>";
        assert_eq!(
            describe(queue),
            Some(Description {
                kind: "queue",
                requires_session: false,
                duplicate_detection: true
            })
        );
        let feed = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">Publicly Listed Services</title></feed>";
        assert_eq!(describe(feed), None);
    }
}
