//! What a run measured, and how it is printed: rates, latency quantiles, the backlog over time,
//! costs per delivered event, memory, and the ratio to the bare generator.

use std::time::Duration;

use crate::load::{LoadReport, Pace};
use crate::timeline::{Timeline, quantile_ms};

/// The generator posting straight to the receiver.
#[derive(Debug)]
pub struct BareRun {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl BareRun {
    pub fn new(timeline: &Timeline, load: &LoadReport) -> Self {
        let (from_due, _) = timeline.latencies(load.numbers);
        BareRun {
            per_second: from_due.len() as f64 / load.elapsed.as_secs_f64(),
            p50_ms: quantile_ms(&from_due, 0.5),
            p99_ms: quantile_ms(&from_due, 0.99),
        }
    }
}

/// What a run cost, as counters read before and after it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Costs {
    pub commits: f64,
    pub statements: f64,
    /// CPU seconds of the `courier serve` processes.
    pub server_cpu: f64,
    /// CPU seconds of this process: the load generator and the receiver.
    pub bench_cpu: f64,
    /// CPU seconds of every PostgreSQL process on the machine (0 on SQLite, which runs inside
    /// the server).
    pub database_cpu: f64,
}

impl Costs {
    pub fn since(&self, before: &Costs) -> Costs {
        Costs {
            commits: self.commits - before.commits,
            statements: self.statements - before.statements,
            server_cpu: self.server_cpu - before.server_cpu,
            bench_cpu: self.bench_cpu - before.bench_cpu,
            database_cpu: self.database_cpu - before.database_cpu,
        }
    }
}

/// CPU seconds (user and system) process `pid` has used, from `/proc/PID/stat` (clock ticks of
/// 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every process named `postgres` (the server and its backends).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

/// Courier between the generator and the receiver.
#[derive(Debug)]
pub struct CourierRun {
    pub sent: usize,
    pub accepted: usize,
    pub refused: String,
    pub accepted_per_second: f64,
    /// Arrivals within the posting window, per second of it.
    pub delivered_in_window_per_second: f64,
    /// Every accepted event delivered, per second from the first post to the last arrival.
    pub end_to_end_per_second: f64,
    /// Accepted minus delivered at each whole second of the window.
    pub backlog: Vec<i64>,
    pub missing: usize,
    pub duplicates: u64,
    pub strays: u64,
    pub latency_from_post: [f64; 3],
    pub latency_from_202: [f64; 3],
    pub commits_per_event: f64,
    pub statements_per_event: f64,
    /// Server CPU microseconds per delivered event, and the bench's own.
    pub server_cpu_us: f64,
    pub bench_cpu_us: f64,
    pub database_cpu_us: f64,
    /// Per replica: peak and final resident memory, KiB.
    pub memory: Vec<(u64, u64)>,
    /// The largest replica's resident memory, KiB, each second of the window.
    pub rss_samples: Vec<u64>,
    /// The database's bytes on disk (SQLite's files, or Postgres's database), each second.
    pub disk_samples: Vec<u64>,
}

impl CourierRun {
    pub fn new(
        timeline: &Timeline,
        load: &LoadReport,
        window: Duration,
        costs: Costs,
        memory: Vec<(u64, u64)>,
        rss_samples: Vec<u64>,
        disk_samples: Vec<u64>,
    ) -> Self {
        let n = load.numbers;
        // The generator starts 20 ms after the timeline's epoch.
        let start_ns = 20_000_000u64;
        let end_ns = start_ns + window.as_nanos() as u64;
        let (accepted, delivered_total) = timeline.counts_by(n, u64::MAX);
        let (_, delivered_in_window) = timeline.counts_by(n, end_ns);
        let backlog = (1..=window.as_secs())
            .map(|s| {
                let (a, d) = timeline.counts_by(n, start_ns + s * 1_000_000_000);
                a as i64 - d as i64
            })
            .collect();
        let (from_due, from_accept) = timeline.latencies(n);
        let q = |v: &[Duration]| {
            [
                quantile_ms(v, 0.5),
                quantile_ms(v, 0.95),
                quantile_ms(v, 0.99),
            ]
        };
        let last = timeline.last_arrival(n).max(end_ns);
        CourierRun {
            sent: load.sent,
            accepted,
            refused: load
                .refused
                .iter()
                .map(|(s, n)| format!("{n}x{s}"))
                .collect::<Vec<_>>()
                .join(" "),
            accepted_per_second: accepted as f64 / window.as_secs_f64(),
            delivered_in_window_per_second: delivered_in_window as f64 / window.as_secs_f64(),
            end_to_end_per_second: delivered_total as f64
                / (Duration::from_nanos(last - start_ns)).as_secs_f64(),
            backlog,
            missing: timeline.missing(n),
            duplicates: timeline.duplicates(),
            strays: timeline.strays(),
            latency_from_post: q(&from_due),
            latency_from_202: q(&from_accept),
            commits_per_event: costs.commits / delivered_total.max(1) as f64,
            statements_per_event: costs.statements / delivered_total.max(1) as f64,
            server_cpu_us: costs.server_cpu * 1e6 / delivered_total.max(1) as f64,
            bench_cpu_us: costs.bench_cpu * 1e6 / delivered_total.max(1) as f64,
            database_cpu_us: costs.database_cpu * 1e6 / delivered_total.max(1) as f64,
            memory,
            rss_samples,
            disk_samples,
        }
    }
}

/// Resident memory of process `pid` now, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn print_header(summary: &str) {
    println!(
        "courier serve, end to end: single events posted to POST /events, delivered by webhook to a null receiver on loopback"
    );
    println!("{summary}");
    println!(
        "machine: {} CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
            .unwrap_or_default()
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The medians over the rounds of a loop, with the lowest and highest.
pub fn print_summary(name: &str, pace: Pace, rounds: &[(BareRun, CourierRun)]) {
    let pick = |f: &dyn Fn(&(BareRun, CourierRun)) -> f64| {
        let values: Vec<f64> = rounds.iter().map(f).collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (median(values), lo, hi)
    };
    let pace = match pace {
        Pace::Closed => "closed loop".to_string(),
        Pace::Open { per_second } => format!("open loop at {per_second}/s"),
    };
    println!();
    println!(
        "== {name} summary, {pace}: median of {} rounds [lowest - highest]",
        rounds.len()
    );
    let line = |label: &str, unit: &str, (m, lo, hi): (f64, f64, f64)| {
        // Costs below one per event need more digits.
        let p = if m.abs() < 1.0 { 4 } else { 2 };
        println!("  {label:<34} {m:>10.p$} {unit:<10} [{lo:.p$} - {hi:.p$}]");
    };
    line(
        "bare generator -> receiver",
        "posts/s",
        pick(&|r| r.0.per_second),
    );
    line(
        "courier accepted",
        "events/s",
        pick(&|r| r.1.accepted_per_second),
    );
    line(
        "courier delivered in the window",
        "events/s",
        pick(&|r| r.1.delivered_in_window_per_second),
    );
    line(
        "courier end to end",
        "events/s",
        pick(&|r| r.1.end_to_end_per_second),
    );
    line(
        "ratio end to end / bare",
        "",
        pick(&|r| r.1.end_to_end_per_second / r.0.per_second),
    );
    line(
        "post->delivery p50",
        "ms",
        pick(&|r| r.1.latency_from_post[0]),
    );
    line(
        "post->delivery p99",
        "ms",
        pick(&|r| r.1.latency_from_post[2]),
    );
    line(
        "largest backlog in a second",
        "events",
        pick(&|r| r.1.backlog.iter().copied().max().unwrap_or(0) as f64),
    );
    line("commits per event", "", pick(&|r| r.1.commits_per_event));
    line(
        "statements per event",
        "",
        pick(&|r| r.1.statements_per_event),
    );
    line("server CPU per event", "us", pick(&|r| r.1.server_cpu_us));
    line(
        "server CPU / generator CPU",
        "",
        pick(&|r| r.1.server_cpu_us / r.1.bench_cpu_us.max(1e-9)),
    );
    if rounds.iter().any(|r| r.1.database_cpu_us > 0.0) {
        line(
            "PostgreSQL CPU per event",
            "us",
            pick(&|r| r.1.database_cpu_us),
        );
    }
    line(
        "peak RSS",
        "MiB",
        pick(&|r| r.1.memory.iter().map(|m| m.0).max().unwrap_or(0) as f64 / 1024.0),
    );
    let lost: usize = rounds.iter().map(|r| r.1.missing).sum();
    let duplicates: u64 = rounds.iter().map(|r| r.1.duplicates).sum();
    println!("  accepted but not delivered: {lost}; delivered twice: {duplicates}");
}

pub fn print_pair(name: &str, pace: Pace, bare: &BareRun, run: &CourierRun) {
    let pace = match pace {
        Pace::Closed => "closed loop, flat out".to_string(),
        Pace::Open { per_second } => format!("open loop at {per_second}/s"),
    };
    println!();
    println!("== {name}: {pace}");
    println!(
        "bare generator -> receiver: {:>8.0} posts/s   post->arrival p50 {:>6.2} ms  p99 {:>6.2} ms",
        bare.per_second, bare.p50_ms, bare.p99_ms
    );
    println!(
        "courier: accepted {:>8.0}/s   delivered in window {:>8.0}/s   end to end {:>8.0}/s   ratio to bare {:.3}",
        run.accepted_per_second,
        run.delivered_in_window_per_second,
        run.end_to_end_per_second,
        run.end_to_end_per_second / bare.per_second
    );
    let [p50, p95, p99] = run.latency_from_post;
    let [a50, a95, a99] = run.latency_from_202;
    println!(
        "  post->delivery  p50 {p50:>8.2} ms  p95 {p95:>8.2} ms  p99 {p99:>8.2} ms   (202->delivery p50 {a50:.2} p95 {a95:.2} p99 {a99:.2})"
    );
    let step = (run.backlog.len() / 10).max(1);
    let series: Vec<String> = run
        .backlog
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % step == 0)
        .map(|(i, b)| format!("{}s:{b}", i + 1))
        .collect();
    println!(
        "  backlog (accepted - delivered): {}   max {}",
        series.join(" "),
        run.backlog.iter().max().copied().unwrap_or(0)
    );
    println!(
        "  costs per delivered event: {:.4} commits, {:.4} statements, {:.0} us server CPU{} ({:.0} us generator and receiver)",
        run.commits_per_event,
        run.statements_per_event,
        run.server_cpu_us,
        if run.database_cpu_us > 0.0 {
            format!(" + {:.0} us PostgreSQL CPU", run.database_cpu_us)
        } else {
            String::new()
        },
        run.bench_cpu_us
    );
    for (i, (peak, now)) in run.memory.iter().enumerate() {
        println!(
            "  replica {i}: peak RSS {:.1} MiB, at the end {:.1} MiB",
            *peak as f64 / 1024.0,
            *now as f64 / 1024.0
        );
    }
    if run.rss_samples.len() >= 4 {
        let s = &run.rss_samples;
        let mib = |k: u64| k as f64 / 1024.0;
        println!(
            "  RSS over the window: at 25% {:.1} MiB, 50% {:.1} MiB, 75% {:.1} MiB, end {:.1} MiB",
            mib(s[s.len() / 4]),
            mib(s[s.len() / 2]),
            mib(s[s.len() * 3 / 4]),
            mib(s[s.len() - 1])
        );
    }
    if run.disk_samples.len() >= 4 && run.disk_samples.iter().any(|&b| b > 0) {
        let s = &run.disk_samples;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "  database on disk over the window: at 25% {:.1} MiB, 50% {:.1} MiB, 75% {:.1} MiB, end {:.1} MiB",
            mib(s[s.len() / 4]),
            mib(s[s.len() / 2]),
            mib(s[s.len() * 3 / 4]),
            mib(s[s.len() - 1])
        );
    }
    println!(
        "  posted {}, accepted {}, refused [{}], not delivered {}, duplicates {}, strays {}",
        run.sent, run.accepted, run.refused, run.missing, run.duplicates, run.strays
    );
}
