//! The object-store upload comparison the S3, Azure Blob and GCS benches share: 1 MiB and
//! 32 MiB NDJSON files sent by the connector as `courier serve` calls it (the host vouches that
//! payloads are JSON), as `courier deliver` does (every payload parsed), and by the bare SDK.

use std::sync::Arc;

use bytes::Bytes;
use courier_core::Destination;

use crate::{batch, compare, ndjson, print_file_costs};

/// The sides compared, baseline last.
const SIDES: [&str; 3] = [
    "connector, JSON vouched for by the host",
    "connector, every payload parsed",
    "bare SDK",
];

/// Runs and prints the comparison for each file size: `dest` delivers the batch, `bare(label,
/// round, body)` uploads the same bytes (`label` and `round` make its object names unique).
/// Titles read `{what} of {label} files`; the connector's costs are for parts of `part_bytes`.
pub async fn compare_file_uploads(
    what: &str,
    dest: &Arc<dyn Destination>,
    part_bytes: usize,
    mut bare: impl AsyncFnMut(&str, usize, &Bytes),
) {
    for (label, size, rounds) in [("1 MiB", 1usize << 20, 101), ("32 MiB", 32 << 20, 15)] {
        let parsed = batch(&format!("b-{label}").replace(' ', ""), size, 1024);
        let vouched = parsed.clone().with_json_payloads();
        let body = Bytes::from(ndjson(&parsed));
        let c = compare(&SIDES, rounds, body.len(), async |side, round| {
            if side == 2 {
                return bare(label, round, &body).await;
            }
            let out = dest
                .deliver(if side == 0 { &vouched } else { &parsed })
                .await;
            assert_eq!(out.failed_count(), 0, "{:?}", out.records[0]);
        })
        .await;
        c.print(&format!("{what} of {label} files"));
        print_file_costs(&parsed, part_bytes, body.len() as f64 / c.rate(0) * 1000.0).await;
    }
}
