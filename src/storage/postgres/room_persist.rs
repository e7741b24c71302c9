//! [`crate::storage::RoomStore::persist`] on PostgreSQL: one [`PersistBatch`] as one
//! transaction, so a crash or a failed statement leaves none of it behind.
//!
//! Rows go in as whole arrays (`unnest`), one statement per table rather than one per
//! row, so a batch that creates a full state group for a large room stays a handful of
//! round trips.

use std::collections::{BTreeMap, HashSet};

use ruma::{OwnedEventId, RoomId};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::column_values::{state_group_to_bigint, to_bigint};
use super::rooms::status_to_text;
use super::{query_failed, relations, state_groups};
use crate::storage::relations::{relations_to_index, relations_to_remove};
use crate::storage::{Error, EventStatus, MembershipRecord, NewEvent, PersistBatch, RoomRecord, StateKey};

/// Writes the whole batch in one transaction.
pub(super) async fn persist(pool: &PgPool, batch: &PersistBatch) -> Result<(), Error> {
    let doing = "persisting a room batch";
    let mut tx = pool.begin().await.map_err(query_failed(doing))?;
    if let Some(room) = &batch.new_room {
        insert_room(&mut tx, room).await?;
    }
    for group in &batch.new_state_groups {
        state_groups::create(&mut tx, group).await?;
    }
    let skipped = if batch.events.is_empty() {
        HashSet::new()
    } else {
        insert_events(&mut tx, batch_room(batch)?, &batch.events).await?
    };
    // Relations belong to their events, like memberships: none for a skipped event.
    let relations = relations_to_index(batch, |event_id| !skipped.contains(event_id.as_str()));
    if !relations.is_empty() {
        relations::insert(&mut tx, batch_room(batch)?, &relations).await?;
    }
    let removed = relations_to_remove(batch, |event_id| !skipped.contains(event_id.as_str()));
    if !removed.is_empty() {
        relations::remove(&mut tx, &removed).await?;
    }
    if let Some(extremities) = &batch.forward_extremities {
        replace_forward_extremities(&mut tx, batch_room(batch)?, extremities).await?;
    }
    if !batch.current_state_delta.is_empty() {
        apply_current_state_delta(&mut tx, batch_room(batch)?, &batch.current_state_delta).await?;
    }
    // A membership record belongs to its event: one already stored was written with it.
    let memberships: Vec<&MembershipRecord> =
        batch.memberships.iter().filter(|record| !skipped.contains(record.event_id.as_str())).collect();
    if !memberships.is_empty() {
        write_memberships(&mut tx, &memberships).await?;
    }
    tx.commit().await.map_err(query_failed(doing))
}

/// The room the batch's events, extremities and state belong to: its `room_id`, or the
/// room it creates.
fn batch_room(batch: &PersistBatch) -> Result<&RoomId, Error> {
    batch
        .room_id
        .as_deref()
        .or(batch.new_room.as_ref().map(|room| room.room_id.as_ref()))
        .ok_or_else(|| Error::Backend("a batch with room data names no room".to_owned()))
}

async fn insert_room(connection: &mut PgConnection, room: &RoomRecord) -> Result<(), Error> {
    // A room is created once; a retried batch finds it already there.
    sqlx::query(
        "INSERT INTO rooms (room_id, room_version, creator, created_at_position) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (room_id) DO NOTHING",
    )
    .bind(room.room_id.as_str())
    .bind(room.room_version.as_str())
    .bind(room.creator.as_str())
    .bind(to_bigint(room.created_at_position.0, "room creation position")?)
    .execute(connection)
    .await
    .map_err(query_failed("creating a room"))?;
    Ok(())
}

/// Inserts the events that are new, with their state groups and transaction IDs, then
/// settles redactions in both orders of arrival. Returns the IDs of the events skipped
/// because they were already stored: everything that belongs to them is skipped too.
async fn insert_events(
    connection: &mut PgConnection,
    room_id: &RoomId,
    events: &[NewEvent],
) -> Result<HashSet<String>, Error> {
    let doing = "storing events";
    let positions = events
        .iter()
        .map(|event| event.position.map(|position| to_bigint(position.0, "event position")).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    // ON CONFLICT names the event ID only: an existing event is left untouched, while a
    // position used twice in a room is a bug that must fail loudly, not be skipped.
    let rows = sqlx::query(
        "INSERT INTO events (room_id, event_id, sender, event_type, state_key, json, position, status) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::bigint[], $8::text[]) \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(room_id.as_str())
    .bind(events.iter().map(|event| event.event_id.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.sender.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.state_key.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.json.as_str()).collect::<Vec<_>>())
    .bind(positions)
    .bind(events.iter().map(|event| status_to_text(event.status)).collect::<Vec<_>>())
    .fetch_all(&mut *connection)
    .await
    .map_err(query_failed(doing))?;
    let inserted = rows
        .iter()
        .map(|row| row.try_get::<String, _>("event_id"))
        .collect::<Result<HashSet<_>, _>>()
        .map_err(query_failed(doing))?;
    let (new_events, skipped): (Vec<&NewEvent>, Vec<&NewEvent>) =
        events.iter().partition(|event| inserted.contains(event.event_id.as_str()));
    let skipped = skipped.into_iter().map(|event| event.event_id.as_str().to_owned()).collect();
    // An ID listed twice in the batch was inserted from its first listing only; the later
    // listing is dropped with everything it carries (its transaction ID, its redaction).
    let mut seen = HashSet::new();
    let new_events: Vec<&NewEvent> =
        new_events.into_iter().filter(|event| seen.insert(event.event_id.as_str())).collect();
    insert_event_state_groups(connection, &new_events).await?;
    insert_txn_ids(connection, &new_events).await?;
    apply_pending_redactions(connection, &new_events).await?;
    for event in new_events {
        if let (EventStatus::Accepted, Some(target)) = (event.status, &event.redacts) {
            apply_redaction(connection, room_id, &event.event_id, target).await?;
        }
    }
    Ok(skipped)
}

async fn insert_event_state_groups(connection: &mut PgConnection, events: &[&NewEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let before = events
        .iter()
        .map(|event| state_group_to_bigint(event.state_before))
        .collect::<Result<Vec<_>, _>>()?;
    let after =
        events.iter().map(|event| state_group_to_bigint(event.state_after)).collect::<Result<Vec<_>, _>>()?;
    sqlx::query(
        "INSERT INTO event_state_groups (event_id, state_before, state_after) \
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(events.iter().map(|event| event.event_id.as_str()).collect::<Vec<_>>())
    .bind(before)
    .bind(after)
    .execute(connection)
    .await
    .map_err(query_failed("storing events' state groups"))?;
    Ok(())
}

async fn insert_txn_ids(connection: &mut PgConnection, events: &[&NewEvent]) -> Result<(), Error> {
    let with_txn: Vec<_> = events
        .iter()
        .filter_map(|event| event.txn.as_ref().map(|txn| (txn, event.event_id.as_str())))
        .collect();
    if with_txn.is_empty() {
        return Ok(());
    }
    // The first event stored for a transaction ID keeps it: a retry yields that event.
    sqlx::query(
        "INSERT INTO txn_ids (user_id, device_id, txn_id, event_id) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
         ON CONFLICT (user_id, device_id, txn_id) DO NOTHING",
    )
    .bind(with_txn.iter().map(|(txn, _)| txn.user_id.as_str()).collect::<Vec<_>>())
    .bind(with_txn.iter().map(|(txn, _)| txn.device_id.as_str()).collect::<Vec<_>>())
    .bind(with_txn.iter().map(|(txn, _)| txn.txn_id.as_str()).collect::<Vec<_>>())
    .bind(with_txn.iter().map(|(_, event_id)| *event_id).collect::<Vec<_>>())
    .execute(connection)
    .await
    .map_err(query_failed("storing transaction IDs"))?;
    Ok(())
}

/// Redactions that arrived before their targets: now that the targets are here, mark
/// them (the earliest redaction by ID wins if there were several) and forget the note.
async fn apply_pending_redactions(connection: &mut PgConnection, events: &[&NewEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH claimed AS ( \
             DELETE FROM pending_redactions WHERE target_id = ANY($1::text[]) \
             RETURNING target_id, redaction_id, room_id \
         ) \
         UPDATE events SET redacted_by = first.redaction_id \
         FROM (SELECT DISTINCT ON (target_id) target_id, redaction_id, room_id FROM claimed \
               ORDER BY target_id, redaction_id) AS first \
         WHERE events.event_id = first.target_id AND events.room_id = first.room_id \
             AND events.redacted_by IS NULL",
    )
    .bind(events.iter().map(|event| event.event_id.as_str()).collect::<Vec<_>>())
    .execute(connection)
    .await
    .map_err(query_failed("applying redactions that awaited their targets"))?;
    Ok(())
}

/// Marks `target` as redacted by `redaction` if it is in the same room and not already
/// redacted; if we have not seen the target yet, notes the redaction for its arrival.
async fn apply_redaction(
    connection: &mut PgConnection,
    room_id: &RoomId,
    redaction: &OwnedEventId,
    target: &OwnedEventId,
) -> Result<(), Error> {
    // Both parts run on the snapshot from before the statement: whether the target
    // exists does not depend on the UPDATE, so exactly one of them can take effect.
    sqlx::query(
        "WITH applied AS ( \
             UPDATE events SET redacted_by = $1 \
             WHERE event_id = $2 AND room_id = $3 AND redacted_by IS NULL RETURNING 1 \
         ) \
         INSERT INTO pending_redactions (target_id, redaction_id, room_id) \
         SELECT $2, $1, $3 WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = $2) \
         ON CONFLICT (target_id, redaction_id) DO NOTHING",
    )
    .bind(redaction.as_str())
    .bind(target.as_str())
    .bind(room_id.as_str())
    .execute(connection)
    .await
    .map_err(query_failed("applying a redaction"))?;
    Ok(())
}

async fn replace_forward_extremities(
    connection: &mut PgConnection,
    room_id: &RoomId,
    extremities: &[OwnedEventId],
) -> Result<(), Error> {
    let doing = "replacing a room's forward extremities";
    sqlx::query("DELETE FROM forward_extremities WHERE room_id = $1")
        .bind(room_id.as_str())
        .execute(&mut *connection)
        .await
        .map_err(query_failed(doing))?;
    sqlx::query(
        "INSERT INTO forward_extremities (room_id, event_id, ordinal) \
         SELECT $1, * FROM unnest($2::text[]) WITH ORDINALITY",
    )
    .bind(room_id.as_str())
    .bind(extremities.iter().map(|event_id| event_id.as_str()).collect::<Vec<_>>())
    .execute(connection)
    .await
    .map_err(query_failed(doing))?;
    Ok(())
}

async fn apply_current_state_delta(
    connection: &mut PgConnection,
    room_id: &RoomId,
    delta: &[(StateKey, Option<OwnedEventId>)],
) -> Result<(), Error> {
    let doing = "updating a room's current state";
    // A key listed twice: the later entry wins, as it would applied in order.
    let delta: BTreeMap<(&str, &str), Option<&str>> = delta
        .iter()
        .map(|((event_type, state_key), event_id)| {
            ((event_type.as_str(), state_key.as_str()), event_id.as_ref().map(|id| id.as_str()))
        })
        .collect();
    let (set, removed): (Vec<_>, Vec<_>) = delta.iter().partition(|(_, event_id)| event_id.is_some());
    sqlx::query(
        "DELETE FROM current_state USING unnest($2::text[], $3::text[]) AS gone (event_type, state_key) \
         WHERE current_state.room_id = $1 AND current_state.event_type = gone.event_type \
             AND current_state.state_key = gone.state_key",
    )
    .bind(room_id.as_str())
    .bind(removed.iter().map(|((event_type, _), _)| *event_type).collect::<Vec<_>>())
    .bind(removed.iter().map(|((_, state_key), _)| *state_key).collect::<Vec<_>>())
    .execute(&mut *connection)
    .await
    .map_err(query_failed(doing))?;
    sqlx::query(
        "INSERT INTO current_state (room_id, event_type, state_key, event_id) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[]) \
         ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id",
    )
    .bind(room_id.as_str())
    .bind(set.iter().map(|((event_type, _), _)| *event_type).collect::<Vec<_>>())
    .bind(set.iter().map(|((_, state_key), _)| *state_key).collect::<Vec<_>>())
    .bind(set.iter().map(|(_, event_id)| **event_id).collect::<Vec<_>>())
    .execute(connection)
    .await
    .map_err(query_failed(doing))?;
    Ok(())
}

/// Replaces each user's current membership and appends every record to the change log.
async fn write_memberships(
    connection: &mut PgConnection,
    records: &[&MembershipRecord],
) -> Result<(), Error> {
    let doing = "storing memberships";
    // Later records replace earlier ones with the same key, as if applied in order (one
    // INSERT … ON CONFLICT DO UPDATE may not touch a row twice).
    let current: BTreeMap<(&str, &str), &MembershipRecord> =
        records.iter().map(|record| ((record.room_id.as_str(), record.user_id.as_str()), *record)).collect();
    let current: Vec<&MembershipRecord> = current.into_values().collect();
    let logged: BTreeMap<(&str, u64, &str), &MembershipRecord> = records
        .iter()
        .map(|record| ((record.user_id.as_str(), record.position.0, record.room_id.as_str()), *record))
        .collect();
    let logged: Vec<&MembershipRecord> = logged.into_values().collect();
    for (sql, records) in [
        (
            "INSERT INTO memberships (room_id, user_id, membership, event_id, position) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
             ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, \
                 event_id = EXCLUDED.event_id, position = EXCLUDED.position",
            &current,
        ),
        (
            "INSERT INTO membership_changes (room_id, user_id, membership, event_id, position) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
             ON CONFLICT (user_id, position, room_id) DO UPDATE SET \
                 membership = EXCLUDED.membership, event_id = EXCLUDED.event_id",
            &logged,
        ),
    ] {
        let positions = records
            .iter()
            .map(|record| to_bigint(record.position.0, "membership position"))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(sql)
            .bind(records.iter().map(|record| record.room_id.as_str()).collect::<Vec<_>>())
            .bind(records.iter().map(|record| record.user_id.as_str()).collect::<Vec<_>>())
            .bind(records.iter().map(|record| record.membership.as_str()).collect::<Vec<_>>())
            .bind(records.iter().map(|record| record.event_id.as_str()).collect::<Vec<_>>())
            .bind(positions)
            .execute(&mut *connection)
            .await
            .map_err(query_failed(doing))?;
    }
    Ok(())
}
