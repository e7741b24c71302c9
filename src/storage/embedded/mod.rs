//! The embedded adapter (fjall or RocksDB).
