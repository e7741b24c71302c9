//! history: one room filled with N messages, then `/messages` paged backwards from the
//! end to the room's start; pages/s, events/s and per-page latency.

use std::time::Instant;

use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::register::PASSWORD;
use crate::scenarios::{Ctx, send_round_robin};
use crate::stats::Samples;

/// Stops paging after this many pages even if the server keeps answering.
const MAX_PAGES: usize = 10_000;

pub async fn run(ctx: &Ctx) -> Section {
    let mut section = Section::new("history");
    let plan = &ctx.plan;
    let started = Instant::now();
    let user = match ctx.server.register(&format!("{}-history", ctx.prefix), PASSWORD).await {
        Ok(user) => user,
        Err(e) => {
            section.error(e);
            return section;
        }
    };
    let room_id = match ctx.server.create_room(&user, false).await {
        Ok(room_id) => room_id,
        Err(e) => {
            section.error(e);
            return section;
        }
    };
    let deadline = started + plan.history_setup_budget;
    let rooms = std::slice::from_ref(&room_id);
    let filled = send_round_robin(ctx, &user, rooms, deadline, plan.history_events, &mut section).await;
    section.figure("messages_in_room", filled as f64, "", Better::Neither);
    if filled < plan.history_events {
        section.note(format!("setup budget reached: {filled} of {} messages sent", plan.history_events));
    }

    let progress = Progress::start("history: pages", 0);
    let paging = Instant::now();
    let mut latency = Samples::new();
    let mut events = 0;
    let mut from: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let t = Instant::now();
        match ctx.server.messages_back(&user, &room_id, from.as_deref(), plan.history_page).await {
            Ok((count, end)) => {
                latency.push(t.elapsed());
                progress.inc();
                events += count;
                match end {
                    Some(end) if count > 0 => from = Some(end),
                    _ => break,
                }
            }
            Err(e) => {
                section.error(e);
                break;
            }
        }
    }
    let took = paging.elapsed();
    drop(progress);
    section.figure("page_size", f64::from(plan.history_page), "", Better::Neither);
    section.figure("events_read", events as f64, "", Better::Neither);
    section.figure("pages_per_sec", latency.len() as f64 / took.as_secs_f64(), "/s", Better::Higher);
    section.figure("events_per_sec", events as f64 / took.as_secs_f64(), "/s", Better::Higher);
    if let Some(s) = latency.summary() {
        section.figure("page_p50", s.p50, "ms", Better::Lower);
        section.figure("page_p95", s.p95, "ms", Better::Lower);
    }
    section.elapsed_secs = started.elapsed().as_secs_f64();
    section
}
