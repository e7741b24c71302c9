//! The long-polling receivers of the scenarios that time delivery (fan-out, busy rooms):
//! each syncs a room until it has seen every numbered message or is told to stop, and
//! [`collect`] gathers them within a grace period.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::client::{ClientError, Server, User, timeline_seqs};

/// Incremental syncs: the whole batch a wake-up brings, members lazy-loaded.
const SYNC_FILTER: &str = r#"{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":50}}}"#;

/// What one receiver saw: (sequence number, first arrival) and its errors.
pub struct Received {
    pub arrivals: Vec<(u64, Instant)>,
    pub errors: Vec<ClientError>,
}

/// Where a receiver listens and for how much.
pub struct Listen {
    pub user: User,
    pub since: String,
    pub room_id: String,
    /// Stop once this many distinct messages arrived.
    pub messages: u64,
    /// The `timeout` of each long-poll.
    pub long_poll_ms: u64,
}

/// Long-polls until every message arrived, three errors happened, or `stop` fires.
/// A message counts at its first arrival only.
pub async fn receive(server: Server, listen: Listen, mut stop: watch::Receiver<bool>) -> Received {
    let Listen { user, mut since, room_id, messages, long_poll_ms } = listen;
    let mut received = Received { arrivals: Vec::new(), errors: Vec::new() };
    let mut seen = HashSet::new();
    while (seen.len() as u64) < messages && !*stop.borrow() {
        let sync = server.sync(&user, Some(&since), long_poll_ms, Some(SYNC_FILTER));
        let result = tokio::select! {
            result = sync => result,
            _ = stop.changed() => break,
        };
        match result {
            Ok(sync) => {
                let at = Instant::now();
                for seq in timeline_seqs(&sync.body, &room_id) {
                    if seen.insert(seq) {
                        received.arrivals.push((seq, at));
                    }
                }
                since = sync.next_batch;
            }
            Err(e) => {
                received.errors.push(e);
                if received.errors.len() >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    received
}

/// Waits for the receivers to finish on their own, up to `grace`; then tells the rest to
/// stop and gathers what they saw. A receiver that panicked is left out.
pub async fn collect<T: 'static>(
    mut receivers: JoinSet<T>,
    grace: Duration,
    stop: &watch::Sender<bool>,
) -> Vec<T> {
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    let mut results = Vec::with_capacity(receivers.len());
    loop {
        tokio::select! {
            joined = receivers.join_next() => match joined {
                Some(Ok(received)) => results.push(received),
                Some(Err(_)) => {}
                None => break,
            },
            () = &mut deadline => {
                let _ = stop.send(true);
                while let Some(joined) = receivers.join_next().await {
                    if let Ok(received) = joined {
                        results.push(received);
                    }
                }
                break;
            }
        }
    }
    results
}
