//! History visibility, checked on every read: which events and which state a user may
//! see, per the room's `m.room.history_visibility` when each event was sent and the
//! user's membership then.

use std::collections::HashMap;

use ruma::{EventId, OwnedEventId, RoomId, UserId};
use serde_json::Value;

use super::{Rooms, RoomsError};
use crate::storage::{StateGroupId, StateMap};

/// Per-request memo of the facts visibility needs from each state group.
pub struct VisibilityCheck<'a> {
    rooms: &'a Rooms,
    user_id: &'a UserId,
    currently_joined: bool,
    groups: HashMap<StateGroupId, GroupFacts>,
}

#[derive(Clone)]
struct GroupFacts {
    history_visibility: String,
    membership: Option<String>,
}

impl<'a> VisibilityCheck<'a> {
    pub async fn new(rooms: &'a Rooms, room_id: &RoomId, user_id: &'a UserId) -> Result<Self, RoomsError> {
        let current = rooms.membership_of_user(room_id, user_id).await?;
        Ok(VisibilityCheck {
            rooms,
            user_id,
            currently_joined: current.as_deref() == Some("join"),
            groups: HashMap::new(),
        })
    }

    /// Whether the user may see `event_id` (sent by `sender`, with `state_key`).
    pub async fn can_see(
        &mut self,
        event_id: &EventId,
        sender: &UserId,
        state_key: Option<&str>,
    ) -> Result<bool, RoomsError> {
        let Some((before, after)) = self.rooms.stores().rooms.event_state_groups(event_id).await? else {
            return Ok(false);
        };
        // One's own membership changes are always visible to oneself.
        if sender == self.user_id || state_key == Some(self.user_id.as_str()) {
            return Ok(true);
        }
        let visibility = self.facts(before).await?.history_visibility;
        let membership = self.facts(after).await?.membership;
        Ok(match visibility.as_str() {
            "world_readable" => true,
            _ if membership.as_deref() == Some("join") => true,
            "shared" => self.currently_joined,
            "invited" => membership.as_deref() == Some("invite"),
            _ => false,
        })
    }

    async fn facts(&mut self, group: StateGroupId) -> Result<GroupFacts, RoomsError> {
        if let Some(facts) = self.groups.get(&group) {
            return Ok(facts.clone());
        }
        let state = self.rooms.stores().rooms.state_group(group).await?.unwrap_or_default();
        let history_visibility =
            match state_content(self.rooms, &state, "m.room.history_visibility", "").await? {
                Some(content) => {
                    content.get("history_visibility").and_then(Value::as_str).unwrap_or("shared").to_owned()
                }
                None => "shared".to_owned(),
            };
        let membership = state_content(self.rooms, &state, "m.room.member", self.user_id.as_str())
            .await?
            .and_then(|c| c.get("membership").and_then(Value::as_str).map(str::to_owned));
        let facts = GroupFacts { history_visibility, membership };
        self.groups.insert(group, facts.clone());
        Ok(facts)
    }
}

/// The content of one state event in `state`, if present.
pub(super) async fn state_content(
    rooms: &Rooms,
    state: &StateMap,
    event_type: &str,
    state_key: &str,
) -> Result<Option<Value>, RoomsError> {
    let Some(id) = state.get(&(event_type.to_owned(), state_key.to_owned())) else {
        return Ok(None);
    };
    Ok(Some(super::append::content(&rooms.load_pdu(id).await?)))
}

impl Rooms {
    /// The state the user may see: current state while joined (or if the room is
    /// world-readable), the state when they left or were banned otherwise.
    pub async fn visible_state(&self, room_id: &RoomId, user_id: &UserId) -> Result<StateMap, RoomsError> {
        let rooms = &self.stores().rooms;
        if rooms.room(room_id).await?.is_none() {
            return Err(RoomsError::UnknownRoom);
        }
        let member_event: Option<OwnedEventId> =
            rooms.current_state_event(room_id, "m.room.member", user_id.as_str()).await?;
        let membership = match &member_event {
            Some(id) => super::append::membership_of(&self.load_pdu(id).await?),
            None => None,
        };
        match (membership.as_deref(), member_event) {
            (Some("join"), _) => Ok(rooms.current_state(room_id).await?),
            (Some("leave" | "ban"), Some(id)) => {
                let groups = rooms.event_state_groups(&id).await?;
                let group = groups.map(|(_, after)| after).ok_or(RoomsError::UnknownEvent)?;
                Ok(rooms.state_group(group).await?.unwrap_or_default())
            }
            _ => {
                let current = rooms.current_state(room_id).await?;
                let readable =
                    state_content(self, &current, "m.room.history_visibility", "").await?.is_some_and(|c| {
                        c.get("history_visibility").and_then(Value::as_str) == Some("world_readable")
                    });
                if readable {
                    Ok(current)
                } else {
                    Err(RoomsError::Forbidden("you are not a member of this room".to_owned()))
                }
            }
        }
    }
}
