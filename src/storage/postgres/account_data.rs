//! [`AccountDataStore`] on PostgreSQL: the `account_data` table holds each entry's
//! current value and the position it last changed at; its (user_id, position) index is
//! the change log that `/sync` range-scans.

use async_trait::async_trait;
use ruma::{RoomId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{position_from_bigint, room_id_from_text, to_bigint};
use super::{PostgresStore, query_failed};
use crate::storage::{AccountDataChange, AccountDataStore, Error, Position};

/// Global account data is stored under this room ID, which no room has, so that the
/// room column can be part of the primary key.
const GLOBAL_ROOM: &str = "";

fn room_column(room_id: Option<&RoomId>) -> &str {
    room_id.map_or(GLOBAL_ROOM, RoomId::as_str)
}

fn change_from_row(row: &PgRow) -> Result<AccountDataChange, Error> {
    let doing = "decoding an account data change";
    let room: String = row.try_get("room_id").map_err(query_failed(doing))?;
    let room_id = if room == GLOBAL_ROOM { None } else { Some(room_id_from_text(room)?) };
    Ok(AccountDataChange {
        room_id,
        event_type: row.try_get("event_type").map_err(query_failed(doing))?,
        content: row.try_get("content").map_err(query_failed(doing))?,
        position: position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)?,
    })
}

#[async_trait]
impl AccountDataStore for PostgresStore {
    async fn put_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
        position: Position,
    ) -> Result<(), Error> {
        // Moving the row's position is what moves the entry in the change log, so an
        // entry changed twice is listed once, at its last position.
        sqlx::query(
            "INSERT INTO account_data (user_id, room_id, event_type, content, position) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, room_id, event_type) DO UPDATE SET \
                 content = EXCLUDED.content, position = EXCLUDED.position",
        )
        .bind(user_id.as_str())
        .bind(room_column(room_id))
        .bind(event_type)
        .bind(content)
        .bind(to_bigint(position.0, "account data position")?)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing account data"))?;
        Ok(())
    }

    async fn get_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<String>, Error> {
        let doing = "reading account data";
        let row = sqlx::query(
            "SELECT content FROM account_data \
             WHERE user_id = $1 AND room_id = $2 AND event_type = $3",
        )
        .bind(user_id.as_str())
        .bind(room_column(room_id))
        .bind(event_type)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        row.map(|row| row.try_get("content")).transpose().map_err(query_failed(doing))
    }

    async fn account_data_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<AccountDataChange>, Error> {
        let rows = sqlx::query(
            "SELECT room_id, event_type, content, position FROM account_data \
             WHERE user_id = $1 AND position > $2 AND position <= $3 \
             ORDER BY position, room_id, event_type LIMIT $4",
        )
        .bind(user_id.as_str())
        .bind(to_bigint(since.0, "since position")?)
        .bind(i64::try_from(upto.0).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed("listing account data changes"))?;
        rows.iter().map(change_from_row).collect()
    }
}
