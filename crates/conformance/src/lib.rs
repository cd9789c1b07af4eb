//! The shared conformance suite: the behaviour every Courier connector must show against its
//! real target. A connector's `tests/conformance.rs` (a `harness = false` test target) runs it
//! with one line, `courier_conformance::suite!(MyConnector, fixture);`: each case is a test
//! of its own, and cases that do not apply to the connector's declared capabilities are
//! reported as ignored by the test runner, never as passed.

pub mod cases;
mod fixture;
pub mod helpers;
pub mod ndjson;
mod report;
mod runner;

pub use fixture::{Fixture, ReadBack, StoredCount};
pub use runner::{CASES, Case, Needs, run};

/// Expands to the test target's `main`: the suite for the connector `$connector`, each case
/// calling `$fixture().await` for a fresh [`Fixture`]. The test target needs `harness = false`
/// in Cargo.toml:
///
/// ```toml
/// [[test]]
/// name = "conformance"
/// harness = false
/// ```
#[macro_export]
macro_rules! suite {
    ($connector:expr, $fixture:path) => {
        fn main() -> std::process::ExitCode {
            $crate::run(&$connector, || Box::pin($fixture()))
        }
    };
}
