//! idle connections: K long-poll `/sync` requests that nothing wakes; the server's RSS
//! before and after (with `--server-pid`) gives the memory cost of one idle connection.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::{ClientError, User};
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::rss::rss_bytes;
use crate::scenarios::{Ctx, bounded};

const INITIAL_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}"#;
/// Long enough to outlast the measurement, below common request timeouts (120 s).
const IDLE_TIMEOUT_MS: u64 = 100_000;
const MIB: f64 = 1024.0 * 1024.0;

/// How one idle connection fared: answers that came before the measurement ended
/// (the request is then made again, so the connection stays held) and its error.
struct Held {
    early: u64,
    error: Option<ClientError>,
}

pub async fn run(ctx: &Ctx, connections: usize, server_pid: Option<u32>) -> Section {
    let mut section = Section::new("idle");
    let started = Instant::now();
    let users = &ctx.pool[..ctx.pool.len().min(connections)];
    if users.is_empty() {
        section.error("no registered users to hold connections with");
        return section;
    }
    let sinces = tokens(ctx, users, &mut section).await;
    if sinces.is_empty() {
        return section;
    }
    let before = server_pid.and_then(rss_bytes);

    // New connections only, so the figure is the cost of a connection and its request.
    let server = match ctx.server.fresh() {
        Ok(server) => server,
        Err(e) => {
            section.error(e);
            return section;
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let progress = Progress::start("idle: open", connections as u64);
    for i in 0..connections {
        let Some((user, since)) = sinces.get(i % sinces.len()).cloned() else { break };
        let (server, mut stop) = (server.clone(), stop_rx.clone());
        // A distinct timeout per request keeps servers from answering identical requests
        // from one shared response cache.
        let timeout = IDLE_TIMEOUT_MS + (i % 5_000) as u64;
        tasks.spawn(async move {
            let mut held = Held { early: 0, error: None };
            let mut since = since;
            loop {
                tokio::select! {
                    result = server.sync(&user, Some(&since), timeout, Some(INITIAL_FILTER)) => match result {
                        Ok(sync) => {
                            held.early += 1;
                            since = sync.next_batch;
                        }
                        Err(e) => {
                            held.error = Some(e);
                            return held;
                        }
                    },
                    _ = stop.changed() => return held,
                }
            }
        });
        progress.inc();
        if i % 100 == 99 {
            // Opening thousands of sockets at once overflows listen backlogs.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(progress);
    // Give the server time to accept and park every request, then measure.
    tokio::time::sleep(Duration::from_millis(3_000 + connections as u64)).await;
    let after = server_pid.and_then(rss_bytes);
    let _ = stop_tx.send(true);
    let (mut early, mut held) = (0u64, 0u64);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(outcome) = joined {
            early += outcome.early;
            match outcome.error {
                Some(e) => section.error(e),
                None => held += 1,
            }
        }
    }
    section.figure("connections", connections as f64, "", Better::Neither);
    section.figure("held_until_measured", held as f64, "", Better::Higher);
    section.figure("answered_early", early as f64, "", Better::Neither);
    match (before, after) {
        (Some(before), Some(after)) => {
            section.figure("rss_before", before as f64 / MIB, "MiB", Better::Lower);
            section.figure("rss_with_idle", after as f64 / MIB, "MiB", Better::Lower);
            let per = (after as f64 - before as f64) / connections as f64 / 1024.0;
            section.figure("rss_per_connection", per, "KiB", Better::Lower);
        }
        _ => section.note("no --server-pid (or /proc unreadable): RSS not measured"),
    }
    section.elapsed_secs = started.elapsed().as_secs_f64();
    section
}

/// One initial sync per user for the token the idle requests wait from.
async fn tokens(ctx: &Ctx, users: &[User], section: &mut Section) -> Vec<(User, String)> {
    let progress = Progress::start("idle: initial syncs", users.len() as u64);
    let counter = progress.counter();
    let deadline = Instant::now() + ctx.plan.join_budget;
    let results = bounded(users.len(), ctx.plan.concurrency, deadline, |i| {
        let (server, counter, user) = (ctx.server.clone(), counter.clone(), users.get(i).cloned());
        async move {
            let user = user?;
            let result = server.sync(&user, None, 0, Some(INITIAL_FILTER)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(result.map(|sync| (user, sync.next_batch)))
        }
    })
    .await;
    drop(progress);
    let mut sinces = Vec::new();
    for (_, result) in results {
        match result {
            Some(Ok(pair)) => sinces.push(pair),
            Some(Err(e)) => section.error(e),
            None => {}
        }
    }
    sinces
}
