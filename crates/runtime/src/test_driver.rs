//! The connection-test driver: `validate` and `connect` steps, then the connector's own steps,
//! under a deadline and with panics caught, streamed as events ending in exactly one `done`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use courier_core::{
    BuildError, ConnectorError, DestinationSpec, DynConnector, ErrorKind, Probe, StepReport,
    StepStatus, TestEvent, TestReport,
};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Runs a connection test and returns its events as a stream (for SSE or live printing).
pub fn test_events(
    connector: Arc<dyn DynConnector>,
    spec: DestinationSpec,
    deadline: Duration,
) -> impl Stream<Item = TestEvent> + Send + 'static {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        run_test(connector.as_ref(), &spec, deadline, &tx).await;
    });
    // Whoever drops the stream (a client that went away) stops the test with it.
    let running = AbortOnDrop(task.abort_handle());
    futures::stream::unfold((rx, running), |(mut rx, running)| async move {
        rx.recv().await.map(|e| (e, (rx, running)))
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Recorder<'a> {
    events: &'a mpsc::UnboundedSender<TestEvent>,
    steps: Vec<StepReport>,
}

impl Recorder<'_> {
    fn push(&mut self, report: StepReport) {
        let _ = self.events.send(TestEvent::Step(report.clone()));
        self.steps.push(report);
    }
}

/// Runs a connection test, sending each step and then one `done` to `events`; returns the report.
pub async fn run_test(
    connector: &dyn DynConnector,
    spec: &DestinationSpec,
    deadline: Duration,
    events: &mpsc::UnboundedSender<TestEvent>,
) -> TestReport {
    let started = Instant::now();
    let mut rec = Recorder {
        events,
        steps: Vec::new(),
    };
    let plan = connector.metadata().test_steps;

    run_steps(connector, spec, deadline, &mut rec).await;

    // Every planned step appears exactly once: those never reached are reported as skipped.
    let seen: HashSet<String> = rec.steps.iter().map(|s| s.name.clone()).collect();
    for step in plan.iter().filter(|s| !seen.contains(s.name)) {
        rec.push(StepReport::skipped(
            step.name,
            step.label,
            "not run: an earlier step failed",
        ));
    }
    let report = TestReport {
        success: !rec.steps.iter().any(|s| s.status == StepStatus::Failed),
        steps: rec.steps,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let _ = events.send(TestEvent::Done(report.clone()));
    report
}

async fn run_steps(
    connector: &dyn DynConnector,
    spec: &DestinationSpec,
    deadline: Duration,
    rec: &mut Recorder<'_>,
) {
    let started = Instant::now();
    let errors = connector.validate(spec);
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let e = ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("the destination is not valid: {}", list.join("; ")),
            "correct the fields listed and test again",
        );
        rec.push(StepReport::failed(
            "validate",
            "Configuration is valid",
            &e,
            started.elapsed(),
        ));
        rec.push(StepReport::skipped(
            "build",
            "Client created",
            "not run: an earlier step failed",
        ));
        return;
    }
    rec.push(StepReport::passed(
        "validate",
        "Configuration is valid",
        "config and auth_config are valid",
        started.elapsed(),
    ));

    let t = Instant::now();
    let built = match tokio::time::timeout(deadline, connector.build(spec)).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(BuildError::Connect(e))) => Err(e),
        // Validation passed a moment ago, so this would be a connector whose build disagrees
        // with its own validation.
        Ok(Err(BuildError::Invalid(errors))) => Err(ConnectorError::internal(format!(
            "the connector refused a config its validation accepted ({} problem(s))",
            errors.len()
        ))),
        Err(_) => Err(deadline_error(deadline)),
    };
    let destination = match built {
        Ok(d) => d,
        Err(e) => {
            rec.push(StepReport::failed(
                "build",
                "Client created",
                &e,
                t.elapsed(),
            ));
            return;
        }
    };
    rec.push(StepReport::passed(
        "build",
        "Client created",
        "client ready",
        t.elapsed(),
    ));

    // The connector's steps run in their own task so a panic is contained; their reports stream
    // through the probe's channel as they finish.
    let (tx, mut rx) = mpsc::unbounded_channel::<StepReport>();
    let plan = connector.metadata().test_steps;
    let mut task = tokio::spawn(async move {
        let mut probe = Probe::new(plan, tx);
        destination.test(&mut probe).await
    });
    // A test stopped from outside (its listener went away) stops its steps too.
    let _steps = AbortOnDrop(task.abort_handle());
    let remaining = deadline.saturating_sub(started.elapsed());
    let sleep = tokio::time::sleep(remaining);
    tokio::pin!(sleep);
    let result = loop {
        tokio::select! {
            Some(report) = rx.recv() => rec.push(report),
            joined = &mut task => break Some(joined),
            _ = &mut sleep => break None,
        }
    };
    // Drain reports sent just before the task finished.
    while let Ok(report) = rx.try_recv() {
        rec.push(report);
    }
    let failed_already = rec.steps.iter().any(|s| s.status == StepStatus::Failed);
    let next_step = || {
        let seen: HashSet<&str> = rec.steps.iter().map(|s| s.name.as_str()).collect();
        plan.iter()
            .find(|s| !seen.contains(s.name))
            .map(|s| (s.name, s.label))
            .unwrap_or(("test", "Connection test"))
    };
    match result {
        Some(Ok(Ok(()))) => {}
        Some(Ok(Err(e))) => {
            if !failed_already {
                let (name, label) = next_step();
                rec.push(StepReport::failed(name, label, &e, Duration::ZERO));
            }
        }
        Some(Err(join)) => {
            let (name, label) = next_step();
            let e = ConnectorError::internal(if join.is_panic() {
                "the connector panicked during the test"
            } else {
                "the connection test was cancelled"
            });
            rec.push(StepReport::failed(name, label, &e, Duration::ZERO));
        }
        None => {
            task.abort();
            let (name, label) = next_step();
            rec.push(StepReport::failed(
                name,
                label,
                &deadline_error(deadline),
                Duration::ZERO,
            ));
        }
    }
}

fn deadline_error(deadline: Duration) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Timeout,
        format!(
            "the connection test did not finish within {} s",
            deadline.as_secs_f64()
        ),
        "check that the destination is reachable from here and responds promptly",
    )
}
