//! `POST /rooms/{roomId}/upgrade`: a new room of another version that carries the old
//! room's state over, a tombstone in the old room, and the old room restricted.

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::append::{NewLocalEvent, content};
use super::create::{CreateRoom, Preset};
use super::{Rooms, RoomsError};

/// State that moves to the replacement room (with an empty state key).
const CARRIED_STATE: [&str; 9] = [
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
    "m.room.pinned_events",
];

impl Rooms {
    pub async fn upgrade(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        new_version: &str,
        additional_creators: Vec<OwnedUserId>,
    ) -> Result<OwnedRoomId, RoomsError> {
        let version = super::append::parse_version(new_version)?;
        if self.membership_of_user(room_id, user_id).await?.as_deref() != Some("join") {
            return Err(RoomsError::Forbidden("you are not a member of this room".to_owned()));
        }
        let power = self.power_levels(room_id).await?;
        let tombstone_level = power.event_level("m.room.tombstone", true);
        if power.user_level(user_id) < tombstone_level {
            return Err(RoomsError::Forbidden("not enough power to upgrade this room".to_owned()));
        }
        let old_state = self.current_state_of(room_id).await?;
        let mut creation_content = Map::new();
        let create_id =
            old_state.get(&("m.room.create".to_owned(), String::new())).ok_or(RoomsError::UnknownRoom)?;
        let old_create = content(&self.load_pdu(create_id).await?);
        if let Some(kind) = old_create.get("type") {
            creation_content.insert("type".to_owned(), kind.clone());
        }
        let mut predecessor = json!({ "room_id": room_id });
        if !version.rules().room_id_from_create_event {
            // Room versions before 12 also name the last event of the old room.
            if let Some(last) = self.stores().rooms.forward_extremities(room_id).await?.first() {
                predecessor["event_id"] = json!(last);
            }
        }
        creation_content.insert("predecessor".to_owned(), predecessor);
        if !additional_creators.is_empty() {
            creation_content.insert("additional_creators".to_owned(), json!(additional_creators));
        }
        let mut initial_state = Vec::new();
        for kind in CARRIED_STATE {
            if let Some(id) = old_state.get(&(kind.to_owned(), String::new())) {
                initial_state.push((kind.to_owned(), String::new(), content(&self.load_pdu(id).await?)));
            }
        }
        let mut power_override = match old_state.get(&("m.room.power_levels".to_owned(), String::new())) {
            Some(id) => content(&self.load_pdu(id).await?).as_object().cloned().unwrap_or_default(),
            None => Map::new(),
        };
        if !version.rules().creators_have_infinite_power {
            // The upgrading user needs power in the new room to write the carried state;
            // in room version 12 they have it as its creator.
            let users = power_override.entry("users").or_insert_with(|| json!({}));
            if let Some(users) = users.as_object_mut() {
                let current = users.get(user_id.as_str()).and_then(Value::as_i64).unwrap_or(0);
                users.insert(user_id.to_string(), json!(current.max(100)));
            }
        } else if let Some(users) = power_override.get_mut("users").and_then(Value::as_object_mut) {
            // Creators of a version 12 room must not be listed: their power is infinite.
            users.remove(user_id.as_str());
            for creator in &additional_creators {
                users.remove(creator.as_str());
            }
        }
        let profile = self.stores().profiles.get_profile(user_id).await?;
        let new_room = self
            .create_room(CreateRoom {
                creator: user_id.to_owned(),
                room_version: Some(version.as_str().to_owned()),
                creation_content: Some(creation_content),
                preset: Some(Preset::PrivateChat),
                public: false,
                initial_state,
                name: None,
                topic: None,
                invite: Vec::new(),
                is_direct: false,
                power_level_content_override: Some(power_override),
                room_alias_name: None,
                creator_displayname: profile.displayname,
                creator_avatar_url: profile.avatar_url,
            })
            .await?;
        self.carry_bans(room_id, &new_room, user_id).await?;
        self.move_aliases(room_id, &new_room, user_id, &old_state).await?;
        self.retire(room_id, &new_room, user_id).await?;
        Ok(new_room)
    }

    /// Local aliases and the canonical alias move to the replacement room.
    async fn move_aliases(
        &self,
        old: &RoomId,
        new: &RoomId,
        user_id: &UserId,
        old_state: &crate::storage::StateMap,
    ) -> Result<(), RoomsError> {
        let directory = &self.stores().directory;
        for mut record in directory.room_aliases(old).await? {
            directory.delete_alias(&record.alias).await?;
            record.room_id = new.to_owned();
            directory.create_alias(&record).await?;
        }
        if let Some(id) = old_state.get(&("m.room.canonical_alias".to_owned(), String::new())) {
            let canonical = content(&self.load_pdu(id).await?);
            for (room, value) in [(new, canonical), (old, json!({}))] {
                let event = NewLocalEvent {
                    sender: user_id.to_owned(),
                    event_type: "m.room.canonical_alias".to_owned(),
                    state_key: Some(String::new()),
                    content: value,
                    redacts: None,
                    txn: None,
                };
                if let Err(error) = self.append(room, event).await {
                    tracing::warn!(%room, %error, "could not move the canonical alias");
                }
            }
        }
        Ok(())
    }

    /// Bans follow the room to its replacement.
    async fn carry_bans(&self, old: &RoomId, new: &RoomId, user_id: &UserId) -> Result<(), RoomsError> {
        let banned = self.stores().rooms.room_members(old, Some("ban"), None, super::read::MAX_PAGE).await?;
        for member in banned {
            let event = NewLocalEvent {
                sender: user_id.to_owned(),
                event_type: "m.room.member".to_owned(),
                state_key: Some(member.user_id.to_string()),
                content: json!({ "membership": "ban" }),
                redacts: None,
                txn: None,
            };
            self.append(new, event).await?;
        }
        Ok(())
    }

    /// The tombstone, then power levels that stop ordinary members talking or inviting.
    async fn retire(&self, old: &RoomId, new: &RoomId, user_id: &UserId) -> Result<(), RoomsError> {
        let tombstone = NewLocalEvent {
            sender: user_id.to_owned(),
            event_type: "m.room.tombstone".to_owned(),
            state_key: Some(String::new()),
            content: json!({ "body": "This room has been replaced", "replacement_room": new }),
            redacts: None,
            txn: None,
        };
        self.append(old, tombstone).await?;
        let state = self.current_state_of(old).await?;
        if let Some(id) = state.get(&("m.room.power_levels".to_owned(), String::new())) {
            let mut levels = content(&self.load_pdu(id).await?);
            let users_default = levels.get("users_default").and_then(Value::as_i64).unwrap_or(0);
            let restricted = (users_default + 1).max(50);
            for key in ["events_default", "invite"] {
                let current = levels.get(key).and_then(Value::as_i64).unwrap_or(0);
                levels[key] = json!(current.max(restricted));
            }
            let event = NewLocalEvent {
                sender: user_id.to_owned(),
                event_type: "m.room.power_levels".to_owned(),
                state_key: Some(String::new()),
                content: levels,
                redacts: None,
                txn: None,
            };
            // Best effort: the upgrade stands even if the sender may not lower others.
            if let Err(error) = self.append(old, event).await {
                tracing::warn!(room = %old, %error, "could not restrict the old room");
            }
        }
        Ok(())
    }
}
