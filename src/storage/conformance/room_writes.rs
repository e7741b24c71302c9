//! Checks of how [`crate::storage::RoomStore::persist`] treats what is already stored
//! (re-persisted events, transaction IDs, redactions in either order), of state-group ID
//! reservation, and of durability across a restart.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::Fixture;
use super::rooms::{ALICE, create_room, event_id, events_batch, message, new_event};
use super::samples::{device_id, user_id};
use crate::storage::{Direction, EventStatus, NewEvent, Position, StateGroupId, TxnKey};

fn txn(device: &str, txn_id: &str) -> TxnKey {
    TxnKey { user_id: user_id(ALICE), device_id: device_id(device), txn_id: txn_id.to_owned() }
}

/// A redaction of `target` at `position`.
fn redaction(room: &ruma::RoomId, name: &str, target: &str, position: u64, state: StateGroupId) -> NewEvent {
    NewEvent {
        redacts: Some(event_id(target)),
        ..new_event(room, name, "m.room.redaction", None, position, state)
    }
}

pub(crate) async fn duplicate_event_leaves_the_first(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let first = message(&room.room_id, "dup", 4, room.state);
    rooms.persist(&events_batch(&room.room_id, vec![first.clone()])).await.unwrap();
    let stored = rooms.get_event(&first.event_id).await.unwrap();

    // The same ID again with other JSON, position, status and state, next to a new event.
    let other_groups = rooms.reserve_state_group_ids(1).await.unwrap();
    let again = NewEvent {
        json: first.json.replace("message dup", "a different body"),
        position: Some(Position(6)),
        status: EventStatus::SoftFailed,
        state_before: other_groups,
        state_after: other_groups,
        ..first.clone()
    };
    let fresh = message(&room.room_id, "fresh", 5, room.state);
    rooms.persist(&events_batch(&room.room_id, vec![again.clone(), fresh.clone()])).await.unwrap();
    assert_eq!(rooms.get_event(&first.event_id).await.unwrap(), stored, "the first is untouched");
    assert_eq!(rooms.event_state_groups(&first.event_id).await.unwrap(), Some((room.state, room.state)));
    assert!(rooms.get_event(&fresh.event_id).await.unwrap().is_some(), "the rest of the batch is written");

    // Twice in one batch, and the whole batch again: still one timeline entry each.
    let twice = message(&room.room_id, "twice", 7, room.state);
    let batch =
        events_batch(&room.room_id, vec![twice.clone(), NewEvent { position: Some(Position(8)), ..twice }]);
    rooms.persist(&batch).await.unwrap();
    rooms.persist(&batch).await.unwrap();
    let timeline = rooms.timeline(&room.room_id, Some(Position(3)), Direction::Forward, 10).await.unwrap();
    let positions: Vec<_> = timeline.iter().map(|event| (event.event_id.clone(), event.position)).collect();
    let expected =
        [("dup", 4), ("fresh", 5), ("twice", 7)].map(|(name, at)| (event_id(name), Some(Position(at))));
    assert_eq!(positions, expected);

    // Re-persisting the room's creation batch changes nothing either.
    rooms.persist(&room.batch).await.unwrap();
    assert_eq!(rooms.timeline(&room.room_id, None, Direction::Forward, 100).await.unwrap().len(), 6);
    assert_eq!(rooms.state_group_depth(room.state).await.unwrap(), Some(3));
}

pub(crate) async fn txn_ids_map_to_their_event(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let sent = NewEvent { txn: Some(txn("PHONE", "m1")), ..message(&room.room_id, "sent", 4, room.state) };
    let laptop =
        NewEvent { txn: Some(txn("LAPTOP", "m1")), ..message(&room.room_id, "laptop", 5, room.state) };
    rooms.persist(&events_batch(&room.room_id, vec![sent.clone(), laptop.clone()])).await.unwrap();
    assert_eq!(rooms.txn_event(&txn("PHONE", "m1")).await.unwrap(), Some(sent.event_id.clone()));
    assert_eq!(rooms.txn_event(&txn("LAPTOP", "m1")).await.unwrap(), Some(laptop.event_id), "per device");
    assert_eq!(rooms.txn_event(&txn("PHONE", "m2")).await.unwrap(), None);
    let bob = TxnKey { user_id: user_id("@bob:example.org"), ..txn("PHONE", "m1") };
    assert_eq!(rooms.txn_event(&bob).await.unwrap(), None, "per user");
    // And back: each event knows the transaction it was sent with.
    assert_eq!(rooms.event_txn(&sent.event_id).await.unwrap(), Some(txn("PHONE", "m1")));
    assert_eq!(rooms.event_txn(&event_id("laptop")).await.unwrap(), Some(txn("LAPTOP", "m1")));
    let plain = message(&room.room_id, "plain", 6, room.state);
    rooms.persist(&events_batch(&room.room_id, vec![plain.clone()])).await.unwrap();
    assert_eq!(rooms.event_txn(&plain.event_id).await.unwrap(), None, "sent without a transaction");
}

async fn redacted_by(fixture: &Fixture, name: &str) -> Option<ruma::OwnedEventId> {
    fixture.stores.rooms.get_event(&event_id(name)).await.unwrap().expect("stored").redacted_by
}

pub(crate) async fn redaction_after_its_target(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let (id, state) = (&room.room_id, room.state);
    let target = message(id, "target", 4, state);
    rooms.persist(&events_batch(id, vec![target.clone(), message(id, "kept", 5, state)])).await.unwrap();
    let rejected = NewEvent {
        position: None,
        status: EventStatus::Rejected,
        ..redaction(id, "rejected", "target", 0, state)
    };
    rooms.persist(&events_batch(id, vec![rejected])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "target").await, None, "a rejected redaction redacts nothing");

    rooms.persist(&events_batch(id, vec![redaction(id, "redaction", "target", 6, state)])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "target").await, Some(event_id("redaction")));
    assert_eq!(redacted_by(&fixture, "kept").await, None);
    let stored = rooms.get_event(&target.event_id).await.unwrap().expect("stored");
    assert_eq!(stored.json, target.json, "the stored JSON stays intact");
    let page = rooms.timeline(id, Some(Position(3)), Direction::Forward, 1).await.unwrap();
    assert_eq!(page.first().and_then(|event| event.redacted_by.clone()), Some(event_id("redaction")));

    // Both in one batch, redaction first.
    let batch =
        vec![redaction(id, "sameredaction", "sametarget", 8, state), message(id, "sametarget", 7, state)];
    rooms.persist(&events_batch(id, batch)).await.unwrap();
    assert_eq!(redacted_by(&fixture, "sametarget").await, Some(event_id("sameredaction")));
}

pub(crate) async fn redaction_before_its_target(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let other = create_room(&fixture.stores, "!other:example.org", "o", 20).await;
    let (id, state) = (&room.room_id, room.state);
    rooms.persist(&events_batch(id, vec![redaction(id, "early", "late", 4, state)])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "early").await, None);
    // The target arrives later, as an outlier fetched over federation.
    let late = NewEvent { position: None, status: EventStatus::Outlier, ..message(id, "late", 0, state) };
    rooms.persist(&events_batch(id, vec![late])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "late").await, Some(event_id("early")));

    // A redaction never reaches into another room.
    rooms.persist(&events_batch(id, vec![redaction(id, "crossroom", "elsewhere", 5, state)])).await.unwrap();
    let elsewhere = message(&other.room_id, "elsewhere", 30, other.state);
    rooms.persist(&events_batch(&other.room_id, vec![elsewhere])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "elsewhere").await, None);
    rooms.persist(&events_batch(id, vec![redaction(id, "crossroom2", "elsewhere", 6, state)])).await.unwrap();
    assert_eq!(redacted_by(&fixture, "elsewhere").await, None);
}

pub(crate) async fn state_group_ids_are_distinct_under_concurrency(fixture: Fixture) {
    const RESERVERS: u64 = 8;
    const EACH: u64 = 60;
    let rooms = Arc::clone(&fixture.stores.rooms);
    let mut reservers = JoinSet::new();
    for reserver in 0..RESERVERS {
        let rooms = Arc::clone(&rooms);
        reservers.spawn(async move {
            let mut taken = Vec::new();
            for round in 0..EACH {
                // Ranges of 1 to 40 IDs, so reservations cross any block an adapter keeps.
                let count = 1 + (reserver * 7 + round * 13) % 40;
                let first = rooms.reserve_state_group_ids(count).await.unwrap();
                taken.extend((0..count).map(|offset| first.0 + offset));
            }
            taken
        });
    }
    let mut all = HashSet::new();
    let mut total = 0;
    while let Some(result) = reservers.join_next().await {
        for id in result.unwrap() {
            assert!(id >= 1, "IDs start at 1");
            assert!(all.insert(id), "state group {id} handed out twice");
            total += 1;
        }
    }
    assert_eq!(all.len(), total);
}

pub(crate) async fn rooms_survive_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let room = create_room(&stores, "!room:example.org", "a", 1).await;
    let redacted = message(&room.room_id, "redacted", 5, room.state);
    let batch = vec![redaction(&room.room_id, "redaction", "redacted", 4, room.state), redacted];
    stores.rooms.persist(&events_batch(&room.room_id, batch)).await.unwrap();
    let reserved = stores.rooms.reserve_state_group_ids(1_500).await.unwrap();
    let highest = reserved.0 + 1_499;
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    let rooms = &stores.rooms;
    assert_eq!(rooms.room(&room.room_id).await.unwrap(), room.batch.new_room);
    assert_eq!(rooms.timeline(&room.room_id, None, Direction::Forward, 10).await.unwrap().len(), 5);
    assert_eq!(rooms.current_state(&room.room_id).await.unwrap().len(), 3);
    assert_eq!(rooms.state_group(room.state).await.unwrap().map(|state| state.len()), Some(3));
    assert_eq!(rooms.forward_extremities(&room.room_id).await.unwrap().len(), 1);
    assert_eq!(rooms.user_memberships(&user_id(ALICE)).await.unwrap().len(), 1);
    let redacted = rooms.get_event(&event_id("redacted")).await.unwrap().expect("stored");
    assert_eq!(redacted.redacted_by, Some(event_id("redaction")));
    let next = rooms.reserve_state_group_ids(1).await.unwrap();
    assert!(next.0 > highest, "{next:?} reused after restart (had up to {highest})");
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    assert!(
        stores.rooms.reserve_state_group_ids(1).await.unwrap() > next,
        "and again after a second restart"
    );
}
