//! rumqttc's two clients, MQTT 3.1.1 (`rumqttc`) and MQTT 5 (`rumqttc::v5`), behind one face:
//! options built from the destination's settings, one publish request, and the event loop's
//! events and errors reduced to what delivery needs.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use courier_core::{ConnectorError, ErrorKind, Secret};
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode as V5Code, Packet as V5Packet, PublishProperties,
};

use crate::config::Protocol;
use crate::errors::{self, Refusal};

/// Messages sent and not yet acknowledged on one connection (MQTT 5 brokers may lower it with
/// their receive maximum).
pub const INFLIGHT: u16 = 100;
/// Messages in flight on an MQTT 3.1.1 connection. MQTT 3.1.1 has no receive maximum, and
/// brokers still keep one: mosquitto (`max_inflight_messages`, 20 by default) completes the
/// QoS 2 handshake of a message over it and then never delivers the message. So MQTT 3.1.1
/// connections keep within that default.
pub const V311_INFLIGHT: u16 = 20;
/// Publish requests queued for the event loop.
pub const QUEUED: usize = 1024;
/// Seconds a TCP, TLS and CONNECT/CONNACK exchange may take.
pub const CONNECT_TIMEOUT_SECS: u64 = 10;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Packets the broker sends Courier are acknowledgements: this bounds them generously.
const MAX_INCOMING_BYTES: u32 = 64 * 1024;

/// What a connection needs, from the config and the credentials.
pub struct Settings {
    /// `host:port`, for messages.
    pub label: String,
    /// The broker's host as the config names it.
    pub host: String,
    /// The broker's port.
    pub port: u16,
    /// The protocol version.
    pub protocol: Protocol,
    /// The client identifier.
    pub client_id: String,
    /// The username, if any.
    pub username: Option<String>,
    /// The password, if any.
    pub password: Option<Secret>,
    /// TLS settings for `mqtts://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Whether the broker may be on a non-public address.
    pub allow_private: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("broker", &self.label)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One message ready to publish.
#[derive(Debug)]
pub struct Outgoing {
    /// The topic.
    pub topic: String,
    /// The payload, byte for byte.
    pub payload: Bytes,
    /// MQTT 5 user properties (empty with MQTT 3.1.1).
    pub properties: Vec<(String, String)>,
}

/// What the broker's CONNACK allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    /// The largest packet the broker takes (MQTT 5 Maximum Packet Size).
    pub max_packet: Option<u32>,
    /// The highest QoS the broker takes (MQTT 5 Maximum QoS).
    pub max_qos: Option<u8>,
    /// Whether the broker keeps retained messages (MQTT 5 Retain Available).
    pub retain_available: Option<bool>,
}

/// What happened on the connection, as far as delivery cares.
#[derive(Debug)]
pub enum Note {
    /// The broker accepted the connection.
    Connected(Grant),
    /// A publish was written to the connection under this packet id (0: QoS 0).
    Sent(u16),
    /// The next publish waits for its packet id to be acknowledged (the broker acknowledged out
    /// of order); it is written later and reported as [`Note::Sent`] then.
    Collided,
    /// The broker acknowledged a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) message, or refused it.
    Acked(u16, Option<(Refusal, Option<String>)>),
    /// The broker refused a QoS 2 message at PUBREC or PUBCOMP; rumqttc then counts the
    /// message as in flight for good, so the connection must start over.
    RefusedExactlyOnce(u16, Refusal, Option<String>),
    /// Anything else (pings, PUBREC/PUBREL of a QoS 2 exchange).
    Other,
}

/// The sending half: puts publish requests on the event loop's queue.
#[derive(Debug, Clone)]
pub enum Sender {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

/// The event loop, to be polled from one place.
pub enum Loop {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
    /// MQTT 5.
    V5(Box<rumqttc::v5::EventLoop>),
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loop::V4(_) => "Loop(MQTT 3.1.1)",
            Loop::V5(_) => "Loop(MQTT 5)",
        })
    }
}

fn v4_options(s: &Settings, dial: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(s.client_id.clone(), dial, s.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_inflight(V311_INFLIGHT)
        .set_request_channel_capacity(QUEUED)
        // Courier checks message sizes itself (MQTT 3.1.1 brokers do not say theirs).
        .set_max_packet_size(
            MAX_INCOMING_BYTES as usize,
            crate::config::MAX_PACKET_BYTES as usize,
        );
    if let Some(user) = &s.username {
        o.set_credentials(
            user.clone(),
            s.password.as_ref().map(|p| p.expose()).unwrap_or(""),
        );
    }
    if let Some(tls) = &s.tls {
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    o
}

fn v5_options(s: &Settings, dial: &str) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(s.client_id.clone(), dial, s.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_start(true)
        .set_outgoing_inflight_upper_limit(INFLIGHT)
        .set_request_channel_capacity(QUEUED)
        .set_connection_timeout(CONNECT_TIMEOUT_SECS)
        .set_max_packet_size(Some(MAX_INCOMING_BYTES));
    if let Some(user) = &s.username {
        o.set_credentials(
            user.clone(),
            s.password.as_ref().map(|p| p.expose()).unwrap_or(""),
        );
    }
    if let Some(tls) = &s.tls {
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    o
}

impl Loop {
    /// A client and its event loop for `settings`, dialling `dial` (the checked address, or the
    /// host name where TLS needs it).
    pub fn new(settings: &Settings, dial: &str) -> (Sender, Loop) {
        match settings.protocol {
            Protocol::V311 => {
                let (client, mut event_loop) =
                    rumqttc::AsyncClient::new(v4_options(settings, dial), QUEUED);
                let mut network = event_loop.network_options();
                network.set_connection_timeout(CONNECT_TIMEOUT_SECS);
                event_loop.set_network_options(network);
                (Sender::V4(client), Loop::V4(Box::new(event_loop)))
            }
            Protocol::V5 => {
                let (client, event_loop) =
                    rumqttc::v5::AsyncClient::new(v5_options(settings, dial), QUEUED);
                (Sender::V5(client), Loop::V5(Box::new(event_loop)))
            }
        }
    }

    /// Points the next connection at `dial` (a freshly checked address).
    pub fn redial(&mut self, settings: &Settings, dial: &str) {
        match self {
            Loop::V4(l) => l.mqtt_options = v4_options(settings, dial),
            Loop::V5(l) => l.options = v5_options(settings, dial),
        }
    }

    /// Drops the connection and every request not yet acknowledged, queued or retained for a
    /// resend: their records fail and are published again by the retried delivery, so nothing
    /// is sent twice by the client itself on a new connection.
    pub fn reset(&mut self) {
        // Events and a held-back publish a poll cut short left behind belong to the old
        // connection too: reported on the next one, they would be matched to the wrong records.
        match self {
            Loop::V4(l) => {
                l.clean();
                l.pending.clear();
                l.state.events.clear();
                l.state.collision = None;
            }
            Loop::V5(l) => {
                l.clean();
                l.pending.clear();
                l.state.events.clear();
                l.state.collision = None;
            }
        }
    }

    /// The next event (connecting first when there is no connection), or the error that ended
    /// the connection. `connecting_plain`: this poll makes a plain (not TLS) connection, so a
    /// broker closing it may be a TLS port.
    pub async fn poll(
        &mut self,
        broker: &str,
        connecting_plain: bool,
    ) -> Result<Note, ConnectorError> {
        match self {
            Loop::V4(l) => match l.poll().await {
                Ok(event) => Ok(v4_note(event)),
                Err(e) => Err(v4_error(broker, e, connecting_plain)),
            },
            Loop::V5(l) => match l.poll().await {
                Ok(event) => Ok(v5_note(event)),
                Err(e) => Err(v5_error(broker, e, connecting_plain)),
            },
        }
    }
}

/// Polls `future` once: the publish queue has room (the session keeps it so), so sending
/// completes at once; `None` if it did not.
fn at_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

impl Sender {
    /// Queues one publish for the event loop, without waiting.
    pub fn publish(&self, message: Outgoing, qos: u8, retain: bool) -> Result<(), ConnectorError> {
        let queued = match self {
            Sender::V4(c) => {
                let qos = match qos {
                    0 => rumqttc::QoS::AtMostOnce,
                    1 => rumqttc::QoS::AtLeastOnce,
                    _ => rumqttc::QoS::ExactlyOnce,
                };
                // `publish_bytes` keeps the payload's bytes (`try_publish` would copy them).
                at_once(c.publish_bytes(message.topic, qos, retain, message.payload))
                    .is_some_and(|r| r.is_ok())
            }
            Sender::V5(c) => {
                use rumqttc::v5::mqttbytes::QoS;
                let qos = match qos {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let properties = PublishProperties {
                    user_properties: message.properties,
                    ..PublishProperties::default()
                };
                c.try_publish_with_properties(
                    message.topic,
                    qos,
                    retain,
                    message.payload,
                    properties,
                )
                .is_ok()
            }
        };
        if queued {
            Ok(())
        } else {
            Err(ConnectorError::new(
                ErrorKind::Unavailable,
                "the MQTT connection is not taking messages",
                "the message is published again when the delivery is retried",
            ))
        }
    }
}

fn v4_note(event: rumqttc::Event) -> Note {
    use rumqttc::{Event, Outgoing, Packet};
    match event {
        Event::Incoming(Packet::ConnAck(_)) => Note::Connected(Grant::default()),
        Event::Incoming(Packet::PubAck(ack)) => Note::Acked(ack.pkid, None),
        Event::Incoming(Packet::PubComp(comp)) => Note::Acked(comp.pkid, None),
        Event::Outgoing(Outgoing::Publish(pkid)) => Note::Sent(pkid),
        Event::Outgoing(Outgoing::AwaitAck(_)) => Note::Collided,
        _ => Note::Other,
    }
}

fn v5_note(event: rumqttc::v5::Event) -> Note {
    use rumqttc::Outgoing;
    use rumqttc::v5::Event;
    match event {
        Event::Incoming(V5Packet::ConnAck(ack)) => Note::Connected(match ack.properties {
            Some(props) => Grant {
                max_packet: props.max_packet_size,
                max_qos: props.max_qos,
                retain_available: props.retain_available.map(|r| r != 0),
            },
            None => Grant::default(),
        }),
        Event::Incoming(V5Packet::PubAck(ack)) => {
            let refusal = Refusal::of_puback(&ack.reason)
                .map(|r| (r, ack.properties.and_then(|p| p.reason_string)));
            Note::Acked(ack.pkid, refusal)
        }
        Event::Incoming(V5Packet::PubRec(rec)) => match Refusal::of_pubrec(&rec.reason) {
            Some(r) => {
                Note::RefusedExactlyOnce(rec.pkid, r, rec.properties.and_then(|p| p.reason_string))
            }
            None => Note::Other,
        },
        Event::Incoming(V5Packet::PubComp(comp)) => match Refusal::of_pubcomp(&comp.reason) {
            Some(r) => Note::RefusedExactlyOnce(
                comp.pkid,
                r,
                comp.properties.and_then(|p| p.reason_string),
            ),
            None => Note::Acked(comp.pkid, None),
        },
        Event::Outgoing(Outgoing::Publish(pkid)) => Note::Sent(pkid),
        Event::Outgoing(Outgoing::AwaitAck(_)) => Note::Collided,
        _ => Note::Other,
    }
}

fn v4_code(code: rumqttc::ConnectReturnCode) -> V5Code {
    use rumqttc::ConnectReturnCode as C;
    match code {
        C::Success => V5Code::Success,
        C::RefusedProtocolVersion => V5Code::RefusedProtocolVersion,
        C::BadClientId => V5Code::BadClientId,
        C::ServiceUnavailable => V5Code::ServiceUnavailable,
        C::BadUserNamePassword => V5Code::BadUserNamePassword,
        C::NotAuthorized => V5Code::NotAuthorized,
    }
}

fn tls_failure(broker: &str, e: &rumqttc::TlsError) -> ConnectorError {
    match e {
        rumqttc::TlsError::TLS(e) => errors::tls_error(broker, e),
        rumqttc::TlsError::Io(e) => errors::handshake(broker, e),
        rumqttc::TlsError::DNSName(_) => ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the host of MQTT broker {broker} is not a name TLS can verify"),
            "use the broker's DNS name in broker_url",
        ),
        other => errors::unavailable(broker, format!("TLS failed: {other}")),
    }
}

fn v4_error(broker: &str, e: rumqttc::ConnectionError, connecting_plain: bool) -> ConnectorError {
    use rumqttc::mqttbytes::Error as Framing;
    use rumqttc::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) => errors::connect_refused(broker, v4_code(code)),
        E::Io(e) => errors::io(broker, &e),
        // Reading from the connection fails this way too: a TLS alert, a reset.
        E::MqttState(S::Io(e) | S::Deserialization(Framing::Io(e))) => {
            errors::broken(broker, &e, connecting_plain)
        }
        E::Tls(e) => tls_failure(broker, &e),
        E::NetworkTimeout | E::FlushTimeout => errors::timeout(broker),
        E::MqttState(S::ConnectionAborted) => errors::closed(broker, None, connecting_plain),
        other => errors::unavailable(broker, other),
    }
}

fn v5_error(
    broker: &str,
    e: rumqttc::v5::ConnectionError,
    connecting_plain: bool,
) -> ConnectorError {
    use rumqttc::v5::mqttbytes::Error as Framing;
    use rumqttc::v5::{ConnectionError as E, StateError as S};
    match e {
        E::ConnectionRefused(code) | E::MqttState(S::ConnFail { reason: code }) => {
            errors::connect_refused(broker, code)
        }
        E::MqttState(S::ServerDisconnect {
            reason_code,
            reason_string,
        }) => errors::disconnected(broker, reason_code, reason_string.as_deref()),
        E::Io(e) => errors::io(broker, &e),
        // Reading from the connection fails this way too: a TLS alert, a reset.
        E::MqttState(S::Io(e) | S::Deserialization(Framing::Io(e))) => {
            errors::broken(broker, &e, connecting_plain)
        }
        E::Tls(e) => tls_failure(broker, &e),
        E::Timeout(_) => errors::timeout(broker),
        E::MqttState(S::ConnectionAborted) => errors::closed(broker, None, connecting_plain),
        other => errors::unavailable(broker, other),
    }
}
