//! Which users' device lists a user must refresh: `changed` (users sharing a room with
//! them whose devices or keys changed, members of rooms they newly joined, and users who
//! joined one of their rooms) and `left` (users they no longer share any room with,
//! after either side left), between two positions. Serves `/sync`'s `device_lists` and
//! `GET /keys/changes`.

use std::collections::BTreeSet;

use ruma::{OwnedUserId, UserId};

use super::{E2ee, E2eeError};
use crate::storage::Position;

/// Most changes read for one answer; more wait for the next sync.
const MAX_CHANGES: usize = 10_000;
/// Members read per page, and at most this many pages per room, when looking for
/// membership changes in a room with new events.
const MEMBER_PAGE: usize = 1000;
const MAX_MEMBER_PAGES: usize = 100;

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
        self.add_others_memberships(user_id, window.events, &sharing, &mut delta).await?;
        delta.left.retain(|user| !delta.changed.contains(user));
        Ok(delta)
    }

    /// Others who joined a room the user is in during the window are `changed` (the
    /// user's clients must fetch their keys); others who left one and share no room with
    /// the user any more are `left`. Only rooms with events in the window are read.
    async fn add_others_memberships(
        &self,
        user_id: &UserId,
        (since, upto): (Position, Position),
        sharing: &BTreeSet<OwnedUserId>,
        delta: &mut DeviceListDelta,
    ) -> Result<(), E2eeError> {
        if since.0 == 0 || upto <= since {
            return Ok(());
        }
        for room_id in self.inner.rooms.joined_rooms(user_id).await? {
            if self.inner.rooms.latest_position(&room_id).await? <= since {
                continue;
            }
            let mut after: Option<OwnedUserId> = None;
            for _ in 0..MAX_MEMBER_PAGES {
                let page =
                    self.stores().rooms.room_members(&room_id, None, after.as_deref(), MEMBER_PAGE).await?;
                let full = page.len() == MEMBER_PAGE;
                for member in page {
                    let in_window = member.position > since && member.position <= upto;
                    if in_window && member.user_id != user_id {
                        match member.membership.as_str() {
                            "join" => {
                                delta.changed.insert(member.user_id.clone());
                            }
                            "leave" | "ban" if !sharing.contains(&member.user_id) => {
                                delta.left.insert(member.user_id.clone());
                            }
                            _ => {}
                        }
                    }
                    after = Some(member.user_id);
                }
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }
}
