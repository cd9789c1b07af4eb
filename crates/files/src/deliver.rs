//! Delivering a batch as planned files: every file is written by the connector's upload
//! function, and each record's outcome is its file's (or the reason planning refused it).

use std::future::Future;

use courier_core::{Batch, BatchOutcome, ConnectorError, Delivered, RecordOutcome};

use crate::plan::{FilePlan, PlannedFile};

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
