//! Delivery: each record's data is its payload exactly as given, with a partition key (and
//! optional explicit hash key) from the payload. PutRecords requests stay within the service
//! limits; an oversize or keyless record fails alone before sending; per-record failures in an
//! answer fail only those records (the runtime retries the transient ones).

use std::time::Instant;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use courier_core::{
    Batch, BatchOutcome, ConnectorError, Delivered, ErrorKind, Record, RecordOutcome,
};
use serde_json::Value;

use crate::client::KinesisClient;
use crate::errors::{by_code, classify};

/// PutRecords limits: records per request, bytes per request, bytes per record (data + key).
pub const MAX_RECORDS: usize = 500;
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
const MAX_KEY_CHARS: usize = 256;

struct Entry {
    index: usize,
    size: usize,
    entry: PutRecordsRequestEntry,
}

fn rejected(record: &Record, message: String, hint: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The request entry for one record, or why it cannot be sent.
fn entry(
    client: &KinesisClient,
    record: &Record,
) -> Result<(usize, PutRecordsRequestEntry), ConnectorError> {
    let payload: Value = serde_json::from_slice(&record.payload).map_err(|_| {
        rejected(
            record,
            "is not valid JSON, so no partition key can be read from it".into(),
            "send JSON records",
        )
    })?;
    let partition_key = match client.partition_key.render(&payload) {
        Ok(k) => k,
        Err(path) => match &client.config.fallback_partition_key {
            Some(fallback) => fallback.clone(),
            None => {
                return Err(rejected(
                    record,
                    format!("has no value at {path} for the partition key"),
                    "send the field, or set fallback_partition_key",
                ));
            }
        },
    };
    if partition_key.chars().count() > MAX_KEY_CHARS {
        return Err(rejected(
            record,
            format!("partition key is longer than {MAX_KEY_CHARS} characters"),
            "use a shorter partition_key_template",
        ));
    }
    let explicit_hash_key = match &client.explicit_hash_key {
        None => None,
        Some(t) => {
            let key = t.render(&payload).map_err(|path| {
                rejected(
                    record,
                    format!("has no value at {path} for the explicit hash key"),
                    "send the field",
                )
            })?;
            if key.parse::<u128>().is_err() {
                return Err(rejected(
                    record,
                    "explicit hash key is not a decimal number from 0 to 2^128-1".into(),
                    "fix explicit_hash_key_template or the records",
                ));
            }
            Some(key)
        }
    };
    let size = record.payload.len() + partition_key.len();
    if size > MAX_RECORD_BYTES {
        return Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "record {} is {size} bytes with its partition key, over Kinesis' 1 MiB per record",
                record.id
            ),
            "send records under 1 MiB",
        ));
    }
    let entry = PutRecordsRequestEntry::builder()
        .data(Blob::new(record.payload.to_vec()))
        .partition_key(partition_key)
        .set_explicit_hash_key(explicit_hash_key)
        .build()
        .map_err(|e| ConnectorError::internal(format!("could not build the Kinesis entry: {e}")))?;
    Ok((size, entry))
}

pub async fn deliver(client: &KinesisClient, batch: &Batch) -> BatchOutcome {
    let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.records.len()];
    let mut ready: Vec<Entry> = Vec::new();
    for (index, record) in batch.records.iter().enumerate() {
        match entry(client, record) {
            Err(e) => outcomes[index] = Some(RecordOutcome::failed(&record.id, e)),
            Ok((size, entry)) => ready.push(Entry { index, size, entry }),
        }
    }
    let sizes: Vec<usize> = ready.iter().map(|e| e.size).collect();
    let mut ready: Vec<Option<Entry>> = ready.into_iter().map(Some).collect();
    let stream = client.config.stream_label();
    for request in group(&sizes) {
        let started = Instant::now();
        let (indices, entries): (Vec<usize>, Vec<PutRecordsRequestEntry>) = request
            .into_iter()
            .filter_map(|n| ready[n].take())
            .map(|e| (e.index, e.entry))
            .unzip();
        let answer = client
            .kinesis
            .put_records()
            .set_stream_name(client.config.stream_name.clone())
            .set_stream_arn(client.config.stream_arn.clone())
            .set_records(Some(entries))
            .send()
            .await;
        match answer {
            Err(e) => {
                let error = classify("kinesis:PutRecords", &stream, e);
                for i in indices {
                    outcomes[i] = Some(RecordOutcome::failed(&batch.records[i].id, error.clone()));
                }
            }
            Ok(answer) => {
                let latency = started.elapsed();
                for (n, i) in indices.into_iter().enumerate() {
                    let id = &batch.records[i].id;
                    let result = answer.records().get(n);
                    outcomes[i] = Some(match result {
                        Some(r) if r.error_code().is_none() => RecordOutcome::delivered(
                            id,
                            Delivered {
                                reference: format!(
                                    "{}/{}",
                                    r.shard_id().unwrap_or("?"),
                                    r.sequence_number().unwrap_or("?")
                                ),
                                status: None,
                                latency,
                                response_body: None,
                            },
                        ),
                        Some(r) => {
                            let mut e =
                                by_code("kinesis:PutRecords", &stream, r.error_code(), None);
                            if let Some(m) = r.error_message() {
                                e.message = format!(
                                    "{} — {}",
                                    e.message,
                                    m.chars().take(200).collect::<String>()
                                );
                            }
                            RecordOutcome::failed(id, e)
                        }
                        None => RecordOutcome::failed(
                            id,
                            ConnectorError::new(
                                ErrorKind::Unavailable,
                                format!("Kinesis answered without a result for record {id}"),
                                "the record is retried",
                            ),
                        ),
                    });
                }
            }
        }
    }
    let records = outcomes
        .into_iter()
        .zip(&batch.records)
        .map(|(o, r)| {
            o.unwrap_or_else(|| {
                RecordOutcome::failed(&r.id, ConnectorError::internal("no outcome"))
            })
        })
        .collect();
    BatchOutcome { records }
}

/// Splits entries (by size, in order) into PutRecords requests within the limits.
fn group(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let current = groups.last().expect("non-empty");
        if current.len() == MAX_RECORDS || (!current.is_empty() && bytes + size > MAX_REQUEST_BYTES)
        {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        groups.last_mut().expect("non-empty").push(i);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_stay_within_500_records_and_5_mib() {
        let groups = group(&[100; 1_201]);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 201]
        );
        let groups = group(&[MAX_RECORD_BYTES; 11]);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 1]);
        let all: Vec<usize> = groups.concat();
        assert_eq!(all, (0..11).collect::<Vec<_>>(), "order is kept");
        assert!(group(&[]).is_empty());
    }
}
