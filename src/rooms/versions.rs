//! Room versions, memoized: fixed when a room is created and needed to parse every
//! event read from it, so the room record is read once, not per event.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Rooms kept in the version memo before it starts over.
const MAX_VERSIONS: usize = 1_000_000;

/// Room → room version: fixed at creation, needed to parse every event read.
#[derive(Default)]
pub struct RoomVersions {
    versions: Mutex<HashMap<ruma::OwnedRoomId, stoa_federation::RoomVersion>>,
}

impl RoomVersions {
    pub fn get(&self, room_id: &ruma::RoomId) -> Option<stoa_federation::RoomVersion> {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).get(room_id).copied()
    }

    pub fn insert(&self, room_id: &ruma::RoomId, version: stoa_federation::RoomVersion) {
        let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        if versions.len() >= MAX_VERSIONS {
            versions.clear();
        }
        versions.insert(room_id.to_owned(), version);
    }
}
