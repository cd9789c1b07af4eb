//! `cargo xtask test [-- ARGS]` (and `ci`): the one test command. Starts the test services, runs
//! fmt, clippy, the tests (nextest when installed, ARGS passed on), doctests, tidy, the API
//! contract check (validator, generated TypeScript, schemathesis), the generated-docs check, a
//! build with no connector selected and the scaffold check; stops the services, and prints a
//! summary line per step.

mod api_contract;
mod counts;
mod scaffold;
pub(crate) mod services;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::{catalog, cmd, tidy, workspace};

/// What one step does.
enum Action {
    Cargo(Command),
    /// A test runner whose pass/fail counts go into the closing line.
    Tests(Command),
    InProcess(fn() -> Result<()>),
}

struct Step {
    name: &'static str,
    /// What the step runs, for progress lines.
    what: String,
    action: Action,
}

impl Step {
    fn cargo(name: &'static str, command: Command) -> Self {
        Step {
            name,
            what: format!("`{}`", cmd::display(&command)),
            action: Action::Cargo(command),
        }
    }

    fn tests(name: &'static str, command: Command) -> Self {
        Step {
            name,
            what: format!("`{}`", cmd::display(&command)),
            action: Action::Tests(command),
        }
    }

    fn in_process(name: &'static str, what: &str, f: fn() -> Result<()>) -> Self {
        Step {
            name,
            what: what.to_string(),
            action: Action::InProcess(f),
        }
    }
}

struct Outcome {
    name: &'static str,
    passed: bool,
    took: Duration,
}

pub fn run(args: &[String]) -> Result<()> {
    let extra: &[String] = match args {
        [dashes, rest @ ..] if dashes == "--" => rest,
        rest => rest,
    };
    let nextest = cmd::probe(&mut cmd::cargo(["nextest", "--version"]));
    let steps = plan(nextest, extra);

    println!("cargo xtask test: start the test services, then run, in order:");
    for (i, step) in steps.iter().enumerate() {
        println!("  {}. {:<10} {}", i + 1, step.name, step.what);
    }
    if !nextest {
        println!(
            "  (cargo-nextest is not installed: using `cargo test`; `cargo install cargo-nextest` for faster runs)"
        );
    }

    services::ensure_tools()?;
    // Dropping `running` stops every started service, whether the steps pass, fail or panic.
    let running = services::start_all(services::SERVICES, &services::cache_dir())?;
    let env = services::env(&running);
    let total = steps.len();
    let mut outcomes = Vec::new();
    let counts = std::sync::Arc::new(std::sync::Mutex::new(counts::Counts::default()));
    for (i, mut step) in steps.into_iter().enumerate() {
        println!("\n==> [{}/{total}] {}: {}", i + 1, step.name, step.what);
        let started = Instant::now();
        let passed = match &mut step.action {
            Action::Cargo(command) => {
                command.envs(env.iter().map(|(k, v)| (k, v)));
                cmd::succeeds(command).unwrap_or_else(|e| {
                    eprintln!("{e:#}");
                    false
                })
            }
            Action::Tests(command) => {
                command.envs(env.iter().map(|(k, v)| (k, v)));
                counts::run_counting(command, &counts).unwrap_or_else(|e| {
                    eprintln!("{e:#}");
                    false
                })
            }
            Action::InProcess(f) => f().map_err(|e| eprintln!("{e:#}")).is_ok(),
        };
        outcomes.push(Outcome {
            name: step.name,
            passed,
            took: started.elapsed(),
        });
    }
    drop(running);

    println!("\nsummary:");
    for o in &outcomes {
        let verdict = if o.passed { "passed" } else { "FAILED" };
        println!("  {verdict}  {:<10} {:>8.1}s", o.name, o.took.as_secs_f64());
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    let counts = *counts.lock().unwrap_or_else(|p| p.into_inner());
    if !failed.is_empty() {
        println!("tests: {} passed, {} failed", counts.passed, counts.failed);
        bail!("failed steps: {}", failed.join(", "));
    }
    println!("all steps passed");
    // The closing line: every test the runners reported, in the plain form CI reads.
    println!("tests: {} passed, {} failed", counts.passed, counts.failed);
    Ok(())
}

/// `cargo xtask api-contract`: the API contract step alone.
pub fn api_contract() -> Result<()> {
    api_contract::check()
}

/// `cargo xtask services`: the test services for running single tests by hand
/// (`cargo nextest run -p ...` with the printed variables exported).
pub fn serve(args: &[String]) -> Result<()> {
    let env_file = match args {
        [] => None,
        [flag, path] if flag == "--env-file" => Some(path),
        _ => bail!("usage: cargo xtask services [--env-file FILE]"),
    };
    let running = services::start_all(services::SERVICES, &services::cache_dir())?;
    let exports: String = services::env(&running)
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    match env_file {
        Some(path) => {
            std::fs::write(path, &exports)?;
            println!("wrote {path}: `source {path}` in the shell that runs the tests");
        }
        None => print!("{exports}"),
    }
    println!("services are running; close stdin (Ctrl-D) to stop them");
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())?;
    drop(running);
    Ok(())
}

fn plan(nextest: bool, extra: &[String]) -> Vec<Step> {
    let mut tests = if nextest {
        cmd::cargo(["nextest", "run", "--workspace", "--no-fail-fast"])
    } else {
        cmd::cargo(["test", "--workspace", "--no-fail-fast"])
    };
    tests.args(extra);
    let clippy = [
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ];
    vec![
        Step::cargo("fmt", cmd::cargo(["fmt", "--all", "--", "--check"])),
        Step::cargo("clippy", cmd::cargo(clippy)),
        Step::tests("tests", tests),
        Step::cargo("doctests", cmd::cargo(["test", "--workspace", "--doc"])),
        Step::in_process("tidy", "the tidy rules (as `cargo xtask tidy`)", tidy_rules),
        Step::in_process(
            "api",
            "the API against its OpenAPI document: openapi-spec-validator, openapi-typescript + tsc, schemathesis on a live server",
            api_contract::check,
        ),
        Step::in_process(
            "docs",
            "the generated-docs check (as `cargo xtask catalog --check`)",
            docs_fresh,
        ),
        Step::in_process(
            "portal",
            "the portal's compiled scripts against their TypeScript, and its form tests (as `cargo xtask portal --check`)",
            crate::portal::check,
        ),
        Step::cargo(
            "features",
            cmd::cargo(["check", "-p", "courier-catalog", "--no-default-features"]),
        ),
        Step::in_process(
            "example",
            "the example host links only the connectors it selects (`courier-example-host types`)",
            example_host,
        ),
        Step::in_process(
            "package",
            "every library crate packages (`cargo package --workspace --no-verify`, unpublished crates excluded)",
            package,
        ),
        Step::in_process(
            "scaffold",
            "`cargo xtask new-connector` in a copy of the repository: the new crate builds, passes the conformance suite and tidy",
            scaffold::check,
        ),
    ]
}

/// The example host, built alone so no other package's features are unified into its catalog,
/// must list exactly the two connectors its manifest selects.
fn example_host() -> Result<()> {
    let listed = cmd::stdout_of(&mut cmd::cargo([
        "run",
        "--quiet",
        "-p",
        "courier-example-host",
        "--",
        "types",
    ]))?;
    let types: Vec<&str> = listed.lines().collect();
    if types != ["s3", "webhook"] {
        bail!("the example host links {types:?}, not exactly its selected [\"s3\", \"webhook\"]");
    }
    println!("  the example host links {types:?}");
    Ok(())
}

/// Packages every crate a library user would depend on, checking manifests, versions and the
/// files that go into each package.
fn package() -> Result<()> {
    let mut command = cmd::cargo(["package", "--workspace", "--no-verify", "--allow-dirty"]);
    for unpublished in workspace::unpublished_packages()? {
        command.args(["--exclude", &unpublished]);
    }
    if !cmd::succeeds(&mut command)? {
        bail!("`{}` failed", cmd::display(&command));
    }
    Ok(())
}

fn tidy_rules() -> Result<()> {
    tidy::report(&tidy::rules(&workspace::root())?)
}

fn docs_fresh() -> Result<()> {
    catalog::check(&workspace::root())
}
