//! [`AccountStore`] on PostgreSQL: the `users` and `registration_token_uses` tables.

use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{from_bigint, to_bigint, user_id_from_text};
use super::{PostgresStore, query_failed};
use crate::storage::{AccountStore, Error, UserRecord};

fn user_from_row(row: &PgRow) -> Result<UserRecord, Error> {
    let doing = "decoding a user";
    Ok(UserRecord {
        user_id: user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?,
        password_hash: row.try_get("password_hash").map_err(query_failed(doing))?,
        is_admin: row.try_get("is_admin").map_err(query_failed(doing))?,
        is_guest: row.try_get("is_guest").map_err(query_failed(doing))?,
        deactivated: row.try_get("deactivated").map_err(query_failed(doing))?,
        created_at_ms: from_bigint(
            row.try_get("created_at_ms").map_err(query_failed(doing))?,
            "users.created_at_ms",
        )?,
    })
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, Error> {
        // ON CONFLICT DO NOTHING makes "is it taken?" and the insert one atomic step.
        let result = sqlx::query(
            "INSERT INTO users (user_id, password_hash, is_admin, is_guest, deactivated, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.user_id.as_str())
        .bind(user.password_hash.as_deref())
        .bind(user.is_admin)
        .bind(user.is_guest)
        .bind(user.deactivated)
        .bind(to_bigint(user.created_at_ms, "created_at_ms")?)
        .execute(&self.pool)
        .await
        .map_err(query_failed("creating a user"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, Error> {
        let row = sqlx::query(
            "SELECT user_id, password_hash, is_admin, is_guest, deactivated, created_at_ms \
             FROM users WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("reading a user"))?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> Result<Vec<UserRecord>, Error> {
        // `user_id` is COLLATE "C", so this is byte order, walked along the primary key;
        // every user ID sorts after the empty string.
        let rows = sqlx::query(
            "SELECT user_id, password_hash, is_admin, is_guest, deactivated, created_at_ms \
             FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
        )
        .bind(after.map_or("", UserId::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed("listing users"))?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_password_hash(&self, user_id: &UserId, hash: Option<&str>) -> Result<bool, Error> {
        let result = sqlx::query("UPDATE users SET password_hash = $2 WHERE user_id = $1")
            .bind(user_id.as_str())
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(query_failed("setting a password hash"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn deactivate_user(&self, user_id: &UserId) -> Result<bool, Error> {
        let result =
            sqlx::query("UPDATE users SET deactivated = true, password_hash = NULL WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(query_failed("deactivating a user"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn set_admin(&self, user_id: &UserId, is_admin: bool) -> Result<bool, Error> {
        let result = sqlx::query("UPDATE users SET is_admin = $2 WHERE user_id = $1")
            .bind(user_id.as_str())
            .bind(is_admin)
            .execute(&self.pool)
            .await
            .map_err(query_failed("setting the admin flag"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_registration_token(&self, token: &str, uses_allowed: Option<u64>) -> Result<bool, Error> {
        if uses_allowed == Some(0) {
            return Ok(false);
        }
        // One UPSERT: the conflict branch locks the row and re-checks the count against
        // the latest committed value, so concurrent callers can never overshoot the limit.
        // A limit beyond i64::MAX cannot be reached; treat it as unlimited.
        let limit = uses_allowed.and_then(|allowed| i64::try_from(allowed).ok());
        let counted = sqlx::query(
            "INSERT INTO registration_token_uses (token, uses) VALUES ($1, 1) \
             ON CONFLICT (token) DO UPDATE SET uses = registration_token_uses.uses + 1 \
             WHERE $2::bigint IS NULL OR registration_token_uses.uses < $2 \
             RETURNING uses",
        )
        .bind(token)
        .bind(limit)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("counting a registration token use"))?;
        Ok(counted.is_some())
    }

    async fn registration_token_uses(&self, token: &str) -> Result<u64, Error> {
        let doing = "reading registration token uses";
        let row = sqlx::query("SELECT uses FROM registration_token_uses WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        match row {
            None => Ok(0),
            Some(row) => {
                from_bigint(row.try_get("uses").map_err(query_failed(doing))?, "registration_token_uses.uses")
            }
        }
    }
}
