//! `[logging]`: what the server logs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A `tracing` filter, e.g. `info` or `stoa=debug,info`. `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { filter: "info,ruma_state_res=warn".to_owned() }
    }
}
