//! `GET /v1/rooms/{roomId}/timestamp_to_event`: the event closest to a time, found by
//! binary search over stream positions (O(log n) reads, never a scan). It relies on a
//! room's timestamps growing with its positions, which holds for events this server
//! appends.

use ruma::{OwnedEventId, RoomId, UserId};

use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::storage::{Direction, Position};

impl Rooms {
    /// The first event at or after `ts` (`forward`), or the last at or before it.
    pub async fn event_at_timestamp(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        ts: u64,
        forward: bool,
    ) -> Result<(OwnedEventId, u64), RoomsError> {
        self.visible_state(room_id, user_id).await?;
        let version = self.room_version(room_id).await?;
        let (mut low, mut high) = (0u64, self.events_position().0.saturating_add(1));
        let mut found = None;
        // Invariant: the answer, if any, lies at a position in [low, high) or is `found`.
        while low < high {
            let middle = low + (high - low) / 2;
            let from = middle.checked_sub(1).map(Position);
            let probe = self.stores().rooms.timeline(room_id, from, Direction::Forward, 1).await?;
            let Some(stored) = probe.into_iter().next().filter(|e| e.position.is_some_and(|p| p.0 < high))
            else {
                high = middle;
                continue;
            };
            let position = stored.position.map_or(middle, |p| p.0);
            // An unreadable event counts as not fitting: the search moves past it.
            let Some(pdu) = super::append::readable(&stored, version) else {
                if forward {
                    low = position + 1;
                } else {
                    high = middle;
                }
                continue;
            };
            let at = u64::from(pdu.origin_server_ts().get());
            let fits = if forward { at >= ts } else { at <= ts };
            match (forward, fits) {
                (true, true) => {
                    found = Some((pdu, at, position));
                    high = middle;
                }
                (true, false) => low = position + 1,
                (false, true) => {
                    found = Some((pdu, at, position));
                    low = position + 1;
                }
                (false, false) => high = middle,
            }
        }
        let (pdu, at, position) = found.ok_or(RoomsError::UnknownEvent)?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        if !check.can_see(&pdu, Some(Position(position))).await? {
            return Err(RoomsError::UnknownEvent);
        }
        Ok((pdu.event_id().to_owned(), at))
    }
}
