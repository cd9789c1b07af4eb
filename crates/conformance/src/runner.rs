//! Running the suite as a test harness (libtest-mimic): one trial per case, named as before,
//! with the cases the connector's capabilities exclude listed as ignored, so test runners
//! (cargo test, nextest) count them as skipped rather than passed.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use courier_core::DynConnector;
use libtest_mimic::{Arguments, Trial};

use crate::cases::{self, takes_credentials};
use crate::fixture::Fixture;

/// What a case needs of the connector to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Every connector.
    Nothing,
    /// A connector whose auth_config has fields.
    Credentials,
    /// A connector that declares idempotent redelivery.
    IdempotentRedelivery,
}

impl Needs {
    /// Whether a case with these needs applies to `connector`.
    pub fn met_by(self, connector: &dyn DynConnector) -> bool {
        match self {
            Needs::Nothing => true,
            Needs::Credentials => takes_credentials(connector),
            Needs::IdempotentRedelivery => connector.metadata().capabilities.idempotent_redelivery,
        }
    }
}

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One conformance case: its name (the test's name), what it needs, and its body.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The test's name.
    pub name: &'static str,
    /// When the case applies.
    pub needs: Needs,
    /// The case, given a fresh fixture.
    pub run: fn(Fixture) -> CaseFuture,
}

macro_rules! case {
    ($name:ident, $needs:ident) => {
        Case {
            name: stringify!($name),
            needs: Needs::$needs,
            run: |f| Box::pin(cases::$name(f)),
        }
    };
}

/// Every case, in the order they are listed.
pub const CASES: &[Case] = &[
    case!(schema_and_examples, Nothing),
    case!(validation_names_paths, Nothing),
    case!(validation_survives_arbitrary_input, Nothing),
    case!(test_passes_against_target, Nothing),
    case!(test_bad_credentials_fail_at_authentication, Credentials),
    case!(test_unreachable_target_fails_clearly, Nothing),
    case!(delivered_records_arrive_intact, Nothing),
    case!(redelivery_is_idempotent, IdempotentRedelivery),
    case!(secrets_never_appear_in_output, Credentials),
    case!(bad_credentials_are_permanent, Credentials),
    case!(unreachable_target_is_transient, Nothing),
    case!(describe_fields_is_well_formed, Nothing),
    case!(endpoints_are_declared, Nothing),
];

/// A fixture maker: a fresh fixture for each case.
pub type FixtureFn = fn() -> Pin<Box<dyn Future<Output = Fixture> + Send>>;

/// Runs the suite for `connector` with the test runner's arguments and answers the exit code.
pub fn run(connector: &dyn DynConnector, fixture: FixtureFn) -> ExitCode {
    let args = Arguments::from_args();
    let trials = CASES
        .iter()
        .map(|case| {
            let case = *case;
            Trial::test(case.name, move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no runtime: {e}"))?;
                runtime.block_on(async { (case.run)(fixture().await).await });
                Ok(())
            })
            .with_ignored_flag(!case.needs.met_by(connector))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
