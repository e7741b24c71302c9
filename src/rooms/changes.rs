//! Per-user feeds of which rooms changed at which position, so an incremental `/sync`
//! visits only the rooms that changed since its token instead of every room the user
//! is in.
//!
//! A feed exists for users who sync (created on their first full pass) and records
//! every event appended to a room the user is joined to or whose membership it changes.
//! Appends record *before* their position is published, so a sync that sees a
//! position also sees its entry. Everything is bounded: a feed keeps each room once
//! (at its newest position) up to a cap, idle feeds are dropped, and whenever a feed
//! cannot answer for a token (too old, dropped, after a restart) the sync falls back
//! to the full pass, which is always correct.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::storage::Position;

/// Rooms one feed remembers; past that the oldest entry goes and the floor rises.
const MAX_ROOMS_PER_FEED: usize = 4096;
/// Feeds kept at once; past that, idle ones are dropped.
const MAX_FEEDS: usize = 200_000;
/// How long a feed may go unread before it may be dropped to make room.
const IDLE: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct RoomChanges {
    inner: Mutex<Feeds>,
}

#[derive(Default)]
struct Feeds {
    users: HashMap<OwnedUserId, Feed>,
    /// The highest position ever recorded: a new feed knows every change after it.
    max_recorded: Position,
}

struct Feed {
    /// The feed answers for tokens at or after this position.
    floor: Position,
    by_position: BTreeMap<Position, OwnedRoomId>,
    /// Each room's newest change and the one before it (0: none recorded).
    by_room: HashMap<OwnedRoomId, (Position, Position)>,
    /// The newest change of the user's own membership (in any room) it recorded.
    own_membership: Position,
    last_read: Instant,
}

impl RoomChanges {
    /// Records that `room_id` changed at `position` for each of `users` that has a feed,
    /// and that the membership of `membership_target` (one of them) changed there.
    pub fn record<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId>,
        room_id: &RoomId,
        position: Position,
        membership_target: Option<&UserId>,
    ) {
        let mut feeds = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.max_recorded = feeds.max_recorded.max(position);
        for user in users {
            if let Some(feed) = feeds.users.get_mut(user) {
                feed.record(room_id, position);
                if membership_target == Some(user) {
                    feed.own_membership = feed.own_membership.max(position);
                }
            }
        }
    }

    /// Whether the user's own membership changed anywhere in `(since, upto]`, or `None`
    /// when the feed cannot tell.
    pub fn own_membership_changed(&self, user_id: &UserId, since: Position, upto: Position) -> Option<bool> {
        let feeds = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let feed = feeds.users.get(user_id)?;
        if since < feed.floor || feed.own_membership > upto {
            // Only the newest change is kept: one after the window may hide one in it.
            return None;
        }
        Some(feed.own_membership > since)
    }

    /// Starts a feed for `user_id` unless it has one.
    pub fn track(&self, user_id: &UserId) {
        let mut feeds = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if feeds.users.contains_key(user_id) {
            return;
        }
        if feeds.users.len() >= MAX_FEEDS {
            let now = Instant::now();
            feeds.users.retain(|_, feed| now.duration_since(feed.last_read) < IDLE);
            if feeds.users.len() >= MAX_FEEDS {
                feeds.users.clear();
            }
        }
        let feed = Feed {
            floor: feeds.max_recorded,
            by_position: BTreeMap::new(),
            by_room: HashMap::new(),
            own_membership: Position(0),
            last_read: Instant::now(),
        };
        feeds.users.insert(user_id.to_owned(), feed);
    }

    /// The rooms that changed for `user_id` in `(since, upto]`, or `None` when the
    /// feed cannot tell (no feed, `since` is older than what it remembers, or a room's
    /// newest changes are past `upto` and may hide one inside the window).
    ///
    /// Appends record before their position is published, so a room's newest entry may
    /// lie past `upto` while an earlier change of the room lies inside the window: the
    /// change before the newest one is kept for that, and when it too lies past `upto`
    /// the feed cannot tell (the full pass answers).
    pub fn changed_since(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Option<Vec<OwnedRoomId>> {
        let mut feeds = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let feed = feeds.users.get_mut(user_id)?;
        if since < feed.floor {
            return None;
        }
        feed.last_read = Instant::now();
        if since >= upto {
            return Some(Vec::new());
        }
        let after = Position(since.0.saturating_add(1));
        let mut rooms = Vec::new();
        for (position, room) in feed.by_position.range(after..) {
            let previous = feed.by_room.get(room).map_or(Position(0), |(_, previous)| *previous);
            if *position <= upto || (previous > since && previous <= upto) {
                rooms.push(room.clone());
            } else if previous > upto {
                return None;
            }
        }
        Some(rooms)
    }
}

impl Feed {
    fn record(&mut self, room_id: &RoomId, position: Position) {
        let mut before = Position(0);
        if let Some((newest, _)) = self.by_room.get(room_id).copied() {
            if newest >= position {
                return;
            }
            self.by_position.remove(&newest);
            before = newest;
        }
        self.by_room.insert(room_id.to_owned(), (position, before));
        self.by_position.insert(position, room_id.to_owned());
        if self.by_room.len() > MAX_ROOMS_PER_FEED
            && let Some((oldest, room)) = self.by_position.pop_first()
        {
            self.by_room.remove(&room);
            self.floor = self.floor.max(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> OwnedUserId {
        UserId::parse(format!("@{name}:example.org")).unwrap()
    }

    fn room(name: &str) -> OwnedRoomId {
        RoomId::parse(format!("!{name}:example.org")).unwrap()
    }

    #[test]
    fn answers_only_from_its_floor_and_lists_each_room_once() {
        let changes = RoomChanges::default();
        let (alice, bob) = (user("alice"), user("bob"));
        changes.record([alice.as_ref()], &room("a"), Position(5), None);
        assert_eq!(changes.changed_since(&alice, Position(0), Position(10)), None, "no feed yet");
        changes.track(&alice);
        assert_eq!(changes.changed_since(&alice, Position(4), Position(10)), None, "before the floor");
        for (name, at) in [("a", 6), ("b", 7), ("a", 8)] {
            changes.record([alice.as_ref(), bob.as_ref()], &room(name), Position(at), None);
        }
        assert_eq!(
            changes.changed_since(&alice, Position(5), Position(10)),
            Some(vec![room("b"), room("a")])
        );
        assert_eq!(changes.changed_since(&alice, Position(7), Position(10)), Some(vec![room("a")]));
        // "a" changed at 6 too, though its entry moved on to 8, past the window.
        assert_eq!(changes.changed_since(&alice, Position(5), Position(7)), Some(vec![room("b"), room("a")]));
        assert_eq!(changes.changed_since(&alice, Position(8), Position(10)), Some(vec![]));
        assert_eq!(changes.changed_since(&bob, Position(8), Position(10)), None, "bob never synced");
    }

    #[test]
    fn a_room_is_not_hidden_by_its_newer_unpublished_events() {
        let changes = RoomChanges::default();
        let alice = user("alice");
        changes.track(&alice);
        // 10 is published; 12 (same room) is written but waits for 11 (another room).
        changes.record([alice.as_ref()], &room("a"), Position(10), None);
        changes.record([alice.as_ref()], &room("a"), Position(12), None);
        assert_eq!(changes.changed_since(&alice, Position(9), Position(10)), Some(vec![room("a")]));
        assert_eq!(changes.changed_since(&alice, Position(10), Position(11)), Some(vec![]));
        // Two unpublished changes: the one at 10 could be hidden, so the feed cannot tell.
        changes.record([alice.as_ref()], &room("a"), Position(14), None);
        assert_eq!(changes.changed_since(&alice, Position(9), Position(11)), None);
        assert_eq!(changes.changed_since(&alice, Position(12), Position(13)), Some(vec![]));
        assert_eq!(changes.changed_since(&alice, Position(9), Position(14)), Some(vec![room("a")]));
    }

    #[test]
    fn an_overflowing_feed_raises_its_floor() {
        let changes = RoomChanges::default();
        let alice = user("alice");
        changes.track(&alice);
        for i in 0..=MAX_ROOMS_PER_FEED as u64 {
            changes.record([alice.as_ref()], &room(&format!("r{i}")), Position(i + 1), None);
        }
        assert_eq!(changes.changed_since(&alice, Position(0), Position(u64::MAX)), None);
        let recent = changes.changed_since(&alice, Position(1), Position(u64::MAX)).unwrap();
        assert_eq!(recent.len(), MAX_ROOMS_PER_FEED);
    }

    #[test]
    fn tells_whether_the_users_own_membership_changed() {
        let changes = RoomChanges::default();
        let (alice, bob) = (user("alice"), user("bob"));
        assert_eq!(changes.own_membership_changed(&alice, Position(0), Position(9)), None, "no feed");
        changes.track(&alice);
        changes.record([alice.as_ref(), bob.as_ref()], &room("a"), Position(3), Some(bob.as_ref()));
        assert_eq!(changes.own_membership_changed(&alice, Position(0), Position(9)), Some(false));
        changes.record([alice.as_ref()], &room("a"), Position(5), Some(alice.as_ref()));
        assert_eq!(changes.own_membership_changed(&alice, Position(4), Position(9)), Some(true));
        assert_eq!(changes.own_membership_changed(&alice, Position(5), Position(9)), Some(false));
        assert_eq!(changes.own_membership_changed(&alice, Position(2), Position(4)), None, "newer change");
    }
}
