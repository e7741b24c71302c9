//! Which users' device lists a user must refresh: `changed` (users sharing a room with
//! them whose devices or keys changed, members of rooms they newly joined, and users who
//! joined one of their rooms) and `left` (users they no longer share any room with,
//! after either side left), between two positions. Serves `/sync`'s `device_lists` and
//! `GET /keys/changes`.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::{E2ee, E2eeError};
use crate::storage::Position;

/// Most changes read for one answer; more wait for the next sync.
const MAX_CHANGES: usize = 10_000;
/// Members read per page, and at most this many pages per room, when looking for
/// membership changes in a room with new events.
const MEMBER_PAGE: usize = 1000;
const MAX_MEMBER_PAGES: usize = 100;
/// Events of one room's window read to find its membership changes; a busier window
/// reads the member list instead.
const MAX_WINDOW_EVENTS: usize = 500;

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
    /// What `user_id` must refresh for the window. Costs what changed: the window's
    /// device-list changes, the user's own membership changes, and the member events in
    /// rooms with new events; the set of users sharing a room is built only when one of
    /// those needs it.
    pub async fn device_list_delta(
        &self,
        user_id: &UserId,
        window: ChangeWindow,
    ) -> Result<DeviceListDelta, E2eeError> {
        let (since, upto) = window.device_lists;
        let device_changes = if since < upto {
            self.stores().device_lists.device_list_changes(since, upto, MAX_CHANGES).await?
        } else {
            Vec::new()
        };
        let (events_since, events_upto) = window.events;
        let own = self.own_membership_changes(user_id, events_since, events_upto).await?;
        let others = self.others_membership_changes(user_id, window.events).await?;
        let leaves = |membership: &str| matches!(membership, "leave" | "ban");
        let needs_sharing = !device_changes.is_empty()
            || own.values().any(|m| leaves(m))
            || others.values().any(|m| leaves(m));
        let sharing = if needs_sharing { self.users_sharing_a_room(user_id).await? } else { BTreeSet::new() };
        let mut delta = DeviceListDelta::default();
        for (user, _) in device_changes {
            if sharing.contains(&user) {
                delta.changed.insert(user);
            }
        }
        for (room_id, membership) in own {
            let members = self.inner.rooms.joined_members(&room_id).await?;
            match membership.as_str() {
                "join" => delta.changed.extend(members.iter().filter(|m| *m != user_id).cloned()),
                "leave" | "ban" => {
                    delta.left.extend(members.iter().filter(|m| !sharing.contains(*m)).cloned());
                }
                _ => {}
            }
        }
        for (user, membership) in others {
            match membership.as_str() {
                "join" => {
                    delta.changed.insert(user);
                }
                "leave" | "ban" if !sharing.contains(&user) => {
                    delta.left.insert(user);
                }
                _ => {}
            }
        }
        delta.left.retain(|user| !delta.changed.contains(user));
        Ok(delta)
    }

    /// The user's own membership per room as of the end of the window, for rooms where
    /// it changed in the window.
    async fn own_membership_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Result<BTreeMap<OwnedRoomId, String>, E2eeError> {
        if upto <= since {
            return Ok(BTreeMap::new());
        }
        let changes = self.inner.rooms.membership_changes(user_id, since, upto).await?;
        Ok(changes.into_iter().map(|record| (record.room_id, record.membership)).collect())
    }

    /// Others' memberships as of the end of the window, for those that changed in it,
    /// in rooms with new events (the user's change feed names them; without a feed,
    /// every joined room is looked at). Only the window's events are read, unless a
    /// room has more than [`MAX_WINDOW_EVENTS`]; then its member list is.
    async fn others_membership_changes(
        &self,
        user_id: &UserId,
        (since, upto): (Position, Position),
    ) -> Result<BTreeMap<OwnedUserId, String>, E2eeError> {
        let mut changes = BTreeMap::new();
        if since.0 == 0 || upto <= since {
            return Ok(changes);
        }
        let rooms = match self.inner.rooms.changed_rooms(user_id, since, upto) {
            Some(rooms) => rooms,
            None => self.inner.rooms.joined_rooms(user_id).await?,
        };
        for room_id in rooms {
            if self.inner.rooms.latest_position(&room_id).await? <= since {
                continue;
            }
            match self.inner.rooms.membership_events_between(&room_id, since, upto, MAX_WINDOW_EVENTS).await?
            {
                Some(events) => changes.extend(events.into_iter().filter(|(user, _)| user != user_id)),
                None => self.scan_member_list(&room_id, user_id, (since, upto), &mut changes).await?,
            }
        }
        Ok(changes)
    }

    /// The fallback for a busy window: every member's current record, kept when it was
    /// written in the window.
    async fn scan_member_list(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        (since, upto): (Position, Position),
        changes: &mut BTreeMap<OwnedUserId, String>,
    ) -> Result<(), E2eeError> {
        let mut after: Option<OwnedUserId> = None;
        for _ in 0..MAX_MEMBER_PAGES {
            let page = self.stores().rooms.room_members(room_id, None, after.as_deref(), MEMBER_PAGE).await?;
            let full = page.len() == MEMBER_PAGE;
            for member in page {
                if member.position > since && member.position <= upto && member.user_id != user_id {
                    changes.insert(member.user_id.clone(), member.membership);
                }
                after = Some(member.user_id);
            }
            if !full {
                break;
            }
        }
        Ok(())
    }
}
