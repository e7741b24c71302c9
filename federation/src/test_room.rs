//! A minimal in-memory event and room DAG for the authorization and state resolution tests.
//!
//! Events here are not hashed or signed (the rules under test never look at that); IDs are
//! readable names so failures are easy to follow.

use std::collections::HashMap;

use ruma::events::{StateEventType, TimelineEventType};
use ruma::state_res::Event;
use ruma::{EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::event_auth::{auth_types_for_event, authorize_event};
use crate::room_version::RoomVersion;
use crate::state_resolution::StateMap;

/// An event as the rules see it, deserializable from ruma's fixture format.
#[derive(Debug, Clone, Deserialize)]
pub struct TestEvent {
    pub event_id: OwnedEventId,
    pub room_id: Option<OwnedRoomId>,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    pub event_type: TimelineEventType,
    pub content: Box<RawValue>,
    pub state_key: Option<String>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub redacts: Option<OwnedEventId>,
    #[serde(default)]
    pub rejected: bool,
}

impl Event for TestEvent {
    type Id = OwnedEventId;

    fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }
    fn room_id(&self) -> Option<&RoomId> {
        self.room_id.as_deref()
    }
    fn sender(&self) -> &UserId {
        &self.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.event_type
    }
    fn content(&self) -> &RawValue {
        &self.content
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.prev_events.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.auth_events.iter())
    }
    fn redacts(&self) -> Option<&OwnedEventId> {
        self.redacts.as_ref()
    }
    fn rejected(&self) -> bool {
        self.rejected
    }
}

/// What to add to a [`TestRoom`].
pub struct Spec<'a> {
    pub id: &'a str,
    pub sender: &'a str,
    pub kind: &'a str,
    pub state_key: Option<&'a str>,
    pub content: Value,
    pub prev: &'a [&'a OwnedEventId],
}

/// Every event of one room, with helpers to grow forks of it.
pub struct TestRoom {
    pub version: RoomVersion,
    pub room_id: OwnedRoomId,
    pub events: HashMap<OwnedEventId, TestEvent>,
    pub create_id: OwnedEventId,
    clock: u64,
}

pub fn user(name: &str) -> OwnedUserId {
    UserId::parse(format!("@{name}:example.org")).unwrap()
}

pub fn id(name: &str) -> OwnedEventId {
    EventId::parse(format!("${name}")).unwrap()
}

impl TestRoom {
    /// A room created by `@alice:example.org`, with the create event in `state`.
    pub fn new(version: RoomVersion, state: &mut StateMap<OwnedEventId>) -> Self {
        let v12 = version.rules().room_id_from_create_event;
        let room_id = if v12 { "!create" } else { "!room:example.org" };
        let mut room = Self {
            version,
            room_id: RoomId::parse(room_id).unwrap(),
            events: HashMap::new(),
            create_id: id("create"),
            clock: 0,
        };
        let mut content = serde_json::json!({"room_version": version.as_str()});
        if version.rules().create_requires_creator {
            content["creator"] = Value::from(user("alice").as_str());
        }
        let create = room.make(
            &Spec {
                id: "create",
                sender: "alice",
                kind: "m.room.create",
                state_key: Some(""),
                content,
                prev: &[],
            },
            state,
        );
        room.insert(create, state);
        room
    }

    /// A public room with alice (creator, power 100) and bob (power `bob_power`) joined. Power
    /// levels let anyone at 50 send state.
    pub fn public(version: RoomVersion, bob_power: i64) -> (Self, StateMap<OwnedEventId>) {
        let mut state = StateMap::new();
        let mut room = Self::new(version, &mut state);
        let (alice, bob) = (user("alice").to_string(), user("bob").to_string());
        let create = room.create_id.clone();
        let join = Spec {
            id: "alice-join",
            sender: "alice",
            kind: "m.room.member",
            state_key: Some(&alice),
            content: json!({"membership": "join"}),
            prev: &[&create],
        };
        let join = room.add(&join, &mut state);
        // Room creators may not be listed in v12 power levels; earlier versions must list them.
        let mut users = json!({&bob: bob_power});
        if !version.rules().creators_have_infinite_power {
            users[&alice] = json!(100);
        }
        let power = Spec {
            id: "power",
            sender: "alice",
            kind: "m.room.power_levels",
            state_key: Some(""),
            content: json!({"users": users, "state_default": 50}),
            prev: &[&join],
        };
        let power = room.add(&power, &mut state);
        let rules = Spec {
            id: "join-rules",
            sender: "alice",
            kind: "m.room.join_rules",
            state_key: Some(""),
            content: json!({"join_rule": "public"}),
            prev: &[&power],
        };
        let rules = room.add(&rules, &mut state);
        let bob_join = Spec {
            id: "bob-join",
            sender: "bob",
            kind: "m.room.member",
            state_key: Some(&bob),
            content: json!({"membership": "join"}),
            prev: &[&rules],
        };
        room.add(&bob_join, &mut state);
        (room, state)
    }

    /// Builds the event `spec` against `state` without authorizing or recording it.
    pub fn make(&mut self, spec: &Spec<'_>, state: &StateMap<OwnedEventId>) -> TestEvent {
        self.clock += 1;
        let sender = user(spec.sender);
        let content = serde_json::value::to_raw_value(&spec.content).unwrap();
        let auth_events = auth_types_for_event(self.version, spec.kind, &sender, spec.state_key, &content)
            .unwrap()
            .into_iter()
            .filter_map(|key| state.get(&key).cloned())
            .collect();
        let is_v12_create = spec.kind == "m.room.create" && self.version.rules().room_id_from_create_event;
        TestEvent {
            event_id: id(spec.id),
            room_id: (!is_v12_create).then(|| self.room_id.clone()),
            sender,
            origin_server_ts: MilliSecondsSinceUnixEpoch(self.clock.try_into().unwrap()),
            event_type: spec.kind.into(),
            content,
            state_key: spec.state_key.map(str::to_owned),
            prev_events: spec.prev.iter().map(|id| (*id).clone()).collect(),
            auth_events,
            redacts: None,
            rejected: false,
        }
    }

    /// Records `event` and applies it to `state`.
    pub fn insert(&mut self, event: TestEvent, state: &mut StateMap<OwnedEventId>) -> OwnedEventId {
        let event_id = event.event_id.clone();
        if let Some(key) = &event.state_key {
            state.insert((event.event_type.to_string().into(), key.clone()), event_id.clone());
        }
        self.events.insert(event_id.clone(), event);
        event_id
    }

    /// Authorizes `event` against `state`.
    pub fn authorize(
        &self,
        event: &TestEvent,
        state: &StateMap<OwnedEventId>,
    ) -> Result<(), crate::event_auth::AuthError> {
        authorize_event(
            self.version,
            event,
            |id| self.events.get(id).cloned(),
            |kind, key| self.state_event(state, kind, key),
        )
    }

    /// Builds, authorizes (panicking if refused) and records an event on `state`.
    pub fn add(&mut self, spec: &Spec<'_>, state: &mut StateMap<OwnedEventId>) -> OwnedEventId {
        let event = self.make(spec, state);
        if let Err(error) = self.authorize(&event, state) {
            panic!("{} should be authorized: {error}", spec.id);
        }
        self.insert(event, state)
    }

    pub fn state_event(
        &self,
        state: &StateMap<OwnedEventId>,
        kind: &StateEventType,
        key: &str,
    ) -> Option<TestEvent> {
        state.get(&(kind.clone(), key.to_owned())).and_then(|id| self.events.get(id).cloned())
    }

    pub fn fetch(&self) -> impl Fn(&EventId) -> Option<TestEvent> + '_ {
        |id| self.events.get(id).cloned()
    }
}

/// A state event named by its key.
pub fn key(kind: &str, state_key: &str) -> (StateEventType, String) {
    (kind.into(), state_key.to_owned())
}
