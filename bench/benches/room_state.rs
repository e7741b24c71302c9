//! Micro-benchmarks of event authorization and state resolution in a 1,000-member room
//! (room version 11), on a small in-memory DAG: events are not hashed or signed, since
//! neither check looks at that.

use std::collections::HashMap;

use criterion::{Criterion, criterion_group, criterion_main};
use ruma::events::{StateEventType, TimelineEventType};
use ruma::state_res::Event;
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use stoa_federation::{RoomVersion, StateMap, auth_types_for_event, authorize_event, resolve_state};

const VERSION: RoomVersion = RoomVersion::V11;
const MEMBERS: usize = 1_000;
/// Members whose membership differs between the two branches of the fork.
const CONFLICTED_MEMBERS: usize = 100;

#[derive(Debug, Clone)]
struct Ev {
    event_id: OwnedEventId,
    room_id: OwnedRoomId,
    sender: OwnedUserId,
    ts: MilliSecondsSinceUnixEpoch,
    kind: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    prev: Vec<OwnedEventId>,
    auth: Vec<OwnedEventId>,
}

impl Event for Ev {
    type Id = OwnedEventId;

    fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }
    fn room_id(&self) -> Option<&RoomId> {
        Some(&self.room_id)
    }
    fn sender(&self) -> &UserId {
        &self.sender
    }
    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.ts
    }
    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }
    fn content(&self) -> &RawValue {
        &self.content
    }
    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }
    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.prev.iter())
    }
    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.auth.iter())
    }
    fn redacts(&self) -> Option<&OwnedEventId> {
        None
    }
    fn rejected(&self) -> bool {
        false
    }
}

/// Every event of the room, and a clock for timestamps and IDs.
struct Room {
    room_id: OwnedRoomId,
    events: HashMap<OwnedEventId, Ev>,
    clock: u64,
}

fn user(i: usize) -> OwnedUserId {
    UserId::parse(format!("@u{i}:example.org")).expect("valid user id")
}

impl Room {
    /// Builds an event on top of `state` (its auth events drawn from it) after `prev`.
    fn make(
        &mut self,
        sender: usize,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
        prev: &OwnedEventId,
        state: &StateMap<OwnedEventId>,
    ) -> Ev {
        self.clock += 1;
        let sender = user(sender);
        let content = serde_json::value::to_raw_value(&content).expect("json");
        let auth = auth_types_for_event(VERSION, kind, &sender, state_key, &content)
            .expect("auth types")
            .into_iter()
            .filter_map(|key| state.get(&key).cloned())
            .collect();
        Ev {
            event_id: EventId::parse(format!("$e{}", self.clock)).expect("valid event id"),
            room_id: self.room_id.clone(),
            sender,
            ts: MilliSecondsSinceUnixEpoch(UInt::new(self.clock).expect("small")),
            kind: kind.into(),
            content,
            state_key: state_key.map(str::to_owned),
            prev: vec![prev.clone()],
            auth,
        }
    }

    fn authorize(&self, event: &Ev, state: &StateMap<OwnedEventId>) -> bool {
        authorize_event(
            VERSION,
            event,
            |id| self.events.get(id).cloned(),
            |kind, key| {
                state.get(&(kind.clone(), key.to_owned())).and_then(|id| self.events.get(id)).cloned()
            },
        )
        .is_ok()
    }

    /// Builds, authorizes (panicking if refused: a bug in the setup) and records an event.
    fn add(
        &mut self,
        sender: usize,
        kind: &str,
        state_key: Option<&str>,
        content: Value,
        prev: &OwnedEventId,
        state: &mut StateMap<OwnedEventId>,
    ) -> OwnedEventId {
        let event = self.make(sender, kind, state_key, content, prev, state);
        assert!(self.authorize(&event, state), "{kind} by {} refused", event.sender);
        let id = event.event_id.clone();
        if let Some(key) = &event.state_key {
            state.insert((StateEventType::from(kind), key.clone()), id.clone());
        }
        self.events.insert(id.clone(), event);
        id
    }
}

/// A public room: u0 created it; u1..MEMBERS joined. Returns the room, its state, the last event.
fn big_room() -> (Room, StateMap<OwnedEventId>, OwnedEventId) {
    let mut room = Room {
        room_id: RoomId::parse("!bench:example.org").expect("room id"),
        events: HashMap::new(),
        clock: 0,
    };
    let mut state = StateMap::new();
    let creator = user(0).to_string();
    let mut create = room.make(
        0,
        "m.room.create",
        Some(""),
        json!({"room_version": "11"}),
        &OwnedEventId::try_from("$none").expect("id"),
        &state,
    );
    create.prev.clear();
    let create_id = create.event_id.clone();
    state.insert((StateEventType::RoomCreate, String::new()), create_id.clone());
    room.events.insert(create_id.clone(), create);
    let mut last =
        room.add(0, "m.room.member", Some(&creator), json!({"membership": "join"}), &create_id, &mut state);
    last = room.add(
        0,
        "m.room.power_levels",
        Some(""),
        json!({"users": {&creator: 100}, "state_default": 50}),
        &last,
        &mut state,
    );
    last = room.add(0, "m.room.join_rules", Some(""), json!({"join_rule": "public"}), &last, &mut state);
    for i in 1..MEMBERS {
        let key = user(i).to_string();
        last = room.add(i, "m.room.member", Some(&key), json!({"membership": "join"}), &last, &mut state);
    }
    (room, state, last)
}

fn benches(c: &mut Criterion) {
    let (mut room, state, last) = big_room();

    let message =
        room.make(7, "m.room.message", None, json!({"msgtype": "m.text", "body": "hi"}), &last, &state);
    c.bench_function("authorize/message_in_1000_member_room", |b| {
        b.iter(|| room.authorize(&message, &state))
    });
    let key = user(MEMBERS).to_string();
    let join = room.make(MEMBERS, "m.room.member", Some(&key), json!({"membership": "join"}), &last, &state);
    c.bench_function("authorize/join_of_1000_member_room", |b| b.iter(|| room.authorize(&join, &state)));

    // The fork: branch A changes the power levels; branch B has 100 members change their
    // display names and also changes the power levels, differently.
    let (mut a, mut b) = (state.clone(), state.clone());
    let creator = user(0).to_string();
    room.add(
        0,
        "m.room.power_levels",
        Some(""),
        json!({"users": {&creator: 100, user(1).as_str(): 50}, "state_default": 50}),
        &last,
        &mut a,
    );
    let mut tip = last.clone();
    for i in 1..=CONFLICTED_MEMBERS {
        let key = user(i).to_string();
        tip = room.add(
            i,
            "m.room.member",
            Some(&key),
            json!({"membership": "join", "displayname": format!("n{i}")}),
            &tip,
            &mut b,
        );
    }
    room.add(
        0,
        "m.room.power_levels",
        Some(""),
        json!({"users": {&creator: 100, user(2).as_str(): 50}, "state_default": 50}),
        &tip,
        &mut b,
    );
    let states = [a, b];
    c.bench_function("resolve_state/fork_of_1000_member_room", |bench| {
        bench.iter(|| resolve_state(VERSION, &states, |id| room.events.get(id).cloned()))
    });
}

criterion_group!(room_state, benches);
criterion_main!(room_state);
