//! An example host service: it links `courier-catalog` with two selected connectors (the
//! `webhook` and `s3` cargo features), checks a destination from JSON, runs its connection
//! test step by step, and delivers records with retries. `src/main.rs` is its command line;
//! the workspace's `tests/` drive the same functions against real local servers.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use courier_core::{DestinationSpec, Record};
//! use serde_json::json;
//!
//! let catalog = courier_example_host::catalog();
//! let spec = DestinationSpec {
//!     destination_id: "dest_123".into(),
//!     config: json!({"url": "https://api.example.com/webhook"}),
//!     auth_config: json!({"signing_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}),
//!     ..DestinationSpec::default()
//! };
//! courier_example_host::check(&catalog, "webhook", &spec)?;
//! let records = vec![Record::new("rec_1", r#"{"email":"ada@example.com"}"#)];
//! let outcome = courier_example_host::send(&catalog, "webhook", &spec, records).await?;
//! println!("{} delivered", outcome.delivered_count());
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use courier_catalog::Catalog;
use courier_core::{Batch, BatchOutcome, DestinationSpec, Record, TestEvent, TestReport};
use courier_runtime::{Deliverer, DeliveryPolicy};
use futures::StreamExt;

/// The catalog of this build: only the connectors its cargo features selected.
pub fn catalog() -> Catalog {
    Catalog::builtin()
}

/// Every problem with `spec` for destination type `type_id`, each at its JSON path, as one
/// error; or an unknown (or not compiled) type.
pub fn check(catalog: &Catalog, type_id: &str, spec: &DestinationSpec) -> Result<(), String> {
    catalog.get(type_id).map_err(|e| e.to_string())?;
    let problems = catalog.validate(type_id, spec);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(lines.join("\n"))
}

/// Runs the connection test, calling `step` with each step's report as it finishes, and
/// answers the final report.
pub async fn test(
    catalog: &Catalog,
    type_id: &str,
    spec: &DestinationSpec,
    mut step: impl FnMut(&courier_core::StepReport),
) -> Result<TestReport, String> {
    let connector = catalog.get(type_id).map_err(|e| e.to_string())?;
    let events = courier_runtime::test_events(connector, spec.clone(), Duration::from_secs(60));
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            TestEvent::Step(report) => step(&report),
            TestEvent::Done(report) => return Ok(report),
        }
    }
    Err("the connection test ended without a report".to_string())
}

/// Delivers `records` as one batch under the default delivery policy (retries with backoff,
/// circuit breaking), answering one outcome per record.
pub async fn send(
    catalog: &Catalog,
    type_id: &str,
    spec: &DestinationSpec,
    records: Vec<Record>,
) -> Result<BatchOutcome, String> {
    let destination = catalog
        .build(type_id, spec)
        .await
        .map_err(|e| e.to_string())?;
    let deliverer = Deliverer::new(destination, DeliveryPolicy::default());
    let batch_id = format!(
        "batch_{}",
        records.first().map_or("empty", |r| r.id.as_str())
    );
    Ok(deliverer.deliver(Batch::new(batch_id, records)).await)
}
