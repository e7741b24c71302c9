//! One serialized persist queue per room: appends to a room never interleave, so
//! prev_events, state and extremities are computed against a stable room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ruma::{OwnedRoomId, RoomId};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Lazily created per-room locks; an entry disappears when nobody holds its lock.
#[derive(Default)]
pub struct RoomQueues {
    locks: Mutex<HashMap<OwnedRoomId, Weak<AsyncMutex<()>>>>,
}

impl RoomQueues {
    /// Waits for the room's turn; appends happen while the guard lives.
    pub async fn enter(&self, room_id: &RoomId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            if locks.len() > 4096 {
                locks.retain(|_, weak| weak.strong_count() > 0);
            }
            match locks.get(room_id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    locks.insert(room_id.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}
