//! Why a waiting delivery is held back rather than attempted: a stable code (`held_by` in the
//! attempt log) and the sentence stored and shown beside it (`waiting_reason`).

use schemars::JsonSchema;
use serde::Serialize;

/// What holds a waiting delivery back; its next attempt time is when it is looked at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldBy {
    /// The destination's circuit breaker is open; the next attempt probes it.
    CircuitOpen,
    /// The destination's authorization was revoked; it must be reconnected.
    ReauthRequired,
    /// The destination is disabled or inactive.
    DestinationInactive,
    /// This server cannot read the destination's stored delivery policy.
    PolicyUnreadable,
    /// This server cannot open the destination's secrets.
    SecretsUnreadable,
    /// The destination could not be loaded (the database failing); tried again shortly.
    DestinationUnloadable,
}

const ALL: [HeldBy; 6] = [
    HeldBy::CircuitOpen,
    HeldBy::ReauthRequired,
    HeldBy::DestinationInactive,
    HeldBy::PolicyUnreadable,
    HeldBy::SecretsUnreadable,
    HeldBy::DestinationUnloadable,
];

impl HeldBy {
    /// The sentence a held delivery's `waiting_reason` says.
    pub const fn reason(self) -> &'static str {
        match self {
            HeldBy::CircuitOpen => {
                "the destination's circuit breaker is open after consecutive failures; the next attempt probes it"
            }
            HeldBy::ReauthRequired => {
                "the destination's authorization was revoked (reauth_required); deliveries wait until it is reconnected"
            }
            HeldBy::DestinationInactive => {
                "the destination is disabled or inactive; deliveries wait until it is enabled again"
            }
            HeldBy::PolicyUnreadable => {
                "this server cannot read the destination's stored delivery policy; another worker, or a correction of the policy, will deliver"
            }
            HeldBy::SecretsUnreadable => {
                "this server cannot open the destination's secrets; another worker, or this one once fixed, will deliver"
            }
            HeldBy::DestinationUnloadable => {
                "the destination could not be loaded; it is tried again shortly"
            }
        }
    }

    /// The code of a stored `waiting_reason` (none for a sentence no hold says).
    pub fn of_reason(reason: &str) -> Option<HeldBy> {
        ALL.into_iter().find(|h| h.reason() == reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hold_is_found_by_its_sentence() {
        for h in ALL {
            assert_eq!(HeldBy::of_reason(h.reason()), Some(h));
        }
        assert_eq!(HeldBy::of_reason("something else"), None);
    }
}
