//! Payload cap: the largest body a destination sends, checked before any network I/O.

use crate::error::{ConnectorError, ErrorKind};

/// 5 MiB, the default cap when a destination does not set `payload_cap_bytes`.
pub const DEFAULT_PAYLOAD_CAP_BYTES: u64 = 5 * 1024 * 1024;

/// The effective cap for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadCap(pub u64);

impl Default for PayloadCap {
    fn default() -> Self {
        PayloadCap(DEFAULT_PAYLOAD_CAP_BYTES)
    }
}

impl PayloadCap {
    /// The cap in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// `Ok` if `len` bytes fit; otherwise a `payload_too_large` error naming both sizes and
    /// `what` (computed only on failure: this sits on the delivery hot path).
    pub fn check(self, len: usize, what: impl FnOnce() -> String) -> Result<(), ConnectorError> {
        if len as u64 <= self.0 {
            return Ok(());
        }
        let what = what();
        Err(ConnectorError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "{what} is {len} bytes, over this destination's cap of {} bytes",
                self.0
            ),
            "send smaller records or batches, or raise payload_cap_bytes on the destination",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_inclusive() {
        let cap = PayloadCap(10);
        assert!(cap.check(10, || "body".into()).is_ok());
        let err = cap.check(11, || "body".into()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
        assert!(err.message.contains("11 bytes"));
    }
}
