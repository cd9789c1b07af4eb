//! CLI errors and exit codes: 2 for bad input (nothing was attempted), 1 for a failed operation.

use std::fmt;
use std::process::ExitCode;

use courier_core::FieldError;

#[derive(Debug)]
pub enum CliError {
    /// The input is wrong: malformed JSON, unknown type, invalid config. Exit 2.
    Input(String),
    /// The operation ran and failed. Exit 1.
    Failed(String),
}

impl CliError {
    pub fn invalid(errors: &[FieldError]) -> Self {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        CliError::Input(format!(
            "the destination is not valid:\n{}",
            lines.join("\n")
        ))
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Input(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(m) | CliError::Failed(m) => write!(f, "error: {m}"),
        }
    }
}
