//! initial sync: a fresh user in R rooms with a few messages each; the full initial
//! `/sync` (first and best of three) and incremental syncs after one new message.

use std::time::{Duration, Instant};

use crate::client::{Server, User, joined_rooms};
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::register::PASSWORD;
use crate::scenarios::{Ctx, bounded, send_round_robin};
use crate::stats::Samples;

const INITIAL_RUNS: usize = 3;
const INCREMENTAL_RUNS: usize = 5;

pub async fn run(ctx: &Ctx, room_count: usize) -> Section {
    let mut section = Section::new(format!("initial_sync_r{room_count}"));
    let started = Instant::now();
    let user = match ctx.server.register(&format!("{}-sync{room_count}", ctx.prefix), PASSWORD).await {
        Ok(user) => user,
        Err(e) => {
            section.error(e);
            return section;
        }
    };
    let deadline = started + ctx.plan.sync_rooms_budget;
    let rooms = create_rooms(ctx, &user, room_count, deadline, &mut section).await;
    let deadline = Instant::now() + ctx.plan.sync_messages_budget;
    let total = rooms.len() * ctx.plan.sync_messages_per_room;
    let sent = send_round_robin(ctx, &user, &rooms, deadline, total, &mut section).await;
    section.figure("rooms", rooms.len() as f64, "", Better::Neither);
    section.figure("messages_sent", sent as f64, "", Better::Neither);
    if rooms.len() < room_count || sent < rooms.len() * ctx.plan.sync_messages_per_room {
        section.note(format!(
            "setup budget reached: {} of {room_count} rooms, {sent} of {} messages",
            rooms.len(),
            room_count * ctx.plan.sync_messages_per_room
        ));
    }
    measure(&ctx.server, &user, &rooms, &mut section).await;
    section.elapsed_secs = started.elapsed().as_secs_f64();
    section
}

async fn create_rooms(
    ctx: &Ctx,
    user: &User,
    count: usize,
    deadline: Instant,
    section: &mut Section,
) -> Vec<String> {
    let progress = Progress::start(format!("{}: create rooms", section.name), count as u64);
    let counter = progress.counter();
    let results = bounded(count, ctx.plan.concurrency, deadline, |_| {
        let (server, user, counter) = (ctx.server.clone(), user.clone(), counter.clone());
        async move {
            let result = server.create_room(&user, false).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            result
        }
    })
    .await;
    drop(progress);
    let mut rooms = Vec::new();
    for (_, result) in results {
        match result {
            Ok(room_id) => rooms.push(room_id),
            Err(e) => section.error(e),
        }
    }
    rooms
}

async fn measure(server: &Server, user: &User, rooms: &[String], section: &mut Section) {
    let mut since = None;
    let mut best = Duration::MAX;
    for run in 0..INITIAL_RUNS {
        let t = Instant::now();
        // A distinct timeout per run keeps servers from answering from a response cache
        // (Synapse keeps identical sync answers for two minutes).
        match server.sync(user, None, run as u64, None).await {
            Ok(sync) => {
                let took = t.elapsed();
                if run == 0 {
                    section.figure("initial_first", ms(took), "ms", Better::Lower);
                    let seen = joined_rooms(&sync.body);
                    if seen != rooms.len() {
                        section.note(format!("initial sync listed {seen} of {} rooms", rooms.len()));
                    }
                }
                best = best.min(took);
                since = Some(sync.next_batch);
            }
            Err(e) => section.error(e),
        }
    }
    if best < Duration::MAX {
        section.figure("initial_best", ms(best), "ms", Better::Lower);
    }
    let (Some(mut since), Some(room)) = (since, rooms.first()) else { return };
    let mut incremental = Samples::new();
    for seq in 0..INCREMENTAL_RUNS as u64 {
        if let Err(e) = server.send(user, room, 1_000_000 + seq).await {
            section.error(e);
            continue;
        }
        let t = Instant::now();
        match server.sync(user, Some(&since), 0, None).await {
            Ok(sync) => {
                incremental.push(t.elapsed());
                since = sync.next_batch;
            }
            Err(e) => section.error(e),
        }
    }
    if let Some(s) = incremental.summary() {
        section.figure("incremental_p50", s.p50, "ms", Better::Lower);
        section.figure("incremental_max", s.max, "ms", Better::Lower);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
