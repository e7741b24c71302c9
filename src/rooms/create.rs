//! `POST /createRoom`: the create event, the creator's join, power levels, the preset's
//! rules, initial state, name, topic and invites — each a signed, authorized PDU.

use std::collections::BTreeSet;

use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};
use serde_json::{Map, Value, json};
use stoa_federation::RoomVersion;

use super::append::{EventStates, NewLocalEvent, RoomTip};
use super::{Rooms, RoomsError};
use crate::accounts::now_ms;
use crate::events::EventBuilder;
use crate::storage::{AliasRecord, NewStateGroup, PersistBatch, Position, RoomRecord, StateMap};

/// The room presets of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    PrivateChat,
    TrustedPrivateChat,
    PublicChat,
}

/// A parsed `createRoom` request.
pub struct CreateRoom {
    pub creator: OwnedUserId,
    pub room_version: Option<String>,
    pub creation_content: Option<Map<String, Value>>,
    pub preset: Option<Preset>,
    pub public: bool,
    pub initial_state: Vec<(String, String, Value)>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    pub power_level_content_override: Option<Map<String, Value>>,
    /// Local part of an alias to create for the room (`#name:server`).
    pub room_alias_name: Option<String>,
    /// The creator's profile, copied into their join event.
    pub creator_displayname: Option<String>,
    pub creator_avatar_url: Option<String>,
}

impl Rooms {
    pub async fn create_room(&self, request: CreateRoom) -> Result<OwnedRoomId, RoomsError> {
        let version = match &request.room_version {
            Some(v) => super::append::parse_version(v)?,
            None => self.inner.default_version,
        };
        for invitee in &request.invite {
            if invitee.server_name() != self.inner.server_name {
                return Err(RoomsError::Unsupported("inviting users of other servers".to_owned()));
            }
        }
        let preset =
            request.preset.unwrap_or(if request.public { Preset::PublicChat } else { Preset::PrivateChat });
        let alias = match &request.room_alias_name {
            Some(name) => {
                let alias = RoomAliasId::parse(format!("#{name}:{}", self.inner.server_name))
                    .map_err(|e| RoomsError::InvalidParam(format!("room_alias_name: {e}")))?;
                // Checked first so a taken alias creates no room; claimed atomically below.
                if self.stores().directory.get_alias(&alias).await?.is_some() {
                    return Err(RoomsError::RoomAliasTaken);
                }
                Some(alias)
            }
            None => None,
        };
        let (room_id, mut tip) = self.create_event(&request, version).await?;
        let _turn = self.inner.queues.enter(&room_id).await;
        let mut events = initial_events(&request, version, preset);
        if let Some(alias) = &alias {
            let record = AliasRecord {
                alias: alias.clone(),
                room_id: room_id.clone(),
                creator: request.creator.clone(),
            };
            if !self.stores().directory.create_alias(&record).await? {
                return Err(RoomsError::RoomAliasTaken);
            }
            // The canonical alias comes right after the power levels, as the spec orders.
            let canonical = NewLocalEvent {
                sender: request.creator.clone(),
                event_type: "m.room.canonical_alias".to_owned(),
                state_key: Some(String::new()),
                content: json!({ "alias": alias }),
                redacts: None,
                txn: None,
            };
            events.insert(2.min(events.len()), canonical);
        }
        for event in events {
            if let Err(error) = self.append_in_turn(&room_id, &mut tip, event).await {
                self.abandon(&room_id, &mut tip, &request.creator).await;
                return Err(error);
            }
        }
        if request.public {
            self.stores().directory.set_room_public(&room_id, true).await?;
        }
        tracing::info!(room = %room_id, creator = %request.creator, version = version.as_str(), "room created");
        Ok(room_id)
    }

    /// A createRoom that failed part-way leaves the creator out of the half-built room,
    /// so it never shows up as one of their rooms.
    async fn abandon(&self, room_id: &RoomId, tip: &mut RoomTip, creator: &OwnedUserId) {
        let leave = NewLocalEvent {
            sender: creator.clone(),
            event_type: "m.room.member".to_owned(),
            state_key: Some(creator.to_string()),
            content: json!({ "membership": "leave" }),
            redacts: None,
            txn: None,
        };
        if let Err(error) = self.append_in_turn(room_id, tip, leave).await {
            tracing::warn!(room = %room_id, %error, "could not leave a half-built room");
        }
        if let Err(error) = self.stores().directory.set_room_public(room_id, false).await {
            tracing::warn!(room = %room_id, %error, "could not unpublish a half-built room");
        }
    }

    /// Builds and persists the create event; returns the room and its first tip.
    async fn create_event(
        &self,
        request: &CreateRoom,
        version: RoomVersion,
    ) -> Result<(OwnedRoomId, RoomTip), RoomsError> {
        let rules = version.rules();
        let mut content = request.creation_content.clone().unwrap_or_default();
        content.insert("room_version".to_owned(), json!(version.as_str()));
        if rules.create_requires_creator {
            content.insert("creator".to_owned(), json!(request.creator));
        }
        if rules.additional_creators && request.preset == Some(Preset::TrustedPrivateChat) {
            let mut creators: BTreeSet<String> = BTreeSet::new();
            creators.extend(request.invite.iter().map(ToString::to_string));
            content.insert("additional_creators".to_owned(), json!(creators));
        }
        let room_id = if rules.room_id_from_create_event {
            None
        } else {
            let localpart = crate::accounts::tokens::random_string(18)
                .map_err(|e| RoomsError::Internal(e.to_string()))?;
            Some(
                RoomId::parse(format!("!{localpart}:{}", self.inner.server_name))
                    .map_err(|e| RoomsError::Internal(e.to_string()))?,
            )
        };
        let builder = EventBuilder {
            version,
            room_id,
            sender: request.creator.clone(),
            event_type: "m.room.create".to_owned(),
            state_key: Some(String::new()),
            content: Value::Object(content),
            prev_events: Vec::new(),
            auth_events: Vec::new(),
            depth: 1,
            origin_server_ts: ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new_saturating(now_ms())),
            redacts: None,
        };
        let pdu = builder
            .build(self.inner.server_name.as_str(), &self.inner.key)
            .map_err(super::append::build_error)?;
        let room_id = pdu.room_id().to_owned();
        let rooms = &self.stores().rooms;
        let group = rooms.reserve_state_group_ids(1).await?;
        let state_key = ("m.room.create".to_owned(), String::new());
        let mut batch = PersistBatch {
            room_id: Some(room_id.clone()),
            new_room: Some(RoomRecord {
                room_id: room_id.clone(),
                room_version: version.as_str().to_owned(),
                creator: request.creator.clone(),
                created_at_position: Position(0),
            }),
            ..PersistBatch::default()
        };
        batch.new_state_groups.push(NewStateGroup {
            id: group,
            parent: None,
            delta: vec![(state_key.clone(), Some(pdu.event_id().to_owned()))],
        });
        batch.current_state_delta.push((state_key.clone(), Some(pdu.event_id().to_owned())));
        let mut state = StateMap::new();
        state.insert(state_key, pdu.event_id().to_owned());
        let state = std::sync::Arc::new(state);
        let states = EventStates { before: group, after: group, new_state: Some(state.clone()) };
        self.finish_batch(&room_id, states, &pdu, None, batch).await?;
        let tip = RoomTip {
            version,
            prev_events: vec![pdu.event_id().to_owned()],
            depth: 2,
            state_group: group,
            state,
        };
        Ok((room_id, tip))
    }
}

/// Every event after the create event, in the spec's order.
fn initial_events(request: &CreateRoom, version: RoomVersion, preset: Preset) -> Vec<NewLocalEvent> {
    let creator = &request.creator;
    let state = |event_type: &str, state_key: &str, content: Value| NewLocalEvent {
        sender: creator.clone(),
        event_type: event_type.to_owned(),
        state_key: Some(state_key.to_owned()),
        content,
        redacts: None,
        txn: None,
    };
    let mut join = json!({ "membership": "join" });
    if let Some(name) = &request.creator_displayname {
        join["displayname"] = json!(name);
    }
    if let Some(url) = &request.creator_avatar_url {
        join["avatar_url"] = json!(url);
    }
    let mut events = vec![
        state("m.room.member", creator.as_str(), join),
        state("m.room.power_levels", "", power_levels(request, version, preset)),
    ];
    let overridden = |kind: &str| request.initial_state.iter().any(|(t, k, _)| t == kind && k.is_empty());
    let (join_rule, guest_access) = match preset {
        Preset::PublicChat => ("public", "forbidden"),
        Preset::PrivateChat | Preset::TrustedPrivateChat => ("invite", "can_join"),
    };
    for (kind, content) in [
        ("m.room.join_rules", json!({ "join_rule": join_rule })),
        ("m.room.history_visibility", json!({ "history_visibility": "shared" })),
        ("m.room.guest_access", json!({ "guest_access": guest_access })),
    ] {
        if !overridden(kind) {
            events.push(state(kind, "", content));
        }
    }
    for (kind, key, content) in &request.initial_state {
        events.push(state(kind, key, content.clone()));
    }
    if let Some(name) = &request.name {
        events.push(state("m.room.name", "", json!({ "name": name })));
    }
    if let Some(topic) = &request.topic {
        let rich = json!({ "m.text": [{ "body": topic, "mimetype": "text/plain" }] });
        events.push(state("m.room.topic", "", json!({ "topic": topic, "m.topic": rich })));
    }
    for invitee in &request.invite {
        let mut content = json!({ "membership": "invite" });
        if request.is_direct {
            content["is_direct"] = json!(true);
        }
        events.push(state("m.room.member", invitee.as_str(), content));
    }
    events
}

/// The spec's default power levels for a new room, with the client's override applied.
fn power_levels(request: &CreateRoom, version: RoomVersion, preset: Preset) -> Value {
    let mut users = Map::new();
    // Room version 12 gives creators infinite power; they must not be listed.
    if !version.rules().creators_have_infinite_power {
        users.insert(request.creator.to_string(), json!(100));
        if preset == Preset::TrustedPrivateChat {
            for invitee in &request.invite {
                users.insert(invitee.to_string(), json!(100));
            }
        }
    }
    let invite_level = if preset == Preset::PublicChat { 50 } else { 0 };
    let mut content = json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": 100,
            "m.room.server_acl": 100, "m.room.encryption": 100,
        },
        "events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50,
        "invite": invite_level,
        "notifications": { "room": 50 },
    });
    if let (Some(overrides), Some(target)) = (&request.power_level_content_override, content.as_object_mut())
    {
        for (key, value) in overrides {
            target.insert(key.clone(), value.clone());
        }
    }
    content
}
