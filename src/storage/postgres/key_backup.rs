//! [`KeyBackupStore`] on PostgreSQL: `backup_versions` (deleted versions stay, marked,
//! so numbers are never reused) and `backup_keys`. Writes lock the version row
//! (`FOR UPDATE`) so the replacement rule and the etag bump see a stable version.

use async_trait::async_trait;
use ruma::{RoomId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{from_bigint, room_id_from_text, to_bigint};
use super::{PostgresStore, query_failed};
use crate::storage::key_backup::backup_key_replaces;
use crate::storage::{BackupKey, BackupState, BackupVersion, Error, KeyBackupStore};

fn version_from_row(row: &PgRow, count: i64) -> Result<BackupVersion, Error> {
    let doing = "decoding a backup version";
    Ok(BackupVersion {
        version: from_bigint(row.try_get("version").map_err(query_failed(doing))?, "backup version")?,
        algorithm: row.try_get("algorithm").map_err(query_failed(doing))?,
        auth_data: row.try_get("auth_data").map_err(query_failed(doing))?,
        etag: from_bigint(row.try_get("etag").map_err(query_failed(doing))?, "backup etag")?,
        count: from_bigint(count, "backup count")?,
    })
}

fn key_from_row(row: &PgRow) -> Result<BackupKey, Error> {
    let doing = "decoding a backed-up key";
    Ok(BackupKey {
        room_id: room_id_from_text(row.try_get("room_id").map_err(query_failed(doing))?)?,
        session_id: row.try_get("session_id").map_err(query_failed(doing))?,
        json: row.try_get("json").map_err(query_failed(doing))?,
    })
}

/// Locks the live version row; `None` when there is no such version.
async fn lock_version(
    tx: &mut sqlx::PgConnection,
    user_id: &UserId,
    version: i64,
) -> Result<Option<i64>, Error> {
    let doing = "locking a backup version";
    let row = sqlx::query(
        "SELECT etag FROM backup_versions WHERE user_id = $1 AND version = $2 AND NOT deleted FOR UPDATE",
    )
    .bind(user_id.as_str())
    .bind(version)
    .fetch_optional(&mut *tx)
    .await
    .map_err(query_failed(doing))?;
    row.map(|row| row.try_get("etag")).transpose().map_err(query_failed(doing))
}

/// Bumps the etag (when `changed`) and returns `(etag, count)`.
async fn finish(
    tx: &mut sqlx::PgConnection,
    user_id: &UserId,
    version: i64,
    etag: i64,
    changed: bool,
) -> Result<BackupState, Error> {
    let doing = "updating a backup version";
    let etag = if changed { etag.saturating_add(1) } else { etag };
    sqlx::query("UPDATE backup_versions SET etag = $3 WHERE user_id = $1 AND version = $2")
        .bind(user_id.as_str())
        .bind(version)
        .bind(etag)
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
    let count: i64 = sqlx::query("SELECT count(*) AS n FROM backup_keys WHERE user_id = $1 AND version = $2")
        .bind(user_id.as_str())
        .bind(version)
        .fetch_one(&mut *tx)
        .await
        .map_err(query_failed(doing))?
        .try_get("n")
        .map_err(query_failed(doing))?;
    Ok((from_bigint(etag, "backup etag")?, from_bigint(count, "backup count")?))
}

#[async_trait]
impl KeyBackupStore for PostgresStore {
    async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<u64, Error> {
        let doing = "creating a backup version";
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        // Serializes creators of one user's versions for the max() below.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
        let row = sqlx::query(
            "INSERT INTO backup_versions (user_id, version, algorithm, auth_data) \
             SELECT $1, COALESCE(max(version), 0) + 1, $2, $3 FROM backup_versions WHERE user_id = $1 \
             RETURNING version",
        )
        .bind(user_id.as_str())
        .bind(algorithm)
        .bind(auth_data)
        .fetch_one(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        let version: i64 = row.try_get("version").map_err(query_failed(doing))?;
        tx.commit().await.map_err(query_failed(doing))?;
        from_bigint(version, "backup version")
    }

    async fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<u64>,
    ) -> Result<Option<BackupVersion>, Error> {
        let doing = "reading a backup version";
        let version = version.map(|v| to_bigint(v, "backup version")).transpose()?;
        let row = sqlx::query(
            "SELECT v.version, v.algorithm, v.auth_data, v.etag, \
                 (SELECT count(*) FROM backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version) AS n \
             FROM backup_versions v WHERE v.user_id = $1 AND NOT v.deleted \
                 AND ($2::bigint IS NULL OR v.version = $2) \
             ORDER BY v.version DESC LIMIT 1",
        )
        .bind(user_id.as_str())
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        row.map(|row| {
            let count: i64 = row.try_get("n").map_err(query_failed(doing))?;
            version_from_row(&row, count)
        })
        .transpose()
    }

    async fn update_backup_auth_data(
        &self,
        user_id: &UserId,
        version: u64,
        auth_data: &str,
    ) -> Result<bool, Error> {
        let updated = sqlx::query(
            "UPDATE backup_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2 AND NOT deleted",
        )
        .bind(user_id.as_str())
        .bind(to_bigint(version, "backup version")?)
        .bind(auth_data)
        .execute(&self.pool)
        .await
        .map_err(query_failed("updating a backup version"))?;
        Ok(updated.rows_affected() > 0)
    }

    async fn delete_backup_version(&self, user_id: &UserId, version: u64) -> Result<bool, Error> {
        let doing = "deleting a backup version";
        let version = to_bigint(version, "backup version")?;
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let updated = sqlx::query(
            "UPDATE backup_versions SET deleted = true WHERE user_id = $1 AND version = $2 AND NOT deleted",
        )
        .bind(user_id.as_str())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        sqlx::query("DELETE FROM backup_keys WHERE user_id = $1 AND version = $2")
            .bind(user_id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(updated.rows_affected() > 0)
    }

    async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        keys: &[BackupKey],
    ) -> Result<Option<BackupState>, Error> {
        let doing = "storing backed-up keys";
        let version = to_bigint(version, "backup version")?;
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let Some(etag) = lock_version(&mut tx, user_id, version).await? else {
            return Ok(None);
        };
        let mut changed = false;
        for key in keys {
            let old = sqlx::query(
                "SELECT json FROM backup_keys WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4",
            )
            .bind(user_id.as_str())
            .bind(version)
            .bind(key.room_id.as_str())
            .bind(&key.session_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
            let old: Option<String> =
                old.map(|row| row.try_get("json")).transpose().map_err(query_failed(doing))?;
            if old.is_some_and(|old| !backup_key_replaces(&old, &key.json)) {
                continue;
            }
            sqlx::query(
                "INSERT INTO backup_keys (user_id, version, room_id, session_id, json) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET json = EXCLUDED.json",
            )
            .bind(user_id.as_str())
            .bind(version)
            .bind(key.room_id.as_str())
            .bind(&key.session_id)
            .bind(&key.json)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
            changed = true;
        }
        let state = finish(&mut tx, user_id, version, etag, changed).await?;
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(Some(state))
    }

    async fn backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKey>, Error> {
        let doing = "reading backed-up keys";
        let rows = sqlx::query(
            "SELECT k.room_id, k.session_id, k.json FROM backup_keys k \
             JOIN backup_versions v ON v.user_id = k.user_id AND v.version = k.version AND NOT v.deleted \
             WHERE k.user_id = $1 AND k.version = $2 \
                 AND ($3::text IS NULL OR k.room_id = $3) AND ($4::text IS NULL OR k.session_id = $4) \
             ORDER BY k.room_id, k.session_id",
        )
        .bind(user_id.as_str())
        .bind(to_bigint(version, "backup version")?)
        .bind(room_id.map(RoomId::as_str))
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter().map(key_from_row).collect()
    }

    async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Option<BackupState>, Error> {
        let doing = "deleting backed-up keys";
        let version = to_bigint(version, "backup version")?;
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let Some(etag) = lock_version(&mut tx, user_id, version).await? else {
            return Ok(None);
        };
        let deleted = sqlx::query(
            "DELETE FROM backup_keys WHERE user_id = $1 AND version = $2 \
                 AND ($3::text IS NULL OR room_id = $3) AND ($4::text IS NULL OR session_id = $4)",
        )
        .bind(user_id.as_str())
        .bind(version)
        .bind(room_id.map(RoomId::as_str))
        .bind(session_id)
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        let state = finish(&mut tx, user_id, version, etag, deleted.rows_affected() > 0).await?;
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(Some(state))
    }
}
