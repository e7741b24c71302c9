//! History visibility, checked on every read: which events and which state a user may
//! see, per the room's `m.room.history_visibility` when each event was sent and the
//! user's membership then.

use std::collections::HashMap;

use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::Value;

use super::{Rooms, RoomsError};
use crate::events::Pdu;
use crate::storage::{Position, StateGroupId, StateMap};

/// Per-request memo of the facts visibility needs from each state group.
pub struct VisibilityCheck<'a> {
    rooms: &'a Rooms,
    user_id: &'a UserId,
    /// The user was joined before this position (forever while still joined); events
    /// before it are `shared` history they may read.
    joined_until: Option<Position>,
    groups: HashMap<StateGroupId, GroupFacts>,
    /// The state groups of the event checked last, which is usually the one whose
    /// membership is asked next.
    last_groups: Option<(OwnedEventId, (StateGroupId, StateGroupId))>,
}

#[derive(Clone)]
struct GroupFacts {
    history_visibility: String,
    membership: Option<String>,
}

impl<'a> VisibilityCheck<'a> {
    pub async fn new(rooms: &'a Rooms, room_id: &RoomId, user_id: &'a UserId) -> Result<Self, RoomsError> {
        let joined_until = joined_until(rooms, room_id, user_id).await?;
        Ok(VisibilityCheck { rooms, user_id, joined_until, groups: HashMap::new(), last_groups: None })
    }

    /// Whether the user may see `pdu`, which sits at `position` in the stream.
    pub async fn can_see(&mut self, pdu: &Pdu, position: Option<Position>) -> Result<bool, RoomsError> {
        self.can_see_in(pdu, position, None).await
    }

    /// [`VisibilityCheck::can_see`] for an event whose state groups (before, after) may
    /// already be known.
    pub async fn can_see_in(
        &mut self,
        pdu: &Pdu,
        position: Option<Position>,
        groups: Option<(StateGroupId, StateGroupId)>,
    ) -> Result<bool, RoomsError> {
        let (sender, state_key) = (pdu.sender(), pdu.state_key());
        let Some((before, after)) = self.groups_of(pdu, groups).await? else {
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
            // The spec: visible if the user joined at any point after the event.
            "shared" => position.zip(self.joined_until).is_some_and(|(at, until)| at < until),
            "invited" => membership.as_deref() == Some("invite"),
            _ => false,
        })
    }

    /// The user's membership at `pdu` (in the state after it), `leave` when they had
    /// none: `unsigned.membership`. Costs nothing more for an event just checked.
    pub async fn membership_at(
        &mut self,
        pdu: &Pdu,
        groups: Option<(StateGroupId, StateGroupId)>,
    ) -> Result<String, RoomsError> {
        if pdu.state_key() == Some(self.user_id.as_str())
            && let Some(membership) = super::append::membership_of(pdu)
        {
            return Ok(membership);
        }
        // The auth rules let only joined members send anything else.
        if pdu.sender() == self.user_id {
            return Ok("join".to_owned());
        }
        let Some((_, after)) = self.groups_of(pdu, groups).await? else {
            return Ok("leave".to_owned());
        };
        Ok(self.facts(after).await?.membership.unwrap_or_else(|| "leave".to_owned()))
    }

    /// The state groups (before, after) of an event: given, just looked up, or read.
    async fn groups_of(
        &mut self,
        pdu: &Pdu,
        groups: Option<(StateGroupId, StateGroupId)>,
    ) -> Result<Option<(StateGroupId, StateGroupId)>, RoomsError> {
        if groups.is_some() {
            return Ok(groups);
        }
        let event_id = pdu.event_id();
        if let Some((id, groups)) = &self.last_groups
            && id == event_id
        {
            return Ok(Some(*groups));
        }
        let groups = self.rooms.stores().rooms.event_state_groups(event_id).await?;
        self.last_groups = groups.map(|groups| (event_id.to_owned(), groups));
        Ok(groups)
    }

    async fn facts(&mut self, group: StateGroupId) -> Result<GroupFacts, RoomsError> {
        if let Some(facts) = self.groups.get(&group) {
            return Ok(facts.clone());
        }
        let state = self.rooms.state_group(group).await?.unwrap_or_default();
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

/// Until when the user was joined: forever while joined; for a user who left or was
/// banned straight from a join, the position of that leave or ban.
async fn joined_until(
    rooms: &Rooms,
    room_id: &RoomId,
    user_id: &UserId,
) -> Result<Option<Position>, RoomsError> {
    if rooms.cached_joined(room_id, user_id) == Some(true) {
        return Ok(Some(Position(u64::MAX)));
    }
    let store = &rooms.stores().rooms;
    let Some(event_id) = store.current_state_event(room_id, "m.room.member", user_id.as_str()).await? else {
        return Ok(None);
    };
    // A member event that cannot be read counts as none: nothing is shown through it.
    let pdu = rooms.cached_readable(&event_id).await?;
    match pdu.and_then(|pdu| super::append::membership_of(&pdu)).as_deref() {
        Some("join") => Ok(Some(Position(u64::MAX))),
        Some("leave" | "ban") => {
            let Some(stored) = store.get_event(&event_id).await? else { return Ok(None) };
            let Some((before, _)) = store.event_state_groups(&event_id).await? else { return Ok(None) };
            let state = rooms.state_group(before).await?.unwrap_or_default();
            let was_joined = state_content(rooms, &state, "m.room.member", user_id.as_str())
                .await?
                .is_some_and(|c| c.get("membership").and_then(Value::as_str) == Some("join"));
            Ok(if was_joined { stored.position } else { None })
        }
        _ => Ok(None),
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
    // An unreadable state event counts as absent (logged), rather than failing the read.
    Ok(rooms.cached_readable(id).await?.map(|pdu| super::append::content(&pdu)))
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
            Some(id) => self.load_readable(id).await?.and_then(|pdu| super::append::membership_of(&pdu)),
            None => None,
        };
        match (membership.as_deref(), member_event) {
            (Some("join"), _) => Ok(rooms.current_state(room_id).await?),
            (Some("leave" | "ban"), Some(_)) if self.is_forgotten(room_id, user_id).await? => {
                Err(RoomsError::Forbidden("you forgot this room".to_owned()))
            }
            (Some("leave" | "ban"), Some(id)) => {
                let groups = rooms.event_state_groups(&id).await?;
                let group = groups.map(|(_, after)| after).ok_or(RoomsError::UnknownEvent)?;
                Ok(self.state_group(group).await?.map(|state| (*state).clone()).unwrap_or_default())
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
