//! [`RelationStore`] in the embedded store: relation rows under several key orders and
//! thread roots by latest activity, written by the rooms persist batch.
//!
//! Each read has its own table, so each is one bounded range scan or point read:
//! - `relations` (parent, position): every relation of a parent, for `/relations` with no
//!   type. With an event type but no relation type (which the API never asks for) this
//!   scan skips the other event types' rows: its cost grows with the parent's relations.
//! - `relations_by_type` (parent, rel type, position): one type, in order; its last key is
//!   the newest relation of that type.
//! - `relations_by_event_type` (parent, rel type, event type, position): one type and
//!   event type, without skipping.
//! - `relations_by_sender` (parent, rel type, sender, position): a sender's newest
//!   relation and whether they sent any, by one step of a scan.
//! - `relation_counts` (parent, rel type): a counter updated in the batch that adds rows.
//! - `threads` (room, latest position, root) and `thread_latest` (root): a root's single
//!   activity entry and where it is, so a new thread event moves it in the same batch.
//!
//! Rows are copied into every table rather than pointed to: a relation is small and never
//! changes, and a page then needs no second lookup per row. Positions are fixed-width
//! big-endian key components, so within one prefix keys sort by position.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{compound_key, decode_record, decode_u64, encode_record, encode_u64, key_prefix};
use super::engine::{self, Batch, KeyRange, KvEngine, Table};
use crate::storage::{Direction, Error, Position, RelationRecord, RelationStore, ThreadRecord};

/// The relation type whose relations make threads.
const THREAD_REL_TYPE: &str = "m.thread";

/// Rows read per scan step when a filter may drop some of them; a page that keeps every
/// row reads just `limit`.
const MIN_SCAN_STEP: usize = 64;

/// A relation as stored (the same in every relation table).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RelationRow {
    room_id: OwnedRoomId,
    event_id: OwnedEventId,
    parent_id: OwnedEventId,
    rel_type: String,
    event_type: String,
    sender: OwnedUserId,
    position: u64,
}

impl RelationRow {
    fn new(room_id: &RoomId, relation: &RelationRecord) -> Self {
        RelationRow {
            room_id: room_id.to_owned(),
            event_id: relation.event_id.clone(),
            parent_id: relation.parent_id.clone(),
            rel_type: relation.rel_type.clone(),
            event_type: relation.event_type.clone(),
            sender: relation.sender.clone(),
            position: relation.position.0,
        }
    }

    fn into_record(self) -> RelationRecord {
        RelationRecord {
            event_id: self.event_id,
            parent_id: self.parent_id,
            rel_type: self.rel_type,
            event_type: self.event_type,
            sender: self.sender,
            position: Position(self.position),
        }
    }
}

/// A thread root's activity entry: the value in both `threads` and `thread_latest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ThreadEntry {
    room_id: OwnedRoomId,
    root_id: OwnedEventId,
    position: u64,
    latest_event_id: OwnedEventId,
}

impl ThreadEntry {
    fn threads_key(&self) -> Vec<u8> {
        compound_key(&[self.room_id.as_bytes(), &encode_u64(self.position), self.root_id.as_bytes()])
    }
}

fn counter_key(parent_id: &str, rel_type: &str) -> Vec<u8> {
    compound_key(&[parent_id.as_bytes(), rel_type.as_bytes()])
}

/// Adds `relations` (already filtered to the events this batch writes) of `room_id` to
/// `writes`: a row in every relation table, the counters, and thread activity.
///
/// The caller holds the rooms write lock, so the counters and thread entries read here
/// cannot change before the batch is written.
pub(super) fn add_relations(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    relations: &[&RelationRecord],
) -> Result<(), Error> {
    let mut added: HashMap<(&str, &str), u64> = HashMap::new();
    let mut newest_in_thread: HashMap<&EventId, &RelationRecord> = HashMap::new();
    for relation in relations {
        put_rows(writes, &RelationRow::new(room_id, relation))?;
        *added.entry((relation.parent_id.as_str(), relation.rel_type.as_str())).or_default() += 1;
        if relation.rel_type == THREAD_REL_TYPE {
            let newest = newest_in_thread.entry(&relation.parent_id).or_insert(relation);
            if relation.position > newest.position {
                *newest = relation;
            }
        }
    }
    for ((parent_id, rel_type), count) in added {
        let key = counter_key(parent_id, rel_type);
        let stored = engine.get(Table::RelationCounts, &key)?.map(|bytes| decode_u64(&bytes)).transpose()?;
        let total = stored.unwrap_or(0).saturating_add(count);
        writes.put(Table::RelationCounts, key, encode_u64(total).to_vec());
    }
    for (root_id, newest) in newest_in_thread {
        advance_thread(engine, writes, room_id, root_id, newest)?;
    }
    Ok(())
}

/// Removes `relations` (already filtered to the redactions this batch writes) of
/// `room_id` from `writes`: every row, the counters, and, when a thread loses its newest
/// event, its activity entry (moved back to the newest event left, or dropped).
/// Relations no longer indexed are skipped, so a second redaction changes nothing.
pub(super) fn remove_relations(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    relations: &[&RelationRecord],
) -> Result<(), Error> {
    let mut removed_counts: HashMap<(&str, &str), u64> = HashMap::new();
    let mut removed: HashSet<&EventId> = HashSet::new();
    let mut thread_roots: HashSet<&EventId> = HashSet::new();
    for relation in relations {
        let row = RelationRow::new(room_id, relation);
        let key = compound_key(&[row.parent_id.as_bytes(), &encode_u64(row.position)]);
        let indexed = match engine.get(Table::Relations, &key)? {
            Some(bytes) => decode_record::<RelationRow>(&bytes)?.event_id == row.event_id,
            None => false,
        };
        if !indexed || !removed.insert(&relation.event_id) {
            continue;
        }
        delete_rows(writes, &row);
        *removed_counts.entry((relation.parent_id.as_str(), relation.rel_type.as_str())).or_default() += 1;
        if relation.rel_type == THREAD_REL_TYPE {
            thread_roots.insert(&relation.parent_id);
        }
    }
    for ((parent_id, rel_type), count) in removed_counts {
        let key = counter_key(parent_id, rel_type);
        let stored = engine.get(Table::RelationCounts, &key)?.map(|bytes| decode_u64(&bytes)).transpose()?;
        match stored.unwrap_or(0).saturating_sub(count) {
            0 => writes.delete(Table::RelationCounts, key),
            left => writes.put(Table::RelationCounts, key, encode_u64(left).to_vec()),
        }
    }
    for root_id in thread_roots {
        retreat_thread(engine, writes, room_id, root_id, &removed)?;
    }
    Ok(())
}

fn delete_rows(writes: &mut Batch, row: &RelationRow) {
    let (parent, rel_type, position) =
        (row.parent_id.as_bytes(), row.rel_type.as_bytes(), encode_u64(row.position));
    writes.delete(Table::Relations, compound_key(&[parent, &position]));
    writes.delete(Table::RelationsByType, compound_key(&[parent, rel_type, &position]));
    writes.delete(
        Table::RelationsByEventType,
        compound_key(&[parent, rel_type, row.event_type.as_bytes(), &position]),
    );
    writes.delete(
        Table::RelationsBySender,
        compound_key(&[parent, rel_type, row.sender.as_bytes(), &position]),
    );
}

/// After thread events were removed: if the newest was one of them, the thread's entry
/// moves to the newest remaining thread event, or goes when none is left.
fn retreat_thread(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    root_id: &EventId,
    removed: &HashSet<&EventId>,
) -> Result<(), Error> {
    let Some(bytes) = engine.get(Table::ThreadLatest, root_id.as_bytes())? else { return Ok(()) };
    let current: ThreadEntry = decode_record(&bytes)?;
    if !removed.contains(&*current.latest_event_id) {
        return Ok(());
    }
    writes.delete(Table::Threads, current.threads_key());
    // The batch's deletions are not visible yet: skip the removed rows while scanning.
    let prefix = key_prefix(&[root_id.as_bytes(), THREAD_REL_TYPE.as_bytes()]);
    let keep = |row: &RelationRow| !removed.contains(&*row.event_id);
    let range = KeyRange::prefix(prefix);
    let left = filtered_page(engine, Table::RelationsByType, range, Direction::Backward, 1, keep)?;
    match left.into_iter().next() {
        Some(newest) => {
            let entry = ThreadEntry {
                room_id: room_id.to_owned(),
                root_id: root_id.to_owned(),
                position: newest.position,
                latest_event_id: newest.event_id,
            };
            let value = encode_record(&entry)?;
            writes.put(Table::Threads, entry.threads_key(), value.clone());
            writes.put(Table::ThreadLatest, root_id.as_bytes().to_vec(), value);
        }
        None => writes.delete(Table::ThreadLatest, root_id.as_bytes().to_vec()),
    }
    Ok(())
}

fn put_rows(writes: &mut Batch, row: &RelationRow) -> Result<(), Error> {
    let value = encode_record(row)?;
    let (parent, rel_type, position) =
        (row.parent_id.as_bytes(), row.rel_type.as_bytes(), encode_u64(row.position));
    writes.put(Table::Relations, compound_key(&[parent, &position]), value.clone());
    writes.put(Table::RelationsByType, compound_key(&[parent, rel_type, &position]), value.clone());
    writes.put(
        Table::RelationsByEventType,
        compound_key(&[parent, rel_type, row.event_type.as_bytes(), &position]),
        value.clone(),
    );
    writes.put(
        Table::RelationsBySender,
        compound_key(&[parent, rel_type, row.sender.as_bytes(), &position]),
        value,
    );
    Ok(())
}

/// Moves the thread's activity entry to `newest` unless the stored one is as new.
fn advance_thread(
    engine: &dyn KvEngine,
    writes: &mut Batch,
    room_id: &RoomId,
    root_id: &EventId,
    newest: &RelationRecord,
) -> Result<(), Error> {
    let current = engine.get(Table::ThreadLatest, root_id.as_bytes())?;
    if let Some(bytes) = current {
        let current: ThreadEntry = decode_record(&bytes)?;
        if current.position >= newest.position.0 {
            return Ok(());
        }
        writes.delete(Table::Threads, current.threads_key());
    }
    let entry = ThreadEntry {
        room_id: room_id.to_owned(),
        root_id: root_id.to_owned(),
        position: newest.position.0,
        latest_event_id: newest.event_id.clone(),
    };
    let value = encode_record(&entry)?;
    writes.put(Table::Threads, entry.threads_key(), value.clone());
    writes.put(Table::ThreadLatest, root_id.as_bytes().to_vec(), value);
    Ok(())
}

/// `range` narrowed to keys strictly after (forward) or before (backward) `prefix` +
/// `from`. Keys under one prefix end in a fixed-width position, so the first key after
/// `prefix + from + 0x00` is the next position's.
fn narrow(mut range: KeyRange, prefix: &[u8], from: Option<Position>, direction: Direction) -> KeyRange {
    if let Some(from) = from {
        let mut key = prefix.to_vec();
        key.extend_from_slice(&encode_u64(from.0));
        match direction {
            Direction::Forward => range.from = engine::key_after(&key),
            Direction::Backward => range.to = Some(key),
        }
    }
    range
}

fn scan_direction(direction: Direction) -> engine::Direction {
    match direction {
        Direction::Forward => engine::Direction::Forward,
        Direction::Backward => engine::Direction::Reverse,
    }
}

/// Up to `limit` rows of `range` that `keep` accepts, in `direction`, scanning in bounded
/// steps so rows the filter drops cannot make a page come back short.
fn filtered_page(
    engine: &dyn KvEngine,
    table: Table,
    mut range: KeyRange,
    direction: Direction,
    limit: usize,
    keep: impl Fn(&RelationRow) -> bool,
) -> Result<Vec<RelationRow>, Error> {
    let mut rows = Vec::new();
    let step = limit.max(MIN_SCAN_STEP);
    while rows.len() < limit {
        let page = engine.scan(table, &range, scan_direction(direction), step)?;
        let exhausted = page.len() < step;
        if let Some((last, _)) = page.last() {
            match direction {
                Direction::Forward => range.from = engine::key_after(last),
                Direction::Backward => range.to = Some(last.clone()),
            }
        }
        for (_, value) in page {
            let row: RelationRow = decode_record(&value)?;
            if rows.len() < limit && keep(&row) {
                rows.push(row);
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(rows)
}

/// The rows of one `relations` call; see [`RelationStore::relations`].
#[allow(clippy::too_many_arguments)]
fn relation_page(
    engine: &dyn KvEngine,
    room_id: &RoomId,
    parent_id: &EventId,
    rel_type: Option<&str>,
    event_type: Option<&str>,
    from: Option<Position>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<RelationRecord>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let parent = parent_id.as_bytes();
    // The narrowest table for the filters given; an event type without a relation type is
    // filtered while scanning (see the module documentation for its cost).
    let (table, prefix, scan_filter) = match (rel_type, event_type) {
        (Some(rel_type), Some(event_type)) => (
            Table::RelationsByEventType,
            key_prefix(&[parent, rel_type.as_bytes(), event_type.as_bytes()]),
            None,
        ),
        (Some(rel_type), None) => (Table::RelationsByType, key_prefix(&[parent, rel_type.as_bytes()]), None),
        (None, event_type) => (Table::Relations, key_prefix(&[parent]), event_type),
    };
    let range = narrow(KeyRange::prefix(prefix.clone()), &prefix, from, direction);
    // A relation is indexed under the room of the event that carries it; one from another
    // room naming this parent is not this room's to serve.
    let keep = |row: &RelationRow| {
        row.room_id == room_id && scan_filter.is_none_or(|event_type| row.event_type == event_type)
    };
    let rows = filtered_page(engine, table, range, direction, limit, keep)?;
    Ok(rows.into_iter().map(RelationRow::into_record).collect())
}

/// The newest row under `prefix` of `table`, if any.
fn newest(engine: &dyn KvEngine, table: Table, prefix: Vec<u8>) -> Result<Option<RelationRow>, Error> {
    let page = engine.scan(table, &KeyRange::prefix(prefix), engine::Direction::Reverse, 1)?;
    page.first().map(|(_, value)| decode_record(value)).transpose()
}

fn thread_page(
    engine: &dyn KvEngine,
    room_id: &RoomId,
    before: Option<Position>,
    limit: usize,
) -> Result<Vec<ThreadRecord>, Error> {
    let prefix = key_prefix(&[room_id.as_bytes()]);
    // `prefix + before` sorts before every key of that position (they continue with the
    // separator and the root), so ending the range there excludes `before` itself.
    let range = narrow(KeyRange::prefix(prefix.clone()), &prefix, before, Direction::Backward);
    let page = engine.scan(Table::Threads, &range, engine::Direction::Reverse, limit)?;
    page.into_iter()
        .map(|(_, value)| {
            let entry: ThreadEntry = decode_record(&value)?;
            Ok(ThreadRecord {
                root_id: entry.root_id,
                latest_position: Position(entry.position),
                latest_event_id: entry.latest_event_id,
            })
        })
        .collect()
}

#[async_trait]
impl RelationStore for EmbeddedStore {
    async fn relations(
        &self,
        room_id: &RoomId,
        parent_id: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        from: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RelationRecord>, Error> {
        let (room_id, parent_id) = (room_id.to_owned(), parent_id.to_owned());
        let (rel_type, event_type) = (rel_type.map(str::to_owned), event_type.map(str::to_owned));
        self.run(move |engine| {
            relation_page(
                engine,
                &room_id,
                &parent_id,
                rel_type.as_deref(),
                event_type.as_deref(),
                from,
                direction,
                limit,
            )
        })
        .await
    }

    async fn relation_count(&self, parent_id: &EventId, rel_type: &str) -> Result<u64, Error> {
        let key = counter_key(parent_id.as_str(), rel_type);
        self.run(move |engine| {
            engine.get(Table::RelationCounts, &key)?.map_or(Ok(0), |bytes| decode_u64(&bytes))
        })
        .await
    }

    async fn latest_relation(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        sender: Option<&UserId>,
    ) -> Result<Option<RelationRecord>, Error> {
        let (table, prefix) = match sender {
            Some(sender) => (
                Table::RelationsBySender,
                key_prefix(&[parent_id.as_bytes(), rel_type.as_bytes(), sender.as_bytes()]),
            ),
            None => (Table::RelationsByType, key_prefix(&[parent_id.as_bytes(), rel_type.as_bytes()])),
        };
        self.run(move |engine| Ok(newest(engine, table, prefix)?.map(RelationRow::into_record))).await
    }

    async fn has_related_from(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        user_id: &UserId,
    ) -> Result<bool, Error> {
        let prefix = key_prefix(&[parent_id.as_bytes(), rel_type.as_bytes(), user_id.as_bytes()]);
        self.run(move |engine| Ok(newest(engine, Table::RelationsBySender, prefix)?.is_some())).await
    }

    async fn threads(
        &self,
        room_id: &RoomId,
        before: Option<Position>,
        limit: usize,
    ) -> Result<Vec<ThreadRecord>, Error> {
        let room_id = room_id.to_owned();
        self.run(move |engine| thread_page(engine, &room_id, before, limit)).await
    }
}
