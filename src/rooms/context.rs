//! `GET /rooms/{roomId}/context/{eventId}`: an event with the visible events around it.

use ruma::{EventId, RoomId, UserId};
use serde_json::Value;

use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::storage::{Direction, Position};

/// An event in context.
pub struct EventContext {
    pub event: Value,
    /// Newest first, as the spec orders `events_before`.
    pub before: Vec<Value>,
    pub after: Vec<Value>,
    /// Pagination positions: `/messages` backward from `start`, forward from `end`.
    pub start: Position,
    pub end: Position,
    pub state: Vec<Value>,
}

impl Rooms {
    pub async fn context(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        limit: usize,
    ) -> Result<EventContext, RoomsError> {
        let event = self.visible_event(room_id, user_id, event_id).await?;
        let stored = self.stores().rooms.get_event(event_id).await?.ok_or(RoomsError::UnknownEvent)?;
        let position = stored.position.ok_or(RoomsError::UnknownEvent)?;
        let limit = limit.min(super::read::MAX_PAGE);
        let before_count = limit / 2;
        let after_count = limit - before_count;
        let version = self.room_version(room_id).await?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        let rooms = &self.stores().rooms;
        let mut sides = Vec::new();
        for (direction, count) in [(Direction::Backward, before_count), (Direction::Forward, after_count)] {
            let page = if count == 0 {
                Vec::new()
            } else {
                rooms.timeline(room_id, Some(position), direction, count).await?
            };
            let mut edge = position;
            let mut events = Vec::new();
            for stored in &page {
                edge = stored.position.unwrap_or(edge);
                let Some(pdu) = super::append::readable(stored, version) else { continue };
                if check.can_see(&pdu, stored.position).await? {
                    events.push(self.served_event(&mut check, stored, &pdu, version, None).await?);
                }
            }
            sides.push((events, edge));
        }
        let (mut after, end) = sides.pop().unwrap_or_default();
        let (mut before, start) = sides.pop().unwrap_or_default();
        self.add_bundles(room_id, user_id, &mut before).await?;
        self.add_bundles(room_id, user_id, &mut after).await?;
        let state = self.state_before_as_client_events(room_id, Some(event_id)).await?;
        Ok(EventContext { event, before, after, start, end, state })
    }
}
