//! Reading rooms back: joined rooms, state, members, single events and paginated
//! history — each through history visibility.

use ruma::{EventId, OwnedRoomId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::format::client_event;
use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::storage::{Direction, Position, StateMap};

/// Largest page of history served at once.
pub const MAX_PAGE: usize = 1000;

/// A point in a room's history at which to read its state.
#[derive(Debug, Clone, Copy)]
pub enum StatePoint<'a> {
    Current,
    Before(&'a EventId),
    After(&'a EventId),
    /// After the newest event strictly before this stream position.
    Boundary(Position),
    /// A state group already known.
    Group(crate::storage::StateGroupId),
}

/// A page of `/messages`.
pub struct MessagesPage {
    pub chunk: Vec<Value>,
    /// Where the page started and ended, as stream positions.
    pub start: Position,
    pub end: Option<Position>,
}

impl Rooms {
    pub async fn joined_rooms(&self, user_id: &UserId) -> Result<Vec<OwnedRoomId>, RoomsError> {
        let memberships = self.stores().rooms.user_memberships(user_id).await?;
        Ok(memberships.into_iter().filter(|m| m.membership == "join").map(|m| m.room_id).collect())
    }

    /// The visible state of a room as client events.
    pub async fn state_events(&self, room_id: &RoomId, user_id: &UserId) -> Result<Vec<Value>, RoomsError> {
        let state = self.visible_state(room_id, user_id).await?;
        self.client_events(room_id, state.values().cloned().collect()).await
    }

    /// The content of one visible state event.
    pub async fn state_event(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Value, RoomsError> {
        let state = self.visible_state(room_id, user_id).await?;
        let id = state.get(&(event_type.to_owned(), state_key.to_owned())).ok_or(RoomsError::UnknownEvent)?;
        let stored = self.stores().rooms.get_event(id).await?.ok_or(RoomsError::UnknownEvent)?;
        let version = self.room_version(room_id).await?;
        let pdu = super::append::readable(&stored, version).ok_or(RoomsError::UnknownEvent)?;
        Ok(client_event(&stored, &pdu, version).get("content").cloned().unwrap_or(json!({})))
    }

    /// `GET /members`: member events of the visible state, now or at a stream boundary
    /// (never past the user's own leave), filtered by membership.
    pub async fn member_events(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        at: Option<Position>,
        membership: Option<&str>,
        not_membership: Option<&str>,
    ) -> Result<Vec<Value>, RoomsError> {
        let visible = self.visible_state(room_id, user_id).await?;
        let state = match at {
            Some(boundary) => {
                let boundary = match self.left_at(room_id, user_id).await? {
                    Some(left) => boundary.min(Position(left.0 + 1)),
                    None => boundary,
                };
                self.state_at(room_id, StatePoint::Boundary(boundary)).await?
            }
            None => std::sync::Arc::new(visible),
        };
        let ids = member_ids(&state);
        let events = self.client_events(room_id, ids).await?;
        Ok(events
            .into_iter()
            .filter(|event| {
                let value = event.pointer("/content/membership").and_then(Value::as_str);
                membership.is_none_or(|m| value == Some(m)) && not_membership.is_none_or(|m| value != Some(m))
            })
            .collect())
    }

    /// Where the user left or was banned, if that is their current membership.
    async fn left_at(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<Position>, RoomsError> {
        let rooms = &self.stores().rooms;
        let Some(id) = rooms.current_state_event(room_id, "m.room.member", user_id.as_str()).await? else {
            return Ok(None);
        };
        if !matches!(self.membership_of_user(room_id, user_id).await?.as_deref(), Some("leave" | "ban")) {
            return Ok(None);
        }
        Ok(rooms.get_event(&id).await?.and_then(|event| event.position))
    }

    /// `GET /joined_members`: joined users with their room profile; members only.
    pub async fn joined_member_profiles(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Map<String, Value>, RoomsError> {
        if self.membership_of_user(room_id, user_id).await?.as_deref() != Some("join") {
            return Err(RoomsError::Forbidden("you are not a member of this room".to_owned()));
        }
        let events = self.member_events(room_id, user_id, None, Some("join"), None).await?;
        let mut joined = Map::new();
        for event in events {
            let Some(member) = event.get("state_key").and_then(Value::as_str) else { continue };
            let mut profile = Map::new();
            for (from, to) in [("displayname", "display_name"), ("avatar_url", "avatar_url")] {
                if let Some(value) = event.pointer(&format!("/content/{from}")).filter(|v| v.is_string()) {
                    profile.insert(to.to_owned(), value.clone());
                }
            }
            joined.insert(member.to_owned(), Value::Object(profile));
        }
        Ok(joined)
    }

    /// `GET /rooms/{roomId}/event/{eventId}`: the event formatted, with its aggregations.
    pub async fn visible_event(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
    ) -> Result<Value, RoomsError> {
        let (stored, pdu) = self.check_event_visible(room_id, user_id, event_id).await?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        let version = self.room_version(room_id).await?;
        let mut event = [self.served_event(&mut check, &stored, &pdu, version, None).await?];
        self.add_bundles(room_id, user_id, &mut event).await?;
        let [event] = event;
        Ok(event)
    }

    /// The event if the user may see it; otherwise it looks missing, so nothing leaks.
    pub async fn check_event_visible(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
    ) -> Result<(crate::storage::StoredEvent, crate::events::Pdu), RoomsError> {
        let stored = self.stores().rooms.get_event(event_id).await?.ok_or(RoomsError::UnknownEvent)?;
        if stored.room_id != room_id || stored.position.is_none() {
            return Err(RoomsError::UnknownEvent);
        }
        let pdu = super::append::readable(&stored, self.room_version(room_id).await?)
            .ok_or(RoomsError::UnknownEvent)?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        if !check.can_see(&pdu, stored.position).await? {
            return Err(RoomsError::UnknownEvent);
        }
        Ok((stored, pdu))
    }

    /// `GET /messages`: a page of visible history from `from` in `direction`, stopping
    /// at `to` (exclusive) if given.
    pub async fn messages(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        from: Option<Position>,
        to: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<MessagesPage, RoomsError> {
        let version = self.room_version(room_id).await?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        // Refuses non-members of non-world-readable rooms and rooms the user forgot.
        self.visible_state(room_id, user_id).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let page = self.stores().rooms.timeline(room_id, from, direction, limit).await?;
        let start = from.unwrap_or(match direction {
            Direction::Backward => Position(self.events_position().0 + 1),
            Direction::Forward => Position(0),
        });
        let mut chunk = Vec::new();
        let mut last = None;
        for stored in &page {
            let Some(position) = stored.position else { continue };
            let past_to = match (to, direction) {
                (Some(to), Direction::Backward) => position <= to,
                (Some(to), Direction::Forward) => position >= to,
                (None, _) => false,
            };
            if past_to {
                last = None;
                break;
            }
            last = Some(position);
            let Some(pdu) = super::append::readable(stored, version) else { continue };
            if check.can_see(&pdu, stored.position).await? {
                chunk.push(self.served_event(&mut check, stored, &pdu, version, None).await?);
            }
        }
        self.add_bundles(room_id, user_id, &mut chunk).await?;
        // No `end` once the timeline is exhausted in this direction.
        let end = if page.len() < limit { None } else { last };
        Ok(MessagesPage { chunk, start, end })
    }

    /// The member events of `members` in the state the viewer may see (for lazy loading).
    pub async fn member_events_of(
        &self,
        room_id: &RoomId,
        viewer: &UserId,
        members: &[String],
    ) -> Result<Vec<Value>, RoomsError> {
        let state = self.visible_state(room_id, viewer).await?;
        let ids = members
            .iter()
            .filter_map(|member| state.get(&("m.room.member".to_owned(), member.clone())).cloned())
            .collect();
        self.client_events(room_id, ids).await
    }

    /// The client format of an event, with the full redaction event in
    /// `unsigned.redacted_because` when it was redacted.
    pub async fn client_event_full(
        &self,
        stored: &crate::storage::StoredEvent,
        pdu: &crate::events::Pdu,
        version: stoa_federation::RoomVersion,
    ) -> Result<Value, RoomsError> {
        let mut event = client_event(stored, pdu, version);
        if let Some(redaction_id) = &stored.redacted_by
            && let Some(redaction) = self.stores().rooms.get_event(redaction_id).await?
            && let Some(redaction_pdu) = super::append::readable(&redaction, version)
        {
            let because = client_event(&redaction, &redaction_pdu, version);
            if let Some(unsigned) = event.get_mut("unsigned").and_then(Value::as_object_mut) {
                unsigned.insert("redacted_because".to_owned(), because);
            }
        }
        Ok(event)
    }

    async fn client_events(
        &self,
        room_id: &RoomId,
        ids: Vec<ruma::OwnedEventId>,
    ) -> Result<Vec<Value>, RoomsError> {
        self.formatted_events(room_id, ids, client_event).await
    }

    /// The given events of a room, each shaped by `format`, in no particular order.
    async fn formatted_events(
        &self,
        room_id: &RoomId,
        ids: Vec<ruma::OwnedEventId>,
        format: fn(&crate::storage::StoredEvent, &crate::events::Pdu, stoa_federation::RoomVersion) -> Value,
    ) -> Result<Vec<Value>, RoomsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let version = self.room_version(room_id).await?;
        let stored = self.stores().rooms.get_events(&ids).await?;
        Ok(stored
            .iter()
            .filter_map(|event| Some(format(event, &super::append::readable(event, version)?, version)))
            .collect())
    }

    /// The user's current membership in every room (for sync).
    pub async fn stores_memberships(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<crate::storage::MembershipRecord>, RoomsError> {
        Ok(self.stores().rooms.user_memberships(user_id).await?)
    }

    /// The user's membership records in `(since, upto]`, oldest first.
    pub async fn membership_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Result<Vec<crate::storage::MembershipRecord>, RoomsError> {
        if self.own_membership_changed(user_id, since, upto) == Some(false) {
            return Ok(Vec::new());
        }
        Ok(self.stores().rooms.user_membership_changes(user_id, since, upto).await?)
    }

    /// The membership each user was left with by the room's member events in
    /// `(since, upto]`, or `None` when the window holds more than `limit` events.
    pub async fn membership_events_between(
        &self,
        room_id: &RoomId,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Option<Vec<(ruma::OwnedUserId, String)>>, RoomsError> {
        let member_change = |pdu: &crate::events::Pdu| {
            let membership = super::append::membership_of(pdu)?;
            Some((ruma::UserId::parse(pdu.state_key()?).ok()?, membership))
        };
        if let Some(recent) = self.recent_between(room_id, since, upto) {
            // Newest first: turned around so the newest change per user comes last.
            return Ok(Some(recent.iter().rev().filter_map(|event| member_change(&event.pdu)).collect()));
        }
        let events =
            self.stores().rooms.timeline(room_id, Some(since), Direction::Forward, limit + 1).await?;
        let in_window: Vec<_> = events.iter().filter(|e| e.position.is_some_and(|p| p <= upto)).collect();
        if in_window.len() > limit {
            return Ok(None);
        }
        let version = self.room_version(room_id).await?;
        let mut changes = Vec::new();
        for pdu in in_window.into_iter().filter_map(|stored| super::append::readable(stored, version)) {
            changes.extend(member_change(&pdu));
        }
        Ok(Some(changes))
    }

    /// The room's current state map.
    pub async fn current_state_of(&self, room_id: &RoomId) -> Result<StateMap, RoomsError> {
        Ok(self.stores().rooms.current_state(room_id).await?)
    }

    /// Up to `limit` accepted events strictly before `before`, newest first.
    pub async fn timeline_page(
        &self,
        room_id: &RoomId,
        before: Option<Position>,
        limit: usize,
    ) -> Result<Vec<crate::storage::StoredEvent>, RoomsError> {
        Ok(self.stores().rooms.timeline(room_id, before, Direction::Backward, limit).await?)
    }

    /// The room's state at a point: before or after an event, at a stream boundary, or now.
    pub async fn state_at(
        &self,
        room_id: &RoomId,
        point: StatePoint<'_>,
    ) -> Result<std::sync::Arc<StateMap>, RoomsError> {
        let rooms = &self.stores().rooms;
        let group = match point {
            StatePoint::Current => return Ok(std::sync::Arc::new(rooms.current_state(room_id).await?)),
            StatePoint::Before(id) => rooms.event_state_groups(id).await?.map(|(before, _)| before),
            StatePoint::After(id) => rooms.event_state_groups(id).await?.map(|(_, after)| after),
            StatePoint::Group(group) => Some(group),
            StatePoint::Boundary(boundary) => {
                let newest = rooms.timeline(room_id, Some(boundary), Direction::Backward, 1).await?;
                let Some(event) = newest.first() else { return Ok(std::sync::Arc::default()) };
                rooms.event_state_groups(&event.event_id).await?.map(|(_, after)| after)
            }
        };
        let group = group.ok_or(RoomsError::UnknownEvent)?;
        Ok(self.state_group(group).await?.unwrap_or_default())
    }

    /// The state before `event_id` (the start of a sync timeline) as client events, or
    /// the current state when there is no timeline.
    pub async fn state_before_as_client_events(
        &self,
        room_id: &RoomId,
        event_id: Option<&EventId>,
    ) -> Result<Vec<Value>, RoomsError> {
        let point = event_id.map_or(StatePoint::Current, StatePoint::Before);
        let state = self.state_at(room_id, point).await?;
        self.client_events(room_id, state.values().cloned().collect()).await
    }

    /// The given events of a room in the federation format, in no particular order.
    pub async fn events_as_pdus(
        &self,
        room_id: &RoomId,
        ids: Vec<ruma::OwnedEventId>,
    ) -> Result<Vec<Value>, RoomsError> {
        self.formatted_events(room_id, ids, super::format::federation_event).await
    }

    /// The given events of a room in the client format, in no particular order.
    pub async fn events_as_client_events(
        &self,
        room_id: &RoomId,
        ids: Vec<ruma::OwnedEventId>,
    ) -> Result<Vec<Value>, RoomsError> {
        self.client_events(room_id, ids).await
    }

    pub async fn version_of(&self, room_id: &RoomId) -> Result<stoa_federation::RoomVersion, RoomsError> {
        self.room_version(room_id).await
    }

    /// A stored event parsed, or `None` (logged) when it cannot be read back.
    pub fn readable_event(
        &self,
        stored: &crate::storage::StoredEvent,
        version: stoa_federation::RoomVersion,
    ) -> Option<crate::events::Pdu> {
        super::append::readable(stored, version)
    }

    pub(super) async fn room_version(
        &self,
        room_id: &RoomId,
    ) -> Result<stoa_federation::RoomVersion, RoomsError> {
        if let Some(version) = self.inner.versions.get(room_id) {
            return Ok(version);
        }
        let record = self.stores().rooms.room(room_id).await?.ok_or(RoomsError::UnknownRoom)?;
        let version = super::append::parse_version(&record.room_version)?;
        self.inner.versions.insert(room_id, version);
        Ok(version)
    }
}

fn member_ids(state: &StateMap) -> Vec<ruma::OwnedEventId> {
    state.iter().filter(|((kind, _), _)| kind == "m.room.member").map(|(_, id)| id.clone()).collect()
}
