//! [`UiaStore`] on PostgreSQL: the `uia_sessions` table, with an expiry index so purging
//! reads only the sessions it deletes.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{from_bigint, to_bigint};
use super::{PostgresStore, query_failed};
use crate::storage::{Error, UiaSession, UiaStore};

fn session_from_row(row: &PgRow) -> Result<UiaSession, Error> {
    let doing = "decoding a UIA session";
    Ok(UiaSession {
        session_id: row.try_get("session_id").map_err(query_failed(doing))?,
        purpose: row.try_get("purpose").map_err(query_failed(doing))?,
        completed: row.try_get("completed").map_err(query_failed(doing))?,
        data: row.try_get("data").map_err(query_failed(doing))?,
        expires_at_ms: from_bigint(
            row.try_get("expires_at_ms").map_err(query_failed(doing))?,
            "uia_sessions.expires_at_ms",
        )?,
    })
}

#[async_trait]
impl UiaStore for PostgresStore {
    async fn put_uia_session(&self, session: &UiaSession) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO uia_sessions (session_id, purpose, completed, data, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (session_id) DO UPDATE SET purpose = EXCLUDED.purpose, \
                 completed = EXCLUDED.completed, data = EXCLUDED.data, \
                 expires_at_ms = EXCLUDED.expires_at_ms",
        )
        .bind(&session.session_id)
        .bind(&session.purpose)
        .bind(&session.completed)
        .bind(&session.data)
        .bind(to_bigint(session.expires_at_ms, "expires_at_ms")?)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing a UIA session"))?;
        Ok(())
    }

    async fn get_uia_session(&self, session_id: &str, now_ms: u64) -> Result<Option<UiaSession>, Error> {
        // A session is gone once `now` is past its expiry.
        let row = sqlx::query(
            "SELECT session_id, purpose, completed, data, expires_at_ms FROM uia_sessions \
             WHERE session_id = $1 AND expires_at_ms >= $2",
        )
        .bind(session_id)
        .bind(to_bigint(now_ms, "now_ms")?)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("reading a UIA session"))?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn delete_uia_session(&self, session_id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM uia_sessions WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await
            .map_err(query_failed("deleting a UIA session"))?;
        Ok(())
    }

    async fn purge_expired_uia_sessions(&self, now_ms: u64, limit: usize) -> Result<usize, Error> {
        // SKIP LOCKED lets concurrent purgers share the work instead of queueing on the
        // same rows; the expiry index bounds the scan to the sessions deleted.
        let result = sqlx::query(
            "DELETE FROM uia_sessions WHERE session_id IN ( \
                 SELECT session_id FROM uia_sessions WHERE expires_at_ms < $1 \
                 ORDER BY expires_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(to_bigint(now_ms, "now_ms")?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(query_failed("purging expired UIA sessions"))?;
        Ok(usize::try_from(result.rows_affected()).unwrap_or(usize::MAX))
    }
}
