//! The newest events of recently active rooms, parsed and with their state groups.
//!
//! An append puts its event here before its position is published, so the members it
//! wakes (a thousand of them in a busy room) read the event from memory instead of each
//! reading it, parsing it, looking up its state groups and asking for its relations.
//!
//! A room's window holds every event of the room after its `floor`: only appends add
//! to it, in the room's turn, so nothing can be missing. A window starts at the first
//! append it sees, is capped in length (the floor rises), and is dropped when a
//! redaction changes how one of its events is served; the next append starts it again.
//! Windows are kept in two generations within a budget of events: when the current
//! generation is full the older one is dropped, so memory stays bounded however many
//! rooms are active.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ruma::{EventId, OwnedRoomId, RoomId};

use crate::events::Pdu;
use crate::storage::{Position, StateGroupId, StoredEvent, TxnKey};

/// Events one room's window keeps (a sync timeline asks for tens).
const PER_ROOM: usize = 64;
/// Events kept in one generation of windows (two generations at most; a few KiB each).
const PER_GENERATION: usize = 8_192;

/// A recent event as readers need it.
pub struct RecentEvent {
    /// The stored record without its JSON (`json` is empty): `pdu` holds the event.
    pub stored: StoredEvent,
    pub pdu: Pdu,
    pub state_before: StateGroupId,
    pub state_after: StateGroupId,
    /// The transaction it was sent with, if a client sent it.
    pub txn: Option<TxnKey>,
    /// Set when an event relating to this one is appended; until then it has none.
    related: AtomicBool,
}

impl RecentEvent {
    pub fn new(
        mut stored: StoredEvent,
        pdu: Pdu,
        groups: (StateGroupId, StateGroupId),
        txn: Option<TxnKey>,
    ) -> Self {
        stored.json = String::new();
        let (state_before, state_after) = groups;
        RecentEvent { stored, pdu, state_before, state_after, txn, related: AtomicBool::new(false) }
    }

    fn position(&self) -> Position {
        self.stored.position.unwrap_or_default()
    }
}

#[derive(Default)]
pub struct RecentEvents {
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<OwnedRoomId, Window>,
    current_events: usize,
    previous: HashMap<OwnedRoomId, Window>,
}

struct Window {
    /// Every event of the room with a position above this is in `events`.
    floor: Position,
    /// Oldest first.
    events: VecDeque<Arc<RecentEvent>>,
}

impl Window {
    fn find(&self, event_id: &EventId) -> Option<&Arc<RecentEvent>> {
        self.events.iter().rev().find(|event| event.stored.event_id == event_id)
    }
}

impl Generations {
    /// The room's window, moved into the current generation.
    fn window_mut(&mut self, room_id: &RoomId) -> Option<&mut Window> {
        if !self.current.contains_key(room_id) {
            let window = self.previous.remove(room_id)?;
            self.current_events += window.events.len();
            self.current.insert(room_id.to_owned(), window);
        }
        self.current.get_mut(room_id)
    }

    fn window(&self, room_id: &RoomId) -> Option<&Window> {
        self.current.get(room_id).or_else(|| self.previous.get(room_id))
    }
}

impl RecentEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a just-persisted event; the caller holds the room's turn, so events arrive
    /// in position order.
    pub fn push(&self, room_id: &RoomId, event: RecentEvent) {
        let position = event.position();
        let mut generations = self.lock();
        if generations.current_events >= PER_GENERATION {
            generations.previous = std::mem::take(&mut generations.current);
            generations.current_events = 0;
        }
        let window = match generations.window_mut(room_id) {
            Some(window) if window.events.back().is_none_or(|last| last.position() < position) => window,
            _ => {
                let fresh = Window { floor: Position(position.0.saturating_sub(1)), events: VecDeque::new() };
                generations.current.insert(room_id.to_owned(), fresh);
                generations.current.get_mut(room_id).expect("just inserted")
            }
        };
        window.events.push_back(Arc::new(event));
        let mut added = 1;
        if window.events.len() > PER_ROOM
            && let Some(oldest) = window.events.pop_front()
        {
            window.floor = oldest.position();
            added = 0;
        }
        generations.current_events += added;
    }

    /// Forgets the room's window (its events are no longer served as they were kept).
    pub fn drop_room(&self, room_id: &RoomId) {
        let mut generations = self.lock();
        if let Some(window) = generations.current.remove(room_id) {
            generations.current_events = generations.current_events.saturating_sub(window.events.len());
        }
        generations.previous.remove(room_id);
    }

    /// Notes that an event relating to `parent` was appended.
    pub fn mark_related(&self, room_id: &RoomId, parent: &EventId) {
        if let Some(event) = self.lock().window(room_id).and_then(|window| window.find(parent)) {
            event.related.store(true, Ordering::Release);
        }
    }

    /// True when `event_id` is known to have no relations (it is recent and nothing
    /// relating to it was appended); false when unknown.
    pub fn known_unrelated(&self, room_id: &RoomId, event_id: &EventId) -> bool {
        self.lock()
            .window(room_id)
            .and_then(|window| window.find(event_id))
            .is_some_and(|event| !event.related.load(Ordering::Acquire))
    }

    /// The transaction a recent event was sent with (`Some(None)`: none); `None` when
    /// the event is not recent.
    pub fn transaction(&self, room_id: &RoomId, event_id: &EventId) -> Option<Option<TxnKey>> {
        self.lock().window(room_id).and_then(|window| window.find(event_id)).map(|event| event.txn.clone())
    }

    /// The room's events in `(after, upto]`, newest first, when its window holds all of
    /// them; `None` when it cannot tell.
    pub fn between(
        &self,
        room_id: &RoomId,
        after: Position,
        upto: Position,
    ) -> Option<Vec<Arc<RecentEvent>>> {
        let (floor, events) = self.window_events(room_id, Some(after), upto)?;
        (after >= floor).then_some(events)
    }

    /// The room's window in `(after, upto]` (`after` `None`: everything up to `upto`),
    /// newest first, with its floor: every event of the room above the floor is in it.
    pub fn window_events(
        &self,
        room_id: &RoomId,
        after: Option<Position>,
        upto: Position,
    ) -> Option<(Position, Vec<Arc<RecentEvent>>)> {
        let generations = self.lock();
        let window = generations.window(room_id)?;
        let events = window
            .events
            .iter()
            .rev()
            .skip_while(|event| event.position() > upto)
            .take_while(|event| after.is_none_or(|after| event.position() > after))
            .cloned()
            .collect();
        Some((window.floor, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::EventStatus;

    fn event(room: &RoomId, n: u64) -> RecentEvent {
        let version = stoa_federation::RoomVersion::V11;
        let json = serde_json::json!({
            "auth_events": [], "prev_events": [], "content": { "body": n.to_string() },
            "depth": n, "hashes": { "sha256": "x" }, "origin_server_ts": 1,
            "room_id": room.as_str(), "sender": "@a:x", "signatures": {}, "type": "m.room.message",
        })
        .to_string();
        let id: ruma::OwnedEventId = format!("$e{n}").try_into().unwrap();
        let pdu = Pdu::from_stored(&json, &id, version).unwrap();
        let stored = StoredEvent {
            event_id: id,
            room_id: room.to_owned(),
            json,
            position: Some(Position(n)),
            status: EventStatus::Accepted,
            redacted_by: None,
        };
        RecentEvent::new(stored, pdu, (StateGroupId(1), StateGroupId(1)), None)
    }

    fn positions(events: Option<Vec<Arc<RecentEvent>>>) -> Option<Vec<u64>> {
        events.map(|events| events.iter().map(|e| e.position().0).collect())
    }

    #[test]
    fn answers_only_for_what_its_window_holds() {
        let room: OwnedRoomId = "!r:x".try_into().unwrap();
        let recent = RecentEvents::default();
        assert!(recent.between(&room, Position(0), Position(10)).is_none());
        recent.push(&room, event(&room, 5));
        recent.push(&room, event(&room, 7));
        assert_eq!(positions(recent.between(&room, Position(4), Position(10))), Some(vec![7, 5]));
        assert_eq!(positions(recent.between(&room, Position(5), Position(6))), Some(vec![]));
        assert_eq!(positions(recent.between(&room, Position(3), Position(10))), None, "below the floor");
        recent.drop_room(&room);
        assert!(recent.between(&room, Position(4), Position(10)).is_none());
    }

    #[test]
    fn keeps_a_bounded_window_and_tracks_relations() {
        let room: OwnedRoomId = "!r:x".try_into().unwrap();
        let recent = RecentEvents::default();
        for n in 1..=(PER_ROOM as u64 + 10) {
            recent.push(&room, event(&room, n));
        }
        assert!(recent.between(&room, Position(5), Position(u64::MAX)).is_none());
        let all = recent.between(&room, Position(10), Position(u64::MAX)).unwrap();
        assert_eq!(all.len(), PER_ROOM);
        let id: ruma::OwnedEventId = "$e20".try_into().unwrap();
        assert!(recent.known_unrelated(&room, &id));
        recent.mark_related(&room, &id);
        assert!(!recent.known_unrelated(&room, &id));
        let old: ruma::OwnedEventId = "$e2".try_into().unwrap();
        assert!(!recent.known_unrelated(&room, &old), "unknown is not unrelated");
    }
}
