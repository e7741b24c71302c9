//! register: N users through the dummy-auth flow; users/s and per-user latency. The
//! users become the pool the other scenarios draw from.

use std::time::Instant;

use crate::client::{Server, User};
use crate::progress::Progress;
use crate::report::{Better, Section};
use crate::scenarios::{Plan, bounded};
use crate::stats::Samples;

/// The password every bench user gets.
pub const PASSWORD: &str = "bench-password-1";

/// Registers `plan.users` users named `<prefix>-<i>`; returns the section and the users
/// that made it, in index order.
pub async fn run(server: &Server, plan: &Plan, prefix: &str) -> (Section, Vec<User>) {
    let mut section = Section::new("register");
    let progress = Progress::start("register", plan.users as u64);
    let counter = progress.counter();
    let started = Instant::now();
    let deadline = started + plan.register_budget;
    let results = bounded(plan.users, plan.concurrency, deadline, |i| {
        let (server, name, counter) = (server.clone(), format!("{prefix}-{i}"), counter.clone());
        async move {
            let t = Instant::now();
            let result = server.register(&name, PASSWORD).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            result.map(|user| (user, t.elapsed()))
        }
    })
    .await;
    let elapsed = started.elapsed();
    drop(progress);
    let mut latencies = Samples::new();
    let mut users: Vec<(usize, User)> = Vec::with_capacity(results.len());
    for (i, result) in results {
        match result {
            Ok((user, latency)) => {
                latencies.push(latency);
                users.push((i, user));
            }
            Err(e) => section.error(e),
        }
    }
    users.sort_by_key(|(i, _)| *i);
    section.figure("users", users.len() as f64, "", Better::Neither);
    section.figure("users_per_sec", users.len() as f64 / elapsed.as_secs_f64(), "/s", Better::Higher);
    section.latency("latency", &latencies);
    if users.len() < plan.users {
        section.note(format!("{} of {} users registered within the time budget", users.len(), plan.users));
    }
    section.elapsed_secs = elapsed.as_secs_f64();
    (section, users.into_iter().map(|(_, u)| u).collect())
}
