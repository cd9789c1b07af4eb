//! The registration of a connector in the workspace: the lines `new-connector` writes into the
//! manifests, the catalog registry and the known-types list, and the checks `tidy` makes of them.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::names::ConnectorName;
use crate::{toml_text, workspace};

/// The line in `crates/catalog/src/registry.rs` above which registrations are inserted.
pub const REGISTER_MARKER: &str = "// xtask:register (new connectors are inserted above this line)";
/// The line in `crates/catalog/src/known.rs` above which known types are inserted.
pub const KNOWN_MARKER: &str = "// xtask:known (new connectors are inserted above this line)";

pub const ROOT_MANIFEST: &str = "Cargo.toml";
pub const CATALOG_MANIFEST: &str = "crates/catalog/Cargo.toml";
pub const CLI_MANIFEST: &str = "crates/cli/Cargo.toml";
pub const REGISTRY: &str = "crates/catalog/src/registry.rs";
pub const KNOWN: &str = "crates/catalog/src/known.rs";

const CONNECTOR_PREFIX: &str = "courier-connector-";

/// A whole-file replacement, computed before anything is written.
#[derive(Debug)]
pub struct Edit {
    /// Relative to the workspace root, `/`-separated.
    pub path: &'static str,
    pub contents: String,
}

/// Every registration edit for `name`, or the first reason it cannot be registered. Nothing is
/// written: the caller writes all edits only once every one of them is known to apply.
pub fn plan(root: &Path, name: &ConnectorName) -> Result<Vec<Edit>> {
    type EditFn = fn(&str, &ConnectorName) -> Result<String>;
    let steps: [(&'static str, EditFn); 5] = [
        (ROOT_MANIFEST, root_manifest),
        (CATALOG_MANIFEST, catalog_manifest),
        (CLI_MANIFEST, cli_manifest),
        (REGISTRY, registry),
        (KNOWN, known),
    ];
    steps
        .into_iter()
        .map(|(path, edit)| {
            let text = workspace::read(&root.join(path))?;
            let contents =
                edit(&text, name).with_context(|| format!("cannot register in {path}"))?;
            Ok(Edit { path, contents })
        })
        .collect()
}

/// `courier-connector-NAME = { version = "0.1.0", path = "connectors/NAME" }` in
/// `[workspace.dependencies]`, after the last connector crate there (the version lets the
/// crates that depend on it be packaged).
pub fn root_manifest(text: &str, name: &ConnectorName) -> Result<String> {
    let krate = name.crate_name();
    if toml_text::has_key(text, "[workspace.dependencies]", &krate) {
        bail!("`{krate}` is already in [workspace.dependencies]");
    }
    let line = format!(
        "{krate} = {{ version = \"0.1.0\", path = \"connectors/{}\" }}",
        name.kebab
    );
    toml_text::insert_line(text, "[workspace.dependencies]", &line, |k| {
        k.starts_with(CONNECTOR_PREFIX) || k == "courier-conformance"
    })
}

/// The feature, its place in `all`, and the optional dependency.
pub fn catalog_manifest(text: &str, name: &ConnectorName) -> Result<String> {
    let (feature, krate) = (&name.kebab, name.crate_name());
    if toml_text::has_key(text, "[features]", feature) {
        bail!("feature `{feature}` already exists");
    }
    if toml_text::has_key(text, "[dependencies]", &krate) {
        bail!("dependency `{krate}` already exists");
    }
    let text = toml_text::append_to_array(text, "[features]", "all", feature)?;
    let line = format!("{feature} = [\"dep:{krate}\"]");
    let text = toml_text::insert_line(&text, "[features]", &line, |_| false)?;
    let dep = format!("{krate} = {{ workspace = true, optional = true }}");
    toml_text::insert_line(&text, "[dependencies]", &dep, |k| {
        k.starts_with(CONNECTOR_PREFIX) || k == "courier-core"
    })
}

/// `NAME = ["courier-catalog/NAME"]` in the CLI's `[features]`.
pub fn cli_manifest(text: &str, name: &ConnectorName) -> Result<String> {
    let feature = &name.kebab;
    if toml_text::has_key(text, "[features]", feature) {
        bail!("feature `{feature}` already exists");
    }
    let line = format!("{feature} = [\"courier-catalog/{feature}\"]");
    toml_text::insert_line(text, "[features]", &line, |_| false)
}

/// The two registry lines, indented like the marker.
pub fn registry(text: &str, name: &ConnectorName) -> Result<String> {
    if text.contains(&format!("{}::", name.crate_ident())) {
        bail!("`{}` is already registered", name.crate_ident());
    }
    let lines = [
        format!("#[cfg(feature = \"{}\")]", name.kebab),
        format!("catalog.add({}::{});", name.crate_ident(), name.camel),
    ];
    insert_above_marker(text, REGISTER_MARKER, &lines)
}

/// `("TYPE_ID", "NAME"),` in the known-types list.
pub fn known(text: &str, name: &ConnectorName) -> Result<String> {
    if text.contains(&format!("(\"{}\",", name.type_id)) {
        bail!("type `{}` is already listed", name.type_id);
    }
    insert_above_marker(text, KNOWN_MARKER, &[known_entry(name)])
}

fn known_entry(name: &ConnectorName) -> String {
    format!("(\"{}\", \"{}\"),", name.type_id, name.kebab)
}

/// Inserts `lines` just above the one line containing `marker`, with the marker's indentation.
pub fn insert_above_marker(text: &str, marker: &str, lines: &[String]) -> Result<String> {
    let found: Vec<usize> = text
        .split_inclusive('\n')
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line))
        })
        .filter(|(_, line)| line.contains(marker))
        .map(|(start, _)| start)
        .collect();
    let start = match found.as_slice() {
        [one] => *one,
        [] => bail!("the marker line `{marker}` is missing; add it where new connectors belong"),
        _ => bail!("the marker line `{marker}` appears more than once"),
    };
    let marker_line = &text[start..];
    let indent = &marker_line[..marker_line.len() - marker_line.trim_start().len()];
    let block: String = lines.iter().map(|l| format!("{indent}{l}\n")).collect();
    Ok(format!("{}{block}{}", &text[..start], marker_line))
}

/// Every registration problem of the connector in `connectors/<dir>`, as messages.
pub fn problems(root: &Path, name: &ConnectorName) -> Result<Vec<String>> {
    let read = |p: &str| workspace::read(&root.join(p));
    let (root_toml, catalog_toml, cli_toml) = (
        read(ROOT_MANIFEST)?,
        read(CATALOG_MANIFEST)?,
        read(CLI_MANIFEST)?,
    );
    let (registry_rs, known_rs) = (
        read(REGISTRY).unwrap_or_default(),
        read(KNOWN).unwrap_or_default(),
    );
    let (feature, krate) = (&name.kebab, name.crate_name());
    let mut out = Vec::new();
    let mut need = |ok: bool, what: String| {
        if !ok {
            out.push(format!("connectors/{feature}: {what}"));
        }
    };
    need(
        toml_text::has_key(&root_toml, "[workspace.dependencies]", &krate),
        format!("`{krate}` is missing from [workspace.dependencies] in {ROOT_MANIFEST}"),
    );
    let feature_value = toml_text::value_of(&catalog_toml, "[features]", feature);
    need(
        feature_value.is_some_and(|v| v.contains(&format!("\"dep:{krate}\""))),
        format!("feature `{feature} = [\"dep:{krate}\"]` is missing from {CATALOG_MANIFEST}"),
    );
    let all = toml_text::value_of(&catalog_toml, "[features]", "all").unwrap_or_default();
    need(
        all.contains(&format!("\"{feature}\"")),
        format!("`{feature}` is missing from the `all` feature in {CATALOG_MANIFEST}"),
    );
    need(
        toml_text::has_key(&catalog_toml, "[dependencies]", &krate),
        format!("optional dependency `{krate}` is missing from {CATALOG_MANIFEST}"),
    );
    need(
        toml_text::has_key(&cli_toml, "[features]", feature),
        format!("feature `{feature}` is missing from {CLI_MANIFEST}"),
    );
    need(
        registry_rs.contains(&format!("feature = \"{feature}\""))
            && registry_rs.contains(&format!("{}::", name.crate_ident())),
        format!(
            "no `#[cfg(feature = \"{feature}\")]` registration of `{}` in {REGISTRY}",
            name.crate_ident()
        ),
    );
    need(
        known_rs.contains(&known_entry(name)),
        format!("no `{}` entry in {KNOWN}", known_entry(name)),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> ConnectorName {
        ConnectorName::parse("azure-blob").unwrap()
    }

    const REGISTRY_RS: &str = "//! r\npub fn build() {\n    #[cfg(feature = \"webhook\")]\n    \
        catalog.add(courier_connector_webhook::Webhook);\n    \
        // xtask:register (new connectors are inserted above this line)\n}\n";

    #[test]
    fn registry_lines_go_above_the_marker() {
        let out = registry(REGISTRY_RS, &name()).unwrap();
        let expected = "Webhook);\n    #[cfg(feature = \"azure-blob\")]\n    \
            catalog.add(courier_connector_azure_blob::AzureBlob);\n    // xtask:register";
        assert!(out.contains(expected), "{out}");
        let again = registry(&out, &name()).unwrap_err().to_string();
        assert!(again.contains("already registered"), "{again}");
    }

    #[test]
    fn known_entry_goes_above_the_marker() {
        let text = "pub const KNOWN: &[(&str, &str)] = &[\n    (\"webhook\", \"webhook\"),\n    \
            // xtask:known (new connectors are inserted above this line)\n];\n";
        let out = known(text, &name()).unwrap();
        assert!(out.contains(
            "(\"webhook\", \"webhook\"),\n    (\"azure_blob\", \"azure-blob\"),\n    // xtask:known"
        ));
        assert!(known(&out, &name()).is_err());
    }

    #[test]
    fn missing_or_repeated_marker_is_an_error() {
        let err = insert_above_marker("fn f() {}\n", KNOWN_MARKER, &["x".into()]).unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
        let twice = format!("{KNOWN_MARKER}\n{KNOWN_MARKER}\n");
        assert!(insert_above_marker(&twice, KNOWN_MARKER, &["x".into()]).is_err());
        let at_end = format!("a\n{KNOWN_MARKER}");
        assert_eq!(
            insert_above_marker(&at_end, KNOWN_MARKER, &["x".into()]).unwrap(),
            format!("a\nx\n{KNOWN_MARKER}")
        );
    }

    #[test]
    fn manifests() {
        let root = "[workspace.dependencies]\ncourier-conformance = { path = \"crates/conformance\" }\n\
            courier-connector-webhook = { path = \"connectors/webhook\" }\n\n# Third-party\nanyhow = \"1\"\n";
        let out = root_manifest(root, &name()).unwrap();
        assert!(out.contains("webhook\" }\ncourier-connector-azure-blob = { version = \"0.1.0\", path = \"connectors/azure-blob\" }\n\n# Third"));
        assert!(root_manifest(&out, &name()).is_err());

        let catalog = "[features]\ndefault = [\"all\"]\nall = [\"webhook\"]\nwebhook = [\"dep:courier-connector-webhook\"]\n\n\
            [dependencies]\ncourier-core.workspace = true\ncourier-connector-webhook = { workspace = true, optional = true }\nserde.workspace = true\n";
        let out = catalog_manifest(catalog, &name()).unwrap();
        assert!(
            out.contains("all = [\"webhook\", \"azure-blob\"]\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "webhook\"]\nazure-blob = [\"dep:courier-connector-azure-blob\"]\n\n[dependencies]"
            ),
            "{out}"
        );
        assert!(out.contains("optional = true }\ncourier-connector-azure-blob = { workspace = true, optional = true }\nserde"));
        assert!(catalog_manifest(&out, &name()).is_err());

        let cli = "[features]\ndefault = [\"all\"]\nall = [\"courier-catalog/all\"]\nwebhook = [\"courier-catalog/webhook\"]\n\n[dependencies]\n";
        let out = cli_manifest(cli, &name()).unwrap();
        assert!(
            out.contains("webhook\"]\nazure-blob = [\"courier-catalog/azure-blob\"]\n\n[dep"),
            "{out}"
        );
    }
}
