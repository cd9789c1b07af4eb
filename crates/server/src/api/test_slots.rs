//! Connection tests and field discovery running at once, per workspace: each contacts a remote
//! service for up to `test_timeout_ms`, so one workspace may run only a few at a time (429
//! beyond), and a slot is freed as soon as its test ends or its client goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::error::ApiError;

/// Tests one workspace may run at once.
pub const MAX_TESTS_PER_WORKSPACE: usize = 4;

#[derive(Debug, Default, Clone)]
pub struct TestSlots(Arc<Mutex<HashMap<String, usize>>>);

/// A running test's slot, freed when dropped.
#[derive(Debug)]
pub struct TestSlot {
    slots: TestSlots,
    workspace: String,
}

impl TestSlots {
    /// A slot for a test in `workspace`, or 429 when its tests are all running.
    pub fn take(&self, workspace: &str) -> Result<TestSlot, ApiError> {
        let mut running = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(workspace.to_string()).or_default();
        if *count >= MAX_TESTS_PER_WORKSPACE {
            return Err(ApiError::too_many_tests());
        }
        *count += 1;
        Ok(TestSlot {
            slots: self.clone(),
            workspace: workspace.to_string(),
        })
    }
}

impl Drop for TestSlot {
    fn drop(&mut self) {
        let mut running = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(&self.workspace) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.workspace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_workspace_and_freed_on_drop() {
        let slots = TestSlots::default();
        let held: Vec<TestSlot> = (0..MAX_TESTS_PER_WORKSPACE)
            .map(|_| slots.take("w1").unwrap())
            .collect();
        assert!(slots.take("w1").is_err());
        assert!(slots.take("w2").is_ok(), "another workspace has its own");
        drop(held);
        let again = slots.take("w1").unwrap();
        drop(again);
        assert!(
            slots.0.lock().unwrap().is_empty(),
            "no count is left behind"
        );
    }
}
