//! `cargo xtask bench engine [ARGS]`: builds `courier` and `courier-engine-bench` in release
//! mode and runs the engine benchmark with ARGS (`--store sqlite|postgres`, `--seconds N`,
//! `--rate R`, `--loop closed|open|both`, `--replicas N`, ...; `-- --help` lists them). For
//! `--store postgres` it starts the test suite's PostgreSQL (installed and cached like the
//! tests' services) syncing every commit, unless `COURIER_TEST_POSTGRES_URL` names a server,
//! and stops it afterwards.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::test_run::services;

const USAGE: &str = "usage: cargo xtask bench engine [--store sqlite|postgres] [--seconds N] [--rate R] [--loop closed|open|both] [--replicas N] [--connections N] [--rounds N] [--scenario throughput|fairness] [--backlog N]";

pub fn run(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((what, rest)) if what == "engine" => engine(rest),
        _ => bail!("{USAGE}"),
    }
}

/// Whether the arguments ask for the Postgres store.
fn wants_postgres(args: &[String]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--store" && w[1] == "postgres")
        || args.iter().any(|a| a == "--store=postgres")
}

fn engine(args: &[String]) -> Result<()> {
    let mut build = cmd::cargo([
        "build",
        "--release",
        "-p",
        "courier-cli",
        "-p",
        "courier-engine-bench",
    ]);
    if !cmd::succeeds(&mut build)? {
        bail!("building the benchmark failed");
    }
    let release = target_dir()?.join("release");
    let running = if wants_postgres(args) && std::env::var_os("COURIER_TEST_POSTGRES_URL").is_none()
    {
        services::start_all(
            &[services::postgres::POSTGRES_DURABLE],
            &services::cache_dir(),
        )?
    } else {
        Vec::new()
    };
    let mut bench = Command::new(release.join("courier-engine-bench"));
    bench
        .arg("--courier")
        .arg(release.join("courier"))
        .args(args)
        .envs(services::env(&running));
    let ok = cmd::succeeds(&mut bench)?;
    drop(running);
    if !ok {
        bail!("the benchmark failed");
    }
    Ok(())
}

/// Where cargo builds (honouring `CARGO_TARGET_DIR` and cargo's config).
pub fn target_dir() -> Result<PathBuf> {
    let out = cmd::cargo(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata gave no target directory")
}

#[cfg(test)]
mod tests {
    use super::wants_postgres;

    #[test]
    fn the_store_argument_is_read_in_both_spellings() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_postgres(&args(&[
            "--seconds",
            "5",
            "--store",
            "postgres"
        ])));
        assert!(wants_postgres(&args(&["--store=postgres"])));
        assert!(!wants_postgres(&args(&["--store", "sqlite"])));
    }
}
