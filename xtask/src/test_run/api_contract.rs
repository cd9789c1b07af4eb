//! The API's contract checked from outside, by tools that did not write it: the OpenAPI
//! document `courier openapi` prints passes openapi-spec-validator, TypeScript types generated
//! from it with openapi-typescript compile against a client's expectations (`check.ts`), and
//! schemathesis runs every operation against a live `courier serve` (stateless and stateful,
//! bounded) in a network namespace of its own. Tools are pinned and cached outside the clone;
//! reports stay in a temporary directory; schemathesis prints its summary.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::services::{self, installed, run};
use crate::{bench, cmd};

const PYTHON_TOOLS: &[&str] = &["schemathesis==4.32.5", "openapi-spec-validator==0.9.0"];
const NODE_TOOLS: &[&str] = &["openapi-typescript@7.13.0", "typescript@5.9.3"];
/// Examples per operation and phase: enough to find what a change breaks, bounded in time.
const EXAMPLES: &str = "25";

const CONFIG: &str = include_str!("api_contract/schemathesis.toml");
const FUZZ: &str = include_str!("api_contract/fuzz.sh");
const CHECK_TS: &str = include_str!("api_contract/check.ts");

fn dir() -> PathBuf {
    services::cache_dir().join("api-contract")
}

fn install() -> Result<(PathBuf, PathBuf)> {
    let dir = dir();
    let venv = dir.join("venv");
    let marker = venv.join(".courier-installed");
    let wanted = PYTHON_TOOLS.join(" ");
    if !installed(&marker, &wanted) {
        std::fs::create_dir_all(&dir)?;
        if !venv.join("bin/python").exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PYTHON_TOOLS))?;
        std::fs::write(&marker, &wanted)?;
    }
    let node = dir.join("node");
    services::npm_install(&node, NODE_TOOLS)?;
    Ok((venv.join("bin"), node.join("node_modules/.bin")))
}

/// The step: validate, generate and compile types, fuzz.
pub fn check() -> Result<()> {
    let (python_bin, node_bin) = install()?;
    if !cmd::succeeds(&mut cmd::cargo(["build", "-p", "courier-cli"]))? {
        bail!("courier did not build");
    }
    let courier = bench::target_dir()?.join("debug/courier");
    let work = tempfile_dir()?;
    let document = work.join("openapi.json");
    let printed = Command::new(&courier)
        .arg("openapi")
        .output()
        .context("cannot run courier openapi")?;
    if !printed.status.success() {
        bail!("courier openapi failed");
    }
    std::fs::write(&document, &printed.stdout)?;

    println!("-- openapi-spec-validator");
    run(Command::new(python_bin.join("openapi-spec-validator")).arg(&document))?;

    println!("-- openapi-typescript, then tsc --strict on check.ts");
    let types = work.join("courier.d.ts");
    // A field with a default may still be left out of a request.
    run(Command::new(node_bin.join("openapi-typescript"))
        .arg(&document)
        .args(["--default-non-nullable", "false", "-o"])
        .arg(&types))?;
    std::fs::write(work.join("check.ts"), CHECK_TS)?;
    run(Command::new(node_bin.join("tsc"))
        .args(["--noEmit", "--strict", "--skipLibCheck"])
        .arg(work.join("check.ts")))?;

    println!("-- schemathesis (every operation, {EXAMPLES} examples each, stateful too)");
    let config = work.join("schemathesis.toml");
    std::fs::write(&config, CONFIG)?;
    let fuzz = work.join("fuzz.sh");
    std::fs::write(&fuzz, FUZZ)?;
    let passed = cmd::succeeds(
        Command::new("unshare")
            .args(["--net", "--", "bash"])
            .arg(&fuzz)
            .arg(&courier)
            .arg(python_bin.join("schemathesis"))
            .arg(&config)
            .arg(&work)
            .arg(EXAMPLES),
    )?;
    if !passed {
        let log = std::fs::read_to_string(work.join("serve.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("the server's last log lines:");
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
        bail!("schemathesis found the API and its document disagree");
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("courier-api-contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    Ok(base)
}
