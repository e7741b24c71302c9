//! Forgetting rooms one has left, and reporting rooms and events to the operators.

use ruma::{EventId, RoomId, UserId};

use super::{Rooms, RoomsError};
use crate::accounts::now_ms;
use crate::storage::ReportRecord;

/// Longest report reason kept, in bytes.
const MAX_REASON_BYTES: usize = 10_000;

impl Rooms {
    /// `POST /rooms/{roomId}/forget`: only for rooms the user is no longer in.
    pub async fn forget(&self, room_id: &RoomId, user_id: &UserId) -> Result<(), RoomsError> {
        if self.stores().rooms.room(room_id).await?.is_none() {
            return Err(RoomsError::UnknownRoom);
        }
        if matches!(
            self.membership_of_user(room_id, user_id).await?.as_deref(),
            Some("join" | "invite" | "knock")
        ) {
            return Err(RoomsError::StillInRoom);
        }
        Ok(self.stores().moderation.set_room_forgotten(user_id, room_id, true).await?)
    }

    pub async fn is_forgotten(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool, RoomsError> {
        Ok(self.stores().moderation.is_room_forgotten(user_id, room_id).await?)
    }

    /// `POST /rooms/{roomId}/report[/{eventId}]`: what the user can see, they can report;
    /// anything else looks missing.
    pub async fn report(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: Option<&EventId>,
        reason: Option<String>,
    ) -> Result<(), RoomsError> {
        let visible = match event_id {
            Some(event_id) => self.check_event_visible(room_id, user_id, event_id).await.map(drop),
            None => self.visible_state(room_id, user_id).await.map(drop),
        };
        match visible {
            Ok(()) => {}
            Err(RoomsError::Forbidden(_)) => return Err(RoomsError::UnknownRoom),
            Err(other) => return Err(other),
        }
        let reason = reason.map(|mut text| {
            let mut end = text.len().min(MAX_REASON_BYTES);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text
        });
        let report = ReportRecord {
            reporter: user_id.to_owned(),
            room_id: room_id.to_owned(),
            event_id: event_id.map(ToOwned::to_owned),
            reason,
            received_at_ms: now_ms(),
        };
        self.stores().moderation.add_report(&report).await?;
        tracing::warn!(reporter = %user_id, room = %room_id, event = ?event_id, "content reported");
        Ok(())
    }
}
