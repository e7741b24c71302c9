//! State groups on PostgreSQL: ID reservation from a counter row, creation of a group as
//! a parent plus a delta, and resolution of a group's full state along its parent chain.
//!
//! A group never stores a copy of its parent: resolving walks the chain with one
//! recursive query and keeps, per state key, the entry of the nearest group.

use std::collections::BTreeMap;

use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::column_values::{event_id_from_text, state_group_from_bigint, state_group_to_bigint};
use super::query_failed;
use crate::storage::{Error, NewStateGroup, StateGroupId, StateMap};

/// The longest parent chain a group may have, as in the embedded store. The domain keeps
/// chains far shorter; refusing longer ones on write keeps every resolve bounded.
const MAX_CHAIN: i32 = 10_000;

/// Reserves `count` consecutive IDs by moving the counter row past them. The UPDATE
/// locks the row until it commits (right away: it is its own transaction), so
/// concurrent reservations queue up and never overlap, and a persist that later rolls
/// back does not hand its IDs out again.
pub(super) async fn reserve_ids(pool: &PgPool, count: u64) -> Result<StateGroupId, Error> {
    let doing = "reserving state group IDs";
    let count = i64::try_from(count)
        .map_err(|_| Error::Backend(format!("{doing}: {count} IDs do not fit in a bigint")))?;
    let row = sqlx::query(
        "UPDATE state_group_id_counter SET next_id = next_id + $1 RETURNING next_id - $1 AS first_id",
    )
    .bind(count)
    .fetch_one(pool)
    .await
    .map_err(query_failed(doing))?;
    state_group_from_bigint(row.try_get("first_id").map_err(query_failed(doing))?)
}

/// The group's depth (number of ancestors), or `None` if there is no such group.
pub(super) async fn depth(pool: &PgPool, id: StateGroupId) -> Result<Option<u32>, Error> {
    let doing = "reading a state group's depth";
    let row = sqlx::query("SELECT depth FROM state_groups WHERE id = $1")
        .bind(state_group_to_bigint(id)?)
        .fetch_optional(pool)
        .await
        .map_err(query_failed(doing))?;
    let Some(row) = row else { return Ok(None) };
    let depth: i32 = row.try_get("depth").map_err(query_failed(doing))?;
    u32::try_from(depth)
        .map(Some)
        .map_err(|_| Error::Corrupt(format!("state group depth {depth} is negative")))
}

/// The full state of a group. One statement walks the parent chain and keeps, for each
/// state key, the delta entry of the group nearest to `id`; removals then drop out. The
/// walk is bounded by the group's recorded depth: parents are created before their
/// children (a foreign key), so a chain cannot loop, and the bound makes sure of it.
pub(super) async fn resolve(pool: &PgPool, id: StateGroupId) -> Result<Option<StateMap>, Error> {
    let doing = "resolving a state group";
    let Some(depth) = depth(pool, id).await? else { return Ok(None) };
    let rows = sqlx::query(
        "WITH RECURSIVE chain (id, parent, distance) AS ( \
             SELECT id, parent, 0 FROM state_groups WHERE id = $1 \
             UNION ALL \
             SELECT g.id, g.parent, chain.distance + 1 FROM chain \
                 JOIN state_groups g ON g.id = chain.parent WHERE chain.distance < $2 \
         ) \
         SELECT event_type, state_key, event_id FROM ( \
             SELECT DISTINCT ON (d.event_type, d.state_key) d.event_type, d.state_key, d.event_id \
             FROM chain JOIN state_group_deltas d ON d.group_id = chain.id \
             ORDER BY d.event_type, d.state_key, chain.distance \
         ) AS nearest WHERE event_id IS NOT NULL",
    )
    .bind(state_group_to_bigint(id)?)
    .bind(i32::try_from(depth).unwrap_or(i32::MAX))
    .fetch_all(pool)
    .await
    .map_err(query_failed(doing))?;
    let mut state = BTreeMap::new();
    for row in &rows {
        let event_type: String = row.try_get("event_type").map_err(query_failed(doing))?;
        let state_key: String = row.try_get("state_key").map_err(query_failed(doing))?;
        let event_id = event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?)?;
        state.insert((event_type, state_key), event_id);
    }
    Ok(Some(state))
}

/// Creates a group inside the caller's transaction. A group that already exists is left
/// as it is (a retried batch), and a parent must exist before its children.
pub(super) async fn create(connection: &mut PgConnection, group: &NewStateGroup) -> Result<(), Error> {
    let doing = format!("creating state group {}", group.id.0);
    let depth = match group.parent {
        None => 0,
        Some(parent) => {
            let row = sqlx::query("SELECT depth FROM state_groups WHERE id = $1")
                .bind(state_group_to_bigint(parent)?)
                .fetch_optional(&mut *connection)
                .await
                .map_err(query_failed(&doing))?;
            let Some(row) = row else {
                return Err(Error::Backend(format!("{doing}: its parent {} does not exist", parent.0)));
            };
            let parent_depth: i32 = row.try_get("depth").map_err(query_failed(&doing))?;
            parent_depth.checked_add(1).filter(|depth| *depth <= MAX_CHAIN).ok_or_else(|| {
                Error::Backend(format!("{doing}: it would chain more than {MAX_CHAIN} links"))
            })?
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO state_groups (id, parent, depth) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(state_group_to_bigint(group.id)?)
    .bind(group.parent.map(state_group_to_bigint).transpose()?)
    .bind(depth)
    .execute(&mut *connection)
    .await
    .map_err(query_failed(&doing))?;
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    // A key listed twice in one delta: the later entry wins, as it would applied in order.
    let delta: BTreeMap<(&str, &str), Option<&str>> = group
        .delta
        .iter()
        .map(|((event_type, state_key), event_id)| {
            ((event_type.as_str(), state_key.as_str()), event_id.as_ref().map(|id| id.as_str()))
        })
        .collect();
    let event_types: Vec<&str> = delta.keys().map(|(event_type, _)| *event_type).collect();
    let state_keys: Vec<&str> = delta.keys().map(|(_, state_key)| *state_key).collect();
    let event_ids: Vec<Option<&str>> = delta.values().copied().collect();
    sqlx::query(
        "INSERT INTO state_group_deltas (group_id, event_type, state_key, event_id) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])",
    )
    .bind(state_group_to_bigint(group.id)?)
    .bind(event_types)
    .bind(state_keys)
    .bind(event_ids)
    .execute(&mut *connection)
    .await
    .map_err(query_failed(&doing))?;
    Ok(())
}
