//! One attempt as a lane makes it: the claimed deliveries become a batch, the runtime attempts
//! it under the destination's policy, and each record's verdict becomes how its claim ends
//! (delivered, retried at a time, failed for good) with the attempt's log, recorded by the
//! writer before the claims are let go.

use std::time::SystemTime;

use courier_core::{Batch, ConnectorError, ErrorKind, Outcome, Record};
use courier_runtime::{Guarded, Next, Slot};
use metrics::{Counter, Histogram};
use tokio::sync::OwnedSemaphorePermit;

use super::dispatch::Queued;
use super::writer::{Finished, Suspend, Writer};
use crate::ids;
use crate::store::{AttemptLog, Finish};

/// A destination's delivery metrics, registered once per lane.
#[derive(Clone)]
pub(crate) struct LaneMetrics {
    delivered: Counter,
    retried: Counter,
    failed: Counter,
    seconds: Histogram,
}

impl LaneMetrics {
    pub(crate) fn new(destination_id: &str) -> Self {
        let counter = |outcome: &'static str| metrics::counter!("courier_deliveries_total", "destination_id" => destination_id.to_string(), "outcome" => outcome);
        LaneMetrics {
            delivered: counter("delivered"),
            retried: counter("retried"),
            failed: counter("failed"),
            seconds: metrics::histogram!("courier_delivery_attempt_seconds", "destination_id" => destination_id.to_string()),
        }
    }
}

/// What the lane needs to know of an attempt once it is recorded: the first failure's HTTP
/// status and error, whether they suspended the destination, how many records were delivered
/// and which deliveries ended failed.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub first_failure: Option<(Option<u16>, ConnectorError)>,
    /// The answer suspended the destination (written with the results): its new status and why.
    pub suspended: Option<(&'static str, String)>,
    pub delivered: usize,
    pub dead_letters: Vec<DeadLetter>,
    /// The longest `Retry-After` a failure carried (clamped by the policy).
    pub retry_after: Option<std::time::Duration>,
}

/// A delivery that ended failed, as its operational event tells it.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempts: i64,
    pub error: ConnectorError,
}

/// The attempt log of a failure: kind, message, and what the target answered (4 KiB at most).
pub(crate) fn failure_log(
    error: &ConnectorError,
    response: Option<&courier_core::Response>,
    duration_ms: i64,
    started_at: &str,
) -> AttemptLog {
    AttemptLog {
        started_at: started_at.to_string(),
        duration_ms,
        outcome: "failed".into(),
        http_status: response.map(|r| i64::from(r.status)),
        error_kind: Some(error.kind.as_str().to_string()),
        error: Some(error.message.clone()),
        response: response.and_then(|r| r.body.clone()),
        ..AttemptLog::default()
    }
}

fn timestamp(t: SystemTime) -> String {
    ids::timestamp(time::OffsetDateTime::from(t))
}

/// Attempts `jobs` as one batch under `slot`, records how each claim ends, then lets the claims
/// go. Record ids are delivery ids, stable across attempts (the webhook-id); the batch id is the
/// first delivery's, so a batch retried whole keeps its file key. Every payload was serialized
/// from parsed JSON when its event was accepted, so file connectors need not parse it again.
pub(crate) async fn attempt(
    writer: Writer,
    guarded: Guarded,
    slot: Slot,
    permit: OwnedSemaphorePermit,
    jobs: Vec<Queued>,
    metrics: LaneMetrics,
    built_at: String,
) -> Report {
    let batch = Batch::new(
        jobs[0].job.id.clone(),
        jobs.iter()
            .map(|q| {
                let record = Record::new(q.job.id.clone(), q.job.payload.clone().into_bytes())
                    .with_event(q.job.event_type.clone(), q.job.event_id.clone());
                // Event ids are UUIDv7: they carry when the event was accepted.
                match crate::ids::time_of_id(&q.job.event_id) {
                    Some(at) => record.with_event_time(at),
                    None => record,
                }
            })
            .collect(),
    )
    .with_json_payloads();
    let prior: Vec<u32> = jobs.iter().map(|q| q.job.attempts as u32).collect();
    let attempt = guarded.attempt(slot, &batch, &prior).await;
    drop(permit);
    drop(batch);
    metrics.seconds.record(attempt.took.as_secs_f64());
    let started_at = timestamp(attempt.started_at);
    let duration_ms = attempt.took.as_millis() as i64;
    let now_ms = crate::clock::queue_now_ms();
    let mut report = Report::default();
    let mut items = Vec::with_capacity(jobs.len());
    for (q, verdict) in jobs.iter().zip(attempt.records) {
        let (finish, log) = match verdict.outcome.outcome {
            Outcome::Delivered(d) => {
                metrics.delivered.increment(1);
                report.delivered += 1;
                let log = AttemptLog {
                    started_at: started_at.clone(),
                    duration_ms,
                    outcome: "delivered".into(),
                    http_status: d.status.map(i64::from),
                    reference: Some(d.reference),
                    response: d.response_body,
                    ..AttemptLog::default()
                };
                (Finish::Delivered, log)
            }
            Outcome::Failed { error, response } => {
                let log = failure_log(&error, response.as_ref(), duration_ms, &started_at);
                let finish = match verdict.next {
                    Next::RetryAfter(wait) => {
                        metrics.retried.increment(1);
                        Finish::Retry {
                            at_ms: now_ms + wait.as_millis() as i64,
                        }
                    }
                    _ => {
                        metrics.failed.increment(1);
                        if super::notices::may_report(&q.job.event_type) {
                            report.dead_letters.push(DeadLetter {
                                delivery_id: q.job.id.clone(),
                                event_id: q.job.event_id.clone(),
                                event_type: q.job.event_type.clone(),
                                attempts: q.job.attempts + 1,
                                error: error.clone(),
                            });
                        }
                        Finish::Failed
                    }
                };
                if let Some(wait) = error.retry_after {
                    let wait = guarded.policy().clamp_retry_after(wait);
                    report.retry_after = report.retry_after.max(Some(wait));
                }
                if report.first_failure.is_none() {
                    report.first_failure = Some((response.as_ref().map(|r| r.status), error));
                }
                (finish, log)
            }
        };
        items.push(Finished::of(&q.job, finish, Some(log)));
    }
    let suspend = report.first_failure.as_ref().and_then(|(status, error)| {
        let status = if *status == Some(410) {
            (
                "disabled",
                "the endpoint answered 410 Gone: it no longer accepts deliveries".to_string(),
            )
        } else if error.kind == ErrorKind::ReauthRequired {
            ("reauth_required", error.message.clone())
        } else {
            return None;
        };
        Some(Suspend {
            destination_id: jobs[0].job.destination_id.clone(),
            status: status.0,
            reason: status.1,
            built_at,
        })
    });
    report.suspended = suspend.as_ref().map(|s| (s.status, s.reason.clone()));
    writer.finish(items, suspend).await;
    drop(jobs);
    report
}
