//! The RocksDB engine behind the embedded seam (`--features rocksdb`).
//!
//! One column family per [`Table`], for the same reasons as fjall's keyspaces: write
//! batches are atomic across column families (one WAL), and each table's tree stays
//! homogeneous. Every batch is written with `sync = true` so the WAL is fsynced before
//! the write is acknowledged.

use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options, ReadOptions, WriteOptions,
};

use super::engine::{Batch, BatchOp, Direction, KeyRange, KeyValue, KvEngine, Table};
use crate::storage::Error;

/// An open RocksDB database with a column family per table.
pub(crate) struct RocksdbEngine {
    db: DB,
}

impl RocksdbEngine {
    /// Opens (or creates) the database in `path`. RocksDB locks its `LOCK` file while
    /// open (and tracks it per process), so a second opener fails.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(DBCompressionType::Lz4);
        // Keep the info logs from growing without bound in the store directory.
        options.set_keep_log_file_num(4);
        let families = Table::ALL.iter().map(|table| {
            let mut family_options = Options::default();
            family_options.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(table.name(), family_options)
        });
        let db =
            DB::open_cf_descriptors(&options, path, families).map_err(|error| open_error(path, error))?;
        Ok(RocksdbEngine { db })
    }

    fn family(&self, table: Table) -> Result<&ColumnFamily, Error> {
        self.db
            .cf_handle(table.name())
            .ok_or_else(|| Error::Backend(format!("rocksdb column family {} is missing", table.name())))
    }
}

fn open_error(path: &Path, error: rocksdb::Error) -> Error {
    let message = error.into_string();
    if message.contains("lock") || message.contains("LOCK") {
        Error::Open(format!(
            "the rocksdb store at {} is locked: another stoa process is using it ({message})",
            path.display()
        ))
    } else {
        Error::Open(format!("rocksdb store at {}: {message}", path.display()))
    }
}

fn backend_error(error: rocksdb::Error) -> Error {
    Error::Backend(format!("rocksdb: {}", error.into_string()))
}

impl KvEngine for RocksdbEngine {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.db.get_cf(self.family(table)?, key).map_err(backend_error)
    }

    fn write(&self, batch: Batch) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut engine_batch = rocksdb::WriteBatch::default();
        for op in batch.ops {
            match op {
                BatchOp::Put { table, key, value } => engine_batch.put_cf(self.family(table)?, key, value),
                BatchOp::Delete { table, key } => engine_batch.delete_cf(self.family(table)?, key),
            }
        }
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db.write_opt(engine_batch, &write_options).map_err(backend_error)
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<KeyValue>, Error> {
        let mut read_options = ReadOptions::default();
        read_options.set_iterate_lower_bound(range.from.clone());
        if let Some(to) = &range.to {
            read_options.set_iterate_upper_bound(to.clone());
        }
        let mut iter = self.db.raw_iterator_cf_opt(self.family(table)?, read_options);
        match direction {
            Direction::Forward => iter.seek_to_first(),
            Direction::Reverse => iter.seek_to_last(),
        }
        let mut pairs = Vec::new();
        while pairs.len() < limit {
            let Some((key, value)) = iter.item() else {
                break;
            };
            pairs.push((key.to_vec(), value.to_vec()));
            match direction {
                Direction::Forward => iter.next(),
                Direction::Reverse => iter.prev(),
            }
        }
        iter.status().map_err(backend_error)?;
        Ok(pairs)
    }

    fn flush(&self) -> Result<(), Error> {
        self.db.flush_wal(true).map_err(backend_error)?;
        for table in Table::ALL {
            self.db.flush_cf(self.family(table)?).map_err(backend_error)?;
        }
        Ok(())
    }
}
