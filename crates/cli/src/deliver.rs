//! `courier deliver`: each NDJSON line becomes one record, batches go through the delivery
//! policy, progress goes to stderr on a terminal, and a JSON summary goes to stdout.

use std::io::IsTerminal;
use std::process::ExitCode;

use bytes::Bytes;
use courier_catalog::Catalog;
use courier_core::{Batch, Record};
use courier_runtime::{Deliverer, DeliveryPolicy};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::DeliverArgs;
use crate::error::CliError;
use crate::input;

#[derive(Debug, Serialize)]
struct Summary {
    delivered: usize,
    failed: usize,
    failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    line: usize,
    record_id: String,
    kind: courier_core::ErrorKind,
    reason: String,
    hint: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
}

/// Reads the input: one record per non-empty line, each checked to be JSON before anything is
/// sent, so a malformed file fails whole with the line number instead of half-delivering.
fn read_records(path: &std::path::Path) -> Result<Vec<(usize, Record)>, CliError> {
    let text = std::fs::read(path)
        .map_err(|e| CliError::Input(format!("--input: cannot read {}: {e}", path.display())))?;
    let mut records = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            return Err(CliError::Input(format!(
                "{}:{}: not valid JSON (column {}): nothing was delivered",
                path.display(),
                i + 1,
                e.column()
            )));
        }
        // Stable ids: the same line in the same place gets the same id on a rerun, so receivers
        // can de-duplicate.
        let digest = Sha256::digest(line);
        let id = format!("rec_{}_{}", i + 1, hex(&digest[..8]));
        records.push((i + 1, Record::new(id, Bytes::copy_from_slice(line))));
    }
    Ok(records)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn run(catalog: &Catalog, args: DeliverArgs) -> Result<ExitCode, CliError> {
    let policy = match &args.policy {
        None => DeliveryPolicy::default(),
        Some(raw) => {
            let json = input::json_arg("policy", raw)?;
            DeliveryPolicy::from_json(&json, "/policy").map_err(|e| CliError::invalid(&e))?
        }
    };
    let records = read_records(&args.input)?;
    let destination = input::destination(catalog, &args.target).await?;
    let deliverer = Deliverer::new(destination, policy);

    let lines: std::collections::HashMap<String, usize> = records
        .iter()
        .map(|(line, r)| (r.id.clone(), *line))
        .collect();
    let batches: Vec<Batch> = records
        .chunks(args.batch_size as usize)
        .map(|chunk| {
            let first = chunk[0].0;
            let last = chunk[chunk.len() - 1].0;
            let mut h = Sha256::new();
            for (_, r) in chunk {
                h.update(r.id.as_bytes());
            }
            let id = format!("batch_{first}-{last}_{}", hex(&h.finalize()[..6]));
            Batch::new(id, chunk.iter().map(|(_, r)| r.clone()).collect())
        })
        .collect();

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(records.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });

    let concurrency = deliverer.policy().max_concurrency.max(1) as usize;
    let outcomes: Vec<_> = futures::stream::iter(batches)
        .map(|batch| {
            let deliverer = &deliverer;
            let progress = &progress;
            async move {
                let n = batch.records.len() as u64;
                let outcome = deliverer.deliver(batch).await;
                if let Some(bar) = progress {
                    bar.inc(n);
                }
                outcome
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let mut summary = Summary {
        delivered: 0,
        failed: 0,
        failures: Vec::new(),
    };
    for record in outcomes.iter().flat_map(|o| &o.records) {
        match &record.outcome {
            courier_core::Outcome::Delivered(_) => summary.delivered += 1,
            courier_core::Outcome::Failed { error, response } => {
                summary.failed += 1;
                summary.failures.push(Failure {
                    line: lines.get(&record.record_id).copied().unwrap_or_default(),
                    record_id: record.record_id.clone(),
                    kind: error.kind,
                    reason: error.message.clone(),
                    hint: error.hint.clone(),
                    attempts: record.attempts,
                    status: response.as_ref().map(|r| r.status),
                });
            }
        }
    }
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    println!("{json}");
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
