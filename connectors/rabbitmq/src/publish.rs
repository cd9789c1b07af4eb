//! One request: every message published `mandatory` on one confirm channel, then every
//! confirm awaited and mapped to its record. Only a broker `basic.ack` makes a record
//! delivered; a `basic.nack` fails it (retried), a `basic.return` (no queue for its routing
//! key) rejects it, and a channel or connection lost before the confirm fails the records not
//! yet confirmed (retried). The whole request has one deadline: records unconfirmed by then
//! fail as timeouts (retried) and their channel is closed, so a late confirm has no one to
//! reach.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use courier_core::{ConnectorError, Delivered, ErrorKind};
use courier_messages::human_bytes;
use lapin::Confirmation;
use lapin::message::BasicReturnMessage;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;

use crate::RabbitmqClient;
use crate::errors::{During, classify, size_refusal};
use crate::message::Message;

type Outcome = Result<Delivered, ConnectorError>;

/// Publishes `messages` and waits for the broker's confirm of each: a result per message, in
/// order, or the error that kept the whole request from being sent.
pub async fn send(
    client: &RabbitmqClient,
    messages: Vec<Message>,
) -> Result<Vec<Outcome>, ConnectorError> {
    let exchange_name = client.config.exchange_name();
    let exchange = ShortString::from(exchange_name);
    let lent = client.confirm_channel().await?;
    let channel = &lent.channel;
    let started = Instant::now();
    let limit = client.deadlines.request;
    let deadline = tokio::time::Instant::now() + limit;
    let options = BasicPublishOptions {
        mandatory: true,
        immediate: false,
    };

    let mut publishes = Vec::with_capacity(messages.len());
    let mut records = Vec::with_capacity(messages.len());
    for m in &messages {
        records.push((m.record_id.as_str(), m.routing_key.as_str(), m.body.len()));
        publishes.push(Box::pin(channel.basic_publish(
            exchange.clone(),
            m.routing_key.clone(),
            options,
            &m.body,
            m.properties.clone(),
        )));
    }
    let Ok(published) = tokio::time::timeout_at(deadline, in_order(publishes)).await else {
        // The frames could not all be written (a blocked connection stops reading them):
        // nothing is confirmed, and the channel is dropped with `lent`, which closes it.
        let broker = client.broker_label();
        return Ok(records
            .iter()
            .map(|&(record_id, routing_key, _)| {
                let what = publish_label(exchange_name, record_id, routing_key);
                Err(timed_out(&broker, &what, "could not be sent", limit))
            })
            .collect());
    };

    // Every publish is on the wire (or failed); now the confirms, whatever order they come in.
    // A confirm already received resolves even once the deadline has passed.
    let mut confirmations: Vec<Option<Result<Confirmation, lapin::Error>>> =
        Vec::with_capacity(published.len());
    for p in published {
        confirmations.push(match p {
            Ok(confirm) => tokio::time::timeout_at(deadline, confirm).await.ok(),
            Err(e) => Some(Err(e)),
        });
    }
    let latency = started.elapsed();

    let mut returned: Vec<BasicReturnMessage> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(confirmations.len());
    // Whether a confirm never came (the channel closed, confirm mode was off, or time ran out).
    let mut unanswered = false;
    for (confirmation, &(record_id, routing_key, body_len)) in
        confirmations.into_iter().zip(&records)
    {
        let what = || publish_label(exchange_name, record_id, routing_key);
        outcomes.push(match confirmation {
            None => {
                unanswered = true;
                Err(timed_out(
                    &client.broker_label(),
                    &what(),
                    "was not confirmed",
                    limit,
                ))
            }
            Some(Ok(Confirmation::Ack(back))) => {
                returned.extend(back);
                Ok(Delivered {
                    reference: record_id.to_string(),
                    status: None,
                    latency,
                    response_body: None,
                })
            }
            Some(Ok(Confirmation::Nack(back))) => {
                returned.extend(back);
                Err(ConnectorError::new(
                    ErrorKind::Unavailable,
                    format!("RabbitMQ could not take {} (basic.nack)", what()),
                    "the record is retried; check the broker's logs and the queue's limits",
                ))
            }
            Some(Ok(Confirmation::NotRequested)) => {
                unanswered = true;
                Err(ConnectorError::internal(format!(
                    "{} was published without a publisher confirm",
                    what()
                )))
            }
            Some(Err(e)) => {
                unanswered = true;
                Err(unconfirmed(client, &e, &what(), exchange_name, body_len))
            }
        });
    }
    reject_returned(&mut outcomes, &records, returned, exchange_name);
    if !unanswered {
        // Every confirm came: the channel has nothing outstanding and may serve the next one.
        lent.release();
    }
    // Otherwise `lent` is dropped here, closing the channel: a confirm arriving late is not
    // taken for a later request's.
    Ok(outcomes)
}

/// "message of record r to exchange `x` with routing key `k`".
fn publish_label(exchange: &str, record_id: &str, routing_key: &str) -> String {
    let target = if exchange.is_empty() {
        "the default exchange".to_string()
    } else {
        format!("exchange `{exchange}`")
    };
    format!("the message of record {record_id} to {target} with routing key `{routing_key}`")
}

/// The failure of a record whose message `outcome` ("was not confirmed") before the request's
/// deadline: retried, as the broker may be blocked by an alarm or the peer gone.
fn timed_out(broker: &str, what: &str, outcome: &str, limit: Duration) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Timeout,
        format!("{what} {outcome} within {limit:?}: RabbitMQ at {broker} did not answer"),
        "the record is retried; the broker may be blocked by a memory or disk alarm, overloaded or unreachable",
    )
}

/// The failure of a record whose confirm never came: the channel or connection closed first.
/// When the broker closed the channel over a message's size, the records above its limit fail
/// for good, the others are retried, and the limit is kept so the next delivery checks it
/// before sending.
fn unconfirmed(
    client: &RabbitmqClient,
    e: &lapin::Error,
    what: &str,
    exchange: &str,
    body_len: usize,
) -> ConnectorError {
    if let Some((_, max)) = size_refusal(e) {
        client.learn_max_message(max);
        if body_len as u64 > max {
            return ConnectorError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "{what} is {body_len} bytes, over the broker's max_message_size of {}",
                    human_bytes(max as usize)
                ),
                "send smaller records, or raise max_message_size on the broker and config.max_message_bytes",
            );
        }
        return ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "{what} was not confirmed: RabbitMQ closed the channel over a message above its max_message_size of {}",
                human_bytes(max as usize)
            ),
            "the record is retried; records above the limit now fail before they are sent",
        );
    }
    classify(e, During::Channel { what, exchange })
}

/// Marks the records whose messages came back unroutable. A returned message arrives before
/// its own ack, but lapin hands it to whichever confirm resolves next, so it is matched to its
/// record by message id (the record id) and routing key, not by the confirm that carried it.
fn reject_returned(
    outcomes: &mut [Outcome],
    records: &[(&str, &str, usize)],
    returned: Vec<BasicReturnMessage>,
    exchange: &str,
) {
    for back in returned {
        let id = back
            .delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_string());
        let key = back.delivery.routing_key.as_str();
        let found = records
            .iter()
            .enumerate()
            .position(|(i, (record_id, routing_key, _))| {
                Some(*record_id) == id.as_deref() && *routing_key == key && outcomes[i].is_ok()
            });
        if let Some(i) = found {
            let (record_id, routing_key, _) = records[i];
            let (target, hint) = if exchange.is_empty() {
                (
                    format!(
                        "no queue named `{routing_key}` exists (the default exchange routes by queue name)"
                    ),
                    format!("declare queue `{routing_key}`, or correct the routing key"),
                )
            } else {
                (
                    format!("exchange `{exchange}` has no binding for routing key `{routing_key}`"),
                    format!(
                        "bind a queue to exchange `{exchange}` for routing key `{routing_key}`, or correct the routing key"
                    ),
                )
            };
            outcomes[i] = Err(ConnectorError::new(
                ErrorKind::Rejected,
                format!(
                    "record {record_id} was unroutable and returned by RabbitMQ ({} {}): {target}",
                    back.reply_code, back.reply_text
                ),
                hint,
            ));
        }
    }
}

/// Runs `futures` to completion, polling each for the first time in order: a publish takes its
/// delivery tag and queues its frames on its first poll, and the broker numbers confirms in the
/// order frames arrive, so the two orders must agree. The rest are then awaited one by one
/// (they finish in order anyway, as the frames are written), which keeps this linear.
async fn in_order<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<(F, Option<F::Output>)> = futures.into_iter().map(|f| (f, None)).collect();
    std::future::poll_fn(|cx| {
        for (future, out) in slots.iter_mut() {
            if let Poll::Ready(value) = Pin::new(future).poll(cx) {
                *out = Some(value);
            }
        }
        Poll::Ready(())
    })
    .await;
    let mut outputs = Vec::with_capacity(slots.len());
    for (future, out) in slots {
        outputs.push(match out {
            Some(value) => value,
            None => future.await,
        });
    }
    outputs
}
