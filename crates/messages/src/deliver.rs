//! Delivering a batch as messages: each record's keys rendered and its entry built (a record
//! that cannot be sent fails alone, before anything is sent), entries grouped within the
//! provider's limits and sent request by request in batch order, each record's outcome the
//! provider's answer for its entry; a failed entry of an ordered key holds back the later
//! entries of that key.

use std::collections::HashMap;

use courier_core::{Batch, BatchOutcome, ConnectorError, ErrorKind, Record, RecordOutcome};
use serde_json::Value;

use crate::connector::{KeySpec, MessageClient, MessageConfig, MessageConnector};
use crate::key::KeyTemplate;
use crate::limits::{group, human_bytes};

fn rejected(record: &Record, message: String, hint: String) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Rejected,
        format!("record {}: {message}", record.id),
        hint,
    )
}

/// The record's keys, in the config's order; `None` where the config has no template.
fn render_keys(
    templates: &[Option<KeyTemplate>],
    specs: &[KeySpec<'_>],
    record: &Record,
) -> Result<Vec<Option<String>>, ConnectorError> {
    let Some(first) = specs
        .iter()
        .zip(templates)
        .find_map(|(spec, t)| t.as_ref().map(|_| spec.name))
    else {
        return Ok(vec![None; templates.len()]);
    };
    let payload: Value = serde_json::from_slice(&record.payload).map_err(|_| {
        rejected(
            record,
            format!("is not valid JSON, so no {first} can be read from it"),
            "send JSON records".into(),
        )
    })?;
    let mut keys = Vec::with_capacity(templates.len());
    for (spec, template) in specs.iter().zip(templates) {
        let Some(template) = template else {
            keys.push(None);
            continue;
        };
        let key = match (template.render(&payload), spec.fallback) {
            (Ok(key), _) => key,
            (Err(_), Some(fallback)) => fallback.to_string(),
            (Err(path), None) => {
                let hint = match spec.fallback_field {
                    Some(field) => format!("send the field, or set {field}"),
                    None => "send the field".to_string(),
                };
                return Err(rejected(
                    record,
                    format!("has no value at {path} for the {}", spec.name),
                    hint,
                ));
            }
        };
        if key.chars().count() > spec.max_chars {
            return Err(rejected(
                record,
                format!("{} is longer than {} characters", spec.name, spec.max_chars),
                format!("use a shorter {}", spec.field),
            ));
        }
        keys.push(Some(key));
    }
    Ok(keys)
}

/// The failure of a record held back behind an earlier failed entry of its ordered key: the
/// same kind (so it is retried with it, or not) and retry hint.
fn held_back(first: &ConnectorError, record_id: &str) -> ConnectorError {
    ConnectorError::new(
        first.kind,
        format!(
            "record {record_id} was not sent: an earlier message with its ordering key failed in this batch ({}), and it may not overtake it",
            first.message
        ),
        first.hint.clone(),
    )
    .with_retry_after(first.retry_after)
}

/// One attempt at `batch`: an outcome per record, in the batch's order.
pub(crate) async fn deliver_messages<C: MessageConnector>(
    connector: &C,
    client: &MessageClient<C>,
    batch: &Batch,
) -> BatchOutcome {
    let limits = connector.limits_for(client).await;
    let specs = client.config.keys();
    let service = connector.metadata().label;
    let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.records.len()];
    let mut ready: Vec<(usize, usize, C::Entry)> = Vec::new();
    for (index, record) in batch.records.iter().enumerate() {
        let prepared = render_keys(&client.keys, &specs, record)
            .and_then(|keys| connector.entry(client, record, &keys));
        match prepared {
            Ok((size, _)) if size > limits.max_record_bytes => {
                let error = ConnectorError::new(
                    ErrorKind::PayloadTooLarge,
                    format!(
                        "record {} is {size} bytes as {service} counts it, over its {} per record",
                        record.id,
                        human_bytes(limits.max_record_bytes)
                    ),
                    format!(
                        "send records under {}",
                        human_bytes(limits.max_record_bytes)
                    ),
                );
                outcomes[index] = Some(RecordOutcome::failed(&record.id, error));
            }
            Ok((size, entry)) => ready.push((index, size, entry)),
            Err(e) => outcomes[index] = Some(RecordOutcome::failed(&record.id, e)),
        }
    }

    let sizes: Vec<usize> = ready.iter().map(|(_, size, _)| *size).collect();
    let mut ready: Vec<Option<(usize, C::Entry)>> = ready
        .into_iter()
        .map(|(index, _, entry)| Some((index, entry)))
        .collect();
    // Ordered keys whose entry failed in this batch, with the first failure.
    let mut halted: HashMap<String, ConnectorError> = HashMap::new();
    for request in group(&sizes, limits) {
        let mut indices = Vec::with_capacity(request.len());
        let mut entries = Vec::with_capacity(request.len());
        let mut keys = Vec::with_capacity(request.len());
        for (i, entry) in request.into_iter().filter_map(|n| ready[n].take()) {
            let key = connector.order_key(&entry).map(str::to_string);
            if let Some(first) = key.as_ref().and_then(|k| halted.get(k)) {
                let id = &batch.records[i].id;
                outcomes[i] = Some(RecordOutcome::failed(id, held_back(first, id)));
                continue;
            }
            indices.push(i);
            entries.push(entry);
            keys.push(key);
        }
        if entries.is_empty() {
            continue;
        }
        let results: Vec<Result<_, ConnectorError>> = match connector.send(client, entries).await {
            Err(error) => indices.iter().map(|_| Err(error.detached())).collect(),
            Ok(results) => {
                let mut results = results.into_iter();
                indices
                    .iter()
                    .map(|&i| {
                        results.next().unwrap_or_else(|| {
                            let id = &batch.records[i].id;
                            Err(ConnectorError::new(
                                ErrorKind::Unavailable,
                                format!("{service} answered without a result for record {id}"),
                                "the record is retried",
                            ))
                        })
                    })
                    .collect()
            }
        };
        for ((i, key), result) in indices.into_iter().zip(keys).zip(results) {
            let id = &batch.records[i].id;
            outcomes[i] = Some(match result {
                Ok(delivered) => RecordOutcome::delivered(id, delivered),
                Err(e) => {
                    // A permanent failure ends its record (dead-lettered): nothing waits behind
                    // it, so only a failure that is retried holds its key's later entries.
                    if let Some(key) = key
                        && e.kind.is_retryable()
                    {
                        halted.entry(key).or_insert_with(|| e.detached());
                    }
                    RecordOutcome::failed(id, e)
                }
            });
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
