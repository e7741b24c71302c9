//! End-to-end tests of the events module: rooms of every supported version built event by event
//! with [`EventBuilder`] and [`select_auth_events`], each event authorized against the state so
//! far with `stoa_federation::authorize_event`.

use std::collections::{BTreeMap, HashMap};

use ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde_json::{Value, json};
use stoa_federation::{AuthError, RoomVersion, ServerSigningKey, authorize_event};

use super::*;

const SERVER: &str = "example.org";

pub(super) fn key() -> ServerSigningKey {
    ServerSigningKey::from_seed("1", [7; 32]).unwrap()
}

fn user(name: &str) -> String {
    format!("@{name}:{SERVER}")
}

/// A room's events and current state, grown linearly.
struct Room {
    version: RoomVersion,
    room_id: Option<OwnedRoomId>,
    events: HashMap<OwnedEventId, Pdu>,
    state: BTreeMap<(String, String), OwnedEventId>,
    last: Option<(OwnedEventId, u64)>,
    key: ServerSigningKey,
}

impl Room {
    fn new(version: RoomVersion) -> Self {
        let room_id = (!version.rules().room_id_from_create_event)
            .then(|| RoomId::parse(format!("!room:{SERVER}")).unwrap());
        Self { version, room_id, events: HashMap::new(), state: BTreeMap::new(), last: None, key: key() }
    }

    /// Builds an event on top of the room and authorizes it against the current state; records it
    /// if allowed.
    fn send(
        &mut self,
        sender: &str,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Result<Pdu, AuthError> {
        let sender = UserId::parse(user(sender)).unwrap();
        let lookup = |kind: &str, key: &str| self.state.get(&(kind.to_owned(), key.to_owned())).cloned();
        let auth_events =
            select_auth_events(self.version, kind, state_key, &sender, &content, lookup).unwrap();
        let mut builder = EventBuilder::new(self.version, self.room_id.clone(), sender, kind, content);
        builder.state_key = state_key.map(str::to_owned);
        builder.auth_events = auth_events;
        if let Some((prev, depth)) = &self.last {
            builder.prev_events = vec![prev.clone()];
            builder.depth = depth + 1;
        }
        let pdu = builder.build(SERVER, &self.key).unwrap();
        self.authorize(&pdu)?;
        self.record(pdu.clone());
        Ok(pdu)
    }

    fn authorize(&self, pdu: &Pdu) -> Result<(), AuthError> {
        authorize_event(
            self.version,
            pdu,
            |id| self.events.get(id).cloned(),
            |kind, key| {
                let id = self.state.get(&(kind.to_string(), key.to_owned()))?;
                self.events.get(id).cloned()
            },
        )
    }

    fn record(&mut self, pdu: Pdu) {
        if self.room_id.is_none() {
            self.room_id = Some(pdu.room_id().to_owned());
        }
        if let Some(state_key) = pdu.state_key() {
            self.state.insert((pdu.kind().to_owned(), state_key.to_owned()), pdu.event_id().to_owned());
        }
        self.last = Some((pdu.event_id().to_owned(), pdu.depth()));
        self.events.insert(pdu.event_id().to_owned(), pdu);
    }

    /// Create, creator join, power levels, public join rules and a message, as createRoom does.
    fn bootstrap(version: RoomVersion) -> Self {
        let mut room = Self::new(version);
        let mut create = json!({"room_version": version.as_str()});
        if version.rules().create_requires_creator {
            create["creator"] = json!(user("alice"));
        }
        room.send("alice", "m.room.create", Some(""), create).unwrap();
        room.send("alice", "m.room.member", Some(&user("alice")), json!({"membership": "join"})).unwrap();
        let mut users = json!({});
        if !version.rules().creators_have_infinite_power {
            users[user("alice")] = json!(100);
        }
        room.send("alice", "m.room.power_levels", Some(""), json!({"users": users})).unwrap();
        room.send("alice", "m.room.join_rules", Some(""), json!({"join_rule": "public"})).unwrap();
        room.send("alice", "m.room.message", None, json!({"msgtype": "m.text", "body": "hello"})).unwrap();
        room
    }
}

#[test]
fn rooms_of_every_version_build_and_authorize() {
    for version in RoomVersion::ALL {
        let mut room = Room::bootstrap(version);
        room.send("bob", "m.room.member", Some(&user("bob")), json!({"membership": "join"})).unwrap();
        let message =
            room.send("bob", "m.room.message", None, json!({"msgtype": "m.text", "body": "hi"})).unwrap();
        assert_eq!(message.depth(), 7, "v{version}");
        // Everything built parses back to the same event.
        for pdu in room.events.values() {
            assert_eq!(&Pdu::parse(pdu.json(), version).unwrap(), pdu, "v{version}");
        }
    }
}

#[test]
fn v12_room_id_is_the_create_event_hash_and_create_is_not_cited() {
    let room = Room::bootstrap(RoomVersion::V12);
    let create_id = &room.state[&("m.room.create".to_owned(), String::new())];
    let room_id = room.room_id.clone().unwrap();
    assert_eq!(room_id.as_str().get(1..), create_id.as_str().get(1..));
    let create = &room.events[create_id];
    assert_eq!(create.room_id(), room_id);
    assert!(create.as_value().get("room_id").is_none());
    for pdu in room.events.values() {
        assert!(!pdu.auth_events().contains(create_id), "{pdu:?}");
        assert_eq!(pdu.room_id(), room_id);
    }
}

#[test]
fn v10_and_v11_cite_the_create_event() {
    for version in [RoomVersion::V10, RoomVersion::V11] {
        let room = Room::bootstrap(version);
        let create_id = &room.state[&("m.room.create".to_owned(), String::new())];
        let messages = room.events.values().filter(|pdu| pdu.kind() == "m.room.message");
        for pdu in messages {
            assert!(pdu.auth_events().contains(create_id));
        }
    }
}

#[test]
fn non_member_message_is_refused() {
    for version in RoomVersion::ALL {
        let mut room = Room::bootstrap(version);
        let result =
            room.send("mallory", "m.room.message", None, json!({"msgtype": "m.text", "body": "spam"}));
        assert!(matches!(result, Err(AuthError::StateDependent(_))), "v{version}: {result:?}");
    }
}

#[test]
fn member_without_power_cannot_change_power_levels() {
    for version in RoomVersion::ALL {
        let mut room = Room::bootstrap(version);
        room.send("bob", "m.room.member", Some(&user("bob")), json!({"membership": "join"})).unwrap();
        let grab = json!({"users": {user("bob"): 100}});
        let result = room.send("bob", "m.room.power_levels", Some(""), grab);
        assert!(matches!(result, Err(AuthError::StateDependent(_))), "v{version}: {result:?}");
    }
}

#[test]
fn private_room_refuses_uninvited_joins() {
    let mut room = Room::bootstrap(RoomVersion::V12);
    room.send("alice", "m.room.join_rules", Some(""), json!({"join_rule": "invite"})).unwrap();
    let join = room.send("bob", "m.room.member", Some(&user("bob")), json!({"membership": "join"}));
    assert!(join.is_err());
    room.send("alice", "m.room.member", Some(&user("bob")), json!({"membership": "invite"})).unwrap();
    room.send("bob", "m.room.member", Some(&user("bob")), json!({"membership": "join"})).unwrap();
}

/// A v12 create event as createRoom would build it, at a fixed time.
fn v12_create(at: u64) -> EventBuilder {
    let sender = UserId::parse(user("alice")).unwrap();
    let mut builder =
        EventBuilder::new(RoomVersion::V12, None, sender, "m.room.create", json!({"room_version": "12"}));
    builder.state_key = Some(String::new());
    builder.origin_server_ts = MilliSecondsSinceUnixEpoch(at.try_into().unwrap());
    builder
}

#[test]
fn identical_v12_creates_in_the_same_millisecond_get_different_rooms() {
    let first = v12_create(1_700_000_000_000).build(SERVER, &key()).unwrap();
    let second = v12_create(1_700_000_000_000).build(SERVER, &key()).unwrap();
    assert_ne!(first.room_id(), second.room_id());
    for create in [&first, &second] {
        let fetch = |_: &ruma::EventId| None::<Pdu>;
        stoa_federation::check_auth_events(RoomVersion::V12, create, fetch).unwrap();
    }
    // The uniqueness comes from the nonce alone: fixing it makes the build deterministic.
    let fixed = |at| {
        let mut builder = v12_create(at);
        builder.content[CREATE_NONCE_FIELD] = json!("fixed");
        builder.build(SERVER, &key()).unwrap()
    };
    assert_eq!(fixed(5).room_id(), fixed(5).room_id());
    assert_ne!(fixed(5).room_id(), fixed(6).room_id());
}
