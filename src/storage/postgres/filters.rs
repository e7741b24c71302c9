//! [`FilterStore`] on PostgreSQL: the `filters` table keyed by (user, filter ID).

use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;

use super::{PostgresStore, query_failed};
use crate::storage::{Error, FilterStore};

#[async_trait]
impl FilterStore for PostgresStore {
    async fn put_filter(&self, user_id: &UserId, filter_id: &str, filter: &str) -> Result<(), Error> {
        // IDs derive from content, so a conflict carries the same filter; overwriting
        // keeps "put" meaning the same on every backend.
        sqlx::query(
            "INSERT INTO filters (user_id, filter_id, filter) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, filter_id) DO UPDATE SET filter = EXCLUDED.filter",
        )
        .bind(user_id.as_str())
        .bind(filter_id)
        .bind(filter)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing a filter"))?;
        Ok(())
    }

    async fn get_filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<String>, Error> {
        let doing = "reading a filter";
        let row = sqlx::query("SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2")
            .bind(user_id.as_str())
            .bind(filter_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        row.map(|row| row.try_get("filter")).transpose().map_err(query_failed(doing))
    }
}
