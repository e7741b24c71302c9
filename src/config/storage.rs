//! `[storage]`: which backend holds the server's data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `fjall` (embedded, default), `rocksdb` (embedded; needs the `rocksdb` build
    /// feature) or `postgres`.
    pub backend: Backend,
    /// Directory of the embedded store.
    pub path: PathBuf,
    /// Connection URL for the `postgres` backend.
    pub postgres_url: String,
    /// Upper bound on pooled PostgreSQL connections.
    pub postgres_max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Fjall,
    Rocksdb,
    Postgres,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::Fjall,
            path: PathBuf::from("./data/db"),
            postgres_url: "postgres://stoa@127.0.0.1:5432/stoa".to_owned(),
            postgres_max_connections: 16,
        }
    }
}
