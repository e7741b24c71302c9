//! Joined members per room, cached so sending into a 1,000-member room does not scan
//! memberships per message and waking costs O(recipients).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::{Rooms, RoomsError};

/// Room → joined members. Rooms are loaded on first use and kept current by appends.
#[derive(Default)]
pub struct MemberCache {
    rooms: Mutex<HashMap<OwnedRoomId, Arc<BTreeSet<OwnedUserId>>>>,
}

impl MemberCache {
    fn get(&self, room_id: &RoomId) -> Option<Arc<BTreeSet<OwnedUserId>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).get(room_id).cloned()
    }

    fn put(&self, room_id: &RoomId, members: Arc<BTreeSet<OwnedUserId>>) {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).insert(room_id.to_owned(), members);
    }

    /// Applies a membership change to a cached room (uncached rooms load on next use).
    pub fn apply(&self, room_id: &RoomId, user_id: &UserId, membership: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(members) = rooms.get_mut(room_id) {
            let members = Arc::make_mut(members);
            if membership == "join" {
                members.insert(user_id.to_owned());
            } else {
                members.remove(user_id);
            }
        }
    }
}

/// Bound on one page when loading a room's members into the cache.
const PAGE: usize = 1000;

impl Rooms {
    /// The joined members of a room.
    pub async fn joined_members(&self, room_id: &RoomId) -> Result<Arc<BTreeSet<OwnedUserId>>, RoomsError> {
        if let Some(members) = self.inner.members.get(room_id) {
            return Ok(members);
        }
        // Load under the room's queue so no append slips between load and cache.
        let _turn = self.inner.queues.enter(room_id).await;
        self.joined_members_in_turn(room_id).await
    }

    /// Whether the user is joined, when the room's members are cached; `None` when
    /// they are not (the caller reads the store).
    pub fn cached_joined(&self, room_id: &RoomId, user_id: &UserId) -> Option<bool> {
        self.inner.members.get(room_id).map(|members| members.contains(user_id))
    }

    /// Like [`Rooms::joined_members`], for callers already holding the room's queue.
    pub(super) async fn joined_members_in_turn(
        &self,
        room_id: &RoomId,
    ) -> Result<Arc<BTreeSet<OwnedUserId>>, RoomsError> {
        if let Some(members) = self.inner.members.get(room_id) {
            return Ok(members);
        }
        let mut members = BTreeSet::new();
        let mut after: Option<OwnedUserId> = None;
        loop {
            let page =
                self.stores().rooms.room_members(room_id, Some("join"), after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            after = page.last().map(|m| m.user_id.clone());
            members.extend(page.into_iter().map(|m| m.user_id));
            if !full {
                break;
            }
        }
        let members = Arc::new(members);
        self.inner.members.put(room_id, members.clone());
        Ok(members)
    }
}
