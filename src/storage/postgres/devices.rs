//! [`DeviceStore`] on PostgreSQL: the `devices` table, one row per device holding the
//! device's one token set, with indexes to find a device by any of its token hashes.

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::column_values::{
    device_id_from_text, from_bigint, optional_from_bigint, optional_to_bigint, to_bigint, user_id_from_text,
};
use super::{PostgresStore, query_failed};
use crate::storage::{
    AccessTokenOwner, DeviceRecord, DeviceStore, DeviceTokens, Error, NewDevice, RefreshTokenOwner, TokenHash,
};

fn device_from_row(row: &PgRow) -> Result<DeviceRecord, Error> {
    let doing = "decoding a device";
    Ok(DeviceRecord {
        user_id: user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?,
        device_id: device_id_from_text(row.try_get("device_id").map_err(query_failed(doing))?),
        display_name: row.try_get("display_name").map_err(query_failed(doing))?,
        last_seen_ip: row.try_get("last_seen_ip").map_err(query_failed(doing))?,
        last_seen_ts_ms: optional_from_bigint(
            row.try_get("last_seen_ts_ms").map_err(query_failed(doing))?,
            "devices.last_seen_ts_ms",
        )?,
        created_at_ms: from_bigint(
            row.try_get("created_at_ms").map_err(query_failed(doing))?,
            "devices.created_at_ms",
        )?,
    })
}

fn access_token_owner_from_row(row: &PgRow) -> Result<AccessTokenOwner, Error> {
    let doing = "decoding an access token's owner";
    Ok(AccessTokenOwner {
        user_id: user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?,
        device_id: device_id_from_text(row.try_get("device_id").map_err(query_failed(doing))?),
        expires_at_ms: optional_from_bigint(
            row.try_get("access_expires_at_ms").map_err(query_failed(doing))?,
            "devices.access_expires_at_ms",
        )?,
        token: TokenHash(row.try_get("access_token_hash").map_err(query_failed(doing))?),
        has_previous_refresh_token: row.try_get("has_previous_refresh_token").map_err(query_failed(doing))?,
    })
}

fn refresh_token_owner_from_row(row: &PgRow) -> Result<RefreshTokenOwner, Error> {
    let doing = "decoding a refresh token's owner";
    Ok(RefreshTokenOwner {
        user_id: user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?,
        device_id: device_id_from_text(row.try_get("device_id").map_err(query_failed(doing))?),
        token: TokenHash(row.try_get("token").map_err(query_failed(doing))?),
    })
}

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn upsert_device(&self, device: &NewDevice, tokens: &DeviceTokens) -> Result<(), Error> {
        // A login is activity: the device's last-seen moves to now either way. Replacing
        // the token columns in the same statement makes the old tokens stop working at
        // the instant the new ones start.
        sqlx::query(
            "INSERT INTO devices (user_id, device_id, display_name, last_seen_ip, last_seen_ts_ms, \
                 created_at_ms, access_token_hash, access_expires_at_ms, refresh_token_hash, \
                 previous_refresh_token_hash) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, NULL) \
             ON CONFLICT (user_id, device_id) DO UPDATE SET \
                 display_name = COALESCE(EXCLUDED.display_name, devices.display_name), \
                 last_seen_ip = COALESCE(EXCLUDED.last_seen_ip, devices.last_seen_ip), \
                 last_seen_ts_ms = EXCLUDED.last_seen_ts_ms, \
                 access_token_hash = EXCLUDED.access_token_hash, \
                 access_expires_at_ms = EXCLUDED.access_expires_at_ms, \
                 refresh_token_hash = EXCLUDED.refresh_token_hash, \
                 previous_refresh_token_hash = NULL",
        )
        .bind(device.user_id.as_str())
        .bind(device.device_id.as_str())
        .bind(device.display_name.as_deref())
        .bind(device.ip.as_deref())
        .bind(to_bigint(device.now_ms, "now_ms")?)
        .bind(tokens.access_token.0)
        .bind(optional_to_bigint(tokens.access_expires_at_ms, "access_expires_at_ms")?)
        .bind(tokens.refresh_token.map(|hash| hash.0))
        .execute(&self.pool)
        .await
        .map_err(query_failed("creating or updating a device"))?;
        Ok(())
    }

    async fn get_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<DeviceRecord>, Error> {
        let row = sqlx::query(
            "SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts_ms, created_at_ms \
             FROM devices WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("reading a device"))?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn list_devices(&self, user_id: &UserId) -> Result<Vec<DeviceRecord>, Error> {
        let rows = sqlx::query(
            "SELECT user_id, device_id, display_name, last_seen_ip, last_seen_ts_ms, created_at_ms \
             FROM devices WHERE user_id = $1 ORDER BY device_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed("listing devices"))?;
        rows.iter().map(device_from_row).collect()
    }

    async fn set_device_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<bool, Error> {
        let result =
            sqlx::query("UPDATE devices SET display_name = $3 WHERE user_id = $1 AND device_id = $2")
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .bind(display_name)
                .execute(&self.pool)
                .await
                .map_err(query_failed("renaming a device"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn touch_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ip: &str,
        now_ms: u64,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE devices SET last_seen_ip = $3, last_seen_ts_ms = $4 \
             WHERE user_id = $1 AND device_id = $2",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(ip)
        .bind(to_bigint(now_ms, "now_ms")?)
        .execute(&self.pool)
        .await
        .map_err(query_failed("recording device activity"))?;
        Ok(())
    }

    async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<bool, Error> {
        // The tokens live in the device's row, so they go with it.
        let result = sqlx::query("DELETE FROM devices WHERE user_id = $1 AND device_id = $2")
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_failed("deleting a device"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_devices_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> Result<Vec<OwnedDeviceId>, Error> {
        // RETURNING reports exactly the rows this statement deleted, so concurrent
        // callers never both claim the same device.
        let doing = "deleting a user's other devices";
        let rows = sqlx::query(
            "DELETE FROM devices WHERE user_id = $1 AND ($2::text IS NULL OR device_id <> $2) \
             RETURNING device_id",
        )
        .bind(user_id.as_str())
        .bind(keep.map(DeviceId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        let mut deleted = rows
            .iter()
            .map(|row| row.try_get::<String, _>("device_id").map(device_id_from_text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_failed(doing))?;
        deleted.sort();
        Ok(deleted)
    }

    async fn find_access_token(&self, token: &TokenHash) -> Result<Option<AccessTokenOwner>, Error> {
        let row = sqlx::query(
            "SELECT user_id, device_id, access_expires_at_ms, access_token_hash, \
                 previous_refresh_token_hash IS NOT NULL AS has_previous_refresh_token \
             FROM devices WHERE access_token_hash = $1",
        )
        .bind(token.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("looking up an access token"))?;
        row.as_ref().map(access_token_owner_from_row).transpose()
    }

    async fn find_refresh_token(&self, token: &TokenHash) -> Result<Option<RefreshTokenOwner>, Error> {
        // Two index probes rather than one OR, so each uses its own index; a current
        // token wins over a previous one should both ever match.
        let row = sqlx::query(
            "SELECT user_id, device_id, refresh_token_hash AS token, 0 AS preference \
                 FROM devices WHERE refresh_token_hash = $1 \
             UNION ALL \
             SELECT user_id, device_id, previous_refresh_token_hash AS token, 1 AS preference \
                 FROM devices WHERE previous_refresh_token_hash = $1 \
             ORDER BY preference LIMIT 1",
        )
        .bind(token.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed("looking up a refresh token"))?;
        row.as_ref().map(refresh_token_owner_from_row).transpose()
    }

    async fn refresh_tokens(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        used_refresh: &TokenHash,
        new_tokens: &DeviceTokens,
    ) -> Result<bool, Error> {
        // One conditional UPDATE. The right-hand sides see the row as it was, so a current
        // token moves to "previous" while the new set lands. Under concurrent refreshes
        // PostgreSQL re-checks the WHERE against the row the winner committed: the loser
        // then finds its token as "previous" (still accepted) or not at all.
        let result = sqlx::query(
            "UPDATE devices SET \
                 previous_refresh_token_hash = CASE WHEN refresh_token_hash = $3 \
                     THEN refresh_token_hash ELSE previous_refresh_token_hash END, \
                 access_token_hash = $4, \
                 access_expires_at_ms = $5, \
                 refresh_token_hash = $6 \
             WHERE user_id = $1 AND device_id = $2 \
                 AND (refresh_token_hash = $3 OR previous_refresh_token_hash = $3)",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(used_refresh.0)
        .bind(new_tokens.access_token.0)
        .bind(optional_to_bigint(new_tokens.access_expires_at_ms, "access_expires_at_ms")?)
        .bind(new_tokens.refresh_token.map(|hash| hash.0))
        .execute(&self.pool)
        .await
        .map_err(query_failed("refreshing a device's tokens"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn retire_previous_refresh_token(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE devices SET previous_refresh_token_hash = NULL \
             WHERE user_id = $1 AND device_id = $2 AND previous_refresh_token_hash IS NOT NULL",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .execute(&self.pool)
        .await
        .map_err(query_failed("retiring a previous refresh token"))?;
        Ok(())
    }
}
