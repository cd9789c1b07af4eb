//! Connection-test steps: `Probe` runs and reports named steps; `TestEvent` is what streams out.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{ConnectorError, ErrorKind};
use crate::meta::StepSpec;

/// How a test step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The check succeeded.
    Passed,
    /// The check failed; the report carries the error's kind and hint.
    Failed,
    /// The step did not run: it does not apply, or an earlier step failed.
    Skipped,
}

/// The report of one step: what was checked, how it went, and for a failure what to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReport {
    /// The step's id (`write_permission`).
    pub name: String,
    /// What the step checks, for a person; the id again when the plan has no such step.
    pub label: String,
    /// Whether it passed, failed or was skipped.
    pub status: StepStatus,
    /// What the step found, why it failed, or why it was skipped.
    pub message: String,
    /// What to change; set only for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The kind of the failure; set only for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// How long the step took, in milliseconds (0 when skipped, or failed outside a step).
    pub duration_ms: u64,
}

impl StepReport {
    /// A passed step that took `took`, with what it found.
    pub fn passed(name: &str, label: &str, message: impl Into<String>, took: Duration) -> Self {
        StepReport {
            name: name.to_string(),
            label: label.to_string(),
            status: StepStatus::Passed,
            message: message.into(),
            hint: None,
            error_kind: None,
            duration_ms: took.as_millis() as u64,
        }
    }

    /// A failed step, with the message, hint and kind of `error`.
    pub fn failed(name: &str, label: &str, error: &ConnectorError, took: Duration) -> Self {
        StepReport {
            name: name.to_string(),
            label: label.to_string(),
            status: StepStatus::Failed,
            message: error.message.clone(),
            hint: Some(error.hint.clone()),
            error_kind: Some(error.kind),
            duration_ms: took.as_millis() as u64,
        }
    }

    /// A skipped step, with why it did not run.
    pub fn skipped(name: &str, label: &str, message: impl Into<String>) -> Self {
        StepReport {
            name: name.to_string(),
            label: label.to_string(),
            status: StepStatus::Skipped,
            message: message.into(),
            hint: None,
            error_kind: None,
            duration_ms: 0,
        }
    }
}

/// The overall result of a connection test: success means no step failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TestReport {
    /// True when no step failed (skipped steps do not count against it).
    pub success: bool,
    /// Every step in the order reported: the runtime's, then the connector's; planned steps
    /// never reached appear as skipped.
    pub steps: Vec<StepReport>,
    /// How long the whole test took, in milliseconds.
    pub duration_ms: u64,
}

impl TestReport {
    /// The first failed step, if any.
    pub fn failed_step(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed)
    }
}

/// What a connection test streams: each step as it finishes, then exactly one `done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TestEvent {
    /// One step finished.
    Step(StepReport),
    /// The test is over; the last event.
    Done(TestReport),
}

/// Handed to `Connector::test`: runs each named step, times it, and reports it as it finishes.
#[derive(Debug)]
pub struct Probe {
    plan: &'static [StepSpec],
    sink: UnboundedSender<StepReport>,
}

impl Probe {
    /// A probe that labels steps from `plan` (the connector's [`test_steps`]) and sends each
    /// report to `sink` as it finishes.
    ///
    /// [`test_steps`]: crate::ConnectorMeta::test_steps
    pub fn new(plan: &'static [StepSpec], sink: UnboundedSender<StepReport>) -> Self {
        Probe { plan, sink }
    }

    fn label(&self, name: &str) -> String {
        self.plan
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.label.to_string())
            .unwrap_or_else(|| name.to_string())
    }

    /// Runs one step. The future returns its value and a message saying what it found; an error
    /// is reported as this step's failure and handed back for `?`.
    pub async fn step<T, F>(&mut self, name: &str, fut: F) -> Result<T, ConnectorError>
    where
        F: Future<Output = Result<(T, String), ConnectorError>>,
    {
        let started = Instant::now();
        let result = fut.await;
        let took = started.elapsed();
        let label = self.label(name);
        match result {
            Ok((value, message)) => {
                self.emit(StepReport::passed(name, &label, message, took));
                Ok(value)
            }
            Err(error) => {
                self.emit(StepReport::failed(name, &label, &error, took));
                Err(error)
            }
        }
    }

    /// Reports a step as skipped, with the reason (e.g. `tls` on plain http).
    pub fn skip(&mut self, name: &str, message: impl Into<String>) {
        let label = self.label(name);
        self.emit(StepReport::skipped(name, &label, message));
    }

    /// Reports a failure that happened outside any named step.
    pub fn fail(&mut self, name: &str, error: &ConnectorError) {
        let label = self.label(name);
        self.emit(StepReport::failed(name, &label, error, Duration::ZERO));
    }

    fn emit(&self, report: StepReport) {
        tracing::debug!(step = %report.name, status = ?report.status, "test step finished");
        // The receiver only goes away when the test was abandoned (deadline); nothing to do then.
        let _ = self.sink.send(report);
    }
}
