//! `cargo xtask catalog [--check]`: the catalog document from the `courier` CLI, pretty-printed to
//! `docs/catalog.json`, plus one reference page per connector in `docs/connectors/<type>.md`.
//! `--check` regenerates in memory and fails, naming the stale files, when the disk differs.

mod markdown;
mod page;
mod schema_doc;

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cmd, workspace};

pub const CATALOG_JSON: &str = "docs/catalog.json";
pub const PAGES_DIR: &str = "docs/connectors";

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace::root();
    match args {
        [] => write(&root),
        [flag] if flag == "--check" => check(&root),
        _ => bail!("usage: cargo xtask catalog [--check]"),
    }
}

/// The generated files, as (path relative to the root, contents), from the CLI's catalog output.
pub fn generate() -> Result<Vec<(String, String)>> {
    let mut command = cmd::cargo(["run", "--quiet", "-p", "courier-cli", "--", "catalog"]);
    eprintln!("running `{}`", cmd::display(&command));
    let stdout = cmd::stdout_of(&mut command)?;
    let document: Value =
        serde_json::from_str(&stdout).context("`courier catalog` did not print a JSON document")?;
    render(&document)
}

/// Every generated file for `document`. Pure and deterministic.
pub fn render(document: &Value) -> Result<Vec<(String, String)>> {
    let connectors = document
        .get("connectors")
        .and_then(Value::as_array)
        .context("the catalog document has no `connectors` array")?;
    let mut files = vec![(
        CATALOG_JSON.to_string(),
        serde_json::to_string_pretty(document)? + "\n",
    )];
    for connector in connectors {
        let type_id = connector
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let safe = !type_id.is_empty()
            && type_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !safe {
            bail!("catalog entry with type {type_id:?}: a type id must be snake_case");
        }
        let page =
            page::render(connector).with_context(|| format!("rendering the `{type_id}` page"))?;
        files.push((format!("{PAGES_DIR}/{type_id}.md"), page));
    }
    Ok(files)
}

fn write(root: &Path) -> Result<()> {
    let files = generate()?;
    for (path, contents) in &files {
        let full = root.join(path);
        if fs::read_to_string(&full).ok().as_deref() == Some(contents.as_str()) {
            println!("unchanged {path}");
        } else {
            workspace::write(&full, contents)?;
            println!("wrote     {path}");
        }
    }
    for orphan in orphan_pages(root, &files)? {
        fs::remove_file(root.join(&orphan)).with_context(|| format!("cannot remove {orphan}"))?;
        println!("removed   {orphan} (no such connector in the catalog)");
    }
    Ok(())
}

/// Fails, naming every stale file, when the generated files on disk are not what `generate` gives.
pub fn check(root: &Path) -> Result<()> {
    let files = generate()?;
    let stale = stale_files(root, &files)?;
    if stale.is_empty() {
        println!("docs are up to date ({} files)", files.len());
        return Ok(());
    }
    bail!(
        "generated docs are stale: {}; run `cargo xtask catalog` and commit the result",
        stale.join(", ")
    )
}

/// The paths whose content on disk differs from `files`, plus generated pages nothing produces.
pub fn stale_files(root: &Path, files: &[(String, String)]) -> Result<Vec<String>> {
    let mut stale: Vec<String> = files
        .iter()
        .filter(|(path, contents)| {
            fs::read_to_string(root.join(path)).ok().as_deref() != Some(contents.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect();
    stale.extend(
        orphan_pages(root, files)?
            .into_iter()
            .map(|p| format!("{p} (should not exist)")),
    );
    Ok(stale)
}

/// Generated pages on disk (they open with the generated marker) that `files` does not include.
fn orphan_pages(root: &Path, files: &[(String, String)]) -> Result<Vec<String>> {
    let dir = root.join(PAGES_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {PAGES_DIR}"))? {
        let path = entry?.path();
        let rel = workspace::relative(root, &path);
        let generated = path.extension().is_some_and(|e| e == "md")
            && fs::read_to_string(&path).is_ok_and(|t| t.starts_with(page::GENERATED));
        if generated && !files.iter().any(|(p, _)| *p == rel) {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}
