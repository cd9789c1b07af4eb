//! What a file connector spends besides the upload: planning the batch's files (sizes added up)
//! and encoding them, with every record parsed as JSON or on the host's word that the payloads
//! are JSON, which the bare SDK side of a benchmark skips because it uploads ready-made bytes.

use std::time::Instant;

use courier_core::{Batch, PayloadCap};
use courier_files::{FileLayout, KeyTemplate, PartStream, plan_files_unchecked};

use crate::median;

/// Prints the median planning and encoding times of `batch` as NDJSON in parts of
/// `part_bytes`, beside `per_file_ms`, the connector's time per file in the same run.
pub async fn print_file_costs(batch: &Batch, part_bytes: usize, per_file_ms: f64) {
    let layout: FileLayout =
        serde_json::from_value(serde_json::json!({"format": "ndjson"})).expect("a layout");
    let template = KeyTemplate::parse("{batch_id}.{ext}").expect("a template");
    let vouched = batch.clone().with_json_payloads();
    let (mut planning, mut parsed, mut trusted) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        for (batch, times) in [(batch, &mut parsed), (&vouched, &mut trusted)] {
            // Planning is sizes only either way (the unchecked plan leaves the checks to the
            // writer), so one side's times stand for both.
            let t = Instant::now();
            let plan =
                plan_files_unchecked(batch, &layout, &template, PayloadCap(u64::MAX / 2), "bench");
            if !batch.json_payloads {
                planning.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let file = plan.files.first().expect("one file");
            let t = Instant::now();
            let mut parts = PartStream::start(batch, file, &layout, part_bytes);
            while parts.next().await.is_some() {}
            parts.finish().await.expect("encoded");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "    of the connector's {per_file_ms:.1} ms per file: planning {:.1} ms; encoding {:.1} ms with every record parsed as JSON, {:.1} ms on the host's word (streamed files: overlapping the upload; single requests: before it)",
        median(planning),
        median(parsed),
        median(trusted)
    );
}
