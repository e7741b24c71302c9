//! Stream positions for the embedded store: handed out from memory, never reused.
//!
//! Each stream has an in-memory counter (`next`) and a persisted high-water mark
//! (`ceiling`): no position above the ceiling is handed out until a ceiling at least that
//! high is durable in the meta table. Positions are taken with one atomic `fetch_add`, so
//! concurrent reservers never share one; only when a position passes the ceiling does a
//! reserver persist a new ceiling `POSITION_BLOCK` further on (one fsync per block, not
//! per position). At open, `next` starts just above the persisted ceiling, so positions
//! handed out before a crash or restart are never handed out again; the unused rest of a
//! block is skipped, which the trait allows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::codec::{decode_u64, encode_u64};
use super::engine::{Batch, KvEngine, Table};
use super::{EmbeddedStore, hold};
use crate::storage::{Error, Position, StreamId, StreamStore};

/// How many positions one persisted ceiling covers.
const POSITION_BLOCK: u64 = 1000;

/// The counters of every stream, seeded from the meta table at open.
pub(super) struct StreamPositions {
    counters: Vec<StreamCounter>,
    /// Serializes ceiling raises so two reservers do not both write one.
    raise_lock: Mutex<()>,
}

struct StreamCounter {
    /// The next position to hand out.
    next: AtomicU64,
    /// The highest position covered by a durable ceiling.
    ceiling: AtomicU64,
}

fn ceiling_key(stream: StreamId) -> Vec<u8> {
    format!("stream_ceiling/{}", stream.name()).into_bytes()
}

impl StreamPositions {
    /// Reads every stream's persisted ceiling.
    pub(super) fn load(engine: &dyn KvEngine) -> Result<Self, Error> {
        let mut counters = Vec::with_capacity(StreamId::ALL.len());
        for stream in StreamId::ALL {
            let ceiling = match engine.get(Table::Meta, &ceiling_key(stream))? {
                Some(bytes) => decode_u64(&bytes)?,
                None => 0,
            };
            let next = ceiling
                .checked_add(1)
                .ok_or_else(|| Error::Corrupt(format!("stream {} is exhausted", stream.name())))?;
            counters.push(StreamCounter { next: AtomicU64::new(next), ceiling: AtomicU64::new(ceiling) });
        }
        Ok(StreamPositions { counters, raise_lock: Mutex::new(()) })
    }

    fn counter(&self, stream: StreamId) -> Result<&StreamCounter, Error> {
        let index = StreamId::ALL
            .iter()
            .position(|candidate| *candidate == stream)
            .ok_or_else(|| Error::Backend(format!("unknown stream {}", stream.name())))?;
        self.counters
            .get(index)
            .ok_or_else(|| Error::Backend(format!("no counter for stream {}", stream.name())))
    }

    /// Takes the next position; `covered` says whether a durable ceiling already
    /// covers it (if not, call [`StreamPositions::raise_ceiling`] before handing it out).
    fn take(&self, stream: StreamId) -> Result<(u64, bool), Error> {
        let counter = self.counter(stream)?;
        let position = counter.next.fetch_add(1, Ordering::SeqCst);
        if position == u64::MAX {
            return Err(Error::Backend(format!("stream {} is exhausted", stream.name())));
        }
        Ok((position, position <= counter.ceiling.load(Ordering::SeqCst)))
    }

    /// Makes a ceiling of at least `position` durable. Blocks on disk I/O.
    fn raise_ceiling(&self, engine: &dyn KvEngine, stream: StreamId, position: u64) -> Result<(), Error> {
        let counter = self.counter(stream)?;
        let _guard = hold(&self.raise_lock);
        if position <= counter.ceiling.load(Ordering::SeqCst) {
            // Another reserver raised it while this one waited for the lock.
            return Ok(());
        }
        let ceiling = position.saturating_add(POSITION_BLOCK);
        let mut batch = Batch::new();
        batch.put(Table::Meta, ceiling_key(stream), encode_u64(ceiling).to_vec());
        engine.write(batch)?;
        counter.ceiling.store(ceiling, Ordering::SeqCst);
        Ok(())
    }

    /// Every position handed out so far is at most this.
    fn max_reserved(&self, stream: StreamId) -> Result<u64, Error> {
        Ok(self.counter(stream)?.next.load(Ordering::SeqCst).saturating_sub(1))
    }
}

#[async_trait]
impl StreamStore for EmbeddedStore {
    async fn reserve_position(&self, stream: StreamId) -> Result<Position, Error> {
        let (position, covered) = self.positions.take(stream)?;
        if !covered {
            let positions = Arc::clone(&self.positions);
            self.run(move |engine| positions.raise_ceiling(engine, stream, position)).await?;
        }
        Ok(Position(position))
    }

    async fn max_reserved_position(&self, stream: StreamId) -> Result<Position, Error> {
        Ok(Position(self.positions.max_reserved(stream)?))
    }
}
