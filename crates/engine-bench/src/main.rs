//! `courier-engine-bench` (run it as `cargo xtask bench engine`): starts `courier serve` and a
//! null receiver on loopback, posts single events from many connections (closed loop flat out,
//! then open loop at a fixed rate), and prints accepted/s, delivered/s, accept→delivery
//! latency, database commits and statements per event and peak memory, each beside the same
//! load generator posting the same bodies straight to the receiver in the same run. With
//! `--scenario fairness` it measures instead how a light tenant's fresh events fare while a heavy
//! tenant's backlog drains.

mod fairness;
mod load;
mod receiver;
mod report;
mod server;
mod timeline;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use crate::load::{Pace, Target};
use crate::report::{BareRun, Costs, CourierRun};
use crate::server::Courier;
use crate::timeline::Timeline;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Single events flat out and at a fixed rate, beside a bare generator.
    Throughput,
    /// A light tenant's fresh events while a heavy tenant's backlog drains.
    Fairness,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Loop {
    Closed,
    Open,
    Both,
}

#[derive(Debug, Parser)]
#[command(about = "Measures courier serve end to end: single events in, webhooks out")]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value = "throughput")]
    scenario: Scenario,
    /// `--scenario fairness`: the heavy tenant's backlog, in events.
    #[arg(long, default_value_t = 20_000)]
    backlog: usize,
    /// The `courier` binary (default: beside this one).
    #[arg(long)]
    courier: Option<PathBuf>,
    /// The store `courier serve` runs on.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: Store,
    /// A Postgres server URL for `--store postgres` (a fresh database is made on it per run).
    #[arg(long, env = "COURIER_TEST_POSTGRES_URL")]
    database_url: Option<String>,
    /// How long each run posts events.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The open loop's rate, events per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Which loops to run.
    #[arg(long = "loop", value_enum, default_value = "both")]
    pace: Loop,
    /// Client connections posting events.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Size of each event's payload in bytes.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// `courier serve` processes sharing the database (Postgres only); connections are spread
    /// over them.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// The webhook destination's `max_concurrency`.
    #[arg(long, default_value_t = 64)]
    max_concurrency: u32,
    /// Prune ended deliveries and events older than this many seconds (`retention_days`), to
    /// see the database's size stay flat while events flow; the server's default otherwise.
    #[arg(long)]
    retention_seconds: Option<u64>,
    /// Rounds of each loop (bare generator, then courier on a fresh store); the summary gives
    /// their medians, so a machine whose speed drifts shows as a spread, not a wrong figure.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Upper bound on events one run can post, for the timeline's slots.
fn capacity(args: &Args, pace: Pace) -> usize {
    match pace {
        Pace::Closed => (args.seconds as usize * 40_000).max(100_000),
        Pace::Open { per_second } => (args.seconds as f64 * per_second) as usize + 1000,
    }
}

async fn bare_run(args: &Args, pace: Pace) -> Result<BareRun> {
    let timeline = Arc::new(Timeline::new(capacity(args, pace)));
    let receiver = receiver::start(timeline.clone()).await?;
    let target = Target {
        addrs: vec![receiver],
        path: "/hooks".into(),
        bearer: None,
        as_event: None,
    };
    let load = load::run(
        target,
        pace,
        Duration::from_secs(args.seconds),
        args.connections,
        args.payload_bytes,
        timeline.clone(),
    )
    .await;
    Ok(BareRun::new(&timeline, &load))
}

async fn courier_run(args: &Args, binary: &Path, pace: Pace, name: &str) -> Result<CourierRun> {
    let database_url = match args.store {
        Store::Sqlite => None,
        Store::Postgres => {
            let base = args
                .database_url
                .as_deref()
                .context("--store postgres needs --database-url (or COURIER_TEST_POSTGRES_URL)")?;
            let db = format!("courier_engine_bench_{name}_{}", std::process::id());
            Some(server::fresh_postgres(base, &db).await?)
        }
    };
    let retention = args.retention_seconds.map(Duration::from_secs);
    let mut replicas = vec![Courier::start(binary, database_url.as_deref(), retention).await?];
    for _ in 1..args.replicas {
        replicas.push(Courier::start(binary, database_url.as_deref(), retention).await?);
    }
    let first = &replicas[0];
    let api = first.workspace_api().await?;
    let timeline = Arc::new(Timeline::new(capacity(args, pace)));
    let receiver = receiver::start(timeline.clone()).await?;
    let event_type = format!("bench.{name}");
    first
        .route_to(&api, receiver, &event_type, args.max_concurrency)
        .await?;
    let postgres = args.store == Store::Postgres;
    let before = costs(&replicas, postgres).await;
    let target = Target {
        addrs: replicas.iter().map(|r| r.addr).collect(),
        path: format!("{api}/events"),
        bearer: Some(server::KEY.into()),
        as_event: Some(event_type),
    };
    // Memory and the database's size on disk are sampled every second while the load runs.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let pids: Vec<u32> = replicas.iter().filter_map(Courier::pid).collect();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                samples.push(pids.iter().map(|p| report::rss_kib(*p)).max().unwrap_or(0));
            }
            samples
        })
    };
    let disk_sampler = {
        let stop = stop.clone();
        let measure = first.database_measure();
        let postgres = database_url.clone();
        tokio::spawn(async move {
            // Postgres: the database's size as the server reports it (tables, indexes, TOAST).
            let mut postgres = match postgres {
                Some(url) => server::postgres_size_probe(&url).await,
                None => None,
            };
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                samples.push(match postgres.as_mut() {
                    Some(probe) => server::postgres_size(probe).await,
                    None => measure(),
                });
            }
            samples
        })
    };
    let load = load::run(
        target,
        pace,
        Duration::from_secs(args.seconds),
        args.connections,
        args.payload_bytes,
        timeline.clone(),
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rss_samples = sampler.await.unwrap_or_default();
    let disk_samples = disk_sampler.await.unwrap_or_default();
    // Let the backlog drain (bounded), then read the costs.
    let drain_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while timeline.missing(load.numbers) > 0 && tokio::time::Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = costs(&replicas, postgres).await;
    let memory: Vec<(u64, u64)> = replicas.iter().map(Courier::memory_kib).collect();
    Ok(CourierRun::new(
        &timeline,
        &load,
        Duration::from_secs(args.seconds),
        after.since(&before),
        memory,
        rss_samples,
        disk_samples,
    ))
}

/// Database commits, statements and CPU seconds so far, summed over the replicas, and this
/// process's own CPU seconds (the generator's and the receiver's); the database's CPU only for
/// Postgres (SQLite's is the server's own).
async fn costs(replicas: &[Courier], postgres: bool) -> Costs {
    let mut sum = Costs {
        bench_cpu: report::cpu_seconds(std::process::id()),
        ..Costs::default()
    };
    if postgres {
        sum.database_cpu = report::postgres_cpu_seconds();
    }
    for r in replicas {
        sum.commits += r.counter("courier_db_commits_total").await.unwrap_or(0.0);
        sum.statements += r
            .counter("courier_db_statements_total")
            .await
            .unwrap_or(0.0);
        sum.server_cpu += r.pid().map_or(0.0, report::cpu_seconds);
    }
    sum
}

fn default_courier() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("courier"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match &args.courier {
        Some(b) => b.clone(),
        None => default_courier()?,
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p courier-cli`",
            binary.display()
        );
    }
    if args.replicas > 1 && args.store != Store::Postgres {
        bail!("--replicas needs --store postgres (SQLite's file belongs to one process)");
    }
    if args.scenario == Scenario::Fairness {
        return fairness::run(&args, &binary).await;
    }
    report::print_header(&args_summary(&args));
    let mut paces = Vec::new();
    if matches!(args.pace, Loop::Closed | Loop::Both) {
        paces.push(("closed", Pace::Closed));
    }
    if matches!(args.pace, Loop::Open | Loop::Both) {
        paces.push((
            "open",
            Pace::Open {
                per_second: args.rate,
            },
        ));
    }
    for (name, pace) in paces {
        let mut rounds = Vec::new();
        for round in 1..=args.rounds.max(1) {
            let bare = bare_run(&args, pace).await?;
            let courier = courier_run(&args, &binary, pace, &format!("{name}{round}")).await?;
            report::print_pair(
                &format!("{name} {round}/{}", args.rounds.max(1)),
                pace,
                &bare,
                &courier,
            );
            rounds.push((bare, courier));
        }
        report::print_summary(name, pace, &rounds);
    }
    Ok(())
}

fn args_summary(args: &Args) -> String {
    format!(
        "store {:?} x{} replica(s), {} connections, {} s per run, {} rounds, {}-byte payloads, open-loop rate {}/s, destination max_concurrency {}",
        args.store,
        args.replicas,
        args.connections,
        args.seconds,
        args.rounds,
        args.payload_bytes,
        args.rate,
        args.max_concurrency
    )
}
