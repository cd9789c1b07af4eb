//! The scaffold check: in a throw-away copy of the repository, `new-connector` must produce a
//! crate of each kind (file, message, http) that compiles, passes the conformance suite and its
//! own tests, and leaves the catalog and tidy rules green.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cmd, workspace};

/// The connector made for each kind.
const KINDS: [(&str, &str); 3] = [
    ("file", "scaffold-file"),
    ("message", "scaffold-message"),
    ("http", "scaffold-http"),
];

/// Removes the copy however the check ends.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn check() -> Result<()> {
    let root = workspace::root();
    let copy =
        TempCopy(std::env::temp_dir().join(format!("courier-scaffold-{}", std::process::id())));
    copy_tracked_files(&root, &copy.0)?;
    // Reuse the build cache: the copy's crates are separate artifacts, its dependencies are not.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let run = |args: &[&str]| -> Result<()> {
        let mut command = cmd::cargo(args);
        command
            .current_dir(&copy.0)
            .env("CARGO_TARGET_DIR", &target);
        println!("  (in the copy) {}", cmd::display(&command));
        if !cmd::succeeds(&mut command)? {
            bail!("`{}` failed in the scaffolded copy", cmd::display(&command));
        }
        Ok(())
    };
    let mut packages = Vec::new();
    for (kind, name) in KINDS {
        run(&[
            "run",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "new-connector",
            "--kind",
            kind,
            name,
        ])?;
        packages.push(format!("courier-connector-{name}"));
    }
    let mut test = vec!["test"];
    for package in &packages {
        test.extend(["-p", package.as_str()]);
    }
    run(&test)?;
    run(&["clippy", "--quiet", "--tests"]
        .into_iter()
        .chain(packages.iter().flat_map(|p| ["-p", p.as_str()]))
        .chain(["--", "-D", "warnings"])
        .collect::<Vec<_>>())?;
    run(&["run", "--quiet", "-p", "xtask", "--", "catalog"])?;
    run(&["run", "--quiet", "-p", "xtask", "--", "tidy"])?;
    Ok(())
}

fn copy_tracked_files(root: &Path, to: &Path) -> Result<()> {
    let listing = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("cannot run git ls-files")?;
    if !listing.status.success() {
        bail!("git ls-files failed in {}", root.display());
    }
    for name in listing.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).context("a tracked path is not UTF-8")?);
        let (src, dst) = (root.join(rel), to.join(rel));
        if !src.is_file() {
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", rel.display()))?;
    }
    Ok(())
}
