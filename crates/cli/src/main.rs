//! `courier`: the catalog, connection tests, field discovery and delivery from the terminal, and
//! `courier serve`, the Destinations API service, and `courier oauth` to connect OAuth
//! destinations from a terminal.

mod cli;
mod deliver;
mod error;
mod input;
mod oauth;
mod render;

use std::process::ExitCode;

use clap::Parser;
use courier_catalog::Catalog;

use crate::cli::{Cli, Command};
use crate::error::CliError;

/// mimalloc rather than the system allocator: `courier serve` allocates per request and per
/// delivery from many threads, where it costs measurably less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What is logged: `COURIER_LOG` (warnings by default), never the AMQP client's report of a
/// returned message, which quotes a tenant's payload.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COURIER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    match "lapin::returned_messages=off".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(log_filter())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let catalog = Catalog::builtin();
    match cli.command {
        Command::Catalog { r#type } => render::catalog(&catalog, r#type.as_deref()),
        Command::Openapi => render::openapi(&catalog),
        Command::Test(args) => render::test(&catalog, args).await,
        Command::Fields(args) => render::fields(&catalog, args).await,
        Command::Deliver(args) => deliver::run(&catalog, args).await,
        Command::Serve(args) => serve(catalog, args).await,
        Command::Oauth(args) => oauth::run(args).await,
    }
}

async fn serve(catalog: Catalog, args: cli::ServeArgs) -> Result<ExitCode, CliError> {
    let config = courier_server::ServerConfig::load(courier_server::Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        config_file: args.config,
        allow_private_destinations: args.allow_private_destinations,
    })
    .map_err(|e| CliError::Input(format!("{e:#}")))?;
    courier_server::run(config, catalog)
        .await
        .map_err(|e| CliError::Failed(format!("{e:#}")))?;
    Ok(ExitCode::SUCCESS)
}
