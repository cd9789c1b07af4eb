//! The Onedrive connection test: the directory exists, then a probe file is created and removed
//! in it. Both steps touch the real directory.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use courier_core::{ConnectorError, ErrorKind, Probe, StepSpec};

use crate::files::io_error;

pub const STEPS: &[StepSpec] = &[
    StepSpec {
        name: "directory",
        label: "Directory exists",
    },
    StepSpec {
        name: "write_permission",
        label: "A file can be created and removed in the directory",
    },
];

/// Distinguishes the probe files of tests running at the same time in one process.
static PROBES: AtomicU64 = AtomicU64::new(0);

pub async fn run(directory: &Path, probe: &mut Probe) -> Result<(), ConnectorError> {
    probe
        .step("directory", async {
            let metadata = tokio::fs::metadata(directory)
                .await
                .map_err(|e| io_error(e, "open the directory", directory))?;
            if !metadata.is_dir() {
                return Err(ConnectorError::new(
                    ErrorKind::NotFound,
                    format!("{} is not a directory", directory.display()),
                    "set config.directory to a directory",
                ));
            }
            Ok(((), format!("{} is a directory", directory.display())))
        })
        .await?;

    probe
        .step("write_permission", async {
            let n = PROBES.fetch_add(1, Ordering::Relaxed);
            let name = format!(".courier-probe-{}-{n}", std::process::id());
            let path = directory.join(&name);
            tokio::fs::write(&path, b"{}")
                .await
                .map_err(|e| io_error(e, "create a probe file in", directory))?;
            tokio::fs::remove_file(&path)
                .await
                .map_err(|e| io_error(e, "remove the probe file", &path))?;
            Ok((
                (),
                format!("created and removed {name} in {}", directory.display()),
            ))
        })
        .await
}
