//! Rooms as stored: events (PDUs), deduplicated state groups, current state, forward
//! extremities, memberships, and transaction IDs — written together by one
//! [`PersistBatch`] per room so a crash never leaves half an event behind.
//!
//! State is stored as *state groups*: a group is a parent group plus a small delta, so
//! a state event costs one delta, not a copy of the room's state. The domain keeps
//! chains short (it starts a fresh full group when a chain grows past a bound).

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::{Error, Position};

/// `(event type, state key)`.
pub type StateKey = (String, String);
/// A room's state: which event holds each state key.
pub type StateMap = BTreeMap<StateKey, OwnedEventId>;

/// Identifies a state group; allocated by [`RoomStore::reserve_state_group_ids`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateGroupId(pub u64);

/// How the server accepted an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Part of the room's timeline and state.
    Accepted,
    /// Known (e.g. as an auth event) but not part of the timeline.
    Outlier,
    /// Failed authorization; kept so it is not fetched again, never served.
    Rejected,
    /// Authorized by its own state but not by the current state: stored, not served,
    /// not a forward extremity.
    SoftFailed,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    /// The PDU in federation format (canonical JSON text, signatures included).
    pub json: String,
    /// Position in the `Events` stream; `None` for outliers and rejected events.
    pub position: Option<Position>,
    pub status: EventStatus,
    /// The accepted redaction of this event, if any (the stored JSON stays intact;
    /// readers redact on the way out).
    pub redacted_by: Option<OwnedEventId>,
}

/// A transaction ID scope: the same `(user, device, txn_id)` always yields one event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnKey {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub txn_id: String,
}

/// An event to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: OwnedEventId,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub json: String,
    /// Reserved from the `Events` stream; `None` for outliers and rejected events.
    pub position: Option<Position>,
    pub status: EventStatus,
    /// State before this event and after it (equal for non-state or non-accepted events).
    pub state_before: StateGroupId,
    pub state_after: StateGroupId,
    /// For an accepted redaction: the event it redacts.
    pub redacts: Option<OwnedEventId>,
    pub txn: Option<TxnKey>,
}

/// A state group to create: `parent`'s state with `delta` applied (`None` removes a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStateGroup {
    pub id: StateGroupId,
    pub parent: Option<StateGroupId>,
    pub delta: Vec<(StateKey, Option<OwnedEventId>)>,
}

/// A user's membership in a room as of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub room_id: OwnedRoomId,
    pub user_id: OwnedUserId,
    /// `join`, `invite`, `leave`, `ban` or `knock`.
    pub membership: String,
    pub event_id: OwnedEventId,
    pub position: Position,
}

/// Facts about a room fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub room_id: OwnedRoomId,
    /// `10`, `11`, `12` …
    pub room_version: String,
    pub creator: OwnedUserId,
    pub created_at_position: Position,
}

/// Everything one step of a room's persist queue writes, atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistBatch {
    pub room_id: Option<OwnedRoomId>,
    /// Set when this batch creates the room.
    pub new_room: Option<RoomRecord>,
    pub new_state_groups: Vec<NewStateGroup>,
    pub events: Vec<NewEvent>,
    /// The room's forward extremities after this batch (replaces the old set), if changed.
    pub forward_extremities: Option<Vec<OwnedEventId>>,
    /// Changes to the room's current state (`None` removes a key).
    pub current_state_delta: Vec<(StateKey, Option<OwnedEventId>)>,
    /// New current memberships (replace each user's previous one in the room).
    pub memberships: Vec<MembershipRecord>,
    /// Relations carried by this batch's accepted events (indexed with them).
    pub relations: Vec<super::relations::RelationRecord>,
    /// Relations of events this batch's redactions redact: redaction strips
    /// `m.relates_to`, so they leave every index and aggregation.
    pub removed_relations: Vec<super::relations::RelationRecord>,
}

/// Which way to page through a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Writes the batch atomically (one engine batch / one transaction), durably.
    /// Re-persisting an event ID that already exists leaves the stored one untouched.
    async fn persist(&self, batch: &PersistBatch) -> Result<(), Error>;
    /// Hands out `count` fresh, never-reused state-group IDs; returns the first.
    async fn reserve_state_group_ids(&self, count: u64) -> Result<StateGroupId, Error>;

    async fn room(&self, room_id: &RoomId) -> Result<Option<RoomRecord>, Error>;
    async fn get_event(&self, event_id: &EventId) -> Result<Option<StoredEvent>, Error>;
    /// The events found among `event_ids`, in the order given (missing ones skipped).
    async fn get_events(&self, event_ids: &[OwnedEventId]) -> Result<Vec<StoredEvent>, Error>;
    /// The state groups before and after an event.
    async fn event_state_groups(
        &self,
        event_id: &EventId,
    ) -> Result<Option<(StateGroupId, StateGroupId)>, Error>;
    /// The full state of a group (following its parent chain), or `None` if unknown.
    async fn state_group(&self, id: StateGroupId) -> Result<Option<StateMap>, Error>;
    /// How many parents a group has (0 for a full group), to bound chains.
    async fn state_group_depth(&self, id: StateGroupId) -> Result<Option<u32>, Error>;

    async fn current_state(&self, room_id: &RoomId) -> Result<StateMap, Error>;
    async fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<OwnedEventId>, Error>;
    async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<OwnedEventId>, Error>;

    /// Accepted events of the room with positions in the stream, strictly after `from`
    /// (forward) or strictly before it (backward), at most `limit`, in that direction.
    /// `from = None` starts at the beginning (forward) or the end (backward).
    async fn timeline(
        &self,
        room_id: &RoomId,
        from: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error>;

    async fn txn_event(&self, txn: &TxnKey) -> Result<Option<OwnedEventId>, Error>;
    /// The transaction an event was sent with, if it was (the reverse of `txn_event`),
    /// so a sender's own device can be told which local echo an event answers.
    async fn event_txn(&self, event_id: &EventId) -> Result<Option<TxnKey>, Error>;

    /// The user's current membership in every room they have one in, ordered by room ID.
    async fn user_memberships(&self, user_id: &UserId) -> Result<Vec<MembershipRecord>, Error>;
    /// The user's membership records whose position is in `(since, upto]`, by position.
    async fn user_membership_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Result<Vec<MembershipRecord>, Error>;
    /// Current members of a room with the given membership (all if `None`), ordered by
    /// user ID, strictly after `after`, at most `limit`.
    async fn room_members(
        &self,
        room_id: &RoomId,
        membership: Option<&str>,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<MembershipRecord>, Error>;
}
