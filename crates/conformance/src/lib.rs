//! The shared conformance suite: the behaviour every Courier connector must show against its real
//! target. A connector runs it with a fixture and one line: `courier_conformance::suite!(fixture);`

pub mod cases;
mod fixture;
pub mod helpers;
pub mod ndjson;
mod report;

pub use fixture::{Fixture, ReadBack, StoredCount};

/// Expands to one `#[tokio::test]` per conformance case, each calling `$fixture().await` for a
/// fresh [`Fixture`]. The calling crate needs `tokio` (with `macros`) as a dev-dependency.
#[macro_export]
macro_rules! suite {
    ($fixture:path) => {
        mod conformance_suite {
            use super::*;
            $crate::__case!($fixture, schema_and_examples);
            $crate::__case!($fixture, validation_names_paths);
            $crate::__case!($fixture, validation_survives_arbitrary_input);
            $crate::__case!($fixture, test_passes_against_target);
            $crate::__case!($fixture, test_bad_credentials_fail_at_authentication);
            $crate::__case!($fixture, test_unreachable_target_fails_clearly);
            $crate::__case!($fixture, delivered_records_arrive_intact);
            $crate::__case!($fixture, redelivery_is_idempotent);
            $crate::__case!($fixture, over_cap_payload_refused_before_io);
            $crate::__case!($fixture, secrets_never_appear_in_output);
            $crate::__case!($fixture, errors_are_classified);
            $crate::__case!($fixture, describe_fields_is_well_formed);
            $crate::__case!($fixture, endpoints_are_declared);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __case {
    ($fixture:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::cases::$name($fixture().await).await;
        }
    };
}
