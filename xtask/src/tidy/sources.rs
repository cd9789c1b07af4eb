//! Tidy rules for Rust sources: every file opens with a `//!` line saying what it is for, and no
//! `todo!`/`unimplemented!` is left in non-test code.

use std::path::Path;

use anyhow::Result;

use crate::workspace;

/// Directories whose `.rs` files must open with a `//!` line.
const DOC_ROOTS: &[&str] = &["crates", "connectors", "xtask", "tests"];
/// Directories whose `src` code must not hold unfinished-code macros.
const CODE_ROOTS: &[&str] = &["crates", "connectors"];
const UNFINISHED: &[&str] = &["todo!(", "unimplemented!("];

pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    for dir in DOC_ROOTS {
        for file in workspace::rust_files(&root.join(dir))? {
            let rel = workspace::relative(root, &file);
            let text = workspace::read(&file)?;
            if !opens_with_module_doc(&text) {
                violations.push(format!(
                    "{rel}: the first line must be a `//!` line saying what the file is for"
                ));
            }
            let in_src = rel.split('/').any(|seg| seg == "src");
            let is_test_file = rel
                .split('/')
                .any(|seg| seg == "tests" || seg == "tests.rs");
            if CODE_ROOTS.iter().any(|r| rel.starts_with(&format!("{r}/")))
                && in_src
                && !is_test_file
            {
                for (line, found) in unfinished(&text) {
                    violations.push(format!("{rel}:{line}: `{found}` in non-test code"));
                }
            }
        }
    }
    Ok(violations)
}

/// Whether the first non-empty line starts with `//!`.
pub fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with("//!"))
}

/// (1-based line, macro) of each unfinished-code macro outside `#[cfg(test)]` items and comments.
pub fn unfinished(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut depth: i64 = 0;
    let mut pending_test_item = false;
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let trimmed = line.trim();
        if trimmed.starts_with("#[cfg(test)]") {
            pending_test_item = true;
        }
        let skipping = skip_depth.is_some() || pending_test_item;
        if !skipping && !trimmed.starts_with("//") {
            for mac in UNFINISHED {
                if code.contains(mac) {
                    found.push((i + 1, *mac));
                }
            }
        }
        for c in code.chars() {
            match c {
                '{' => {
                    if pending_test_item && skip_depth.is_none() {
                        skip_depth = Some(depth);
                        pending_test_item = false;
                    }
                    depth += 1;
                }
                '}' => {
                    depth -= 1;
                    if skip_depth == Some(depth) {
                        skip_depth = None;
                    }
                }
                _ => {}
            }
        }
        // `#[cfg(test)] mod tests;` or `#[cfg(test)] use ...;`: the item ended without a block.
        if pending_test_item && !trimmed.starts_with('#') && code.trim_end().ends_with(';') {
            pending_test_item = false;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_doc_must_come_first() {
        assert!(opens_with_module_doc("\n//! What this is.\nfn f() {}\n"));
        assert!(!opens_with_module_doc("#![doc = \"x\"]\n//! x\n"));
        assert!(!opens_with_module_doc("/// item doc\nfn f() {}\n"));
        assert!(!opens_with_module_doc(""));
    }

    #[test]
    fn unfinished_code_outside_tests_is_found() {
        let text = "//! m\nfn a() {\n    todo!()\n}\n// todo!() in a comment\n\
                    #[cfg(test)]\nmod tests {\n    fn b() { unimplemented!() }\n}\n\
                    fn c() { unimplemented!(\"x\") }\n#[cfg(test)]\nmod more;\nfn d() { todo!() }\n";
        assert_eq!(
            unfinished(text),
            vec![(3, "todo!("), (10, "unimplemented!("), (13, "todo!(")]
        );
    }
}
