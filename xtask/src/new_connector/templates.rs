//! The files of a new connector crate, rendered from `xtask/templates/connector/*.tmpl`.

use crate::names::ConnectorName;

/// The shape a new connector takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `courier_files::FileConnector`: batches become files (object stores, SFTP, drives).
    File,
    /// A `courier_messages::MessageConnector`: records become messages (queues, streams).
    Message,
    /// A `courier_core::Connector` sending one HTTP request per record (APIs, webhooks).
    Http,
}

impl Kind {
    /// Every kind, as `--kind` spells it.
    pub const ALL: [(&'static str, Kind); 3] = [
        ("file", Kind::File),
        ("message", Kind::Message),
        ("http", Kind::Http),
    ];

    pub fn parse(raw: &str) -> Option<Kind> {
        Kind::ALL.iter().find(|(n, _)| *n == raw).map(|(_, k)| *k)
    }

    /// What the generated connector does, for the closing message.
    pub fn summary(self) -> &'static str {
        match self {
            Kind::File => "writes each batch as a file into a local directory",
            Kind::Message => {
                "writes each record as a message file, named by a key, into a local directory"
            }
            Kind::Http => "POSTs each record to an HTTP endpoint with a bearer token",
        }
    }

    /// (path inside the connector directory, template text)
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! t {
            ($kind:literal, $path:literal, $file:literal) => {
                (
                    $path,
                    include_str!(concat!("../../templates/connector/", $kind, "/", $file)),
                )
            };
        }
        match self {
            Kind::File => &[
                t!("file", "Cargo.toml", "Cargo.toml.tmpl"),
                t!("file", "README.md", "README.md.tmpl"),
                t!("file", "src/lib.rs", "lib.rs.tmpl"),
                t!("file", "src/config.rs", "config.rs.tmpl"),
                t!("file", "src/local.rs", "local.rs.tmpl"),
                t!("file", "src/steps.rs", "steps.rs.tmpl"),
                t!("file", "tests/conformance.rs", "conformance.rs.tmpl"),
            ],
            Kind::Message => &[
                t!("message", "Cargo.toml", "Cargo.toml.tmpl"),
                t!("message", "README.md", "README.md.tmpl"),
                t!("message", "src/lib.rs", "lib.rs.tmpl"),
                t!("message", "src/config.rs", "config.rs.tmpl"),
                t!("message", "src/files.rs", "files.rs.tmpl"),
                t!("message", "src/steps.rs", "steps.rs.tmpl"),
                t!("message", "tests/conformance.rs", "conformance.rs.tmpl"),
            ],
            Kind::Http => &[
                t!("http", "Cargo.toml", "Cargo.toml.tmpl"),
                t!("http", "README.md", "README.md.tmpl"),
                t!("http", "src/lib.rs", "lib.rs.tmpl"),
                t!("http", "src/config.rs", "config.rs.tmpl"),
                t!("http", "src/send.rs", "send.rs.tmpl"),
                t!("http", "src/steps.rs", "steps.rs.tmpl"),
                t!("http", "tests/conformance.rs", "conformance.rs.tmpl"),
            ],
        }
    }
}

/// Every file of the connector crate: (path relative to `connectors/NAME`, contents).
pub fn render_all(name: &ConnectorName, kind: Kind) -> Vec<(&'static str, String)> {
    kind.templates()
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
        for (_, kind) in Kind::ALL {
            for (path, text) in render_all(&name, kind) {
                assert!(
                    !text.contains("{{") && !text.contains("}}"),
                    "{kind:?} {path} has a token left"
                );
                assert!(
                    !text.contains("todo!(") && !text.contains("unimplemented!("),
                    "{kind:?} {path}"
                );
                if path.ends_with(".rs") {
                    assert!(
                        text.starts_with("//!"),
                        "{kind:?} {path} must open with a //! line"
                    );
                }
            }
        }
    }

    #[test]
    fn names_land_where_they_belong() {
        let name = ConnectorName::parse("azure-blob").unwrap();
        for (_, kind) in Kind::ALL {
            let files = render_all(&name, kind);
            let get = |p: &str| &files.iter().find(|(path, _)| *path == p).unwrap().1;
            assert!(get("Cargo.toml").contains("name = \"courier-connector-azure-blob\""));
            assert!(get("Cargo.toml").contains("harness = false"));
            assert!(get("src/lib.rs").contains("type_id: \"azure_blob\""));
            assert!(get("tests/conformance.rs").contains("suite!(AzureBlob, fixture);"));
        }
        let shape = |kind| render_all(&name, kind)[2].1.clone();
        assert!(shape(Kind::File).contains("impl FileConnector for AzureBlobFiles"));
        assert!(shape(Kind::Message).contains("impl MessageConnector for AzureBlobMessages"));
        assert!(shape(Kind::Http).contains("impl Connector for AzureBlob {"));
    }
}
