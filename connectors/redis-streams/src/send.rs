//! One request: every entry's script call in one pipeline (one round trip), each answer mapped
//! to its record. Entries the server had no script for (after a restart or SCRIPT FLUSH) are
//! sent again with the script's code, which caches it.

use std::time::Instant;

use courier_core::{ConnectorError, Delivered, ErrorKind};
use redis::{RedisError, RedisResult, Value};

use crate::client::RedisStreamsClient;
use crate::entry::StreamEntry;
use crate::errors::Action;
use crate::script::{self, Invoke};

/// A pipeline's answers, one per command.
type Answers = Vec<RedisResult<Value>>;

/// Appends `entries` (one request): one result per entry, in order, or the error that failed
/// the whole request (the connection).
pub async fn send(
    client: &RedisStreamsClient,
    entries: Vec<StreamEntry>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let started = Instant::now();
    let mut answers = run(client, &entries, Invoke::Hash, None).await?;
    let unknown: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a, Err(e) if e.code() == Some("NOSCRIPT")))
        .map(|(i, _)| i)
        .collect();
    if !unknown.is_empty() {
        // The script did not run for these entries: sending them again cannot append twice.
        let again = run(client, &entries, Invoke::Code, Some(&unknown)).await?;
        for (i, answer) in unknown.into_iter().zip(again) {
            answers[i] = answer;
        }
    }
    let latency = started.elapsed();
    let target = client.target();
    let mut answers = answers.into_iter();
    Ok(entries
        .iter()
        .map(|entry| {
            let answer = answers.next().unwrap_or_else(|| {
                Err(RedisError::from((
                    redis::ErrorKind::Client,
                    "no answer for the entry",
                )))
            });
            match answer {
                Ok(value) => delivered(entry, &value, latency),
                Err(e) => Err(crate::errors::classify(
                    &e,
                    &target,
                    Action::Append(&entry.stream),
                )),
            }
        })
        .collect())
}

/// Sends the script calls of `entries` (only those at `only`, when given) in one pipeline.
async fn run(
    client: &RedisStreamsClient,
    entries: &[StreamEntry],
    invoke: Invoke,
    only: Option<&[usize]>,
) -> Result<Answers, ConnectorError> {
    let ttl = client.config.dedup_ttl_seconds;
    let maxlen = client.config.maxlen.unwrap_or(0);
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    match only {
        Some(indices) => {
            for &i in indices {
                pipe.add_command(script::append(invoke, &entries[i], ttl, maxlen));
            }
        }
        None => {
            for entry in entries {
                pipe.add_command(script::append(invoke, entry, ttl, maxlen));
            }
        }
    }
    let lease = client.lease().await?;
    let stream = entries.first().map_or("", |e| e.stream.as_str());
    let mut connection = lease.connection.clone();
    match pipe.query_async::<Answers>(&mut connection).await {
        Ok(answers) => Ok(answers),
        Err(e) => Err(client.failed(&lease, &e, Action::Append(stream)).await),
    }
}

/// The record's outcome from the script's answer.
fn delivered(
    entry: &StreamEntry,
    value: &Value,
    latency: std::time::Duration,
) -> Result<Delivered, ConnectorError> {
    let Some(appended) = script::read_append(value) else {
        return Err(ConnectorError::new(
            ErrorKind::Unavailable,
            format!(
                "Redis answered the append to stream {} with something else than an entry id",
                entry.stream
            ),
            "the record is retried; check that config.url points at Redis 5 or newer",
        ));
    };
    Ok(Delivered {
        reference: format!("{}/{}", entry.stream, appended.id),
        status: None,
        latency,
        // Says so when the guard answered for an earlier delivery of the record.
        response_body: (!appended.new)
            .then(|| "already appended by an earlier delivery of this record".to_string()),
    })
}
