//! The example host's command line: `courier-example-host types` lists the connectors this build
//! links; `courier-example-host send TYPE CONFIG_JSON AUTH_JSON` checks the destination, runs its
//! connection test and delivers each line of standard input as one record.

use std::process::ExitCode;

use courier_core::{DestinationSpec, Record};
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str = "usage: courier-example-host types\n       courier-example-host send TYPE CONFIG_JSON AUTH_JSON < records.ndjson";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let catalog = courier_example_host::catalog();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["types"] => {
            let mut types: Vec<&str> = catalog.types().collect();
            types.sort_unstable();
            println!("{}", types.join("\n"));
            ExitCode::SUCCESS
        }
        ["send", type_id, config, auth] => match send(&catalog, type_id, config, auth).await {
            Ok(all_delivered) => {
                if all_delivered {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Checks, tests and delivers; answers whether every record was delivered.
async fn send(
    catalog: &courier_catalog::Catalog,
    type_id: &str,
    config: &str,
    auth: &str,
) -> Result<bool, String> {
    let parse = |what: &str, text: &str| {
        serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
    };
    let spec = DestinationSpec {
        destination_id: "example".into(),
        config: parse("CONFIG_JSON", config)?,
        auth_config: parse("AUTH_JSON", auth)?,
        ..DestinationSpec::default()
    };
    courier_example_host::check(catalog, type_id, &spec)?;
    let report = courier_example_host::test(catalog, type_id, &spec, |step| {
        eprintln!("{:?} {}: {}", step.status, step.name, step.message);
    })
    .await?;
    if !report.success {
        return Err("the connection test failed".to_string());
    }
    let mut records = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        if !line.trim().is_empty() {
            records.push(Record::new(format!("rec_{}", records.len() + 1), line));
        }
    }
    let outcome = courier_example_host::send(catalog, type_id, &spec, records).await?;
    for record in &outcome.records {
        println!(
            "{}",
            serde_json::to_string(record).map_err(|e| e.to_string())?
        );
    }
    Ok(outcome.delivered_count() == outcome.records.len())
}
