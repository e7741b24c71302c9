//! [`ModerationStore`] on PostgreSQL: `forgotten_rooms` and `reports`.

use async_trait::async_trait;
use ruma::{RoomId, UserId};
use sqlx::Row;

use super::column_values::{event_id_from_text, room_id_from_text, user_id_from_text};
use super::{PostgresStore, query_failed};
use crate::storage::{Error, ModerationStore, ReportRecord};

#[async_trait]
impl ModerationStore for PostgresStore {
    async fn set_room_forgotten(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        forgotten: bool,
    ) -> Result<(), Error> {
        let sql = if forgotten {
            "INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2"
        };
        sqlx::query(sql)
            .bind(user_id.as_str())
            .bind(room_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_failed("marking a room forgotten"))?;
        Ok(())
    }

    async fn is_room_forgotten(&self, user_id: &UserId, room_id: &RoomId) -> Result<bool, Error> {
        let row = sqlx::query("SELECT 1 FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2")
            .bind(user_id.as_str())
            .bind(room_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed("reading a forgotten room"))?;
        Ok(row.is_some())
    }

    async fn add_report(&self, report: &ReportRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO reports (reporter, room_id, event_id, reason, received_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(report.reporter.as_str())
        .bind(report.room_id.as_str())
        .bind(report.event_id.as_ref().map(|id| id.as_str()))
        .bind(report.reason.as_deref())
        .bind(i64::try_from(report.received_at_ms).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing a report"))?;
        Ok(())
    }

    async fn recent_reports(&self, limit: usize) -> Result<Vec<ReportRecord>, Error> {
        let doing = "reading reports";
        let rows = sqlx::query(
            "SELECT reporter, room_id, event_id, reason, received_at_ms FROM reports ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.into_iter()
            .map(|row| {
                let event_id: Option<String> = row.try_get("event_id").map_err(query_failed(doing))?;
                let received: i64 = row.try_get("received_at_ms").map_err(query_failed(doing))?;
                Ok(ReportRecord {
                    reporter: user_id_from_text(row.try_get("reporter").map_err(query_failed(doing))?)?,
                    room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
                    event_id: event_id.map(event_id_from_text).transpose()?,
                    reason: row.try_get("reason").map_err(query_failed(doing))?,
                    received_at_ms: u64::try_from(received).unwrap_or(0),
                })
            })
            .collect()
    }
}
