//! Keys held, counted by their holders: each [`Held`] counts once for its key until dropped,
//! and a key is present while anyone holds it (claim tokens in use, connection tests running
//! per workspace).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub(crate) struct Holds(Arc<Mutex<HashMap<String, usize>>>);

/// One holder's hold on a key; let go on drop.
#[derive(Debug)]
pub(crate) struct Held {
    holds: Holds,
    key: String,
}

impl Holds {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // The map holds plain counts; a holder that panicked left it whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn hold(&self, key: &str) -> Held {
        self.try_hold(key, usize::MAX)
            .expect("no key is held usize::MAX times")
    }

    /// A hold on `key` unless it already has `max` holders.
    pub(crate) fn try_hold(&self, key: &str, max: usize) -> Option<Held> {
        let mut map = self.map();
        let count = map.entry(key.to_string()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Held {
            holds: self.clone(),
            key: key.to_string(),
        })
    }

    /// The keys held now.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.map()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.holds.map();
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Holds;

    #[test]
    fn a_key_is_held_until_its_last_holder_lets_go() {
        let holds = Holds::default();
        let a = holds.hold("t");
        let b = holds.hold("t");
        drop(a);
        assert_eq!(holds.keys(), vec!["t".to_string()]);
        drop(b);
        assert!(holds.keys().is_empty());
    }

    #[test]
    fn holders_are_capped_per_key() {
        let holds = Holds::default();
        let held: Vec<_> = (0..2).map(|_| holds.try_hold("w1", 2).unwrap()).collect();
        assert!(holds.try_hold("w1", 2).is_none());
        assert!(holds.try_hold("w2", 2).is_some(), "keys are counted apart");
        drop(held);
        assert!(holds.try_hold("w1", 2).is_some());
        assert!(holds.keys().is_empty(), "no count is left behind");
    }
}
