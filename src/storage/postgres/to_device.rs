//! [`ToDeviceStore`] and [`DeviceListStore`] on PostgreSQL: `to_device` holds each
//! device's queue (primary key order is delivery order), `to_device_txns` the senders'
//! transactions, and `device_list_changes` one row per user at their latest change.

use std::collections::BTreeSet;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use sqlx::Row;

use super::column_values::{from_bigint, position_from_bigint, to_bigint, user_id_from_text};
use super::{PostgresStore, query_failed};
use crate::storage::{
    DeviceListStore, Error, Position, ToDeviceMessage, ToDeviceQueued, ToDeviceStore, ToDeviceTxn,
};

#[async_trait]
impl ToDeviceStore for PostgresStore {
    async fn queue_to_device(
        &self,
        txn: &ToDeviceTxn,
        position: Position,
        messages: &[ToDeviceMessage],
        cap: u64,
    ) -> Result<ToDeviceQueued, Error> {
        let doing = "queueing to-device messages";
        let position = to_bigint(position.0, "to-device position")?;
        let mut tx = self.pool.begin().await.map_err(query_failed(doing))?;
        let recorded = sqlx::query(
            "INSERT INTO to_device_txns (sender, sender_device, txn_id, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(txn.sender.as_str())
        .bind(txn.sender_device.as_str())
        .bind(&txn.txn_id)
        .bind(position)
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
        if recorded.rows_affected() == 0 {
            return Ok(ToDeviceQueued { queued: false, dropped: Vec::new() });
        }
        let mut devices: BTreeSet<(OwnedUserId, OwnedDeviceId)> = BTreeSet::new();
        for (index, message) in messages.iter().enumerate() {
            let index =
                i32::try_from(index).map_err(|_| Error::Backend("too many to-device messages".to_owned()))?;
            sqlx::query(
                "INSERT INTO to_device (user_id, device_id, position, idx, json) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(message.recipient.as_str())
            .bind(message.device_id.as_str())
            .bind(position)
            .bind(index)
            .bind(&message.json)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
            devices.insert((message.recipient.clone(), message.device_id.clone()));
        }
        let cap = to_bigint(cap, "to-device cap")?;
        let mut dropped = Vec::new();
        for (user_id, device_id) in devices {
            let trimmed = sqlx::query(
                "DELETE FROM to_device WHERE (user_id, device_id, position, idx) IN ( \
                     SELECT user_id, device_id, position, idx FROM to_device \
                     WHERE user_id = $1 AND device_id = $2 \
                     ORDER BY position DESC, idx DESC OFFSET $3)",
            )
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(cap)
            .execute(&mut *tx)
            .await
            .map_err(query_failed(doing))?;
            if trimmed.rows_affected() > 0 {
                dropped.push((user_id, device_id, trimmed.rows_affected()));
            }
        }
        tx.commit().await.map_err(query_failed(doing))?;
        Ok(ToDeviceQueued { queued: true, dropped })
    }

    async fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error> {
        let doing = "reading to-device messages";
        let rows = sqlx::query(
            "SELECT position, json FROM to_device \
             WHERE user_id = $1 AND device_id = $2 AND position > $3 AND position <= $4 \
             ORDER BY position, idx LIMIT $5",
        )
        .bind(user_id.as_str())
        .bind(device_id.as_str())
        .bind(to_bigint(after.0, "position")?)
        .bind(to_bigint(upto.0, "position")?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                let position = position_from_bigint(row.try_get("position").map_err(query_failed(doing))?)?;
                Ok((position, row.try_get("json").map_err(query_failed(doing))?))
            })
            .collect()
    }

    async fn ack_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        upto: Position,
    ) -> Result<(), Error> {
        sqlx::query("DELETE FROM to_device WHERE user_id = $1 AND device_id = $2 AND position <= $3")
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .bind(to_bigint(upto.0, "position")?)
            .execute(&self.pool)
            .await
            .map_err(query_failed("acknowledging to-device messages"))?;
        Ok(())
    }

    async fn delete_to_device_queue(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error> {
        sqlx::query("DELETE FROM to_device WHERE user_id = $1 AND device_id = $2")
            .bind(user_id.as_str())
            .bind(device_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(query_failed("deleting a to-device queue"))?;
        Ok(())
    }
}

#[async_trait]
impl DeviceListStore for PostgresStore {
    async fn record_device_list_change(&self, user_id: &UserId, position: Position) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO device_list_changes (user_id, position) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET position = EXCLUDED.position \
             WHERE device_list_changes.position < EXCLUDED.position",
        )
        .bind(user_id.as_str())
        .bind(to_bigint(position.0, "device-list position")?)
        .execute(&self.pool)
        .await
        .map_err(query_failed("recording a device-list change"))?;
        Ok(())
    }

    async fn device_list_changes(
        &self,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(OwnedUserId, Position)>, Error> {
        let doing = "reading device-list changes";
        let rows = sqlx::query(
            "SELECT user_id, position FROM device_list_changes WHERE position > $1 AND position <= $2 \
             ORDER BY position, user_id LIMIT $3",
        )
        .bind(to_bigint(since.0, "position")?)
        .bind(to_bigint(upto.0, "position")?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed(doing))?;
        rows.iter()
            .map(|row| {
                let user = user_id_from_text(row.try_get("user_id").map_err(query_failed(doing))?)?;
                let position: i64 = row.try_get("position").map_err(query_failed(doing))?;
                Ok((user, Position(from_bigint(position, "device-list position")?)))
            })
            .collect()
    }
}
