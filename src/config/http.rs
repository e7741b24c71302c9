//! `[http]`: listeners, connection limits and timers, and request limits.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the client (and, until the federation listener exists, key) API.
    /// Port 0 picks a free port; the bound address is logged and written to
    /// `bound_address_file` when that is set.
    pub client_listen: String,
    /// If not empty, the actually bound client address is written here once listening
    /// (used by tests and supervisors with port 0).
    pub bound_address_file: String,
    /// Largest accepted request body in bytes; larger bodies get 413 `M_TOO_LARGE`
    /// (refused by `Content-Length` before any of it is read).
    pub max_body_bytes: usize,
    /// How many bodies over 64 KiB (or of unknown length) may be read at once,
    /// server-wide (at least 1); a request over the cap waits up to a second for a
    /// turn, then gets 429 `M_LIMIT_EXCEEDED`.
    /// No endpoint takes big uploads yet (media will stream its bodies instead).
    pub max_concurrent_large_bodies: usize,
    /// A request body must arrive whole within this many seconds of the handler
    /// asking for it (at least 1); a body that trickles is cut with 408.
    pub body_read_timeout_secs: u64,
    /// Requests running longer than this are cut off (long-poll waits are bounded below it).
    pub request_timeout_secs: u64,
    /// A request head (request line and headers) must arrive whole within this many
    /// seconds of its first byte; a stalled one is closed. 0 turns the timer off.
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight (and no request head arriving) is
    /// closed after this many seconds. A request in flight (a long-poll `/sync`) is
    /// never cut by it. 0 turns the timer off.
    pub keepalive_idle_secs: u64,
    /// Most client connections open at once. When full, a new connection closes the
    /// oldest idle one (no request in flight); if none is idle, the new one is refused.
    /// Lowered at start to what the process's descriptor limit allows (raised to its
    /// hard limit at start); 0: as many as that allows.
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6 one by its
    /// /64), shed the same way.
    /// Behind a reverse proxy every connection comes from the proxy's address, so the
    /// default is 0 (no cap); set it when clients connect directly.
    pub max_connections_per_ip: usize,
    /// How long shutdown waits for in-flight requests before giving up.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            client_listen: "127.0.0.1:8008".to_owned(),
            bound_address_file: String::new(),
            max_body_bytes: 8 * 1024 * 1024,
            max_concurrent_large_bodies: 32,
            body_read_timeout_secs: 30,
            request_timeout_secs: 120,
            header_read_timeout_secs: 10,
            keepalive_idle_secs: 75,
            max_connections: 20_000,
            max_connections_per_ip: 0,
            shutdown_grace_secs: 30,
        }
    }
}
