//! The client listener: accepts TCP connections, admits each within the connection
//! caps (shedding the oldest idle one when full), serves it on its own task, and on
//! shutdown stops accepting, lets in-flight requests finish within the grace period,
//! then drops the rest. Also raises the descriptor limit the caps depend on.

mod connection;
mod registry;
mod watched_io;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::HttpConfig;
use connection::{ConnectionContext, Timers};
use registry::{Caps, Registry};

/// Descriptors kept for everything but client connections (store files, database
/// pools, outbound requests), as a share of the limit.
const RESERVED_FD_SHARE: u64 = 4;

/// How long the accept loop pauses after a failed accept (out of descriptors, mostly),
/// so that it does not spin while a shed connection closes.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves `router` on `listener` until `shutdown` resolves, then drains for at most
/// `http.shutdown_grace_secs`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let caps = Caps { total: connection_cap(http.max_connections), per_ip: http.max_connections_per_ip };
    tracing::info!(max_connections = caps.total, max_connections_per_ip = caps.per_ip, "connection caps");
    let registry = Registry::new(caps);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
    let context = ConnectionContext {
        router,
        registry: registry.clone(),
        timers: Timers {
            header_read: secs(http.header_read_timeout_secs),
            keepalive_idle: secs(http.keepalive_idle_secs),
        },
        stopping: stop_rx,
    };
    let mut connections = JoinSet::new();
    let (mut failed_accepts, mut last_warning) = (0u64, None);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => match registry.admit(remote.ip()) {
                    Ok(slot) => {
                        // Responses are small and often latency-bound (long-poll answers).
                        let _ = stream.set_nodelay(true);
                        connections.spawn(connection::serve(stream, remote, slot, context.clone()));
                    }
                    Err(refused) => tracing::debug!(%remote, %refused, "connection refused"),
                },
                Err(error) => {
                    // Mostly out of descriptors (the store and other files took more
                    // than the reserve): make room the way a full table does.
                    let shed = registry.shed_oldest_idle();
                    failed_accepts += 1;
                    // Once a second at most: a flood must not become a flood of logs.
                    if last_warning.is_none_or(|at: Instant| at.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(%error, open = registry.open(), shed, failed_accepts, "accepting a connection failed");
                        last_warning = Some(Instant::now());
                        failed_accepts = 0;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(open = connections.len(), "shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(http.shutdown_grace_secs);
    let drained =
        tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(?grace, open = connections.len(), "in-flight requests did not finish in time");
        connections.shutdown().await;
    }
}

/// The connection cap that fits the descriptor limit: raises the soft limit to the
/// hard one, then keeps a share of it for everything else.
fn connection_cap(configured: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(limit, "open file limit");
            limit
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read or raise the open file limit");
            return configured;
        }
    };
    let usable = limit.saturating_sub(limit / RESERVED_FD_SHARE).max(1);
    let usable = usize::try_from(usable).unwrap_or(usize::MAX);
    if configured == 0 {
        return usable;
    }
    if configured > usable {
        tracing::warn!(
            configured,
            usable,
            limit,
            "http.max_connections lowered to fit the open file limit (raise the hard limit to allow more)"
        );
        return usable;
    }
    configured
}
