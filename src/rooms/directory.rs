//! Room aliases (`#name:server` → room) and the public room directory.

use ruma::{OwnedRoomAliasId, OwnedRoomId, RoomAliasId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::append::content;
use super::{Rooms, RoomsError};
use crate::storage::AliasRecord;

/// Largest page of the public room directory.
const MAX_DIRECTORY_PAGE: usize = 500;

/// A page of the public room directory.
pub struct PublicRoomsPage {
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
    pub total: u64,
}

impl Rooms {
    /// `PUT /directory/room/{alias}`: members may name a room on this server.
    pub async fn create_alias(
        &self,
        user_id: &UserId,
        alias: &RoomAliasId,
        room_id: &RoomId,
    ) -> Result<(), RoomsError> {
        self.check_local_alias(alias)?;
        if self.membership_of_user(room_id, user_id).await?.as_deref() != Some("join") {
            return Err(RoomsError::Forbidden("you are not a member of this room".to_owned()));
        }
        let record =
            AliasRecord { alias: alias.to_owned(), room_id: room_id.to_owned(), creator: user_id.to_owned() };
        if !self.stores().directory.create_alias(&record).await? {
            return Err(RoomsError::AliasInUse);
        }
        Ok(())
    }

    /// `GET /directory/room/{alias}`.
    pub async fn resolve_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId, RoomsError> {
        let record = self.stores().directory.get_alias(alias).await?.ok_or(RoomsError::UnknownAlias)?;
        Ok(record.room_id)
    }

    /// `DELETE /directory/room/{alias}`: by its creator, or by a member with the power
    /// to change the room's canonical alias.
    pub async fn delete_alias(&self, user_id: &UserId, alias: &RoomAliasId) -> Result<(), RoomsError> {
        let directory = &self.stores().directory;
        let record = directory.get_alias(alias).await?.ok_or(RoomsError::UnknownAlias)?;
        if record.creator != user_id {
            let power = self.power_levels(&record.room_id).await?;
            let needed = power.event_level("m.room.canonical_alias", true);
            let member = self.membership_of_user(&record.room_id, user_id).await?.as_deref() == Some("join");
            if !member || power.user_level(user_id) < needed {
                return Err(RoomsError::Forbidden("you may not delete this alias".to_owned()));
            }
        }
        directory.delete_alias(alias).await?;
        Ok(())
    }

    /// `GET /rooms/{roomId}/aliases`: for members (or anyone if world-readable).
    pub async fn room_aliases(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Vec<OwnedRoomAliasId>, RoomsError> {
        self.visible_state(room_id, user_id).await?;
        let records = self.stores().directory.room_aliases(room_id).await?;
        Ok(records.into_iter().map(|r| r.alias).collect())
    }

    /// Every alias a canonical-alias event names must exist and point at this room.
    pub async fn check_canonical_alias(&self, room_id: &RoomId, content: &Value) -> Result<(), RoomsError> {
        let mut named: Vec<&Value> = content.get("alias").into_iter().collect();
        if let Some(alt) = content.get("alt_aliases") {
            named.extend(
                alt.as_array().ok_or_else(|| RoomsError::BadJson("alt_aliases must be a list".to_owned()))?,
            );
        }
        for value in named {
            let alias = value
                .as_str()
                .and_then(|text| RoomAliasId::parse(text).ok())
                .ok_or_else(|| RoomsError::BadAlias(value.to_string()))?;
            let points_here = match self.stores().directory.get_alias(&alias).await? {
                Some(record) => record.room_id == room_id,
                None => false,
            };
            if !points_here {
                return Err(RoomsError::BadAlias(alias.to_string()));
            }
        }
        Ok(())
    }

    /// `GET/PUT /directory/list/room/{roomId}`.
    pub async fn is_public(&self, room_id: &RoomId) -> Result<bool, RoomsError> {
        if self.stores().rooms.room(room_id).await?.is_none() {
            return Err(RoomsError::UnknownRoom);
        }
        Ok(self.stores().directory.is_room_public(room_id).await?)
    }

    pub async fn set_public(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        public: bool,
    ) -> Result<(), RoomsError> {
        if self.stores().rooms.room(room_id).await?.is_none() {
            return Err(RoomsError::UnknownRoom);
        }
        let power = self.power_levels(room_id).await?;
        let member = self.membership_of_user(room_id, user_id).await?.as_deref() == Some("join");
        if !member || power.user_level(user_id) < power.event_level("m.room.canonical_alias", true) {
            return Err(RoomsError::Forbidden(
                "you may not change this room's directory visibility".to_owned(),
            ));
        }
        Ok(self.stores().directory.set_room_public(room_id, public).await?)
    }

    /// `GET/POST /publicRooms`: a page of public rooms with their summaries, optionally
    /// filtered by a search term on name, topic and alias.
    pub async fn public_rooms(
        &self,
        since: Option<&str>,
        limit: Option<usize>,
        search: Option<&str>,
    ) -> Result<PublicRoomsPage, RoomsError> {
        let limit = limit.unwrap_or(MAX_DIRECTORY_PAGE).clamp(1, MAX_DIRECTORY_PAGE);
        let mut after = match since {
            Some(token) => Some(
                token
                    .strip_prefix('p')
                    .and_then(|id| RoomId::parse(id).ok())
                    .ok_or_else(|| RoomsError::InvalidParam("invalid since token".to_owned()))?,
            ),
            None => None,
        };
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let directory = &self.stores().directory;
        let mut chunk = Vec::new();
        let mut exhausted = false;
        // Searching may skip rooms, so read pages until the chunk is full.
        while chunk.len() < limit && !exhausted {
            let page = directory.public_rooms(after.as_deref(), limit).await?;
            exhausted = page.len() < limit;
            for room_id in page {
                after = Some(room_id.clone());
                let summary = self.room_summary(&room_id).await?;
                if needle.as_deref().is_none_or(|n| matches_search(&summary, n)) {
                    chunk.push(summary);
                    if chunk.len() == limit {
                        break;
                    }
                }
            }
        }
        let next_batch = if exhausted { None } else { after.map(|id| format!("p{id}")) };
        Ok(PublicRoomsPage { chunk, next_batch, total: directory.public_room_count().await? })
    }

    /// The directory entry of one room.
    async fn room_summary(&self, room_id: &RoomId) -> Result<Value, RoomsError> {
        let state = self.current_state_of(room_id).await?;
        let mut summary = Map::new();
        summary.insert("room_id".to_owned(), json!(room_id));
        let field = |kind: &str, key: &str| (kind.to_owned(), key.to_owned());
        let read = |kind: &str, key: &str| {
            let id = state.get(&(kind.to_owned(), String::new())).cloned();
            (id, field(kind, key))
        };
        let wanted = [
            read("m.room.name", "name"),
            read("m.room.topic", "topic"),
            read("m.room.canonical_alias", "alias"),
            read("m.room.avatar", "url"),
            read("m.room.join_rules", "join_rule"),
            read("m.room.history_visibility", "history_visibility"),
            read("m.room.guest_access", "guest_access"),
            read("m.room.create", "type"),
        ];
        let mut join_rule = "public".to_owned();
        for (id, (kind, key)) in wanted {
            let Some(id) = id else { continue };
            // An unreadable state event (logged) leaves its field out of the summary.
            let Some(pdu) = self.load_readable(&id).await? else { continue };
            let Some(value) = content(&pdu).get(&key).cloned() else { continue };
            match kind.as_str() {
                "m.room.name" => summary.insert("name".to_owned(), value),
                "m.room.topic" => summary.insert("topic".to_owned(), value),
                "m.room.canonical_alias" => summary.insert("canonical_alias".to_owned(), value),
                "m.room.avatar" => summary.insert("avatar_url".to_owned(), value),
                "m.room.join_rules" => {
                    join_rule = value.as_str().unwrap_or("public").to_owned();
                    None
                }
                "m.room.history_visibility" => {
                    summary.insert("world_readable".to_owned(), json!(value == "world_readable"))
                }
                "m.room.guest_access" => {
                    summary.insert("guest_can_join".to_owned(), json!(value == "can_join"))
                }
                _ => summary.insert("room_type".to_owned(), value),
            };
        }
        summary.entry("world_readable").or_insert(json!(false));
        summary.entry("guest_can_join").or_insert(json!(false));
        summary.insert("join_rule".to_owned(), json!(join_rule));
        summary.insert("num_joined_members".to_owned(), json!(self.joined_members(room_id).await?.len()));
        Ok(Value::Object(summary))
    }

    fn check_local_alias(&self, alias: &RoomAliasId) -> Result<(), RoomsError> {
        if alias.server_name() != self.inner.server_name {
            return Err(RoomsError::InvalidParam("aliases can only be created on this server".to_owned()));
        }
        Ok(())
    }
}

fn matches_search(summary: &Value, needle: &str) -> bool {
    ["name", "topic", "canonical_alias"].iter().any(|key| {
        summary.get(*key).and_then(Value::as_str).is_some_and(|text| text.to_lowercase().contains(needle))
    })
}
