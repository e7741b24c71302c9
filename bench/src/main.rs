//! `stoa-bench`: a load generator for any Matrix homeserver over the standard
//! Client-Server API; `run` measures one server, `table` sets two runs side by side.

#![forbid(unsafe_code)]

mod client;
mod progress;
mod report;
mod rss;
mod scenarios;
mod stats;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use crate::client::Server;
use crate::report::{Report, Section};
use crate::scenarios::{Ctx, Plan};

#[derive(Parser)]
#[command(name = "stoa-bench", about = "Load generator for Matrix homeservers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the scenarios against one server and prints (and optionally writes) the figures.
    Run(RunArgs),
    /// Prints two JSON reports side by side as a markdown table, with the ratio.
    Table {
        /// The first run (its label heads the "advantage" column).
        a: PathBuf,
        /// The run to compare against.
        b: PathBuf,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Base URL of the homeserver (loopback).
    #[arg(long, default_value = "http://127.0.0.1:8008")]
    url: String,
    /// A name for the server in reports, e.g. "Stoa" or "Synapse".
    #[arg(long, default_value = "server")]
    label: String,
    /// Small sizes: under a minute on a fast server.
    #[arg(long)]
    quick: bool,
    /// PID of the server process, for its RSS (idle and per idle connection).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Number of idle long-poll connections (default 2,000; 200 with --quick).
    #[arg(long)]
    idle_connections: Option<usize>,
    /// Scenarios to run, comma-separated, of: fanout, busy_rooms, throughput, sync, history, idle
    /// (register always runs: it makes the users). Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// No scenario may run longer than this, whatever its own budgets say.
const HARD_CAP: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Table { a, b } => table(&a, &b),
    }
}

fn table(a: &PathBuf, b: &PathBuf) -> ExitCode {
    let read = |path: &PathBuf| -> Result<Report, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    match (read(a), read(b)) {
        (Ok(a), Ok(b)) => {
            print!("{}", report::compare_markdown(&a, &b));
            let notes = report::notes_markdown(&[&a, &b]);
            if !notes.is_empty() {
                print!("\nNotes and errors:\n\n{notes}");
            }
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("stoa-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    // Thousands of concurrent connections need more than the usual 1,024 descriptors.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("stoa-bench: could not raise the open-file limit: {e}");
    }
    let server = match Server::new(&args.url) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("stoa-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server.versions().await {
        eprintln!("stoa-bench: {} does not answer: {e}", args.url);
        return ExitCode::FAILURE;
    }
    let plan = Plan::new(args.quick);
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let started = Instant::now();
    let started_unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut report = Report {
        server_url: args.url.clone(),
        label: args.label.clone(),
        quick: args.quick,
        started_unix_secs,
        ..Report::default()
    };
    eprintln!("stoa-bench: {} at {}{}", args.label, args.url, if args.quick { " (quick)" } else { "" });

    let mut baseline = Section::new("server");
    match args.server_pid.and_then(rss::rss_bytes) {
        Some(bytes) => {
            baseline.figure("rss_at_start", bytes as f64 / 1048576.0, "MiB", report::Better::Lower)
        }
        None => baseline.note("no --server-pid: server memory not measured"),
    }

    let prefix = format!("bench{}", started_unix_secs % 1_000_000_000);
    let (section, pool) = scenarios::register::run(&server, &plan, &prefix).await;
    report.sections.push(section);
    let ctx = Ctx { server, plan, prefix, pool };

    if wants("fanout") {
        for size in ctx.plan.fanout_sizes.clone() {
            let sections = capped(&format!("fanout_g{size}"), scenarios::fanout::run(&ctx, size)).await;
            report.sections.extend(sections);
        }
    }
    if wants("busy_rooms") {
        let section = capped("busy_rooms", async { vec![scenarios::busy_rooms::run(&ctx).await] }).await;
        report.sections.extend(section);
    }
    if wants("throughput") {
        let section = capped("throughput", async { vec![scenarios::throughput::run(&ctx).await] }).await;
        report.sections.extend(section);
    }
    if wants("sync") {
        for rooms in ctx.plan.sync_room_counts.clone() {
            let name = format!("initial_sync_r{rooms}");
            let section =
                capped(&name, async { vec![scenarios::initial_sync::run(&ctx, rooms).await] }).await;
            report.sections.extend(section);
        }
    }
    if wants("history") {
        let section = capped("history", async { vec![scenarios::history::run(&ctx).await] }).await;
        report.sections.extend(section);
    }
    if wants("idle") {
        let k = args.idle_connections.unwrap_or(ctx.plan.idle_connections);
        let section =
            capped("idle", async { vec![scenarios::idle::run(&ctx, k, args.server_pid).await] }).await;
        report.sections.extend(section);
    }
    if let Some(bytes) = args.server_pid.and_then(rss::rss_bytes) {
        baseline.figure("rss_at_end", bytes as f64 / 1048576.0, "MiB", report::Better::Lower);
    }
    report.sections.insert(0, baseline);
    report.elapsed_secs = started.elapsed().as_secs_f64();

    println!("{}", report.table());
    if let Some(path) = &args.json {
        let written = serde_json::to_string_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("stoa-bench: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Runs a scenario under the hard cap; past it, the scenario is reported as cut off.
async fn capped(name: &str, scenario: impl Future<Output = Vec<Section>>) -> Vec<Section> {
    match tokio::time::timeout(HARD_CAP, scenario).await {
        Ok(sections) => sections,
        Err(_) => {
            let mut section = Section::new(name);
            section.error(format!("cut off after {} s", HARD_CAP.as_secs()));
            vec![section]
        }
    }
}
