//! join + fan-out: G members join one room (join latency), then G−1 receivers hold
//! long-poll `/sync` while one sender sends M spaced messages; for every (message,
//! receiver) pair the time from the start of the send to its arrival.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::User;
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::receiver::{Listen, Received, collect, receive};
use crate::scenarios::{Ctx, bounded};
use crate::stats::Samples;

/// Initial syncs take one event per room (the receivers only need a token).
const INITIAL_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":1}}}"#;
const LONG_POLL_MS: u64 = 30_000;

/// Runs join and fan-out for a room of `size` members; returns both sections.
pub async fn run(ctx: &Ctx, size: usize) -> Vec<Section> {
    let mut join = Section::new(format!("join_g{size}"));
    let mut fanout = Section::new(format!("fanout_g{size}"));
    let Some((owner, members)) = ctx.pool.split_first() else {
        join.error("no registered users to join with");
        return vec![join];
    };
    let members = &members[..members.len().min(size.saturating_sub(1))];
    if members.len() + 1 < size {
        join.note(format!(
            "only {} users registered; room has {} members",
            ctx.pool.len(),
            members.len() + 1
        ));
    }
    let room_id = match ctx.server.create_room(owner, true).await {
        Ok(room_id) => room_id,
        Err(e) => {
            join.error(e);
            return vec![join];
        }
    };
    let receivers = join_all(ctx, &room_id, members, &mut join).await;
    if receivers.is_empty() {
        fanout.error("nobody joined; nothing to measure");
        return vec![join, fanout];
    }
    let started = Instant::now();
    let sinces = initial_syncs(ctx, &receivers, &mut fanout).await;
    deliver(ctx, owner, &room_id, sinces, &mut fanout).await;
    fanout.elapsed_secs = started.elapsed().as_secs_f64();
    vec![join, fanout]
}

/// Members join concurrently; returns those that made it.
async fn join_all(ctx: &Ctx, room_id: &str, members: &[User], section: &mut Section) -> Vec<User> {
    let progress = Progress::start(format!("{}: joins", section.name), members.len() as u64);
    let counter = progress.counter();
    let started = Instant::now();
    let deadline = started + ctx.plan.join_budget;
    let results = bounded(members.len(), ctx.plan.concurrency, deadline, |i| {
        let (server, counter, room_id) = (ctx.server.clone(), counter.clone(), room_id.to_owned());
        let user = members.get(i).cloned();
        async move {
            let user = user?;
            let t = Instant::now();
            let result = server.join(&user, &room_id).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(result.map(|()| (user, t.elapsed())))
        }
    })
    .await;
    let elapsed = started.elapsed();
    drop(progress);
    let mut latencies = Samples::new();
    let mut joined = Vec::new();
    for (_, result) in results {
        match result {
            Some(Ok((user, latency))) => {
                latencies.push(latency);
                joined.push(user);
            }
            Some(Err(e)) => section.error(e),
            None => {}
        }
    }
    section.figure("members", (joined.len() + 1) as f64, "", Better::Neither);
    section.figure("joins_per_sec", joined.len() as f64 / elapsed.as_secs_f64(), "/s", Better::Higher);
    section.latency("join", &latencies);
    if joined.len() < members.len() {
        section.note(format!("{} of {} joins done within the time budget", joined.len(), members.len()));
    }
    section.elapsed_secs = elapsed.as_secs_f64();
    joined
}

/// One initial sync per receiver (lazy-loaded members, one timeline event), for the
/// token its long-polls start from; their latency is a figure of its own.
async fn initial_syncs(ctx: &Ctx, receivers: &[User], section: &mut Section) -> Vec<(User, String)> {
    let progress = Progress::start(format!("{}: initial syncs", section.name), receivers.len() as u64);
    let counter = progress.counter();
    let deadline = Instant::now() + ctx.plan.join_budget;
    let results = bounded(receivers.len(), ctx.plan.concurrency, deadline, |i| {
        let (server, counter, user) = (ctx.server.clone(), counter.clone(), receivers.get(i).cloned());
        async move {
            let user = user?;
            let t = Instant::now();
            let result = server.sync(&user, None, 0, Some(INITIAL_FILTER)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(result.map(|sync| (user, sync.next_batch, t.elapsed())))
        }
    })
    .await;
    drop(progress);
    let mut sinces = Vec::new();
    let mut latency = Samples::new();
    for (_, result) in results {
        match result {
            Some(Ok((user, since, took))) => {
                latency.push(took);
                sinces.push((user, since));
            }
            Some(Err(e)) => section.error(e),
            None => {}
        }
    }
    if let Some(s) = latency.summary() {
        section.figure("receiver_initial_sync_p50", s.p50, "ms", Better::Lower);
        section.figure("receiver_initial_sync_p95", s.p95, "ms", Better::Lower);
    }
    if sinces.len() < receivers.len() {
        section.note(format!(
            "{} of {} receivers synced within the time budget",
            sinces.len(),
            receivers.len()
        ));
    }
    sinces
}

/// Starts the long-polls, sends the messages, and measures every delivery.
async fn deliver(
    ctx: &Ctx,
    sender: &User,
    room_id: &str,
    sinces: Vec<(User, String)>,
    section: &mut Section,
) {
    let plan = &ctx.plan;
    let messages = plan.fanout_messages;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    let receiver_count = sinces.len();
    for (user, since) in sinces {
        let (server, stop) = (ctx.server.clone(), stop_rx.clone());
        let listen =
            Listen { user, since, room_id: room_id.to_owned(), messages, long_poll_ms: LONG_POLL_MS };
        receivers.spawn(receive(server, listen, stop));
    }
    // Let every long-poll reach the server before the first message.
    tokio::time::sleep(Duration::from_millis(1_000 + receiver_count as u64 * 2)).await;

    let progress = Progress::start(format!("{}: sends", section.name), messages);
    let mut send_starts = Vec::with_capacity(messages as usize);
    let mut send_latency = Samples::new();
    let mut tick = tokio::time::interval(plan.fanout_spacing);
    let send_deadline = Instant::now() + plan.fanout_send_budget;
    for seq in 0..messages {
        tick.tick().await;
        if Instant::now() > send_deadline {
            section.note(format!("send budget reached: {seq} of {messages} messages sent"));
            break;
        }
        let start = Instant::now();
        send_starts.push(start);
        match ctx.server.send(sender, room_id, seq).await {
            Ok(_) => send_latency.push(start.elapsed()),
            Err(e) => section.error(e),
        }
        progress.inc();
    }
    drop(progress);

    let results = collect(receivers, plan.fanout_grace, &stop_tx).await;
    summarize(section, &send_starts, &send_latency, results, receiver_count);
}

fn summarize(
    section: &mut Section,
    send_starts: &[Instant],
    send_latency: &Samples,
    results: Vec<Received>,
    receiver_count: usize,
) {
    let mut delivery = Samples::new();
    let mut delivered = 0u64;
    for received in results {
        let mut seen = HashSet::new();
        for (seq, at) in received.arrivals {
            let Some(start) = usize::try_from(seq).ok().and_then(|i| send_starts.get(i)) else { continue };
            if seen.insert(seq) {
                delivered += 1;
                delivery.push(at.saturating_duration_since(*start));
            }
        }
        for e in received.errors {
            section.error(e);
        }
    }
    let expected = receiver_count as u64 * send_starts.len() as u64;
    section.figure("receivers", receiver_count as f64, "", Better::Neither);
    section.figure("messages", send_starts.len() as f64, "", Better::Neither);
    section.latency("delivery", &delivery);
    section.figure("missing_deliveries", expected.saturating_sub(delivered) as f64, "", Better::Lower);
    section.latency("send", send_latency);
}
