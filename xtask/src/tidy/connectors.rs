//! Tidy rules for `connectors/*`: each is registered everywhere `new-connector` registers it, and
//! has its conformance test and README.

use std::path::Path;

use anyhow::Result;

use crate::names::{ConnectorName, is_kebab};
use crate::{registration, workspace};

pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    for dir in workspace::subdirs(&root.join("connectors"))? {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_kebab(&dir_name) {
            violations.push(format!(
                "connectors/{dir_name}: directory name is not kebab-case"
            ));
            continue;
        }
        for file in ["Cargo.toml", "README.md", "tests/conformance.rs"] {
            if !dir.join(file).is_file() {
                violations.push(format!("connectors/{dir_name}: {file} is missing"));
            }
        }
        match ConnectorName::parse(&dir_name) {
            Ok(name) => violations.extend(registration::problems(root, &name)?),
            Err(e) => violations.push(format!("connectors/{dir_name}: {e}")),
        }
    }
    Ok(violations)
}
