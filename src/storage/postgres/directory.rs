//! [`DirectoryStore`] on PostgreSQL: the `room_aliases` and `public_rooms` tables.

use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomAliasId, RoomId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{from_bigint, room_alias_from_text, room_id_from_text, user_id_from_text};
use super::{PostgresStore, query_failed};
use crate::storage::{AliasRecord, DirectoryStore, Error};

fn alias_from_row(row: &PgRow) -> Result<AliasRecord, Error> {
    let doing = "decoding a room alias";
    Ok(AliasRecord {
        alias: room_alias_from_text(row.try_get("alias").map_err(query_failed(doing))?)?,
        room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
        creator: user_id_from_text(row.try_get("creator").map_err(query_failed(doing))?)?,
    })
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn create_alias(&self, record: &AliasRecord) -> Result<bool, Error> {
        // ON CONFLICT DO NOTHING makes "is it taken?" and the insert one atomic step.
        let result = sqlx::query(
            "INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3) \
             ON CONFLICT (alias) DO NOTHING",
        )
        .bind(record.alias.as_str())
        .bind(record.room_id.as_str())
        .bind(record.creator.as_str())
        .execute(&self.pool)
        .await
        .map_err(query_failed("creating a room alias"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn get_alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRecord>, Error> {
        let row = sqlx::query("SELECT alias, room_id, creator FROM room_aliases WHERE alias = $1")
            .bind(alias.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed("reading a room alias"))?;
        row.as_ref().map(alias_from_row).transpose()
    }

    async fn delete_alias(&self, alias: &RoomAliasId) -> Result<bool, Error> {
        let result = sqlx::query("DELETE FROM room_aliases WHERE alias = $1")
            .bind(alias.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_failed("deleting a room alias"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn room_aliases(&self, room_id: &RoomId) -> Result<Vec<AliasRecord>, Error> {
        // `alias` is COLLATE "C": byte order, as the embedded store returns them, read
        // along the (room_id, alias) index.
        let rows =
            sqlx::query("SELECT alias, room_id, creator FROM room_aliases WHERE room_id = $1 ORDER BY alias")
                .bind(room_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed("listing a room's aliases"))?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> Result<(), Error> {
        // Both statements are idempotent on their own, so repeating one changes nothing.
        let (statement, doing) = if public {
            (
                "INSERT INTO public_rooms (room_id) VALUES ($1) ON CONFLICT (room_id) DO NOTHING",
                "publishing a room",
            )
        } else {
            ("DELETE FROM public_rooms WHERE room_id = $1", "unpublishing a room")
        };
        sqlx::query(statement)
            .bind(room_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        Ok(())
    }

    async fn is_room_public(&self, room_id: &RoomId) -> Result<bool, Error> {
        let row = sqlx::query("SELECT 1 FROM public_rooms WHERE room_id = $1")
            .bind(room_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed("checking whether a room is public"))?;
        Ok(row.is_some())
    }

    async fn public_rooms(&self, after: Option<&RoomId>, limit: usize) -> Result<Vec<OwnedRoomId>, Error> {
        let doing = "listing public rooms";
        // Every room ID sorts after the empty string; the primary key walks the page.
        let rows =
            sqlx::query("SELECT room_id FROM public_rooms WHERE room_id > $1 ORDER BY room_id LIMIT $2")
                .bind(after.map_or("", RoomId::as_str))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?))
            .collect()
    }

    async fn public_room_count(&self) -> Result<u64, Error> {
        // count(*) over the public rooms only (never all rooms): an index-only scan of a
        // small table, and it cannot drift from the rows the way a kept counter could.
        let doing = "counting public rooms";
        let row = sqlx::query("SELECT count(*) AS count FROM public_rooms")
            .fetch_one(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        from_bigint(row.try_get("count").map_err(query_failed(doing))?, "public room count")
    }
}
