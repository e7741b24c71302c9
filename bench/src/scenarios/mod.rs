//! The scenarios, their sizes (default and `--quick`), and the bounded worker pool
//! they share. Each scenario returns `Section`s and never panics on a server answer.

pub mod busy_rooms;
pub mod fanout;
pub mod history;
pub mod idle;
pub mod initial_sync;
pub mod receiver;
pub mod register;
pub mod throughput;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::client::{Server, User};
use crate::progress::Progress;
use crate::report::Section;

/// How big each scenario is and how long it may take.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Users registered up front; also the pool the other scenarios draw from.
    pub users: usize,
    pub register_budget: Duration,
    /// Room sizes for join + fan-out.
    pub fanout_sizes: Vec<usize>,
    pub join_budget: Duration,
    pub fanout_messages: u64,
    pub fanout_spacing: Duration,
    /// No message is sent after this long (a slow server gets fewer messages).
    pub fanout_send_budget: Duration,
    /// How long after the last send deliveries are still awaited.
    pub fanout_grace: Duration,
    /// Rooms for the busy-rooms scenario (each takes two users of the pool).
    pub busy_rooms: usize,
    /// Messages each busy room's sender sends, one per tick, all senders at once.
    pub busy_rooms_messages: u64,
    pub busy_rooms_spacing: Duration,
    /// No busy-room message is sent after this long.
    pub busy_rooms_send_budget: Duration,
    /// How long after the last send deliveries are still awaited (longer than the
    /// long-poll timeout, so a held-back message counts as late, not missing).
    pub busy_rooms_grace: Duration,
    pub throughput_senders: usize,
    pub throughput_duration: Duration,
    pub sync_room_counts: Vec<usize>,
    pub sync_messages_per_room: usize,
    /// Time allowed for creating the rooms, and then for filling them.
    pub sync_rooms_budget: Duration,
    pub sync_messages_budget: Duration,
    pub history_events: usize,
    pub history_setup_budget: Duration,
    pub history_page: u32,
    pub idle_connections: usize,
    /// Requests kept in flight while setting things up.
    pub concurrency: usize,
}

impl Plan {
    /// The default run (a few minutes) or the quick one (under a minute on Stoa).
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                users: 100,
                register_budget: Duration::from_secs(30),
                fanout_sizes: vec![100],
                join_budget: Duration::from_secs(20),
                fanout_messages: 10,
                fanout_spacing: Duration::from_millis(200),
                fanout_send_budget: Duration::from_secs(15),
                fanout_grace: Duration::from_secs(5),
                busy_rooms: 20,
                busy_rooms_messages: 20,
                busy_rooms_spacing: Duration::from_millis(250),
                busy_rooms_send_budget: Duration::from_secs(15),
                busy_rooms_grace: Duration::from_secs(25),
                throughput_senders: 8,
                throughput_duration: Duration::from_secs(5),
                sync_room_counts: vec![50],
                sync_messages_per_room: 20,
                sync_rooms_budget: Duration::from_secs(15),
                sync_messages_budget: Duration::from_secs(15),
                history_events: 1_000,
                history_setup_budget: Duration::from_secs(10),
                history_page: 100,
                idle_connections: 200,
                concurrency: 16,
            }
        } else {
            Plan {
                users: 1_000,
                register_budget: Duration::from_secs(90),
                fanout_sizes: vec![100, 1_000],
                join_budget: Duration::from_secs(60),
                fanout_messages: 20,
                fanout_spacing: Duration::from_millis(250),
                fanout_send_budget: Duration::from_secs(45),
                fanout_grace: Duration::from_secs(10),
                busy_rooms: 50,
                busy_rooms_messages: 100,
                busy_rooms_spacing: Duration::from_millis(100),
                busy_rooms_send_budget: Duration::from_secs(30),
                busy_rooms_grace: Duration::from_secs(25),
                throughput_senders: 16,
                throughput_duration: Duration::from_secs(10),
                sync_room_counts: vec![50, 500],
                sync_messages_per_room: 20,
                sync_rooms_budget: Duration::from_secs(90),
                sync_messages_budget: Duration::from_secs(60),
                history_events: 10_000,
                history_setup_budget: Duration::from_secs(45),
                history_page: 100,
                idle_connections: 2_000,
                concurrency: 16,
            }
        }
    }
}

/// What every scenario gets: the server, the sizes, and the registered users.
pub struct Ctx {
    pub server: Server,
    pub plan: Plan,
    /// Makes user names unique per run, so a run can repeat against the same server.
    pub prefix: String,
    pub pool: Vec<User>,
}

/// Runs `job(i)` for i in 0..n with at most `concurrency` in flight, starting no new
/// job after `deadline`. Returns (index, result) of every job that ran, in completion
/// order.
pub async fn bounded<T, F, Fut>(n: usize, concurrency: usize, deadline: Instant, job: F) -> Vec<(usize, T)>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    let mut next = 0;
    let mut results = Vec::with_capacity(n);
    loop {
        while next < n && set.len() < concurrency.max(1) && Instant::now() < deadline {
            let fut = job(next);
            let index = next;
            set.spawn(async move { (index, fut.await) });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(done)) => results.push(done),
            // A panicking job is a bug in the bench; it is dropped, not propagated.
            Some(Err(_)) => {}
            None => break,
        }
    }
    results
}

/// Sends `total` messages round-robin over the rooms (so they fill evenly even if the
/// budget runs out); returns how many were accepted, counting failures in `section`.
pub async fn send_round_robin(
    ctx: &Ctx,
    user: &User,
    rooms: &[String],
    deadline: Instant,
    total: usize,
    section: &mut Section,
) -> usize {
    if rooms.is_empty() {
        return 0;
    }
    let progress = Progress::start(format!("{}: messages", section.name), total as u64);
    let counter = progress.counter();
    let results = bounded(total, ctx.plan.concurrency, deadline, |i| {
        let (server, user, counter) = (ctx.server.clone(), user.clone(), counter.clone());
        let room_id = rooms.get(i % rooms.len()).cloned().unwrap_or_default();
        async move {
            let result = server.send(&user, &room_id, i as u64).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            result
        }
    })
    .await;
    drop(progress);
    let mut sent = 0;
    for (_, result) in results {
        match result {
            Ok(_) => sent += 1,
            Err(e) => section.error(e),
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_runs_every_job_once() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut done = bounded(50, 4, deadline, |i| async move { i * 2 }).await;
        done.sort_unstable();
        assert_eq!(done.len(), 50);
        assert!(done.iter().all(|(i, v)| *v == i * 2));
    }

    #[tokio::test]
    async fn bounded_stops_starting_at_the_deadline() {
        let done = bounded(50, 4, Instant::now(), |i| async move { i }).await;
        assert!(done.is_empty());
    }
}
