//! [`StreamStore`] on PostgreSQL: one SEQUENCE per stream. `nextval` never hands a value
//! out twice, whatever transactions roll back, and survives restarts and crashes.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::column_values::position_from_bigint;
use super::{PostgresStore, query_failed};
use crate::storage::{Error, Position, StreamId, StreamStore};

/// The sequence behind each stream, as created by the migrations.
fn sequence_name(stream: StreamId) -> &'static str {
    match stream {
        StreamId::Events => "stream_events",
        StreamId::AccountData => "stream_account_data",
        StreamId::Receipts => "stream_receipts",
        StreamId::ToDevice => "stream_to_device",
        StreamId::DeviceLists => "stream_device_lists",
        StreamId::Typing => "stream_typing",
        StreamId::Presence => "stream_presence",
        StreamId::PushRules => "stream_push_rules",
    }
}

#[async_trait]
impl StreamStore for PostgresStore {
    async fn reserve_position(&self, stream: StreamId) -> Result<Position, Error> {
        let doing = "reserving a stream position";
        let row = sqlx::query("SELECT nextval($1::regclass) AS position")
            .bind(sequence_name(stream))
            .fetch_one(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)
    }

    async fn max_reserved_position(&self, stream: StreamId) -> Result<Position, Error> {
        // Before the first nextval a sequence's last_value holds its start value with
        // is_called false: nothing was reserved yet. The name comes from the closed list
        // above, never from input, so formatting it into the statement is safe.
        let doing = "reading the highest reserved stream position";
        let sql = format!(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS position FROM {}",
            sequence_name(stream)
        );
        let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(&self.pool).await.map_err(query_failed(doing))?;
        position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)
    }
}
