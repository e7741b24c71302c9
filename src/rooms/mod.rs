//! Rooms: creating them, membership, sending events and state, and reading them back
//! with history visibility enforced. Every event is a real signed PDU appended through
//! the room's serialized persist queue ([`append`]).

pub mod append;
pub mod changes;
pub mod context;
pub mod create;
pub mod directory;
pub mod event_cache;
pub mod format;
mod guests;
pub mod members;
pub mod membership;
pub mod moderation;
pub mod power;
pub mod queue;
pub mod read;
pub mod recent;
pub mod relations;
pub mod send;
mod state_cache;
pub mod timestamp;
pub mod upgrade;
mod versions;
pub mod visibility;

use std::sync::Arc;

use ruma::OwnedServerName;
use stoa_federation::{RoomVersion, ServerSigningKey};

use crate::storage::{self, Stores};
use crate::streams::Watermark;

/// Why a room operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RoomsError {
    #[error("unknown room")]
    UnknownRoom,
    #[error("unknown alias")]
    UnknownAlias,
    #[error("the requested room alias is taken")]
    RoomAliasTaken,
    #[error("alias already in use")]
    AliasInUse,
    #[error("alias does not point to this room: {0}")]
    BadAlias(String),
    #[error("the user is still in the room")]
    StillInRoom,
    #[error("unknown event")]
    UnknownEvent,
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("unsupported room version {0}")]
    UnsupportedRoomVersion(String),
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("event too large: {0}")]
    TooLarge(String),
    #[error("not supported yet: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The rooms domain service; cheap to clone.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    server_name: OwnedServerName,
    key: Arc<ServerSigningKey>,
    events_stream: Watermark,
    queues: queue::RoomQueues,
    members: members::MemberCache,
    changes: changes::RoomChanges,
    state_cache: state_cache::StateCache,
    recent: recent::RecentEvents,
    event_cache: event_cache::EventCache,
    versions: versions::RoomVersions,
    /// Room → position of its newest event, so incremental sync skips quiet rooms
    /// without touching the store.
    latest: std::sync::Mutex<std::collections::HashMap<ruma::OwnedRoomId, storage::Position>>,
    default_version: RoomVersion,
}

impl Rooms {
    pub fn new(
        stores: Stores,
        server_name: OwnedServerName,
        key: Arc<ServerSigningKey>,
        events_stream: Watermark,
        default_version: RoomVersion,
    ) -> Self {
        Rooms {
            inner: Arc::new(Inner {
                stores,
                server_name,
                key,
                events_stream,
                queues: queue::RoomQueues::default(),
                members: members::MemberCache::default(),
                changes: changes::RoomChanges::default(),
                state_cache: state_cache::StateCache::default(),
                recent: recent::RecentEvents::default(),
                event_cache: event_cache::EventCache::default(),
                versions: versions::RoomVersions::default(),
                latest: std::sync::Mutex::new(std::collections::HashMap::new()),
                default_version,
            }),
        }
    }

    /// The position up to which every event is persisted (what sync may read).
    pub fn events_position(&self) -> storage::Position {
        self.inner.events_stream.published()
    }

    /// The position of the room's newest event.
    pub async fn latest_position(&self, room_id: &ruma::RoomId) -> Result<storage::Position, RoomsError> {
        if let Some(position) = self.latest_map().get(room_id) {
            return Ok(*position);
        }
        let newest = self.stores().rooms.timeline(room_id, None, storage::Direction::Backward, 1).await?;
        let position = newest.first().and_then(|e| e.position).unwrap_or_default();
        let mut latest = self.latest_map();
        let entry = latest.entry(room_id.to_owned()).or_insert(position);
        *entry = (*entry).max(position);
        Ok(*entry)
    }

    /// Starts recording which rooms change for `user_id` (see [`changes`]).
    pub fn track_changes(&self, user_id: &ruma::UserId) {
        self.inner.changes.track(user_id);
    }

    /// The rooms that changed for `user_id` in `(since, upto]`, if its feed can tell.
    pub fn changed_rooms(
        &self,
        user_id: &ruma::UserId,
        since: storage::Position,
        upto: storage::Position,
    ) -> Option<Vec<ruma::OwnedRoomId>> {
        self.inner.changes.changed_since(user_id, since, upto)
    }

    /// The room's events in `(after, upto]`, newest first, when they are all recent
    /// (see [`recent`]); `None` sends the caller to the store.
    pub fn recent_between(
        &self,
        room_id: &ruma::RoomId,
        after: storage::Position,
        upto: storage::Position,
    ) -> Option<Vec<Arc<recent::RecentEvent>>> {
        self.inner.recent.between(room_id, after, upto)
    }

    /// Whether the user's own membership changed in `(since, upto]`, when the user's
    /// change feed can tell.
    pub fn own_membership_changed(
        &self,
        user_id: &ruma::UserId,
        since: storage::Position,
        upto: storage::Position,
    ) -> Option<bool> {
        self.inner.changes.own_membership_changed(user_id, since, upto)
    }

    /// The room's recent events in `(after, upto]` (`after` `None`: all up to `upto`),
    /// newest first, and the position above which the list is complete (see [`recent`]).
    pub fn recent_events(
        &self,
        room_id: &ruma::RoomId,
        after: Option<storage::Position>,
        upto: storage::Position,
    ) -> Option<(storage::Position, Vec<Arc<recent::RecentEvent>>)> {
        self.inner.recent.window_events(room_id, after, upto)
    }

    /// The transaction a recent event was sent with (`Some(None)`: none), or `None`
    /// when the event is not recent.
    pub fn recent_transaction(
        &self,
        room_id: &ruma::RoomId,
        event_id: &ruma::EventId,
    ) -> Option<Option<storage::TxnKey>> {
        self.inner.recent.transaction(room_id, event_id)
    }

    pub(crate) fn note_latest(&self, room_id: &ruma::RoomId, position: storage::Position) {
        let mut latest = self.latest_map();
        let entry = latest.entry(room_id.to_owned()).or_insert(position);
        *entry = (*entry).max(position);
    }

    fn latest_map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<ruma::OwnedRoomId, storage::Position>> {
        self.inner.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stores(&self) -> &Stores {
        &self.inner.stores
    }
}
