//! `[http]`: listeners and request limits.

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
    /// Largest accepted request body in bytes; larger bodies get 413 `M_TOO_LARGE`.
    pub max_body_bytes: usize,
    /// Requests running longer than this are cut off (long-poll waits are bounded below it).
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests before giving up.
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            client_listen: "127.0.0.1:8008".to_owned(),
            bound_address_file: String::new(),
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 120,
            shutdown_grace_secs: 30,
        }
    }
}
