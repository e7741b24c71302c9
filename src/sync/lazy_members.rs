//! Which member events each device already holds, so lazy-loading syncs do not resend
//! them (unless the filter asks for `include_redundant_members`).
//!
//! Kept in memory and bounded: forgetting only costs a redundant resend, which the spec
//! allows, so a restart or an overflow simply starts over.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ruma::{OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId};

/// Rooms-per-device entries kept before the memory is dropped wholesale.
const MAX_ROOM_ENTRIES: usize = 100_000;
/// Members remembered per device and room before that entry starts over.
const MAX_MEMBERS_PER_ROOM: usize = 5_000;

type Key = (OwnedUserId, OwnedDeviceId, OwnedRoomId);

#[derive(Default)]
pub struct SentMembers {
    sent: Mutex<HashMap<Key, HashMap<String, OwnedEventId>>>,
}

impl SentMembers {
    /// Whether `member_event` is the member event of `member` the device last received.
    pub fn already_sent(&self, key: &Key, member: &str, member_event: &OwnedEventId) -> bool {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.get(key).and_then(|members| members.get(member)) == Some(member_event)
    }

    /// Records member events sent to the device in a room.
    pub fn record(&self, key: Key, members: impl IntoIterator<Item = (String, OwnedEventId)>) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        if sent.len() >= MAX_ROOM_ENTRIES && !sent.contains_key(&key) {
            sent.clear();
        }
        let entry = sent.entry(key).or_default();
        for (member, event_id) in members {
            if entry.len() >= MAX_MEMBERS_PER_ROOM {
                entry.clear();
            }
            entry.insert(member, event_id);
        }
    }

    /// Forgets what a device holds in a room (an initial or full-state sync resends all).
    pub fn reset(&self, key: &Key) {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}
