//! Delivering a batch as files: planned without parsing every payload first, every file written
//! by the connector's upload function, each record's outcome its file's (or the reason planning
//! refused it); a file that turns out to hold a payload that is not JSON makes the batch go
//! again from a checked plan, which refuses that record alone.

use std::future::Future;

use courier_core::{Batch, BatchOutcome, ConnectorError, Delivered, RecordOutcome};

use crate::options::FileLayout;
use crate::plan::{
    FilePlan, PlannedFile, UNCHECKED_RECORD_INVALID, plan_files, plan_files_unchecked,
};
use crate::template::KeyTemplate;
use courier_core::PayloadCap;

/// Plans `batch` and uploads each file with `upload` (which gets the file by value, so one
/// closure serves both plans). A batch that makes one file has its payloads checked as JSON
/// while the file is written, overlapping the upload; if one is not, the file fails before it
/// is complete, and the batch is planned again with the check first and delivered from that
/// plan, refusing only that record (the key depends only on the batch, so the file is
/// overwritten, not duplicated). Batches split into several files are checked first.
pub async fn deliver_files<F, Fut>(
    batch: &Batch,
    layout: &FileLayout,
    template: &KeyTemplate,
    cap: PayloadCap,
    destination_id: &str,
    mut upload: F,
) -> BatchOutcome
where
    F: FnMut(PlannedFile) -> Fut,
    Fut: Future<Output = Result<Delivered, ConnectorError>>,
{
    let fast = plan_files_unchecked(batch, layout, template, cap, destination_id);
    if fast.files.len() > 1 {
        // Split files: a record refused later could shift the split and leave the first
        // pass's files beside the second's, so these are checked before anything is sent.
        let checked = plan_files(batch, layout, template, cap, destination_id);
        return deliver_plan(batch, &checked, |file| upload(file.clone())).await;
    }
    let outcome = deliver_plan(batch, &fast, |file| upload(file.clone())).await;
    let found_invalid = outcome.records.iter().any(|r| {
        r.error()
            .is_some_and(|e| e.message.ends_with(UNCHECKED_RECORD_INVALID))
    });
    if !found_invalid {
        return outcome;
    }
    tracing::debug!(batch = %batch.id, "a payload is not JSON; planning the batch again with every record checked");
    let checked = plan_files(batch, layout, template, cap, destination_id);
    deliver_plan(batch, &checked, |file| upload(file.clone())).await
}

/// Uploads each planned file in turn with `upload` and returns one outcome per record, in
/// batch order.
pub async fn deliver_plan<'a, F, Fut>(
    batch: &'a Batch,
    plan: &'a FilePlan,
    mut upload: F,
) -> BatchOutcome
where
    F: FnMut(&'a PlannedFile) -> Fut,
    Fut: Future<Output = Result<Delivered, ConnectorError>>,
{
    let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.records.len()];
    for (i, error) in &plan.refused {
        outcomes[*i] = Some(RecordOutcome::failed(&batch.records[*i].id, error.clone()));
    }
    for file in &plan.files {
        let result = upload(file).await;
        for &i in &file.records {
            let id = &batch.records[i].id;
            outcomes[i] = Some(match &result {
                Ok(d) => RecordOutcome::delivered(id, d.clone()),
                Err(e) => RecordOutcome::failed(id, e.clone()),
            });
        }
    }
    let records = outcomes
        .into_iter()
        .zip(&batch.records)
        .map(|(o, r)| {
            o.unwrap_or_else(|| {
                RecordOutcome::failed(
                    &r.id,
                    ConnectorError::internal("the file plan skipped this record"),
                )
            })
        })
        .collect();
    BatchOutcome { records }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use courier_core::{ErrorKind, Record};

    use super::*;
    use crate::options::FileOptions;
    use crate::parts::{PartStream, encode_error};

    /// Uploads by streaming the file in parts, as the object stores do; keeps what it wrote.
    async fn run(batch: &Batch) -> (BatchOutcome, Vec<Vec<u8>>, usize) {
        let options: FileOptions = serde_json::from_value(serde_json::json!({})).unwrap();
        let template = options.template().unwrap();
        let written = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0usize));
        let layout = options.layout.clone();
        let outcome = deliver_files(
            batch,
            &options.layout,
            &template,
            PayloadCap(1 << 30),
            "d",
            |file| {
                let (written, attempts, layout) =
                    (written.clone(), attempts.clone(), layout.clone());
                async move {
                    *attempts.lock().unwrap() += 1;
                    let mut parts = PartStream::start(batch, &file, &layout, 1000);
                    let mut bytes = Vec::new();
                    while let Some(part) = parts.next().await {
                        bytes.extend(part);
                    }
                    parts.finish().await?;
                    written.lock().unwrap().push(bytes);
                    Ok(Delivered {
                        reference: file.key.clone(),
                        status: None,
                        latency: Duration::ZERO,
                        response_body: None,
                    })
                }
            },
        )
        .await;
        let written = written.lock().unwrap().clone();
        let attempts = *attempts.lock().unwrap();
        (outcome, written, attempts)
    }

    fn records(bad: Option<usize>) -> Vec<Record> {
        (0..50)
            .map(|i| {
                let payload = if Some(i) == bad {
                    "{not json".to_string()
                } else {
                    format!(r#"{{"i":{i},"pad":"{}"}}"#, "x".repeat(40))
                };
                Record::new(format!("r{i}"), payload)
            })
            .collect()
    }

    #[tokio::test]
    async fn valid_batches_are_written_once_without_a_checked_plan() {
        let batch = Batch::new("b", records(None));
        let (outcome, written, attempts) = run(&batch).await;
        assert_eq!(outcome.delivered_count(), 50);
        assert_eq!((written.len(), attempts), (1, 1));
    }

    #[tokio::test]
    async fn a_host_that_vouches_for_json_saves_the_parse_but_not_the_line_check() {
        // The payloads are not parsed: what the host vouched for is written as given.
        let batch = Batch::new("b", records(Some(3))).with_json_payloads();
        let (outcome, written, attempts) = run(&batch).await;
        assert_eq!((outcome.delivered_count(), attempts), (50, 1));
        assert!(String::from_utf8_lossy(&written[0]).contains("{not json\n"));
        // A line break would still break the NDJSON file: refused alone, as without the word.
        let mut split = records(None);
        split[9] = Record::new("r9", "{\"a\":\r\n1}");
        let batch = Batch::new("b2", split).with_json_payloads();
        let (outcome, _, attempts) = run(&batch).await;
        assert_eq!((attempts, outcome.delivered_count()), (2, 49));
        assert!(
            outcome.records[9]
                .error()
                .unwrap()
                .message
                .contains("line break")
        );
        // A retry of part of the batch keeps the host's word.
        assert!(batch.with_records(Vec::new()).json_payloads);
    }

    #[tokio::test]
    async fn a_payload_that_is_not_json_is_refused_alone_after_a_checked_plan() {
        let batch = Batch::new("b", records(Some(37)));
        let (outcome, written, attempts) = run(&batch).await;
        assert_eq!(
            attempts, 2,
            "the unchecked file failed, the checked one went"
        );
        assert_eq!(outcome.delivered_count(), 49);
        let refused = outcome.records[37].error().unwrap();
        assert_eq!(refused.kind, ErrorKind::Rejected);
        assert!(refused.message.contains("r37"), "{refused:?}");
        assert_eq!(written.len(), 1);
        assert!(!String::from_utf8_lossy(&written[0]).contains("not json"));
        // A payload on two lines cannot be one NDJSON line: refused alone too.
        let mut split = records(None);
        split[5] = Record::new("r5", "{\"a\":\n1}");
        let (outcome, _, attempts) = run(&Batch::new("b2", split)).await;
        assert_eq!((attempts, outcome.delivered_count()), (2, 49));
        assert!(
            outcome.records[5]
                .error()
                .unwrap()
                .message
                .contains("line break")
        );
        // The error a writer raises is recognized as such.
        let e = encode_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("record r1 {UNCHECKED_RECORD_INVALID}"),
        ));
        assert_eq!(e.kind, ErrorKind::Rejected);
    }
}
