//! State groups in the embedded store: each group is a parent plus a delta, never a full
//! copy, and group IDs are handed out from a durable high-water mark.
//!
//! `state_groups`: group ID (u64 big-endian) → [`StoredStateGroup`]. A group records its
//! depth (links to its root) so [`RoomStore::state_group_depth`] is one read and a chain
//! that would be too long to read back is refused when written.
//!
//! [`RoomStore::state_group_depth`]: crate::storage::RoomStore::state_group_depth

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::OwnedEventId;
use serde::{Deserialize, Serialize};

use super::super::codec::{decode_record, decode_u64, encode_record, encode_u64};
use super::super::engine::{Batch, KvEngine, Table};
use crate::storage::{Error, NewStateGroup, StateGroupId, StateKey, StateMap};

/// The longest parent chain a group may have. The domain keeps chains far shorter; a
/// longer one read back means a cycle or damage, and is reported as corrupt.
pub(super) const MAX_CHAIN: u32 = 10_000;

/// How many IDs one persisted ceiling covers: one fsync per block, not per reservation.
const ID_BLOCK: u64 = 1000;

/// Meta-table key of the highest state-group ID a durable ceiling covers.
const CEILING_KEY: &[u8] = b"state_group_ceiling";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredStateGroup {
    parent: Option<u64>,
    /// Links from this group to its root (0 for a full group).
    depth: u32,
    delta: Vec<(StateKey, Option<OwnedEventId>)>,
}

/// Hands out state-group IDs like stream positions: from memory, below a ceiling that is
/// durable before any ID under it is handed out, so no ID is reused after a restart
/// (the unused rest of a block is skipped).
pub(in super::super) struct StateGroupIds {
    range: Mutex<IdRange>,
}

struct IdRange {
    next: u64,
    ceiling: u64,
}

impl StateGroupIds {
    /// Starts just above the persisted ceiling.
    pub(in super::super) fn load(engine: &dyn KvEngine) -> Result<Self, Error> {
        let ceiling = match engine.get(Table::Meta, CEILING_KEY)? {
            Some(bytes) => decode_u64(&bytes)?,
            None => 0,
        };
        let next = ceiling.checked_add(1).ok_or_else(exhausted)?;
        Ok(StateGroupIds { range: Mutex::new(IdRange { next, ceiling }) })
    }

    /// Reserves `count` consecutive IDs and returns the first. Blocks on disk I/O when the
    /// reservation passes the ceiling. `count = 0` returns the next ID without taking it.
    pub(super) fn reserve(&self, engine: &dyn KvEngine, count: u64) -> Result<StateGroupId, Error> {
        // One mutex for the counter and the ceiling: reservations are rare (one per
        // persisted batch), so contention does not matter and the logic stays simple.
        let mut range = self.range.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = range.next;
        let last = first.checked_add(count.saturating_sub(1)).ok_or_else(exhausted)?;
        if count > 0 && last > range.ceiling {
            let ceiling = last.checked_add(ID_BLOCK).ok_or_else(exhausted)?;
            let mut batch = Batch::new();
            batch.put(Table::Meta, CEILING_KEY.to_vec(), encode_u64(ceiling).to_vec());
            engine.write(batch)?;
            range.ceiling = ceiling;
        }
        range.next = first.checked_add(count).ok_or_else(exhausted)?;
        Ok(StateGroupId(first))
    }
}

fn exhausted() -> Error {
    Error::Backend("state group IDs are exhausted".to_owned())
}

fn load_group(engine: &dyn KvEngine, id: u64) -> Result<Option<StoredStateGroup>, Error> {
    engine.get(Table::StateGroups, &encode_u64(id))?.map(|bytes| decode_record(&bytes)).transpose()
}

/// Adds `groups` to `batch`, in order, so a group may name a parent created earlier in
/// the same batch. A group whose ID already exists is left untouched (a retried batch).
/// Fails, writing nothing, when a parent is unknown or a chain would exceed [`MAX_CHAIN`].
pub(super) fn add_groups(
    engine: &dyn KvEngine,
    batch: &mut Batch,
    groups: &[NewStateGroup],
) -> Result<(), Error> {
    // Depths of the groups this batch creates, for their children in the same batch.
    let mut created: HashMap<u64, u32> = HashMap::new();
    for group in groups {
        if created.contains_key(&group.id.0) || load_group(engine, group.id.0)?.is_some() {
            continue;
        }
        let depth = match group.parent {
            None => 0,
            Some(parent) => parent_depth(engine, &created, parent)?
                .checked_add(1)
                .filter(|depth| *depth <= MAX_CHAIN)
                .ok_or_else(|| {
                    Error::Backend(format!(
                        "state group {} would chain more than {MAX_CHAIN} links",
                        group.id.0
                    ))
                })?,
        };
        let stored =
            StoredStateGroup { parent: group.parent.map(|id| id.0), depth, delta: group.delta.clone() };
        batch.put(Table::StateGroups, encode_u64(group.id.0).to_vec(), encode_record(&stored)?);
        created.insert(group.id.0, depth);
    }
    Ok(())
}

fn parent_depth(
    engine: &dyn KvEngine,
    created: &HashMap<u64, u32>,
    parent: StateGroupId,
) -> Result<u32, Error> {
    if let Some(depth) = created.get(&parent.0) {
        return Ok(*depth);
    }
    load_group(engine, parent.0)?
        .map(|group| group.depth)
        .ok_or_else(|| Error::Backend(format!("state group parent {} is unknown", parent.0)))
}

pub(super) fn depth(engine: &dyn KvEngine, id: StateGroupId) -> Result<Option<u32>, Error> {
    Ok(load_group(engine, id.0)?.map(|group| group.depth))
}

/// The full state of group `id`: its chain's deltas applied from the root down.
pub(super) fn resolve(engine: &dyn KvEngine, id: StateGroupId) -> Result<Option<StateMap>, Error> {
    let Some(first) = load_group(engine, id.0)? else {
        return Ok(None);
    };
    let mut deltas = vec![first.delta];
    let mut parent = first.parent;
    while let Some(parent_id) = parent {
        // The walk never trusts the stored depths: a cycle stops at the cap too.
        if deltas.len() > MAX_CHAIN as usize {
            return Err(Error::Corrupt(format!("state group {} chains more than {MAX_CHAIN} links", id.0)));
        }
        let group = load_group(engine, parent_id)?.ok_or_else(|| {
            Error::Corrupt(format!("state group {parent_id} (an ancestor of {}) is missing", id.0))
        })?;
        deltas.push(group.delta);
        parent = group.parent;
    }
    let mut state = StateMap::new();
    for delta in deltas.into_iter().rev() {
        for (key, event_id) in delta {
            match event_id {
                Some(event_id) => state.insert(key, event_id),
                None => state.remove(&key),
            };
        }
    }
    Ok(Some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::embedded::fjall::FjallEngine;

    fn put_raw(engine: &dyn KvEngine, id: u64, parent: Option<u64>, depth: u32) {
        let stored = StoredStateGroup { parent, depth, delta: Vec::new() };
        let mut batch = Batch::new();
        batch.put(Table::StateGroups, encode_u64(id).to_vec(), encode_record(&stored).expect("encode"));
        engine.write(batch).expect("write");
    }

    #[test]
    fn a_cycle_reads_as_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = FjallEngine::open(dir.path()).expect("open");
        put_raw(&engine, 1, Some(2), 1);
        put_raw(&engine, 2, Some(1), 1);
        assert!(matches!(resolve(&engine, StateGroupId(1)), Err(Error::Corrupt(_))));
    }

    #[test]
    fn a_missing_ancestor_reads_as_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = FjallEngine::open(dir.path()).expect("open");
        put_raw(&engine, 1, Some(7), 1);
        assert!(matches!(resolve(&engine, StateGroupId(1)), Err(Error::Corrupt(_))));
    }

    #[test]
    fn chains_past_the_cap_and_unknown_parents_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = FjallEngine::open(dir.path()).expect("open");
        put_raw(&engine, 1, None, MAX_CHAIN);
        let child =
            |parent| NewStateGroup { id: StateGroupId(2), parent: Some(StateGroupId(parent)), delta: vec![] };
        let mut batch = Batch::new();
        assert!(matches!(add_groups(&engine, &mut batch, &[child(1)]), Err(Error::Backend(_))));
        assert!(matches!(add_groups(&engine, &mut batch, &[child(9)]), Err(Error::Backend(_))));
    }

    #[test]
    fn reserved_ids_are_consecutive_and_skip_a_block_after_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = FjallEngine::open(dir.path()).expect("open");
        let ids = StateGroupIds::load(&engine).expect("load");
        assert_eq!(ids.reserve(&engine, 3).expect("reserve"), StateGroupId(1));
        assert_eq!(ids.reserve(&engine, 0).expect("reserve"), StateGroupId(4), "nothing taken");
        assert_eq!(ids.reserve(&engine, 1).expect("reserve"), StateGroupId(4));
        let reopened = StateGroupIds::load(&engine).expect("load");
        assert!(reopened.reserve(&engine, 1).expect("reserve") > StateGroupId(4));
    }
}
