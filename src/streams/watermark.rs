//! The watermark of one stream: reserve → complete → publish the highest position
//! below which every reserved position is complete, and only then wake the users each
//! write concerns.
//!
//! Readers (sync) only ever read up to the published position, so a write that was
//! reserved earlier but commits later is never skipped. For the same reason a write's
//! wake-up waits for its position to be published: woken earlier, a reader would look
//! up to a position below the write, find nothing and wait again, and nobody would wake
//! it when the earlier write completes. So the watermark keeps each completed write's
//! wake-up until its position is published and fires it then, whichever write's
//! completion (or abandonment) publishes it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::notifier::{Notifier, Recipients};
use crate::storage::Position;

/// The pure state machine behind [`Watermark`], separate so it can be property-tested.
/// `W` is what a completed write wakes once its position is published.
#[derive(Debug, Clone)]
pub struct WatermarkState<W> {
    published: u64,
    highest_reserved: u64,
    pending: BTreeSet<u64>,
    /// Wake-ups of completed writes whose positions are not yet published, by position.
    /// Holds at most one entry per write in flight before them.
    deferred: BTreeMap<u64, W>,
}

/// What completing a position did: the new published position and the wake-ups that
/// became due (positions now published), in position order.
#[derive(Debug, PartialEq, Eq)]
pub struct Completion<W> {
    pub published: u64,
    pub due: Vec<W>,
}

/// A position was registered out of order (a bug in the caller's allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("position {position} reserved after {highest}; reservations must increase")]
pub struct OutOfOrder {
    pub position: u64,
    pub highest: u64,
}

impl<W> WatermarkState<W> {
    /// A state whose every position up to `start` is complete.
    pub fn new(start: u64) -> Self {
        WatermarkState {
            published: start,
            highest_reserved: start,
            pending: BTreeSet::new(),
            deferred: BTreeMap::new(),
        }
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

    /// Marks a position complete (persisted, or abandoned: `wake` None) and keeps its
    /// wake-up until the position is published. Returns the new published position and
    /// every wake-up now due: this write's if it is published at once, and those of later
    /// writes that only waited for this one. Completing an unknown position publishes
    /// nothing new; its wake-up is due once the published position reaches it.
    pub fn complete(&mut self, position: u64, wake: Option<W>) -> Completion<W> {
        self.pending.remove(&position);
        self.published = match self.pending.first() {
            Some(&lowest_incomplete) => lowest_incomplete - 1,
            None => self.highest_reserved,
        };
        if let Some(wake) = wake {
            self.deferred.insert(position, wake);
        }
        Completion { published: self.published, due: self.take_due() }
    }

    /// Removes and returns the deferred wake-ups at or below the published position.
    fn take_due(&mut self) -> Vec<W> {
        match self.deferred.first_key_value() {
            Some((&first, _)) if first <= self.published => {}
            _ => return Vec::new(),
        }
        let later = match self.published.checked_add(1) {
            Some(next) => self.deferred.split_off(&next),
            None => BTreeMap::new(),
        };
        std::mem::replace(&mut self.deferred, later).into_values().collect()
    }

    /// The highest position below which every reserved position is complete.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// How many completed writes wait for an earlier one to be published.
    pub fn deferred(&self) -> usize {
        self.deferred.len()
    }
}

/// Shared watermark of one stream. Cheap to clone.
#[derive(Clone)]
pub struct Watermark {
    state: Arc<Mutex<WatermarkState<Recipients>>>,
    /// Serializes allocate+register so registrations arrive in allocation order.
    allocation: Arc<tokio::sync::Mutex<()>>,
    published: Arc<watch::Sender<Position>>,
    /// Where due wake-ups go; shared by every stream.
    notifier: Arc<Notifier>,
}

/// A reserved position. Complete it after the write committed; dropping it without
/// completing abandons the position (it is skipped, never waited for forever, and the
/// wake-ups of later writes that waited for it still fire).
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

    /// Publishes the write (once every earlier reservation is complete too) without
    /// waking anyone for it.
    pub fn complete(mut self) {
        self.done = true;
        self.watermark.finish(self.position, None);
    }

    /// Publishes the write and wakes `recipients` once its position is published: at
    /// once when no earlier write is in flight, otherwise when the last of those
    /// completes or is abandoned.
    pub fn complete_and_wake(mut self, recipients: Recipients) {
        self.done = true;
        self.watermark.finish(self.position, Some(recipients));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.watermark.finish(self.position, None);
        }
    }
}

impl Watermark {
    /// A watermark whose every position up to `start` is already complete; due
    /// wake-ups go to `notifier`.
    pub fn new(start: Position, notifier: Arc<Notifier>) -> Self {
        let (sender, _) = watch::channel(start);
        Watermark {
            state: Arc::new(Mutex::new(WatermarkState::new(start.0))),
            allocation: Arc::new(tokio::sync::Mutex::new(())),
            published: Arc::new(sender),
            notifier,
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

    /// Completes `position`; the wake-ups that became due fire after the state lock is
    /// released (a reader they wake reads the published position under that lock).
    fn finish(&self, position: Position, wake: Option<Recipients>) {
        let Completion { published, due } = self.lock().complete(position.0, wake);
        self.published.send_if_modified(|current| {
            let advanced = published > current.0;
            if advanced {
                *current = Position(published);
            }
            advanced
        });
        for recipients in &due {
            self.notifier.wake(recipients);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatermarkState<Recipients>> {
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
