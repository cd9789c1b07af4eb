//! `cargo xtask new-connector --kind file|message|http NAME`: scaffolds a working example
//! connector crate of that shape under `connectors/NAME` and registers it in the manifests, the
//! catalog registry and known types.

mod templates;

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::names::ConnectorName;
use crate::{cmd, registration, workspace};

pub fn run(args: &[String]) -> Result<()> {
    const USAGE: &str = "usage: cargo xtask new-connector --kind file|message|http NAME   \
        (NAME in kebab-case, e.g. azure-blob; file: batches as files, message: records as \
        messages, http: one request per record)";
    let (kind, raw) = match args {
        [flag, kind, raw] if flag == "--kind" => (kind, raw),
        [raw, flag, kind] if flag == "--kind" => (kind, raw),
        _ => bail!(USAGE),
    };
    let Some(kind) = templates::Kind::parse(kind) else {
        bail!("unknown kind `{kind}`\n{USAGE}");
    };
    let name = ConnectorName::parse(raw)?;
    let root = workspace::root();
    let dir = root.join("connectors").join(&name.kebab);
    if dir.exists() {
        bail!(
            "connectors/{} already exists; choose another name or remove it first",
            name.kebab
        );
    }
    // Every edit is computed (and every precondition checked) before anything is written.
    let edits = registration::plan(&root, &name)?;
    let files = templates::render_all(&name, kind);

    for (path, contents) in &files {
        workspace::write(&dir.join(path), contents)?;
        println!("created  connectors/{}/{path}", name.kebab);
    }
    for edit in &edits {
        workspace::write(&root.join(edit.path), &edit.contents)?;
        println!("updated  {}", edit.path);
    }
    format_sources(&dir);
    println!(
        "\nThe `{}` connector (crate `{}`, type `{}`) {}.\n\
         Next:\n  cargo test -p {}\n  cargo xtask catalog        # regenerate docs/catalog.json and docs/connectors/{}.md",
        name.type_id,
        name.crate_name(),
        name.camel,
        kind.summary(),
        name.crate_name(),
        name.type_id,
    );
    Ok(())
}

/// Formats the new crate: line breaks in the templates depend on the length of the name.
/// `rustfmt` follows the `mod` declarations from the crate roots.
fn format_sources(dir: &Path) {
    let mut rustfmt = Command::new("rustfmt");
    rustfmt
        .args(["--edition", "2024"])
        .arg(dir.join("src/lib.rs"))
        .arg(dir.join("tests/conformance.rs"));
    if !cmd::probe(&mut rustfmt) {
        eprintln!(
            "warning: `rustfmt` did not run cleanly; run `cargo fmt --all` before committing"
        );
    }
}
