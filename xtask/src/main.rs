//! `cargo xtask`: repository automation for Courier: scaffolding connectors, generated docs,
//! tidy rules and the one test command. Run `cargo xtask help` for the commands.

mod bench;
mod catalog;
mod cmd;
mod names;
mod new_connector;
mod portal;
mod portal_e2e;
mod registration;
mod test_run;
mod tidy;
mod toml_text;
mod workspace;

use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  new-connector --kind file|message|http NAME
                       scaffold connectors/NAME (kebab-case) as a working example of that shape and register it
  catalog [--check]    regenerate docs/catalog.json and docs/connectors/*.md (--check: fail if stale)
  tidy                 check the repository rules; lists every violation
  portal [--check]     compile the portal's TypeScript into crates/server/portal (--check: fail if
                       stale, and run the schema-to-form tests on every catalog schema)
  test [-- ARGS]       start test services; run fmt, clippy, tests (ARGS go to nextest or cargo test),
                       doctests, tidy, the API contract and docs checks; stop the services; print
                       a summary
  api-contract         the API against its OpenAPI document alone: openapi-spec-validator,
                       openapi-typescript + tsc, schemathesis on a live server (as root: it runs
                       in a network namespace of its own)
  ci [-- ARGS]         the same as test
  bench engine [ARGS]  build in release mode and measure `courier serve` end to end (single
                       events from many connections, webhooks out) beside a bare load generator;
                       ARGS: --store sqlite|postgres, --seconds N, --rate R, --loop closed|open|both,
                       --replicas N (Postgres); Postgres is started when asked for
  services [--env-file F]
                       start the test services and print (or write to F) the variables tests
                       read; stop them when stdin closes (Ctrl-D) or on Ctrl-C
  help                 this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        bail!("no command given");
    };
    match command.as_str() {
        "new-connector" => new_connector::run(rest),
        "catalog" => catalog::run(rest),
        "tidy" => tidy::run(rest),
        "portal" => portal::run(rest),
        "test" | "ci" => test_run::run(rest),
        "services" => test_run::serve(rest),
        "api-contract" => test_run::api_contract(),
        "bench" => bench::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
