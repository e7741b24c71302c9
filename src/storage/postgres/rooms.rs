//! [`RoomStore`] on PostgreSQL: the reads of events, timelines, current state and
//! memberships. Writes live in `room_persist.rs`, state groups in `state_groups.rs`; the
//! tables and the index each read relies on are in `migrations/0002_rooms.sql`.

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, RoomId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{
    event_id_from_text, position_from_bigint, room_id_from_text, state_group_from_bigint, user_id_from_text,
};
use super::{PostgresStore, query_failed, room_persist, state_groups};
use crate::storage::{
    Direction, Error, EventStatus, MembershipRecord, PersistBatch, Position, RoomRecord, RoomStore,
    StateGroupId, StateMap, StoredEvent, TxnKey,
};

/// A timeline page forwards: positions from `$2` up, in the `events_timeline` index order.
pub(super) const TIMELINE_FORWARD_SQL: &str = "SELECT event_id, room_id, json, position, status, redacted_by \
     FROM events WHERE room_id = $1 AND position IS NOT NULL AND position >= $2 AND status = 'accepted' \
     ORDER BY position LIMIT $3";
/// A timeline page backwards: positions from `$2` down, the same index read in reverse.
pub(super) const TIMELINE_BACKWARD_SQL: &str = "SELECT event_id, room_id, json, position, status, redacted_by \
     FROM events WHERE room_id = $1 AND position IS NOT NULL AND position <= $2 AND status = 'accepted' \
     ORDER BY position DESC LIMIT $3";
/// A page of a room's members, any membership: the primary key's order.
pub(super) const MEMBERS_SQL: &str = "SELECT room_id, user_id, membership, event_id, position \
     FROM memberships WHERE room_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3";
/// A page of a room's members with one membership: `memberships_by_room_membership`.
pub(super) const MEMBERS_WITH_MEMBERSHIP_SQL: &str = "SELECT room_id, user_id, membership, event_id, position \
     FROM memberships WHERE room_id = $1 AND membership = $4 AND user_id > $2 ORDER BY user_id LIMIT $3";
/// A user's membership changes: the primary key of `membership_changes` is this log.
pub(super) const MEMBERSHIP_CHANGES_SQL: &str = "SELECT room_id, user_id, membership, event_id, position \
     FROM membership_changes WHERE user_id = $1 AND position > $2 AND position <= $3 \
     ORDER BY position, room_id";

/// How an [`EventStatus`] is spelled in `events.status`.
pub(super) fn status_to_text(status: EventStatus) -> &'static str {
    match status {
        EventStatus::Accepted => "accepted",
        EventStatus::Outlier => "outlier",
        EventStatus::Rejected => "rejected",
        EventStatus::SoftFailed => "soft_failed",
    }
}

fn status_from_text(text: &str) -> Result<EventStatus, Error> {
    match text {
        "accepted" => Ok(EventStatus::Accepted),
        "outlier" => Ok(EventStatus::Outlier),
        "rejected" => Ok(EventStatus::Rejected),
        "soft_failed" => Ok(EventStatus::SoftFailed),
        other => Err(Error::Corrupt(format!("unknown event status {other:?}"))),
    }
}

fn event_from_row(row: &PgRow) -> Result<StoredEvent, Error> {
    let doing = "decoding an event";
    let position: Option<i64> = row.try_get("position").map_err(query_failed(doing))?;
    let status: String = row.try_get("status").map_err(query_failed(doing))?;
    let redacted_by: Option<String> = row.try_get("redacted_by").map_err(query_failed(doing))?;
    Ok(StoredEvent {
        event_id: event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?)?,
        room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
        json: row.try_get("json").map_err(query_failed(doing))?,
        position: position.map(position_from_bigint).transpose()?,
        status: status_from_text(&status)?,
        redacted_by: redacted_by.map(event_id_from_text).transpose()?,
    })
}

fn membership_from_row(row: &PgRow) -> Result<MembershipRecord, Error> {
    let doing = "decoding a membership";
    Ok(MembershipRecord {
        room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
        user_id: user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?,
        membership: row.try_get("membership").map_err(query_failed(doing))?,
        event_id: event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?)?,
        position: position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)?,
    })
}

fn state_entry_from_row(row: &PgRow) -> Result<((String, String), OwnedEventId), Error> {
    let doing = "decoding a state entry";
    let event_type: String = row.try_get("event_type").map_err(query_failed(doing))?;
    let state_key: String = row.try_get("state_key").map_err(query_failed(doing))?;
    let event_id = event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?)?;
    Ok(((event_type, state_key), event_id))
}

/// A page size as a `LIMIT`; no page can be larger than `i64::MAX` rows anyway.
pub(super) fn limit_to_bigint(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Where a timeline page starts, as the inclusive bound of its index range, or `None`
/// when nothing can lie beyond `from` in that direction.
pub(super) fn timeline_bound(from: Option<Position>, direction: Direction) -> Option<i64> {
    match (direction, from) {
        (Direction::Forward, None) => Some(0),
        (Direction::Forward, Some(from)) => from.0.checked_add(1).and_then(|next| i64::try_from(next).ok()),
        (Direction::Backward, None) => Some(i64::MAX),
        (Direction::Backward, Some(from)) => {
            from.0.checked_sub(1).map(|previous| i64::try_from(previous).unwrap_or(i64::MAX))
        }
    }
}

#[async_trait]
impl RoomStore for PostgresStore {
    async fn persist(&self, batch: &PersistBatch) -> Result<(), Error> {
        room_persist::persist(&self.pool, batch).await
    }

    async fn reserve_state_group_ids(&self, count: u64) -> Result<StateGroupId, Error> {
        state_groups::reserve_ids(&self.pool, count).await
    }

    async fn room(&self, room_id: &RoomId) -> Result<Option<RoomRecord>, Error> {
        let doing = "reading a room";
        let row = sqlx::query(
            "SELECT room_id, room_version, creator, created_at_position FROM rooms WHERE room_id = $1",
        )
        .bind(room_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RoomRecord {
            room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
            room_version: row.try_get("room_version").map_err(query_failed(doing))?,
            creator: user_id_from_text(row.try_get("creator").map_err(query_failed(doing))?)?,
            created_at_position: position_from_bigint(
                row.try_get("created_at_position").map_err(query_failed(doing))?,
            )?,
        }))
    }

    async fn get_event(&self, event_id: &EventId) -> Result<Option<StoredEvent>, Error> {
        let row = sqlx::query(
            "SELECT event_id, room_id, json, position, status, redacted_by FROM events WHERE event_id = $1",
        )
        .bind(event_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("reading an event"))?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn get_events(&self, event_ids: &[OwnedEventId]) -> Result<Vec<StoredEvent>, Error> {
        // One statement for the whole list; WITH ORDINALITY keeps the caller's order.
        let ids: Vec<&str> = event_ids.iter().map(|id| id.as_str()).collect();
        let rows = sqlx::query(
            "SELECT e.event_id, e.room_id, e.json, e.position, e.status, e.redacted_by \
             FROM unnest($1::text[]) WITH ORDINALITY AS wanted(event_id, ordinal) \
             JOIN events e ON e.event_id = wanted.event_id ORDER BY wanted.ordinal",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed("reading events"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn event_state_groups(
        &self,
        event_id: &EventId,
    ) -> Result<Option<(StateGroupId, StateGroupId)>, Error> {
        let doing = "reading an event's state groups";
        let row = sqlx::query("SELECT state_before, state_after FROM event_state_groups WHERE event_id = $1")
            .bind(event_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        let Some(row) = row else { return Ok(None) };
        let before = state_group_from_bigint(row.try_get("state_before").map_err(query_failed(doing))?)?;
        let after = state_group_from_bigint(row.try_get("state_after").map_err(query_failed(doing))?)?;
        Ok(Some((before, after)))
    }

    async fn state_group(&self, id: StateGroupId) -> Result<Option<StateMap>, Error> {
        state_groups::resolve(&self.pool, id).await
    }

    async fn state_group_depth(&self, id: StateGroupId) -> Result<Option<u32>, Error> {
        state_groups::depth(&self.pool, id).await
    }

    async fn current_state(&self, room_id: &RoomId) -> Result<StateMap, Error> {
        let rows =
            sqlx::query("SELECT event_type, state_key, event_id FROM current_state WHERE room_id = $1")
                .bind(room_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed("reading a room's current state"))?;
        rows.iter().map(state_entry_from_row).collect()
    }

    async fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<OwnedEventId>, Error> {
        let doing = "reading a current state event";
        let row = sqlx::query(
            "SELECT event_id FROM current_state WHERE room_id = $1 AND event_type = $2 AND state_key = $3",
        )
        .bind(room_id.as_str())
        .bind(event_type)
        .bind(state_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        let Some(row) = row else { return Ok(None) };
        event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?).map(Some)
    }

    async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<OwnedEventId>, Error> {
        let doing = "reading a room's forward extremities";
        let rows =
            sqlx::query("SELECT event_id FROM forward_extremities WHERE room_id = $1 ORDER BY ordinal")
                .bind(room_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?))
            .collect()
    }

    async fn timeline(
        &self,
        room_id: &RoomId,
        from: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let Some(bound) = timeline_bound(from, direction) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = match direction {
            Direction::Forward => TIMELINE_FORWARD_SQL,
            Direction::Backward => TIMELINE_BACKWARD_SQL,
        };
        let rows = sqlx::query(sql)
            .bind(room_id.as_str())
            .bind(bound)
            .bind(limit_to_bigint(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(query_failed("reading a timeline page"))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn txn_event(&self, txn: &TxnKey) -> Result<Option<OwnedEventId>, Error> {
        let doing = "reading a transaction ID's event";
        let row =
            sqlx::query("SELECT event_id FROM txn_ids WHERE user_id = $1 AND device_id = $2 AND txn_id = $3")
                .bind(txn.user_id.as_str())
                .bind(txn.device_id.as_str())
                .bind(txn.txn_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(query_failed(doing))?;
        let Some(row) = row else { return Ok(None) };
        event_id_from_text(row.try_get("event_id").map_err(query_failed(doing))?).map(Some)
    }

    async fn event_txn(&self, event_id: &EventId) -> Result<Option<TxnKey>, Error> {
        let doing = "reading an event's transaction ID";
        let row = sqlx::query("SELECT user_id, device_id, txn_id FROM txn_ids WHERE event_id = $1 LIMIT 1")
            .bind(event_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        let Some(row) = row else { return Ok(None) };
        let user: String = row.try_get("user_id").map_err(query_failed(doing))?;
        let device: String = row.try_get("device_id").map_err(query_failed(doing))?;
        let txn_id: String = row.try_get("txn_id").map_err(query_failed(doing))?;
        let user_id = ruma::OwnedUserId::try_from(user)
            .map_err(|error| Error::Corrupt(format!("a transaction names an invalid user: {error}")))?;
        Ok(Some(TxnKey { user_id, device_id: device.into(), txn_id }))
    }

    async fn user_memberships(&self, user_id: &UserId) -> Result<Vec<MembershipRecord>, Error> {
        let rows = sqlx::query(
            "SELECT room_id, user_id, membership, event_id, position FROM memberships \
             WHERE user_id = $1 ORDER BY room_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed("reading a user's memberships"))?;
        rows.iter().map(membership_from_row).collect()
    }

    async fn user_membership_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Result<Vec<MembershipRecord>, Error> {
        let Ok(since) = i64::try_from(since.0) else { return Ok(Vec::new()) };
        let rows = sqlx::query(MEMBERSHIP_CHANGES_SQL)
            .bind(user_id.as_str())
            .bind(since)
            .bind(i64::try_from(upto.0).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(query_failed("reading a user's membership changes"))?;
        rows.iter().map(membership_from_row).collect()
    }

    async fn room_members(
        &self,
        room_id: &RoomId,
        membership: Option<&str>,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<MembershipRecord>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // No user ID is empty, so "after ''" is "from the start" under COLLATE "C".
        let after = after.map_or("", UserId::as_str);
        let sql = if membership.is_some() { MEMBERS_WITH_MEMBERSHIP_SQL } else { MEMBERS_SQL };
        let mut query = sqlx::query(sql).bind(room_id.as_str()).bind(after).bind(limit_to_bigint(limit));
        if let Some(membership) = membership {
            query = query.bind(membership);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(query_failed("reading a room's members"))?;
        rows.iter().map(membership_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::timeline_bound;
    use crate::storage::{Direction, Position};

    #[test]
    fn timeline_bounds_are_inclusive_and_exclude_from() {
        assert_eq!(timeline_bound(None, Direction::Forward), Some(0));
        assert_eq!(timeline_bound(Some(Position(5)), Direction::Forward), Some(6));
        assert_eq!(timeline_bound(Some(Position(u64::MAX)), Direction::Forward), None);
        assert_eq!(timeline_bound(None, Direction::Backward), Some(i64::MAX));
        assert_eq!(timeline_bound(Some(Position(5)), Direction::Backward), Some(4));
        assert_eq!(timeline_bound(Some(Position(0)), Direction::Backward), None);
        assert_eq!(timeline_bound(Some(Position(u64::MAX)), Direction::Backward), Some(i64::MAX));
    }
}
