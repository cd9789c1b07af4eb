//! `cargo xtask tidy`: repository rules, each violation reported; fails when there is any.

mod connectors;
mod sources;

use std::path::Path;

use anyhow::{Result, bail};

use crate::{catalog, workspace};

pub fn run(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask tidy");
    }
    let root = workspace::root();
    let mut violations = rules(&root)?;
    // The catalog check builds and runs the CLI; a build failure is itself a violation here.
    match catalog::generate().and_then(|files| catalog::stale_files(&root, &files)) {
        Ok(stale) => violations.extend(
            stale
                .into_iter()
                .map(|f| format!("{f}: stale generated file; run `cargo xtask catalog`")),
        ),
        Err(e) => violations.push(format!("cannot check the generated docs: {e:#}")),
    }
    report(&violations)
}

/// Every violation of the rules that need no build (all but generated-docs freshness).
pub fn rules(root: &Path) -> Result<Vec<String>> {
    let mut violations = connectors::check(root)?;
    violations.extend(sources::check(root)?);
    Ok(violations)
}

/// Prints the violations and fails when there are any.
pub fn report(violations: &[String]) -> Result<()> {
    if violations.is_empty() {
        println!("tidy: all rules pass");
        return Ok(());
    }
    for v in violations {
        eprintln!("tidy: {v}");
    }
    bail!("{} tidy violation(s)", violations.len())
}
