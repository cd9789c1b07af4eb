//! Running cargo and other programs from the repository root, echoing what runs.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace;

/// A `cargo` command in the workspace root. Uses the cargo that started xtask (`$CARGO`), so
/// the toolchain stays the same; the environment (`CARGO_TARGET_DIR`, colour) is inherited.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace::root());
    command
}

/// A human-readable form of `command` for progress lines.
pub fn display(command: &Command) -> String {
    let program = command.get_program().to_string_lossy();
    let program = if program.ends_with("cargo") {
        "cargo".into()
    } else {
        program
    };
    let mut parts = vec![program.into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `command` with inherited stdio; `Ok(true)` when it exited successfully.
pub fn succeeds(command: &mut Command) -> Result<bool> {
    let status = command
        .status()
        .with_context(|| format!("cannot run `{}`", display(command)))?;
    Ok(status.success())
}

/// Runs `command` and returns its stdout; stderr passes through so build errors stay visible.
pub fn stdout_of(command: &mut Command) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{}`", display(command)))?;
    if !output.status.success() {
        bail!("`{}` failed ({})", display(command), output.status);
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("`{}` printed output that is not UTF-8", display(command)))
}

/// Whether `command` runs and succeeds, with its output discarded (for feature probes).
pub fn probe(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
