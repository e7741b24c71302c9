//! Checks of [`crate::storage::RoomStore`]'s events and state: a created room read back
//! every way, state groups with parent chains, current state and forward extremities.
//! Also the room scenarios the other room checks (`room_*.rs`) build on.
//!
//! PDU JSON is opaque to the store; the samples look like real federation PDUs anyway so
//! an adapter that peeks at them would be caught reading the wrong thing.

use ruma::{OwnedEventId, OwnedRoomId, RoomId};
use serde_json::{Value, json};

use super::Fixture;
use super::samples::{room_id, user_id};
use crate::storage::{
    EventStatus, MembershipRecord, NewEvent, NewStateGroup, PersistBatch, Position, RoomRecord, StateGroupId,
    StateKey, StateMap, Stores,
};

pub(super) const ALICE: &str = "@alice:example.org";

/// A valid v4-style event ID derived from `name` (`$` and 43 URL-safe base64 characters;
/// the `_` padding keeps `a1` and `a10` apart).
pub(super) fn event_id(name: &str) -> OwnedEventId {
    let body: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    OwnedEventId::try_from(format!("${body:_<43}")).expect("a valid sample event ID")
}

pub(super) fn state_key(event_type: &str, key: &str) -> StateKey {
    (event_type.to_owned(), key.to_owned())
}

/// Federation-format JSON for a sample event.
pub(super) fn pdu(
    room: &RoomId,
    sender: &str,
    event_type: &str,
    state_key: Option<&str>,
    content: Value,
) -> String {
    let mut pdu = json!({
        "auth_events": [],
        "content": content,
        "depth": 1,
        "hashes": { "sha256": "kOaBpFBzDWBBlj6UjqzBW8oWMwDW7JQqgkMFMqcKMQE" },
        "origin_server_ts": 1_700_000_000_000_u64,
        "prev_events": [],
        "room_id": room.as_str(),
        "sender": sender,
        "signatures": { "example.org": { "ed25519:a_AbCd": "c2lnbmF0dXJlIG9mIHRoZSBldmVudA" } },
        "type": event_type,
    });
    if let (Some(key), Some(object)) = (state_key, pdu.as_object_mut()) {
        object.insert("state_key".to_owned(), Value::from(key));
    }
    pdu.to_string()
}

/// An accepted event at `position` whose state before and after is `group`; state events
/// override `state_after`.
pub(super) fn new_event(
    room: &RoomId,
    name: &str,
    event_type: &str,
    state_key: Option<&str>,
    position: u64,
    group: StateGroupId,
) -> NewEvent {
    let content = match event_type {
        "m.room.create" => json!({ "room_version": "11" }),
        "m.room.member" => json!({ "membership": "join", "displayname": name }),
        "m.room.power_levels" => json!({ "users": { ALICE: 100 }, "users_default": 0 }),
        "m.room.redaction" => json!({ "reason": "spam" }),
        _ => json!({ "msgtype": "m.text", "body": format!("message {name}") }),
    };
    NewEvent {
        event_id: event_id(name),
        sender: user_id(ALICE),
        event_type: event_type.to_owned(),
        state_key: state_key.map(str::to_owned),
        json: pdu(room, ALICE, event_type, state_key, content),
        position: Some(Position(position)),
        status: EventStatus::Accepted,
        state_before: group,
        state_after: group,
        redacts: None,
        txn: None,
    }
}

/// A message of `room` at `position`, with state `group`.
pub(super) fn message(room: &RoomId, name: &str, position: u64, group: StateGroupId) -> NewEvent {
    new_event(room, name, "m.room.message", None, position, group)
}

/// A batch of `room` holding just `events`.
pub(super) fn events_batch(room: &RoomId, events: Vec<NewEvent>) -> PersistBatch {
    PersistBatch { room_id: Some(room.to_owned()), events, ..PersistBatch::default() }
}

/// What [`create_room`] wrote.
pub(super) struct CreatedRoom {
    pub(super) room_id: OwnedRoomId,
    /// Empty, +create, +alice's membership, +power levels: each the parent of the next.
    pub(super) groups: [StateGroupId; 4],
    /// The state after the room's creation (`groups[3]`).
    pub(super) state: StateGroupId,
    /// Create, alice's membership and power levels events.
    pub(super) events: [OwnedEventId; 3],
    pub(super) batch: PersistBatch,
}

/// Creates `room` with alice as creator: events at `position`, `position + 1` and
/// `position + 2`, event names prefixed with `prefix` so rooms do not share event IDs.
pub(super) async fn create_room(stores: &Stores, room: &str, prefix: &str, position: u64) -> CreatedRoom {
    let room = room_id(room);
    let first = stores.rooms.reserve_state_group_ids(4).await.unwrap();
    let groups = [0, 1, 2, 3].map(|offset| StateGroupId(first.0 + offset));
    let create = new_event(&room, &format!("{prefix}create"), "m.room.create", Some(""), position, groups[0]);
    let member =
        new_event(&room, &format!("{prefix}member"), "m.room.member", Some(ALICE), position + 1, groups[1]);
    let power =
        new_event(&room, &format!("{prefix}power"), "m.room.power_levels", Some(""), position + 2, groups[2]);
    let keys = [
        state_key("m.room.create", ""),
        state_key("m.room.member", ALICE),
        state_key("m.room.power_levels", ""),
    ];
    let mut events = [create, member, power];
    let mut new_state_groups = vec![NewStateGroup { id: groups[0], parent: None, delta: Vec::new() }];
    let mut current_state_delta = Vec::new();
    for ((index, event), key) in events.iter_mut().enumerate().zip(keys) {
        event.state_after = groups[index + 1];
        new_state_groups.push(NewStateGroup {
            id: groups[index + 1],
            parent: Some(groups[index]),
            delta: vec![(key.clone(), Some(event.event_id.clone()))],
        });
        current_state_delta.push((key, Some(event.event_id.clone())));
    }
    let ids = events.clone().map(|event| event.event_id);
    let batch = PersistBatch {
        room_id: Some(room.clone()),
        new_room: Some(RoomRecord {
            room_id: room.clone(),
            room_version: "11".to_owned(),
            creator: user_id(ALICE),
            created_at_position: Position(position),
        }),
        new_state_groups,
        events: events.to_vec(),
        forward_extremities: Some(vec![ids[2].clone()]),
        current_state_delta,
        memberships: vec![MembershipRecord {
            room_id: room.clone(),
            user_id: user_id(ALICE),
            membership: "join".to_owned(),
            event_id: ids[1].clone(),
            position: Position(position + 1),
        }],
        relations: Vec::new(),
        removed_relations: Vec::new(),
    };
    stores.rooms.persist(&batch).await.unwrap();
    CreatedRoom { room_id: room, groups, state: groups[3], events: ids, batch }
}

/// The state map `pairs` describe.
pub(super) fn state_map(pairs: &[(StateKey, &OwnedEventId)]) -> StateMap {
    pairs.iter().map(|(key, event_id)| (key.clone(), (*event_id).clone())).collect()
}

pub(crate) async fn create_room_reads_back(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let record = rooms.room(&room.room_id).await.unwrap().expect("the room exists");
    assert_eq!(Some(record), room.batch.new_room.clone());
    for (index, new) in room.batch.events.iter().enumerate() {
        let stored = rooms.get_event(&new.event_id).await.unwrap().expect("the event exists");
        assert_eq!(stored.event_id, new.event_id);
        assert_eq!(stored.room_id, room.room_id);
        assert_eq!(stored.json, new.json, "the JSON comes back byte for byte");
        assert_eq!(stored.position, Some(Position(1 + index as u64)));
        assert_eq!(stored.status, EventStatus::Accepted);
        assert_eq!(stored.redacted_by, None);
    }
    let [create, member, power] = &room.events;
    let expected = state_map(&[
        (state_key("m.room.create", ""), create),
        (state_key("m.room.member", ALICE), member),
        (state_key("m.room.power_levels", ""), power),
    ]);
    assert_eq!(rooms.current_state(&room.room_id).await.unwrap(), expected);
    assert_eq!(rooms.state_group(room.state).await.unwrap(), Some(expected));
    assert_eq!(rooms.forward_extremities(&room.room_id).await.unwrap(), vec![power.clone()]);
    let members = rooms.room_members(&room.room_id, None, None, 10).await.unwrap();
    assert_eq!(members, room.batch.memberships);
    assert_eq!(rooms.user_memberships(&user_id(ALICE)).await.unwrap(), room.batch.memberships);
}

pub(crate) async fn unknown_things_read_empty(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!known:example.org", "k", 1).await;
    let unknown = room_id("!unknown:example.org");
    assert_eq!(rooms.room(&unknown).await.unwrap(), None);
    assert_eq!(rooms.get_event(&event_id("nothing")).await.unwrap(), None);
    assert_eq!(rooms.event_state_groups(&event_id("nothing")).await.unwrap(), None);
    assert_eq!(rooms.state_group(StateGroupId(room.state.0 + 10_000)).await.unwrap(), None);
    assert_eq!(rooms.state_group_depth(StateGroupId(room.state.0 + 10_000)).await.unwrap(), None);
    assert!(rooms.current_state(&unknown).await.unwrap().is_empty());
    assert_eq!(rooms.current_state_event(&unknown, "m.room.create", "").await.unwrap(), None);
    assert_eq!(rooms.current_state_event(&room.room_id, "m.room.topic", "").await.unwrap(), None);
    assert!(rooms.forward_extremities(&unknown).await.unwrap().is_empty());
    let timeline = rooms.timeline(&unknown, None, crate::storage::Direction::Backward, 10).await.unwrap();
    assert!(timeline.is_empty());
    assert!(rooms.user_memberships(&user_id("@nobody:example.org")).await.unwrap().is_empty());
    assert!(rooms.room_members(&unknown, None, None, 10).await.unwrap().is_empty());
}

pub(crate) async fn get_events_in_given_order_skipping_missing(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let [create, member, power] = room.events.clone();
    let asked = [power.clone(), event_id("missing"), create.clone(), member.clone(), event_id("gone")];
    let found: Vec<OwnedEventId> =
        rooms.get_events(&asked).await.unwrap().into_iter().map(|event| event.event_id).collect();
    assert_eq!(found, [power, create, member]);
    assert!(rooms.get_events(&[]).await.unwrap().is_empty());
}

pub(crate) async fn event_state_groups_before_and_after(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    for (index, event_id) in room.events.iter().enumerate() {
        let groups = rooms.event_state_groups(event_id).await.unwrap();
        assert_eq!(groups, Some((room.groups[index], room.groups[index + 1])), "{event_id}");
    }
    let text = message(&room.room_id, "text", 4, room.state);
    rooms.persist(&events_batch(&room.room_id, vec![text.clone()])).await.unwrap();
    assert_eq!(rooms.event_state_groups(&text.event_id).await.unwrap(), Some((room.state, room.state)));
}

/// A group: `parent` with `delta`, where `Some(name)` sets a key to `event_id(name)`.
fn group(
    id: StateGroupId,
    parent: Option<StateGroupId>,
    delta: &[(&str, &str, Option<&str>)],
) -> NewStateGroup {
    let delta = delta
        .iter()
        .map(|(event_type, key, name)| (state_key(event_type, key), name.map(event_id)))
        .collect();
    NewStateGroup { id, parent, delta }
}

/// The state map of `(type, state key, event name)` triples.
fn expected_state(entries: &[(&str, &str, &str)]) -> StateMap {
    entries.iter().map(|(event_type, key, name)| (state_key(event_type, key), event_id(name))).collect()
}

pub(crate) async fn state_group_chains_and_removals(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = room_id("!room:example.org");
    let first = rooms.reserve_state_group_ids(5).await.unwrap();
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|offset| StateGroupId(first.0 + offset));
    let full = [
        ("m.room.create", "", Some("c1")),
        ("m.room.name", "", Some("n1")),
        ("m.room.topic", "", Some("t1")),
    ];
    let batch = PersistBatch {
        room_id: Some(room.clone()),
        new_state_groups: vec![
            group(a, None, &full),
            // Replaces the name, removes the topic.
            group(b, Some(a), &[("m.room.name", "", Some("n2")), ("m.room.topic", "", None)]),
            // Adds a member, removes the create event.
            group(
                c,
                Some(b),
                &[("m.room.member", "@bob:example.org", Some("m1")), ("m.room.create", "", None)],
            ),
        ],
        ..PersistBatch::default()
    };
    rooms.persist(&batch).await.unwrap();
    // Parents persisted by an earlier batch.
    let batch = PersistBatch {
        room_id: Some(room.clone()),
        new_state_groups: vec![
            group(d, Some(c), &[("m.room.topic", "", Some("t2"))]),
            // A sibling of `b`: branches share their parent.
            group(e, Some(a), &[("m.room.topic", "", Some("t3"))]),
        ],
        ..PersistBatch::default()
    };
    rooms.persist(&batch).await.unwrap();

    let expect = |entries: &[(&str, &str, &str)]| Some(expected_state(entries));
    let state = |id| async move { rooms.state_group(id).await.unwrap() };
    assert_eq!(
        state(a).await,
        expect(&[("m.room.create", "", "c1"), ("m.room.name", "", "n1"), ("m.room.topic", "", "t1")])
    );
    assert_eq!(state(b).await, expect(&[("m.room.create", "", "c1"), ("m.room.name", "", "n2")]));
    assert_eq!(
        state(c).await,
        expect(&[("m.room.name", "", "n2"), ("m.room.member", "@bob:example.org", "m1")])
    );
    assert_eq!(
        state(d).await,
        expect(&[
            ("m.room.name", "", "n2"),
            ("m.room.member", "@bob:example.org", "m1"),
            ("m.room.topic", "", "t2")
        ])
    );
    assert_eq!(
        state(e).await,
        expect(&[("m.room.create", "", "c1"), ("m.room.name", "", "n1"), ("m.room.topic", "", "t3")])
    );
    let depths = [a, b, c, d, e].map(|id| async move { rooms.state_group_depth(id).await.unwrap() });
    let mut found = Vec::new();
    for depth in depths {
        found.push(depth.await);
    }
    assert_eq!(found, [Some(0), Some(1), Some(2), Some(3), Some(1)]);
}

pub(crate) async fn state_group_long_chain(fixture: Fixture) {
    const LINKS: u64 = 60;
    let rooms = &fixture.stores.rooms;
    let room = room_id("!room:example.org");
    let first = rooms.reserve_state_group_ids(LINKS + 1).await.unwrap();
    let mut groups = vec![group(first, None, &[("m.room.create", "", Some("create"))])];
    for link in 1..=LINKS {
        let id = StateGroupId(first.0 + link);
        let member = format!("@user{link}:example.org");
        let name = format!("member{link}");
        // Every third link removes the member the previous link added.
        let mut delta = vec![(state_key("m.room.member", &member), Some(event_id(&name)))];
        if link % 3 == 0 {
            delta.push((state_key("m.room.member", &format!("@user{}:example.org", link - 1)), None));
        }
        groups.push(NewStateGroup { id, parent: Some(StateGroupId(id.0 - 1)), delta });
    }
    // Split over batches, so chains cross batch boundaries.
    for chunk in groups.chunks(7) {
        let batch = PersistBatch {
            room_id: Some(room.clone()),
            new_state_groups: chunk.to_vec(),
            ..PersistBatch::default()
        };
        rooms.persist(&batch).await.unwrap();
    }
    let last = StateGroupId(first.0 + LINKS);
    assert_eq!(rooms.state_group_depth(last).await.unwrap(), Some(LINKS as u32));
    let state = rooms.state_group(last).await.unwrap().expect("the group exists");
    let mut expected = expected_state(&[("m.room.create", "", "create")]);
    for link in (1..=LINKS).filter(|link| (link + 1) % 3 != 0 || *link == LINKS) {
        expected.insert(
            state_key("m.room.member", &format!("@user{link}:example.org")),
            event_id(&format!("member{link}")),
        );
    }
    assert_eq!(state, expected);
}

pub(crate) async fn current_state_delta_sets_and_removes(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let other = create_room(&fixture.stores, "!other:example.org", "b", 10).await;
    let mut topic = new_event(&room.room_id, "topic", "m.room.topic", Some(""), 4, room.state);
    let mut name = new_event(&room.room_id, "name", "m.room.name", Some(""), 5, room.state);
    let after = rooms.reserve_state_group_ids(2).await.unwrap();
    topic.state_after = after;
    name.state_before = after;
    name.state_after = StateGroupId(after.0 + 1);
    let batch = PersistBatch {
        room_id: Some(room.room_id.clone()),
        new_state_groups: vec![
            NewStateGroup {
                id: after,
                parent: Some(room.state),
                delta: vec![(state_key("m.room.topic", ""), Some(topic.event_id.clone()))],
            },
            NewStateGroup {
                id: name.state_after,
                parent: Some(after),
                delta: vec![(state_key("m.room.name", ""), Some(name.event_id.clone()))],
            },
        ],
        events: vec![topic.clone(), name.clone()],
        current_state_delta: vec![
            (state_key("m.room.topic", ""), Some(topic.event_id.clone())),
            (state_key("m.room.name", ""), Some(name.event_id.clone())),
            (state_key("m.room.power_levels", ""), None),
        ],
        ..PersistBatch::default()
    };
    rooms.persist(&batch).await.unwrap();
    let [create, member, _] = &room.events;
    let expected = state_map(&[
        (state_key("m.room.create", ""), create),
        (state_key("m.room.member", ALICE), member),
        (state_key("m.room.name", ""), &name.event_id),
        (state_key("m.room.topic", ""), &topic.event_id),
    ]);
    assert_eq!(rooms.current_state(&room.room_id).await.unwrap(), expected);
    let room_id = &room.room_id;
    let lookup = |event_type: &'static str, key: &'static str| async move {
        rooms.current_state_event(room_id, event_type, key).await.unwrap()
    };
    assert_eq!(lookup("m.room.topic", "").await, Some(topic.event_id.clone()));
    assert_eq!(lookup("m.room.member", ALICE).await, Some(member.clone()));
    assert_eq!(lookup("m.room.power_levels", "").await, None, "removed");
    assert_eq!(lookup("m.room.member", "@bob:example.org").await, None);
    assert_eq!(rooms.current_state(&other.room_id).await.unwrap().len(), 3, "other rooms are untouched");
}

pub(crate) async fn forward_extremities_are_replaced(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let other = create_room(&fixture.stores, "!other:example.org", "b", 10).await;
    let (left, right) =
        (message(&room.room_id, "left", 4, room.state), message(&room.room_id, "right", 5, room.state));
    let mut batch = events_batch(&room.room_id, vec![left.clone(), right.clone()]);
    batch.forward_extremities = Some(vec![left.event_id.clone(), right.event_id.clone()]);
    rooms.persist(&batch).await.unwrap();
    assert_eq!(
        rooms.forward_extremities(&room.room_id).await.unwrap(),
        [left.event_id.clone(), right.event_id]
    );

    // A batch that leaves them unchanged says `None`.
    let outlier = NewEvent {
        position: None,
        status: EventStatus::Outlier,
        ..message(&room.room_id, "outlier", 0, room.state)
    };
    rooms.persist(&events_batch(&room.room_id, vec![outlier])).await.unwrap();
    assert_eq!(rooms.forward_extremities(&room.room_id).await.unwrap().len(), 2);

    let merge = message(&room.room_id, "merge", 6, room.state);
    let mut batch = events_batch(&room.room_id, vec![merge.clone()]);
    batch.forward_extremities = Some(vec![merge.event_id.clone()]);
    rooms.persist(&batch).await.unwrap();
    assert_eq!(rooms.forward_extremities(&room.room_id).await.unwrap(), [merge.event_id]);
    assert_eq!(rooms.forward_extremities(&other.room_id).await.unwrap(), [other.events[2].clone()]);
}
