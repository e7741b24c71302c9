//! Conformance-suite fixtures for the embedded store: a fresh store in a temporary
//! directory, reopenable in place.

use std::path::PathBuf;

use super::engine::Table;
use super::{EmbeddedStore, Engine, SCHEMA_VERSION_KEY, open_engine};
use crate::storage::Error;
use crate::storage::Stores;
use crate::storage::conformance::{BoxFuture, Fixture, Restart};

/// A fresh fjall store.
pub(crate) async fn fjall() -> Fixture {
    fixture(Engine::Fjall).await
}

/// A fresh RocksDB store.
#[cfg(feature = "rocksdb")]
pub(crate) async fn rocksdb() -> Fixture {
    fixture(Engine::Rocksdb).await
}

async fn fixture(engine: Engine) -> Fixture {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let restart = EmbeddedRestart { engine, path: dir.path().join("store") };
    let stores = restart.reopen().await.expect("open a fresh embedded store");
    Fixture { stores, restart: Box::new(restart), guard: Box::new(dir) }
}

struct EmbeddedRestart {
    engine: Engine,
    path: PathBuf,
}

impl Restart for EmbeddedRestart {
    fn reopen(&self) -> BoxFuture<'_, Result<Stores, Error>> {
        Box::pin(async move { Ok(Stores::from_adapter(EmbeddedStore::open(self.engine, &self.path).await?)) })
    }

    fn set_schema_version(&self, version: u32) -> BoxFuture<'_, Result<(), Error>> {
        let (engine, path) = (self.engine, self.path.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let kv = open_engine(engine, &path)?;
                let mut batch = super::engine::Batch::new();
                batch.put(Table::Meta, SCHEMA_VERSION_KEY.to_vec(), version.to_be_bytes().to_vec());
                kv.write(batch)
            })
            .await
            .map_err(|error| Error::Backend(error.to_string()))?
        })
    }
}
