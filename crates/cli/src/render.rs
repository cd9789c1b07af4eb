//! `courier catalog`, `courier test` and `courier fields`: running them and printing results for
//! people (live steps) or scripts (`--json`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use courier_catalog::{Catalog, ConnectorEntry};
use courier_core::{StepReport, StepStatus, TestEvent};
use futures::StreamExt;

use crate::cli::TargetArgs;
use crate::error::CliError;
use crate::input;

const TEST_DEADLINE: Duration = Duration::from_secs(120);

pub fn openapi(catalog: &Catalog) -> Result<ExitCode, CliError> {
    let document = courier_server::api::openapi_document(catalog)
        .map_err(|e| CliError::Failed(format!("could not build the OpenAPI document: {e}")))?;
    let json = serde_json::to_string_pretty(&document)
        .map_err(|e| CliError::Failed(format!("could not render the OpenAPI document: {e}")))?;
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

pub fn catalog(catalog: &Catalog, only: Option<&str>) -> Result<ExitCode, CliError> {
    let json = match only {
        None => serde_json::to_string_pretty(&catalog.document()),
        Some(t) => {
            let c = catalog.get(t).map_err(|e| CliError::Input(e.to_string()))?;
            serde_json::to_string_pretty(&ConnectorEntry::of(c.as_ref()))
        }
    }
    .map_err(|e| CliError::Failed(format!("could not render the catalog: {e}")))?;
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

pub async fn test(catalog: &Catalog, args: TargetArgs) -> Result<ExitCode, CliError> {
    let (connector, spec) = input::validated(catalog, &args)?;
    let mut events = Box::pin(courier_runtime::test_events(connector, spec, TEST_DEADLINE));
    let mut success = false;
    let stdout = std::io::stdout();
    while let Some(event) = events.next().await {
        let mut out = stdout.lock();
        if args.json {
            let line = serde_json::to_string(&event).unwrap_or_default();
            let _ = writeln!(out, "{line}");
        } else {
            match &event {
                TestEvent::Step(step) => print_step(&mut out, step),
                TestEvent::Done(report) => {
                    let _ = writeln!(
                        out,
                        "\n{} ({} ms)",
                        if report.success {
                            "Connection test passed"
                        } else {
                            "Connection test FAILED"
                        },
                        report.duration_ms
                    );
                }
            }
        }
        let _ = out.flush();
        if let TestEvent::Done(report) = &event {
            success = report.success;
        }
    }
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_step(out: &mut impl Write, step: &StepReport) {
    let mark = match step.status {
        StepStatus::Passed => "✓",
        StepStatus::Failed => "✗",
        StepStatus::Skipped => "-",
    };
    let _ = writeln!(
        out,
        "{mark} {:<16} {} ({} ms)",
        step.name, step.label, step.duration_ms
    );
    let _ = writeln!(out, "    {}", step.message);
    if let Some(hint) = &step.hint {
        let _ = writeln!(out, "    hint: {hint}");
    }
}

pub async fn fields(catalog: &Catalog, args: TargetArgs) -> Result<ExitCode, CliError> {
    let destination = input::destination(catalog, &args).await?;
    let fields = destination
        .describe_fields()
        .await
        .map_err(|e| CliError::Failed(format!("{}\n  hint: {}", e.message, e.hint)))?;
    let json = serde_json::to_string_pretty(&fields).unwrap_or_default();
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}
