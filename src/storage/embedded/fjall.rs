//! The fjall engine behind the embedded seam (the default: pure Rust, no system packages).
//!
//! One fjall `Database` per store with one keyspace per [`Table`]. Separate keyspaces
//! rather than one keyspace with table prefixes because: fjall's write batches are
//! atomic across keyspaces of a database (one journal), so nothing is lost; each
//! table's tree stays small and homogeneous (point-lookup indexes are not interleaved
//! with range-scanned logs, so scans read fewer blocks); and keys carry no prefix byte.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::engine::{Batch, BatchOp, Direction, KeyRange, KeyValue, KvEngine, Table};
use crate::storage::Error;

/// An open fjall database with a handle per table, in [`Table::ALL`] order.
pub(crate) struct FjallEngine {
    database: Database,
    keyspaces: Vec<Keyspace>,
}

impl FjallEngine {
    /// Opens (or creates) the database in `path`. fjall holds an exclusive lock on the
    /// directory while open, so a second opener — another process or this one — fails.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let database = Database::builder(path).open().map_err(|error| open_error(path, error))?;
        let mut keyspaces = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let keyspace = database
                .keyspace(table.name(), KeyspaceCreateOptions::default)
                .map_err(|error| open_error(path, error))?;
            keyspaces.push(keyspace);
        }
        Ok(FjallEngine { database, keyspaces })
    }

    fn keyspace(&self, table: Table) -> Result<&Keyspace, Error> {
        self.keyspaces
            .get(table.index())
            .ok_or_else(|| Error::Backend(format!("fjall keyspace for table {} is missing", table.name())))
    }
}

fn open_error(path: &Path, error: fjall::Error) -> Error {
    match error {
        fjall::Error::Locked => Error::Open(format!(
            "the fjall store at {} is locked: another stoa process is using it",
            path.display()
        )),
        other => Error::Open(format!("fjall store at {}: {other}", path.display())),
    }
}

fn backend_error(error: fjall::Error) -> Error {
    Error::Backend(format!("fjall: {error}"))
}

impl KvEngine for FjallEngine {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let value = self.keyspace(table)?.get(key).map_err(backend_error)?;
        Ok(value.map(|slice| slice.to_vec()))
    }

    fn write(&self, batch: Batch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        // SyncAll: the journal is fsynced before `commit` returns, so an acknowledged
        // write survives power loss, not just a process crash.
        let mut engine_batch = self.database.batch().durability(Some(PersistMode::SyncAll));
        for op in batch.ops {
            match op {
                BatchOp::Put { table, key, value } => engine_batch.insert(self.keyspace(table)?, key, value),
                BatchOp::Delete { table, key } => engine_batch.remove(self.keyspace(table)?, key),
            }
        }
        engine_batch.commit().map_err(backend_error)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<KeyValue>, Error> {
        let keyspace = self.keyspace(table)?;
        let iter = match &range.to {
            Some(to) => keyspace.range::<&[u8], _>(range.from.as_slice()..to.as_slice()),
            None => keyspace.range::<&[u8], _>(range.from.as_slice()..),
        };
        let guards: Box<dyn Iterator<Item = fjall::Guard>> = match direction {
            Direction::Forward => Box::new(iter),
            Direction::Reverse => Box::new(iter.rev()),
        };
        let mut pairs = Vec::new();
        for guard in guards.take(limit) {
            let (key, value) = guard.into_inner().map_err(backend_error)?;
            pairs.push((key.to_vec(), value.to_vec()));
        }
        Ok(pairs)
    }

    fn flush(&self) -> Result<(), Error> {
        self.database.persist(PersistMode::SyncAll).map_err(backend_error)
    }
}
