//! Delivering a batch as messages: each record's keys rendered and its entry built (a record
//! that cannot be sent fails alone, before anything is sent), entries grouped within the
//! provider's limits and sent request by request in batch order, each record's outcome the
//! provider's answer for its entry.

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

/// One attempt at `batch`: an outcome per record, in the batch's order.
pub(crate) async fn deliver_messages<C: MessageConnector>(
    connector: &C,
    client: &MessageClient<C>,
    batch: &Batch,
) -> BatchOutcome {
    let limits = connector.limits(&client.config);
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
    for request in group(&sizes, limits) {
        let (indices, entries): (Vec<usize>, Vec<C::Entry>) =
            request.into_iter().filter_map(|n| ready[n].take()).unzip();
        match connector.send(client, entries).await {
            Err(error) => {
                for i in indices {
                    let id = &batch.records[i].id;
                    outcomes[i] = Some(RecordOutcome::failed(id, error.detached()));
                }
            }
            Ok(results) => {
                let mut results = results.into_iter();
                for i in indices {
                    let id = &batch.records[i].id;
                    outcomes[i] = Some(match results.next() {
                        Some(Ok(delivered)) => RecordOutcome::delivered(id, delivered),
                        Some(Err(e)) => RecordOutcome::failed(id, e),
                        None => RecordOutcome::failed(
                            id,
                            ConnectorError::new(
                                ErrorKind::Unavailable,
                                format!("{service} answered without a result for record {id}"),
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
