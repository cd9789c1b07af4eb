//! The files of a new connector crate, rendered from `xtask/templates/connector/*.tmpl`.

use crate::names::ConnectorName;

/// (path inside the connector directory, template text)
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/connector/Cargo.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/connector/README.md.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/connector/lib.rs.tmpl"),
    ),
    (
        "src/config.rs",
        include_str!("../../templates/connector/config.rs.tmpl"),
    ),
    (
        "src/files.rs",
        include_str!("../../templates/connector/files.rs.tmpl"),
    ),
    (
        "src/steps.rs",
        include_str!("../../templates/connector/steps.rs.tmpl"),
    ),
    (
        "tests/conformance.rs",
        include_str!("../../templates/connector/conformance.rs.tmpl"),
    ),
];

/// Every file of the connector crate: (path relative to `connectors/NAME`, contents).
pub fn render_all(name: &ConnectorName) -> Vec<(&'static str, String)> {
    TEMPLATES
        .iter()
        .map(|(path, template)| (*path, render(template, name)))
        .collect()
}

/// Replaces the `{{...}}` tokens of `template` with the spellings of `name`.
pub fn render(template: &str, name: &ConnectorName) -> String {
    [
        ("{{name}}", name.kebab.clone()),
        ("{{type_id}}", name.type_id.clone()),
        ("{{Struct}}", name.camel.clone()),
        ("{{label}}", name.label.clone()),
        ("{{crate}}", name.crate_name()),
        ("{{crate_ident}}", name.crate_ident()),
    ]
    .iter()
    .fold(template.to_string(), |text, (token, value)| {
        text.replace(token, value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_replaced_and_nothing_is_left_to_do() {
        let name = ConnectorName::parse("azure-blob").unwrap();
        for (path, text) in render_all(&name) {
            assert!(
                !text.contains("{{") && !text.contains("}}"),
                "{path} has a token left"
            );
            assert!(
                !text.contains("todo!(") && !text.contains("unimplemented!("),
                "{path}"
            );
            if path.ends_with(".rs") {
                assert!(text.starts_with("//!"), "{path} must open with a //! line");
            }
        }
    }

    #[test]
    fn names_land_where_they_belong() {
        let name = ConnectorName::parse("azure-blob").unwrap();
        let files = render_all(&name);
        let get = |p: &str| &files.iter().find(|(path, _)| *path == p).unwrap().1;
        assert!(get("Cargo.toml").contains("name = \"courier-connector-azure-blob\""));
        assert!(get("src/lib.rs").contains("type_id: \"azure_blob\""));
        assert!(get("src/lib.rs").contains("pub struct AzureBlob;"));
        assert!(
            get("tests/conformance.rs")
                .contains("use courier_connector_azure_blob::{AzureBlob, files};")
        );
        assert!(get("tests/conformance.rs").contains("suite!(AzureBlob, fixture);"));
        assert!(get("Cargo.toml").contains("harness = false"));
    }
}
