//! Connection tests and field discovery running at once, per workspace: each contacts a remote
//! service for up to `test_timeout_ms`, so one workspace may run only a few at a time (429
//! beyond), and a slot is freed as soon as its test ends or its client goes away.

use super::error::ApiError;
use crate::holds::{Held, Holds};

/// Tests one workspace may run at once.
pub(crate) const MAX_TESTS_PER_WORKSPACE: usize = 4;

#[derive(Debug, Default, Clone)]
pub(crate) struct TestSlots(Holds);

/// A running test's slot, freed when dropped.
pub(crate) type TestSlot = Held;

impl TestSlots {
    /// A slot for a test in `workspace`, or 429 when its tests are all running.
    pub(crate) fn take(&self, workspace: &str) -> Result<TestSlot, ApiError> {
        self.0
            .try_hold(workspace, MAX_TESTS_PER_WORKSPACE)
            .ok_or_else(ApiError::too_many_tests)
    }
}
