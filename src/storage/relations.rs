//! Event relations (`m.relates_to`): edits, reactions, threads, references — indexed
//! when the related event is persisted (as part of its [`super::PersistBatch`]) so
//! `/relations`, `/threads` and bundled aggregations are range reads, not scans.

use std::collections::HashSet;

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedUserId, RoomId, UserId};

use super::{Direction, Error, EventStatus, PersistBatch, Position};

/// One relation: `event_id` relates to `parent_id` with `rel_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationRecord {
    pub event_id: OwnedEventId,
    pub parent_id: OwnedEventId,
    /// `m.replace`, `m.annotation`, `m.thread`, `m.reference`, or any custom type.
    pub rel_type: String,
    /// The relating event's type (e.g. `m.room.message`, `m.reaction`).
    pub event_type: String,
    pub sender: OwnedUserId,
    /// The relating event's position in the `Events` stream.
    pub position: Position,
}

/// A thread root with its latest activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRecord {
    pub root_id: OwnedEventId,
    /// Position of the newest event in the thread.
    pub latest_position: Position,
    pub latest_event_id: OwnedEventId,
}

#[async_trait]
pub trait RelationStore: Send + Sync {
    /// Relations of `parent_id` (filtered by `rel_type` and then `event_type` when
    /// given), ordered by position, strictly after (forward) or before (backward)
    /// `from`, at most `limit`. `from = None` starts at the oldest / newest.
    #[allow(clippy::too_many_arguments)]
    async fn relations(
        &self,
        room_id: &RoomId,
        parent_id: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        from: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RelationRecord>, Error>;
    /// How many events relate to `parent_id` with `rel_type`.
    async fn relation_count(&self, parent_id: &EventId, rel_type: &str) -> Result<u64, Error>;
    /// The newest relation of `parent_id` with `rel_type`, only from `sender` if given.
    async fn latest_relation(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        sender: Option<&UserId>,
    ) -> Result<Option<RelationRecord>, Error>;
    /// Whether `user_id` sent any event relating to `parent_id` with `rel_type`.
    async fn has_related_from(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        user_id: &UserId,
    ) -> Result<bool, Error>;
    /// Thread roots of a room, most recently active first, strictly older in activity
    /// than `before` when given, at most `limit`.
    async fn threads(
        &self,
        room_id: &RoomId,
        before: Option<Position>,
        limit: usize,
    ) -> Result<Vec<ThreadRecord>, Error>;
}

/// The relations of `batch` that an adapter indexes: those whose event is an accepted
/// event of the batch that this persist actually writes (`written` says whether an event
/// ID was new rather than skipped as already stored), the first one listed per event.
///
/// A relation belongs to its event the way a membership record does: a retried batch
/// must not index it twice (counts would drift), and a relation whose event is not
/// served (soft-failed, rejected, or absent from the batch) must not surface in
/// `/relations` either. Both adapters filter with this one function so they agree.
pub(crate) fn relations_to_index(
    batch: &PersistBatch,
    written: impl Fn(&EventId) -> bool,
) -> Vec<&RelationRecord> {
    // An ID listed twice is stored from its first listing; its status decides.
    let mut listed = HashSet::new();
    let accepted: HashSet<&str> = batch
        .events
        .iter()
        .filter(|event| listed.insert(event.event_id.as_str()))
        .filter(|event| event.status == EventStatus::Accepted && event.position.is_some())
        .map(|event| event.event_id.as_str())
        .collect();
    let mut seen = HashSet::new();
    batch
        .relations
        .iter()
        .filter(|relation| accepted.contains(relation.event_id.as_str()) && written(&relation.event_id))
        .filter(|relation| seen.insert(relation.event_id.as_str()))
        .collect()
}

/// The relations of `batch.removed_relations` that an adapter removes: each one's event
/// is redacted by an accepted event of the batch that this persist actually writes, so
/// a retried batch removes nothing twice. (Adapters also skip relations already gone.)
pub(crate) fn relations_to_remove(
    batch: &PersistBatch,
    written: impl Fn(&EventId) -> bool,
) -> Vec<&RelationRecord> {
    let redacted: HashSet<&str> = batch
        .events
        .iter()
        .filter(|event| event.status == EventStatus::Accepted && written(&event.event_id))
        .filter_map(|event| event.redacts.as_deref().map(EventId::as_str))
        .collect();
    let mut seen = HashSet::new();
    batch
        .removed_relations
        .iter()
        .filter(|relation| redacted.contains(relation.event_id.as_str()))
        .filter(|relation| seen.insert(relation.event_id.as_str()))
        .collect()
}
