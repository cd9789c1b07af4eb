//! The `write_permission` step file connectors end their connection test with: a small probe
//! file is written where deliveries go, then removed; credentials that may write but not
//! delete still pass (the report says what to remove by hand).

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use courier_core::{ConnectorError, Probe, StepSpec};

/// The step's name and label, for a connector's `STEPS`.
pub const WRITE_PERMISSION: StepSpec = StepSpec {
    name: "write_permission",
    label: "Files can be written where deliveries go",
};

/// What a probe file holds.
pub const PROBE_CONTENT: &[u8] = b"courier connection test";

/// A fresh probe file name (`.courier-probe-{nanoseconds}`), to put under the destination's
/// prefix or folder: unique per test, hidden by convention, never a delivery's name.
pub fn probe_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(".courier-probe-{nanos}")
}

/// Runs the `write_permission` step: `write` puts [`PROBE_CONTENT`] at the probe file and
/// answers where it went (`s3://bucket/key`); `remove` deletes it and answers whether it
/// could. `missing_permission` says what a failed removal means (`s3:DeleteObject is not
/// granted`).
pub async fn probe_write<W, R>(
    probe: &mut Probe,
    write: W,
    remove: R,
    missing_permission: &str,
) -> Result<(), ConnectorError>
where
    W: Future<Output = Result<String, ConnectorError>>,
    R: Future<Output = bool>,
{
    probe
        .step(WRITE_PERMISSION.name, async {
            let location = write.await?;
            let message = if remove.await {
                format!("wrote and removed {location}")
            } else {
                format!(
                    "wrote {location} but could not remove it ({missing_permission}; remove it by hand)"
                )
            };
            Ok(((), message))
        })
        .await
}

#[cfg(test)]
mod tests {
    use courier_core::{ErrorKind, StepStatus};
    use tokio::sync::mpsc::unbounded_channel;

    use super::*;

    async fn run(
        write: Result<String, ConnectorError>,
        removed: bool,
    ) -> (Result<(), ConnectorError>, courier_core::StepReport) {
        let (tx, mut rx) = unbounded_channel();
        let mut probe = Probe::new(&[WRITE_PERMISSION], tx);
        let removal_ran = std::sync::atomic::AtomicBool::new(false);
        let result = probe_write(
            &mut probe,
            async { write },
            async {
                removal_ran.store(true, std::sync::atomic::Ordering::SeqCst);
                removed
            },
            "delete is not granted",
        )
        .await;
        if result.is_err() {
            assert!(
                !removal_ran.into_inner(),
                "nothing to remove after a failed write"
            );
        }
        (result, rx.recv().await.unwrap())
    }

    #[tokio::test]
    async fn reports_what_was_written_and_whether_it_was_removed() {
        let (ok, report) = run(Ok("s3://b/.courier-probe-1".into()), true).await;
        assert!(ok.is_ok());
        assert_eq!(report.status, StepStatus::Passed);
        assert_eq!(report.message, "wrote and removed s3://b/.courier-probe-1");

        let (ok, report) = run(Ok("s3://b/p".into()), false).await;
        assert!(ok.is_ok(), "write-only credentials still deliver");
        assert!(
            report
                .message
                .contains("delete is not granted; remove it by hand")
        );

        let denied = ConnectorError::new(ErrorKind::Forbidden, "access denied", "grant it");
        let (err, report) = run(Err(denied), true).await;
        assert_eq!(err.unwrap_err().kind, ErrorKind::Forbidden);
        assert_eq!(report.status, StepStatus::Failed);
    }

    #[test]
    fn probe_names_are_fresh_and_hidden() {
        let (a, b) = (probe_name(), probe_name());
        assert!(a.starts_with(".courier-probe-") && a != b);
    }
}
