//! The claim tokens this process holds in the queue, counted by the deliveries that use each:
//! a token is renewed while any of its deliveries waits in memory, is being attempted, or is
//! being recorded, and released at shutdown if it is still held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub(crate) struct Claims(Arc<Mutex<HashMap<String, usize>>>);

/// One delivery's hold on its claim token; let go on drop.
#[derive(Debug)]
pub(crate) struct Held {
    claims: Claims,
    token: String,
}

impl Claims {
    pub(crate) fn hold(&self, token: &str) -> Held {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(token.to_string())
            .or_insert(0) += 1;
        Held {
            claims: self.clone(),
            token: token.to_string(),
        }
    }

    /// The tokens held now.
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut claims = self.claims.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = claims.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                claims.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn a_token_is_held_until_its_last_delivery_lets_go() {
        let claims = Claims::default();
        let a = claims.hold("t");
        let b = claims.hold("t");
        drop(a);
        assert_eq!(claims.tokens(), vec!["t".to_string()]);
        drop(b);
        assert!(claims.tokens().is_empty());
    }
}
