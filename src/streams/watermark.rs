//! The watermark of one stream: reserve → complete → publish the highest position
//! below which every reserved position is complete.
//!
//! Readers (sync) only ever read up to the published position, so a write that was
//! reserved earlier but commits later is never skipped.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::storage::Position;

/// The pure state machine behind [`Watermark`], separate so it can be property-tested.
#[derive(Debug, Clone, Default)]
pub struct WatermarkState {
    published: u64,
    highest_reserved: u64,
    pending: BTreeSet<u64>,
}

/// A position was registered out of order (a bug in the caller's allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("position {position} reserved after {highest}; reservations must increase")]
pub struct OutOfOrder {
    pub position: u64,
    pub highest: u64,
}

impl WatermarkState {
    pub fn new(start: u64) -> Self {
        WatermarkState { published: start, highest_reserved: start, pending: BTreeSet::new() }
    }

    /// Registers a freshly allocated position as in flight.
    pub fn reserve(&mut self, position: u64) -> Result<(), OutOfOrder> {
        if position <= self.highest_reserved {
            return Err(OutOfOrder { position, highest: self.highest_reserved });
        }
        self.highest_reserved = position;
        self.pending.insert(position);
        Ok(())
    }

    /// Marks a position complete (persisted, or abandoned); returns the new published
    /// position. Completing an unknown position changes nothing.
    pub fn complete(&mut self, position: u64) -> u64 {
        self.pending.remove(&position);
        self.published = match self.pending.first() {
            Some(&lowest_incomplete) => lowest_incomplete - 1,
            None => self.highest_reserved,
        };
        self.published
    }

    pub fn published(&self) -> u64 {
        self.published
    }
}

/// Shared watermark of one stream. Cheap to clone.
#[derive(Clone)]
pub struct Watermark {
    state: Arc<Mutex<WatermarkState>>,
    /// Serializes allocate+register so registrations arrive in allocation order.
    allocation: Arc<tokio::sync::Mutex<()>>,
    published: Arc<watch::Sender<Position>>,
}

/// A reserved position. Complete it after the write committed; dropping it without
/// completing abandons the position (it is skipped, never waited for forever).
#[must_use = "a reservation must be completed after the write commits"]
pub struct Reservation {
    position: Position,
    watermark: Watermark,
    done: bool,
}

impl Reservation {
    pub fn position(&self) -> Position {
        self.position
    }

    /// Publishes the write (once every earlier reservation is complete too).
    pub fn complete(mut self) {
        self.done = true;
        self.watermark.finish(self.position);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.watermark.finish(self.position);
        }
    }
}

impl Watermark {
    /// A watermark whose every position up to `start` is already complete.
    pub fn new(start: Position) -> Self {
        let (sender, _) = watch::channel(start);
        Watermark {
            state: Arc::new(Mutex::new(WatermarkState::new(start.0))),
            allocation: Arc::new(tokio::sync::Mutex::new(())),
            published: Arc::new(sender),
        }
    }

    /// Allocates a position with `allocate` (e.g. the store's sequence) and registers it.
    pub async fn reserve<F, Fut, E>(&self, allocate: F) -> Result<Reservation, ReserveError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Position, E>>,
    {
        let _order = self.allocation.lock().await;
        let position = allocate().await.map_err(ReserveError::Allocate)?;
        self.lock().reserve(position.0).map_err(ReserveError::OutOfOrder)?;
        Ok(Reservation { position, watermark: self.clone(), done: false })
    }

    /// The highest position below which all writes are complete.
    pub fn published(&self) -> Position {
        Position(self.lock().published())
    }

    /// Notified whenever the published position advances.
    pub fn subscribe(&self) -> watch::Receiver<Position> {
        self.published.subscribe()
    }

    fn finish(&self, position: Position) {
        let published = self.lock().complete(position.0);
        self.published.send_if_modified(|current| {
            let advanced = published > current.0;
            if advanced {
                *current = Position(published);
            }
            advanced
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatermarkState> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a reservation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError<E> {
    #[error("allocating a position failed: {0}")]
    Allocate(E),
    #[error(transparent)]
    OutOfOrder(OutOfOrder),
}

#[cfg(test)]
mod tests;
