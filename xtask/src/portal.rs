//! `cargo xtask portal [--check]`: compiles the portal's TypeScript (`crates/server/portal-src`)
//! into the files `courier serve` builds into its binary (`crates/server/portal`), with a pinned
//! `tsc`. `--check` compiles into a scratch directory instead, fails when the committed files
//! differ (a stale build), runs the schema-to-form tests against every catalog schema, then the
//! browser tests (see [`crate::portal_e2e`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::test_run::services::{self, run as run_command};
use crate::workspace;

/// The TypeScript compiler the portal is built with: one version, so builds compare byte for
/// byte.
const TYPESCRIPT: &str = "typescript@5.9.3";

fn tsc() -> Result<PathBuf> {
    let node = services::cache_dir().join("portal/node");
    services::npm_install(&node, &[TYPESCRIPT])?;
    Ok(node.join("node_modules/.bin/tsc"))
}

fn sources(root: &Path) -> PathBuf {
    root.join("crates/server/portal-src")
}

fn built(root: &Path) -> PathBuf {
    root.join("crates/server/portal")
}

fn compile(root: &Path, out: &Path) -> Result<()> {
    run_command(
        Command::new(tsc()?)
            .arg("-p")
            .arg(sources(root).join("tsconfig.json"))
            .arg("--outDir")
            .arg(out),
    )
}

/// The `.js` files of `dir`, by name, with their contents.
fn scripts(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "js") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.push((name, std::fs::read(&path)?));
        }
    }
    out.sort();
    Ok(out)
}

pub fn run(args: &[String]) -> Result<()> {
    match args {
        [] => build(),
        [flag] if flag == "--check" => check(),
        _ => bail!("usage: cargo xtask portal [--check]"),
    }
}

fn build() -> Result<()> {
    let root = workspace::root();
    compile(&root, &built(&root))?;
    println!("wrote the portal's scripts to {}", built(&root).display());
    Ok(())
}

/// The CI step: the committed scripts are what the sources compile to, and the form tests pass.
pub fn check() -> Result<()> {
    let root = workspace::root();
    let scratch = std::env::temp_dir().join(format!("courier-portal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = check_in(&root, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn check_in(root: &Path, scratch: &Path) -> Result<()> {
    compile(root, scratch)?;
    let fresh = scripts(scratch)?;
    let committed = scripts(&built(root))?;
    if fresh != committed {
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let differing: Vec<String> = fresh
            .iter()
            .filter(|f| !committed.contains(f))
            .map(|(n, _)| n.clone())
            .collect();
        bail!(
            "the portal's compiled scripts are stale (differing: {differing:?}; compiled {:?}, committed {:?}): run `cargo xtask portal` and commit crates/server/portal",
            names(&fresh),
            names(&committed)
        );
    }
    println!(
        "-- the portal's scripts match their sources; the form tests on every catalog schema:"
    );
    run_command(
        Command::new("node")
            .arg("--test")
            .arg(sources(root).join("test"))
            .env("PORTAL_BUILD", scratch)
            .env("CATALOG", root.join("docs/catalog.json")),
    )?;
    println!("-- the portal in Chromium against a courier serve of its own:");
    crate::portal_e2e::run(&sources(root).join("e2e"))
}
