//! Checks of [`crate::storage::RoomStore::timeline`]: bounded pages of a room's accepted
//! events in either direction, from any position, never showing other rooms' events or
//! events that are not part of the timeline.

use std::collections::HashSet;

use ruma::OwnedEventId;

use super::Fixture;
use super::rooms::{create_room, event_id, events_batch, message};
use crate::storage::{Direction, EventStatus, NewEvent, Position, RoomStore, StoredEvent};

fn ids(events: &[StoredEvent]) -> Vec<OwnedEventId> {
    events.iter().map(|event| event.event_id.clone()).collect()
}

fn named(names: &[&str]) -> Vec<OwnedEventId> {
    names.iter().map(|name| event_id(name)).collect()
}

pub(crate) async fn timeline_pages_both_ways(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let other = create_room(&fixture.stores, "!other:example.org", "b", 4).await;
    // Messages at 10, 12, … 28 in `room`, interleaved with `other`'s at 11, 13, … 29.
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for index in 0..10_u64 {
        mine.push(message(&room.room_id, &format!("m{index}"), 10 + 2 * index, room.state));
        theirs.push(message(&other.room_id, &format!("o{index}"), 11 + 2 * index, other.state));
    }
    rooms.persist(&events_batch(&room.room_id, mine)).await.unwrap();
    rooms.persist(&events_batch(&other.room_id, theirs)).await.unwrap();
    let page = |from: Option<u64>, direction, limit| {
        let room_id = room.room_id.clone();
        async move { ids(&rooms.timeline(&room_id, from.map(Position), direction, limit).await.unwrap()) }
    };
    let [create, member, power] = room.events.clone();
    let first_five = [vec![create.clone(), member.clone(), power.clone()], named(&["m0", "m1"])].concat();
    assert_eq!(page(None, Direction::Forward, 5).await, first_five);
    assert_eq!(page(None, Direction::Backward, 3).await, named(&["m9", "m8", "m7"]));
    // Strictly after / before `from`, whether or not an event sits at `from`.
    assert_eq!(page(Some(12), Direction::Forward, 2).await, named(&["m2", "m3"]));
    assert_eq!(page(Some(13), Direction::Forward, 2).await, named(&["m2", "m3"]));
    assert_eq!(page(Some(14), Direction::Backward, 2).await, named(&["m1", "m0"]));
    assert_eq!(page(Some(13), Direction::Backward, 2).await, named(&["m1", "m0"]));
    assert_eq!(page(Some(10), Direction::Backward, 10).await, [power, member, create]);
    assert_eq!(page(Some(0), Direction::Forward, 1).await.len(), 1, "0 is before everything");
    // Past either end, and empty pages.
    assert!(page(Some(28), Direction::Forward, 10).await.is_empty());
    assert!(page(Some(1), Direction::Backward, 10).await.is_empty());
    assert!(page(None, Direction::Forward, 0).await.is_empty());
    assert_eq!(page(Some(u64::MAX), Direction::Backward, 1).await, named(&["m9"]));
    assert!(page(Some(u64::MAX), Direction::Forward, 1).await.is_empty());
    assert_eq!(page(None, Direction::Forward, 100).await.len(), 13, "no events of the other room");

    let events = rooms.timeline(&room.room_id, Some(Position(15)), Direction::Forward, 1).await.unwrap();
    let stored = rooms.get_event(&event_id("m3")).await.unwrap();
    assert_eq!(events.first(), stored.as_ref(), "pages carry whole stored events");
}

/// An event of `room` at `position` (or none) with `status`.
fn with_status(event: NewEvent, position: Option<u64>, status: EventStatus) -> NewEvent {
    NewEvent { position: position.map(Position), status, ..event }
}

pub(crate) async fn timeline_has_only_accepted_events(fixture: Fixture) {
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!room:example.org", "a", 1).await;
    let state = room.state;
    let events = vec![
        message(&room.room_id, "before", 4, state),
        with_status(message(&room.room_id, "outlier", 0, state), None, EventStatus::Outlier),
        with_status(message(&room.room_id, "rejected", 0, state), None, EventStatus::Rejected),
        with_status(message(&room.room_id, "softfailed", 5, state), Some(5), EventStatus::SoftFailed),
        message(&room.room_id, "after", 6, state),
    ];
    rooms.persist(&events_batch(&room.room_id, events)).await.unwrap();
    let forward = rooms.timeline(&room.room_id, Some(Position(3)), Direction::Forward, 10).await.unwrap();
    assert_eq!(ids(&forward), named(&["before", "after"]));
    let backward = rooms.timeline(&room.room_id, None, Direction::Backward, 2).await.unwrap();
    assert_eq!(ids(&backward), named(&["after", "before"]));
    // They are stored all the same, as what they are.
    let statuses = [
        ("outlier", None, EventStatus::Outlier),
        ("rejected", None, EventStatus::Rejected),
        ("softfailed", Some(Position(5)), EventStatus::SoftFailed),
    ];
    for (name, position, status) in statuses {
        let stored = rooms.get_event(&event_id(name)).await.unwrap().expect("stored");
        assert_eq!((stored.position, stored.status), (position, status), "{name}");
    }
}

/// Pages through the whole timeline of `room` `limit` events at a time.
async fn page_all(
    rooms: &dyn RoomStore,
    room: &ruma::RoomId,
    direction: Direction,
    limit: usize,
) -> Vec<StoredEvent> {
    let mut all: Vec<StoredEvent> = Vec::new();
    loop {
        let from = all.last().and_then(|event| event.position);
        let page = rooms.timeline(room, from, direction, limit).await.unwrap();
        assert!(page.len() <= limit);
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

pub(crate) async fn thousand_event_room_pages_without_gaps(fixture: Fixture) {
    const EVENTS: u64 = 1_000;
    let rooms = &fixture.stores.rooms;
    let room = create_room(&fixture.stores, "!big:example.org", "big", 1).await;
    let other = create_room(&fixture.stores, "!other:example.org", "oth", 4).await;
    // The room's 997 messages at even positions from 10, another room's at odd ones.
    let mut next = 3;
    while next < EVENTS {
        let end = (next + 100).min(EVENTS);
        let mine = (next..end)
            .map(|index| message(&room.room_id, &format!("big{index}"), 4 + 2 * index, room.state));
        let theirs = (next..end)
            .map(|index| message(&other.room_id, &format!("oth{index}"), 5 + 2 * index, other.state));
        rooms.persist(&events_batch(&room.room_id, mine.collect())).await.unwrap();
        rooms.persist(&events_batch(&other.room_id, theirs.collect())).await.unwrap();
        next = end;
    }
    let forward = page_all(rooms.as_ref(), &room.room_id, Direction::Forward, 37).await;
    assert_eq!(forward.len() as u64, EVENTS, "every event once");
    assert!(forward.windows(2).all(|pair| pair[0].position < pair[1].position), "in stream order");
    assert!(forward.iter().all(|event| event.room_id == room.room_id));
    let unique: HashSet<_> = forward.iter().map(|event| event.event_id.clone()).collect();
    assert_eq!(unique.len() as u64, EVENTS, "no repeats");

    let mut backward = page_all(rooms.as_ref(), &room.room_id, Direction::Backward, 64).await;
    backward.reverse();
    assert_eq!(ids(&backward), ids(&forward), "both directions see the same events");

    // A page started mid-way continues exactly where the other direction left off.
    let middle = forward.get(500).and_then(|event| event.position);
    let after = rooms.timeline(&room.room_id, middle, Direction::Forward, 3).await.unwrap();
    let before = rooms.timeline(&room.room_id, middle, Direction::Backward, 3).await.unwrap();
    assert_eq!(ids(&after), ids(forward.get(501..504).unwrap()));
    assert_eq!(ids(&before), ids(forward.get(497..500).unwrap()).into_iter().rev().collect::<Vec<_>>());
}
