//! throughput: C concurrent senders, each in its own room, sending back to back for T
//! seconds; accepted messages/s and their latency.

use std::time::Instant;

use tokio::task::JoinSet;

use crate::client::ClientError;
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::Ctx;
use crate::stats::Samples;

pub async fn run(ctx: &Ctx) -> Section {
    let mut section = Section::new("throughput");
    let plan = &ctx.plan;
    let senders: Vec<_> = ctx.pool.iter().rev().take(plan.throughput_senders).cloned().collect();
    if senders.len() < plan.throughput_senders {
        section.note(format!("only {} senders available", senders.len()));
    }
    let mut rooms = Vec::with_capacity(senders.len());
    for user in senders {
        match ctx.server.create_room(&user, false).await {
            Ok(room_id) => rooms.push((user, room_id)),
            Err(e) => section.error(e),
        }
    }
    let progress = Progress::start("throughput: messages", 0);
    let counter = progress.counter();
    let started = Instant::now();
    let until = started + plan.throughput_duration;
    let mut tasks = JoinSet::new();
    for (user, room_id) in &rooms {
        let (server, user, room_id, counter) =
            (ctx.server.clone(), user.clone(), room_id.clone(), counter.clone());
        tasks.spawn(async move {
            let mut latency = Samples::new();
            let mut errors: Vec<ClientError> = Vec::new();
            let mut seq = 0;
            while Instant::now() < until {
                let t = Instant::now();
                match server.send(&user, &room_id, seq).await {
                    Ok(_) => {
                        latency.push(t.elapsed());
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => errors.push(e),
                }
                seq += 1;
            }
            (latency, errors)
        });
    }
    let mut latency = Samples::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((samples, errors)) = joined {
            latency.extend(samples);
            for e in errors {
                section.error(e);
            }
        }
    }
    let elapsed = started.elapsed();
    drop(progress);
    section.figure("senders", rooms.len() as f64, "", Better::Neither);
    section.figure("accepted", latency.len() as f64, "", Better::Neither);
    section.figure("messages_per_sec", latency.len() as f64 / elapsed.as_secs_f64(), "/s", Better::Higher);
    section.latency("send", &latency);
    if latency.is_empty() {
        section.note("no message was accepted");
    }
    section.elapsed_secs = elapsed.as_secs_f64();
    section
}
