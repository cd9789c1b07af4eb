//! Reading `--config`/`--auth`/`--policy` (JSON text or @file) and building the destination spec.

use std::sync::Arc;

use courier_catalog::Catalog;
use courier_core::{BuildError, Destination, DestinationSpec, DynConnector};
use serde_json::Value;

use crate::cli::TargetArgs;
use crate::error::CliError;

/// Parses JSON given inline or as `@path`. Errors name the flag, never echo the text (it may be
/// a secret).
pub fn json_arg(flag: &str, raw: &str) -> Result<Value, CliError> {
    let (text, source) = match raw.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| CliError::Input(format!("--{flag}: cannot read {path}: {e}")))?,
            format!(" (file {path})"),
        ),
        None => (raw.to_string(), String::new()),
    };
    // serde_json's messages for untyped parsing name the position, never the text itself.
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("--{flag} is not valid JSON{source}: {e}")))
}

pub fn spec(args: &TargetArgs) -> Result<DestinationSpec, CliError> {
    Ok(DestinationSpec {
        destination_id: args.destination_id.clone(),
        config: json_arg("config", &args.config)?,
        auth_config: match &args.auth {
            Some(a) => json_arg("auth", a)?,
            None => Value::Null,
        },
        payload_cap_bytes: args.payload_cap_bytes,
        token_store: None,
        allow_private_network: true,
    })
}

/// The connector and a spec that passed validation (every problem reported at once otherwise).
pub fn validated(
    catalog: &Catalog,
    args: &TargetArgs,
) -> Result<(Arc<dyn DynConnector>, DestinationSpec), CliError> {
    let connector = catalog
        .get(&args.r#type)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let spec = spec(args)?;
    let errors = connector.validate(&spec);
    if !errors.is_empty() {
        return Err(CliError::invalid(&errors));
    }
    Ok((connector, spec))
}

pub async fn destination(
    catalog: &Catalog,
    args: &TargetArgs,
) -> Result<Arc<dyn Destination>, CliError> {
    let (connector, spec) = validated(catalog, args)?;
    connector.build(&spec).await.map_err(|e| match e {
        BuildError::Invalid(errors) => CliError::invalid(&errors),
        BuildError::Connect(e) => CliError::Failed(format!("{}\n  hint: {}", e.message, e.hint)),
    })
}
