//! [`E2eeKeyStore`] on PostgreSQL: `device_keys`, `one_time_keys` (a `seq` column orders
//! claims oldest first; a claim is one `DELETE … FOR UPDATE SKIP LOCKED … RETURNING`, so
//! concurrent claimers never share a key), `fallback_keys`, `cross_signing_keys` and
//! `key_signatures`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, UserId};
use sqlx::Row;

use super::column_values::{device_id_from_text, from_bigint, user_id_from_text};
use super::{PostgresStore, query_failed};
use crate::storage::{CrossSigningKind, E2eeKeyStore, Error, KeySignature, OneTimeKeyRecord};

fn record(row: &sqlx::postgres::PgRow, doing: &str) -> Result<OneTimeKeyRecord, Error> {
    Ok(OneTimeKeyRecord {
        key_id: row.try_get("key_id").map_err(query_failed(doing))?,
        json: row.try_get("json").map_err(query_failed(doing))?,
    })
}

#[async_trait]
impl E2eeKeyStore for PostgresStore {
    async fn put_device_keys(&self, user_id: &UserId, device_id: &DeviceId, json: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO device_keys (user_id, device_id, json) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, device_id) DO UPDATE SET json = EXCLUDED.json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing device keys"))?;
        Ok(())
    }

    async fn get_device_keys(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<String>, Error> {
        let doing = "reading device keys";
        let row = sqlx::query("SELECT json FROM device_keys WHERE user_id = $1 AND device_id = $2")
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        row.map(|row| row.try_get("json")).transpose().map_err(query_failed(doing))
    }

    async fn list_device_keys(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, String)>, Error> {
        let doing = "listing device keys";
        let rows =
            sqlx::query("SELECT device_id, json FROM device_keys WHERE user_id = $1 ORDER BY device_id")
                .bind(user_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                let device: String = row.try_get("device_id").map_err(query_failed(doing))?;
                Ok((device_id_from_text(device), row.try_get("json").map_err(query_failed(doing))?))
            })
            .collect()
    }

    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKeyRecord],
    ) -> Result<Vec<String>, Error> {
        let doing = "adding one-time keys";
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let ids: Vec<&str> = keys.iter().map(|key| key.key_id.as_str()).collect();
        let existing = sqlx::query(
            "SELECT key_id, json FROM one_time_keys WHERE user_id = $1 AND device_id = $2 AND key_id = ANY($3)",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        let existing: BTreeMap<String, String> = existing
            .iter()
            .map(|row| record(row, doing).map(|key| (key.key_id, key.json)))
            .collect::<Result<_, _>>()?;
        let conflicts: Vec<String> = keys
            .iter()
            .filter(|key| existing.get(&key.key_id).is_some_and(|json| *json != key.json))
            .map(|key| key.key_id.clone())
            .collect();
        if !conflicts.is_empty() {
            return Ok(conflicts);
        }
        for key in keys.iter().filter(|key| !existing.contains_key(&key.key_id)) {
            sqlx::query(
                "INSERT INTO one_time_keys (user_id, device_id, key_id, algorithm, json) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(&key.key_id)
            .bind(key.algorithm())
            .bind(&key.json)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
        }
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(Vec::new())
    }

    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<BTreeMap<String, u64>, Error> {
        let doing = "counting one-time keys";
        let rows = sqlx::query(
            "SELECT algorithm, count(*) AS n FROM one_time_keys \
             WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                let algorithm: String = row.try_get("algorithm").map_err(query_failed(doing))?;
                let count: i64 = row.try_get("n").map_err(query_failed(doing))?;
                Ok((algorithm, from_bigint(count, "one-time key count")?))
            })
            .collect()
    }

    async fn claim_one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error> {
        let doing = "claiming a one-time key";
        let row = sqlx::query(
            "DELETE FROM one_time_keys WHERE (user_id, device_id, key_id) IN ( \
                 SELECT user_id, device_id, key_id FROM one_time_keys \
                 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 \
                 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING key_id, json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        row.map(|row| record(&row, doing)).transpose()
    }

    async fn put_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKeyRecord,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, json, used) \
             VALUES ($1, $2, $3, $4, $5, false) \
             ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET \
                 key_id = EXCLUDED.key_id, json = EXCLUDED.json, used = false \
             WHERE fallback_keys.key_id <> EXCLUDED.key_id OR fallback_keys.json <> EXCLUDED.json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(key.algorithm())
        .bind(&key.key_id)
        .bind(&key.json)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing a fallback key"))?;
        Ok(())
    }

    async fn claim_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error> {
        let doing = "claiming a fallback key";
        let row = sqlx::query(
            "UPDATE fallback_keys SET used = true \
             WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 RETURNING key_id, json",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(algorithm)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        row.map(|row| record(&row, doing)).transpose()
    }

    async fn unused_fallback_key_algorithms(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>, Error> {
        let doing = "listing unused fallback keys";
        let rows = sqlx::query(
            "SELECT algorithm FROM fallback_keys WHERE user_id = $1 AND device_id = $2 AND NOT used \
             ORDER BY algorithm",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter().map(|row| row.try_get("algorithm").map_err(query_failed(doing))).collect()
    }

    async fn delete_device_e2ee(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error> {
        let doing = "deleting a device's keys";
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        for statement in [
            "DELETE FROM device_keys WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM one_time_keys WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM fallback_keys WHERE user_id = $1 AND device_id = $2",
            "DELETE FROM key_signatures WHERE target_user = $1 AND target_key_id = $2",
        ] {
            sqlx::query(statement)
                .bind(user_id.as_str())
                .bind(device_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(query_failed(doing))?;
        }
        tx.commit().await.map_err(query_failed(doing))
    }

    async fn put_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
        json: &str,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO cross_signing_keys (user_id, kind, json) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, kind) DO UPDATE SET json = EXCLUDED.json",
        )
        .bind(user_id.as_str())
        .bind(kind.name())
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(query_failed("storing a cross-signing key"))?;
        Ok(())
    }

    async fn get_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
    ) -> Result<Option<String>, Error> {
        let doing = "reading a cross-signing key";
        let row = sqlx::query("SELECT json FROM cross_signing_keys WHERE user_id = $1 AND kind = $2")
            .bind(user_id.as_str())
            .bind(kind.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        row.map(|row| row.try_get("json")).transpose().map_err(query_failed(doing))
    }

    async fn add_key_signatures(
        &self,
        target_user: &UserId,
        signatures: &[KeySignature],
    ) -> Result<(), Error> {
        let doing = "storing key signatures";
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        for signature in signatures {
            sqlx::query(
                "INSERT INTO key_signatures (target_user, target_key_id, signer, signer_key_id, signature) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user, target_key_id, signer, signer_key_id) \
                 DO UPDATE SET signature = EXCLUDED.signature",
            )
            .bind(target_user.as_str())
            .bind(&signature.target_key_id)
            .bind(signature.signer.as_str())
            .bind(&signature.signer_key_id)
            .bind(&signature.signature)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
        }
        tx.commit().await.map_err(query_failed(doing))
    }

    async fn key_signatures(&self, target_user: &UserId) -> Result<Vec<KeySignature>, Error> {
        let doing = "reading key signatures";
        let rows = sqlx::query(
            "SELECT target_key_id, signer, signer_key_id, signature FROM key_signatures \
             WHERE target_user = $1 ORDER BY target_key_id, signer, signer_key_id",
        )
        .bind(target_user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                Ok(KeySignature {
                    target_key_id: row.try_get("target_key_id").map_err(query_failed(doing))?,
                    signer: user_id_from_text(row.try_get("signer").map_err(query_failed(doing))?)?,
                    signer_key_id: row.try_get("signer_key_id").map_err(query_failed(doing))?,
                    signature: row.try_get("signature").map_err(query_failed(doing))?,
                })
            })
            .collect()
    }

    async fn put_dehydrated_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data: &str,
    ) -> Result<Option<OwnedDeviceId>, Error> {
        let doing = "storing a dehydrated device";
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let previous = sqlx::query("SELECT device_id FROM dehydrated_devices WHERE user_id = $1 FOR UPDATE")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
        let previous: Option<String> =
            previous.map(|row| row.try_get("device_id")).transpose().map_err(query_failed(doing))?;
        sqlx::query(
            "INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET device_id = EXCLUDED.device_id, device_data = EXCLUDED.device_data",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(device_data)
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(previous.map(device_id_from_text))
    }

    async fn get_dehydrated_device(
        &self,
        user_id: &UserId,
    ) -> Result<Option<(OwnedDeviceId, String)>, Error> {
        let doing = "reading a dehydrated device";
        let row = sqlx::query("SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        row.map(|row| {
            let device: String = row.try_get("device_id").map_err(query_failed(doing))?;
            Ok((device_id_from_text(device), row.try_get("device_data").map_err(query_failed(doing))?))
        })
        .transpose()
    }

    async fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<Option<OwnedDeviceId>, Error> {
        let doing = "deleting a dehydrated device";
        let row = sqlx::query("DELETE FROM dehydrated_devices WHERE user_id = $1 RETURNING device_id")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        let device: Option<String> =
            row.map(|row| row.try_get("device_id")).transpose().map_err(query_failed(doing))?;
        Ok(device.map(device_id_from_text))
    }
}
