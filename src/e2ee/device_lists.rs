//! Which users' device lists a user must refresh: `changed` (users sharing a room with
//! them whose devices or keys changed, and members of rooms they newly joined) and `left`
//! (users they no longer share any room with after leaving a room), between two
//! positions. Serves `/sync`'s `device_lists` and `GET /keys/changes`.

use std::collections::BTreeSet;

use ruma::{OwnedUserId, UserId};

use super::{E2ee, E2eeError};
use crate::storage::Position;

/// Most changes read for one answer; more wait for the next sync.
const MAX_CHANGES: usize = 10_000;

/// The window to answer for, in both streams involved.
#[derive(Debug, Clone, Copy)]
pub struct ChangeWindow {
    /// `(since, upto]` of the DeviceLists stream.
    pub device_lists: (Position, Position),
    /// `(since, upto]` of the Events stream (membership changes).
    pub events: (Position, Position),
}

/// `changed` and `left`, sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceListDelta {
    pub changed: BTreeSet<OwnedUserId>,
    pub left: BTreeSet<OwnedUserId>,
}

impl DeviceListDelta {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left.is_empty()
    }
}

impl E2ee {
    /// What `user_id` must refresh for the window.
    pub async fn device_list_delta(
        &self,
        user_id: &UserId,
        window: ChangeWindow,
    ) -> Result<DeviceListDelta, E2eeError> {
        let sharing = self.users_sharing_a_room(user_id).await?;
        let (since, upto) = window.device_lists;
        let mut delta = DeviceListDelta::default();
        for (user, _) in self.stores().device_lists.device_list_changes(since, upto, MAX_CHANGES).await? {
            if sharing.contains(&user) {
                delta.changed.insert(user);
            }
        }
        let (events_since, events_upto) = window.events;
        let in_window = |position: Position| position > events_since && position <= events_upto;
        for membership in self.inner.rooms.stores_memberships(user_id).await? {
            if !in_window(membership.position) {
                continue;
            }
            let members = self.inner.rooms.joined_members(&membership.room_id).await?;
            match membership.membership.as_str() {
                "join" => delta.changed.extend(members.iter().filter(|m| *m != user_id).cloned()),
                "leave" | "ban" => {
                    delta.left.extend(members.iter().filter(|m| !sharing.contains(*m)).cloned());
                }
                _ => {}
            }
        }
        delta.left.retain(|user| !delta.changed.contains(user));
        Ok(delta)
    }
}
