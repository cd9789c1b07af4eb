//! What the connector benchmarks share: batches of a given size, the bytes they become as
//! NDJSON, medians, peak-memory readings, and emulator processes stopped on drop.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_core::{Batch, Record};

mod compare;
mod file_costs;
mod file_uploads;
pub use compare::{Comparison, compare};
pub use file_costs::print_file_costs;
pub use file_uploads::compare_file_uploads;

/// Records of `record_bytes` sharing one buffer, adding up to about `total_bytes`, so the input
/// itself costs no memory.
pub fn batch(id: &str, total_bytes: usize, record_bytes: usize) -> Batch {
    let payload = Bytes::from(format!("{{\"p\":\"{}\"}}", "x".repeat(record_bytes - 9)));
    let n = total_bytes / (payload.len() + 1);
    Batch::new(
        id,
        (0..n)
            .map(|i| Record::new(format!("r{i}"), payload.clone()))
            .collect(),
    )
}

/// The batch as the NDJSON file a connector writes.
pub fn ndjson(b: &Batch) -> Vec<u8> {
    b.records
        .iter()
        .flat_map(|r| [&r.payload[..], b"\n"].concat())
        .collect()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A `/proc/self/status` figure in KiB (`VmRSS:`, `VmHWM:`); 0 where there is none.
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS mark (Linux), so the next `VmHWM:` reading is the peak from now on.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Prints the peak memory of a delivery measured with [`reset_peak`] and `before` (KiB).
pub fn print_peak(what: &str, took: Duration, before: u64, target_mib: u64) {
    let peak = status_kib("VmHWM:");
    println!(
        "{what}: {:.1} s, peak RSS {:.1} MiB (before {:.1} MiB; {:.1} MiB above it; target < {target_mib} MiB)",
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0
    );
}

/// An emulator the benchmark started itself; killed when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Starts `command` (an emulator `cargo xtask test` installed) and waits until `port` accepts
/// connections.
pub fn start_emulator(mut command: Command, port: u16, what: &str) -> ChildGuard {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {what} ({e}): run `cargo xtask test` once to install it")
        });
    let guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

/// Where `cargo xtask test` caches the emulators it installs.
pub fn emulator_cache() -> String {
    format!(
        "{}/.cache/courier/emulators",
        std::env::var("HOME").unwrap_or_default()
    )
}
