//! PutRecords: each record's data is its payload exactly as given, with the partition key (and
//! optional explicit hash key) the shape read from it; an answer's per-record failures fail
//! only those records (the runtime retries the transient ones).

use std::time::Instant;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use courier_core::{ConnectorError, Delivered, ErrorKind, Record};
use courier_messages::{BatchLimits, Keys};

use crate::client::KinesisClient;
use crate::errors::{by_code, classify};

/// PutRecords limits: records per request, bytes per request, bytes per record (data + key).
pub const LIMITS: BatchLimits = BatchLimits {
    max_records: 500,
    max_request_bytes: 5 * 1024 * 1024,
    max_record_bytes: 1024 * 1024,
};

/// The longest partition key Kinesis takes.
pub const MAX_KEY_CHARS: usize = 256;

/// The request entry for one record and its size as Kinesis counts it (data plus partition
/// key), or why it cannot be sent.
pub fn entry(
    record: &Record,
    keys: &Keys,
) -> Result<(usize, PutRecordsRequestEntry), ConnectorError> {
    let partition_key = keys[0].clone().unwrap_or_default();
    let explicit_hash_key = keys[1].clone();
    if let Some(key) = &explicit_hash_key
        && key.parse::<u128>().is_err()
    {
        return Err(ConnectorError::new(
            ErrorKind::Rejected,
            format!(
                "record {}: explicit hash key is not a decimal number from 0 to 2^128-1",
                record.id
            ),
            "fix explicit_hash_key_template or the records",
        ));
    }
    let size = record.payload.len() + partition_key.len();
    let entry = PutRecordsRequestEntry::builder()
        .data(Blob::new(record.payload.to_vec()))
        .partition_key(partition_key)
        .set_explicit_hash_key(explicit_hash_key)
        .build()
        .map_err(|e| ConnectorError::internal(format!("could not build the Kinesis entry: {e}")))?;
    Ok((size, entry))
}

/// One PutRecords request: a result per entry, in order.
pub async fn send(
    client: &KinesisClient,
    entries: Vec<PutRecordsRequestEntry>,
) -> Result<Vec<Result<Delivered, ConnectorError>>, ConnectorError> {
    let started = Instant::now();
    let answer = client
        .kinesis
        .put_records()
        .set_stream_name(client.config.stream_name.clone())
        .set_stream_arn(client.config.stream_arn.clone())
        .set_records(Some(entries))
        .send()
        .await
        .map_err(|e| classify("kinesis:PutRecords", &client.stream, e))?;
    let latency = started.elapsed();
    Ok(answer
        .records()
        .iter()
        .map(|r| match r.error_code() {
            None => Ok(Delivered {
                reference: format!(
                    "{}/{}",
                    r.shard_id().unwrap_or("?"),
                    r.sequence_number().unwrap_or("?")
                ),
                status: None,
                latency,
                response_body: None,
            }),
            Some(code) => {
                let mut e = by_code("kinesis:PutRecords", &client.stream, Some(code), None);
                if let Some(m) = r.error_message() {
                    e.message = format!(
                        "{} — {}",
                        e.message,
                        m.chars().take(200).collect::<String>()
                    );
                }
                Err(e)
            }
        })
        .collect())
}
