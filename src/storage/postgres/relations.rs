//! [`RelationStore`] on PostgreSQL: relation rows and thread activity, written inside the
//! room persist transaction (`room_persist.rs` calls [`insert`]) and read through the
//! indexes of `migrations/0004_relations.sql`.
//!
//! Each read shape has its own SQL text rather than one query with `$n IS NULL OR …`
//! filters: a generic plan for such a query cannot pick the index that matches the
//! filters actually given.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{EventId, RoomId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::column_values::{event_id_from_text, position_from_bigint, to_bigint, user_id_from_text};
use super::rooms::{limit_to_bigint, timeline_bound};
use super::{PostgresStore, query_failed};
use crate::storage::{Direction, Error, Position, RelationRecord, RelationStore, ThreadRecord};

/// The relation type whose relations make threads.
const THREAD_REL_TYPE: &str = "m.thread";

const RELATION_COLUMNS: &str = "event_id, parent_id, rel_type, event_type, sender, position";
/// The newest relation of a type: the last entry of `relations_by_type`'s range.
const LATEST_SQL: &str = "SELECT event_id, parent_id, rel_type, event_type, sender, position \
     FROM relations WHERE parent_id = $1 AND rel_type = $2 ORDER BY position DESC LIMIT 1";
/// A sender's newest relation of a type: the last entry of `relations_by_sender`'s range.
const LATEST_BY_SENDER_SQL: &str = "SELECT event_id, parent_id, rel_type, event_type, sender, position \
     FROM relations WHERE parent_id = $1 AND rel_type = $2 AND sender = $3 ORDER BY position DESC LIMIT 1";

/// Stores `relations` (already filtered to the events this transaction inserts) of
/// `room_id`, and moves each thread's activity to its newest event.
pub(super) async fn insert(
    connection: &mut PgConnection,
    room_id: &RoomId,
    relations: &[&RelationRecord],
) -> Result<(), Error> {
    if relations.is_empty() {
        return Ok(());
    }
    let positions = relations
        .iter()
        .map(|relation| to_bigint(relation.position.0, "relation position"))
        .collect::<Result<Vec<_>, _>>()?;
    // ON CONFLICT only guards a retry racing another writer; the caller already dropped
    // relations of events that were stored before.
    sqlx::query(
        "INSERT INTO relations (room_id, event_id, parent_id, rel_type, event_type, sender, position) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(room_id.as_str())
    .bind(relations.iter().map(|relation| relation.event_id.as_str()).collect::<Vec<_>>())
    .bind(relations.iter().map(|relation| relation.parent_id.as_str()).collect::<Vec<_>>())
    .bind(relations.iter().map(|relation| relation.rel_type.as_str()).collect::<Vec<_>>())
    .bind(relations.iter().map(|relation| relation.event_type.as_str()).collect::<Vec<_>>())
    .bind(relations.iter().map(|relation| relation.sender.as_str()).collect::<Vec<_>>())
    .bind(positions)
    .execute(&mut *connection)
    .await
    .map_err(query_failed("storing relations"))?;
    advance_threads(connection, room_id, relations).await
}

/// Removes `relations` (already filtered to the redactions this transaction writes);
/// threads whose newest event went move back to the newest one left, or are dropped.
pub(super) async fn remove(
    connection: &mut PgConnection,
    relations: &[&RelationRecord],
) -> Result<(), Error> {
    let doing = "removing redacted relations";
    let ids: Vec<&str> = relations.iter().map(|relation| relation.event_id.as_str()).collect();
    sqlx::query("DELETE FROM relations WHERE event_id = ANY($1::text[])")
        .bind(&ids)
        .execute(&mut *connection)
        .await
        .map_err(query_failed(doing))?;
    let roots: Vec<&str> = relations
        .iter()
        .filter(|relation| relation.rel_type == THREAD_REL_TYPE)
        .map(|relation| relation.parent_id.as_str())
        .collect();
    if roots.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE threads SET latest_event_id = newest.event_id, latest_position = newest.position \
         FROM (SELECT DISTINCT ON (parent_id) parent_id, event_id, position FROM relations \
               WHERE parent_id = ANY($1::text[]) AND rel_type = $2 \
               ORDER BY parent_id, position DESC) AS newest \
         WHERE threads.root_id = newest.parent_id AND threads.latest_event_id = ANY($3::text[])",
    )
    .bind(&roots)
    .bind(THREAD_REL_TYPE)
    .bind(&ids)
    .execute(&mut *connection)
    .await
    .map_err(query_failed(doing))?;
    sqlx::query("DELETE FROM threads WHERE root_id = ANY($1::text[]) AND latest_event_id = ANY($2::text[])")
        .bind(&roots)
        .bind(&ids)
        .execute(&mut *connection)
        .await
        .map_err(query_failed(doing))?;
    Ok(())
}

/// Upserts one `threads` row per root with the batch's newest thread event, keeping a
/// stored row that is already newer (one INSERT … ON CONFLICT may touch a row only once,
/// hence the per-root maximum first).
async fn advance_threads(
    connection: &mut PgConnection,
    room_id: &RoomId,
    relations: &[&RelationRecord],
) -> Result<(), Error> {
    let mut newest: BTreeMap<&str, &RelationRecord> = BTreeMap::new();
    for relation in relations.iter().filter(|relation| relation.rel_type == THREAD_REL_TYPE) {
        let entry = newest.entry(relation.parent_id.as_str()).or_insert(relation);
        if relation.position > entry.position {
            *entry = relation;
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let positions = newest
        .values()
        .map(|relation| to_bigint(relation.position.0, "thread position"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO threads (room_id, root_id, latest_event_id, latest_position) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (root_id) DO UPDATE SET room_id = EXCLUDED.room_id, \
             latest_event_id = EXCLUDED.latest_event_id, latest_position = EXCLUDED.latest_position \
         WHERE threads.latest_position < EXCLUDED.latest_position",
    )
    .bind(room_id.as_str())
    .bind(newest.keys().copied().collect::<Vec<_>>())
    .bind(newest.values().map(|relation| relation.event_id.as_str()).collect::<Vec<_>>())
    .bind(positions)
    .execute(connection)
    .await
    .map_err(query_failed("updating thread activity"))?;
    Ok(())
}

fn relation_from_row(row: &PgRow) -> Result<RelationRecord, Error> {
    let doing = "decoding a relation";
    let text = |column: &str| row.try_get::<String, _>(column).map_err(query_failed(doing));
    Ok(RelationRecord {
        event_id: event_id_from_text(text("event_id")?)?,
        parent_id: event_id_from_text(text("parent_id")?)?,
        rel_type: text("rel_type")?,
        event_type: text("event_type")?,
        sender: user_id_from_text(text("sender")?)?,
        position: position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)?,
    })
}

/// The SQL of one `relations` page: parameters are `$1` room, `$2` parent, `$3` the
/// inclusive position bound, `$4` limit, then the relation type and event type when given.
fn relations_sql(rel_type: bool, event_type: bool, direction: Direction) -> String {
    let filters = match (rel_type, event_type) {
        (true, true) => " AND rel_type = $5 AND event_type = $6",
        (true, false) => " AND rel_type = $5",
        (false, true) => " AND event_type = $5",
        (false, false) => "",
    };
    let (comparison, order) = match direction {
        Direction::Forward => (">=", "ASC"),
        Direction::Backward => ("<=", "DESC"),
    };
    format!(
        "SELECT {RELATION_COLUMNS} FROM relations \
         WHERE parent_id = $2 AND room_id = $1 AND position {comparison} $3{filters} \
         ORDER BY position {order} LIMIT $4"
    )
}

#[async_trait]
impl RelationStore for PostgresStore {
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
        let Some(bound) = timeline_bound(from, direction) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = relations_sql(rel_type.is_some(), event_type.is_some(), direction);
        // The text is assembled from constant fragments only; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(room_id.as_str())
            .bind(parent_id.as_str())
            .bind(bound)
            .bind(limit_to_bigint(limit));
        for filter in [rel_type, event_type].into_iter().flatten() {
            query = query.bind(filter);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(query_failed("reading relations"))?;
        rows.iter().map(relation_from_row).collect()
    }

    async fn relation_count(&self, parent_id: &EventId, rel_type: &str) -> Result<u64, Error> {
        let doing = "counting relations";
        let row =
            sqlx::query("SELECT count(*) AS count FROM relations WHERE parent_id = $1 AND rel_type = $2")
                .bind(parent_id.as_str())
                .bind(rel_type)
                .fetch_one(&self.pool)
                .await
                .map_err(query_failed(doing))?;
        let count: i64 = row.try_get("count").map_err(query_failed(doing))?;
        u64::try_from(count).map_err(|_| Error::Corrupt(format!("{doing}: negative count {count}")))
    }

    async fn latest_relation(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        sender: Option<&UserId>,
    ) -> Result<Option<RelationRecord>, Error> {
        let query = sqlx::query(if sender.is_some() { LATEST_BY_SENDER_SQL } else { LATEST_SQL })
            .bind(parent_id.as_str())
            .bind(rel_type);
        let query = match sender {
            Some(sender) => query.bind(sender.as_str()),
            None => query,
        };
        let row =
            query.fetch_optional(&self.pool).await.map_err(query_failed("reading the latest relation"))?;
        row.as_ref().map(relation_from_row).transpose()
    }

    async fn has_related_from(
        &self,
        parent_id: &EventId,
        rel_type: &str,
        user_id: &UserId,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT 1 AS found FROM relations WHERE parent_id = $1 AND rel_type = $2 AND sender = $3 LIMIT 1",
        )
        .bind(parent_id.as_str())
        .bind(rel_type)
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("checking a sender's relations"))?;
        Ok(row.is_some())
    }

    async fn threads(
        &self,
        room_id: &RoomId,
        before: Option<Position>,
        limit: usize,
    ) -> Result<Vec<ThreadRecord>, Error> {
        let doing = "reading threads";
        let Some(bound) = timeline_bound(before, Direction::Backward) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT root_id, latest_position, latest_event_id FROM threads \
             WHERE room_id = $1 AND latest_position <= $2 ORDER BY latest_position DESC LIMIT $3",
        )
        .bind(room_id.as_str())
        .bind(bound)
        .bind(limit_to_bigint(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                Ok(ThreadRecord {
                    root_id: event_id_from_text(row.try_get("root_id").map_err(query_failed(doing))?)?,
                    latest_position: position_from_bigint(
                        row.try_get("latest_position").map_err(query_failed(doing))?,
                    )?,
                    latest_event_id: event_id_from_text(
                        row.try_get("latest_event_id").map_err(query_failed(doing))?,
                    )?,
                })
            })
            .collect()
    }
}
