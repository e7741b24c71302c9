//! Forgotten rooms and reports in the embedded store.
//!
//! `forgotten_rooms`: user ID, room ID → nothing. `reports`: received time (u64
//! big-endian), 8 random bytes → report JSON, so a reverse scan lists the newest first.

use async_trait::async_trait;
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use super::EmbeddedStore;
use super::codec::compound_key;
use super::engine::{Batch, Direction, KeyRange, Table};
use crate::storage::{Error, ModerationStore, ReportRecord};

fn forgotten_key(user_id: &UserId, room_id: &RoomId) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), room_id.as_bytes()])
}

fn report_key(received_at_ms: u64) -> Result<Vec<u8>, Error> {
    let mut key = received_at_ms.to_be_bytes().to_vec();
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| Error::Backend(format!("no randomness: {e}")))?;
    key.extend_from_slice(&nonce);
    Ok(key)
}

fn decode_report(bytes: &[u8]) -> Result<ReportRecord, Error> {
    let corrupt = |what: &str| Error::Corrupt(format!("a stored report has a bad {what}"));
    let value: Value = serde_json::from_slice(bytes).map_err(|_| corrupt("encoding"))?;
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    Ok(ReportRecord {
        reporter: text("reporter").and_then(|t| UserId::parse(t).ok()).ok_or_else(|| corrupt("reporter"))?,
        room_id: text("room_id").and_then(|t| RoomId::parse(t).ok()).ok_or_else(|| corrupt("room"))?,
        event_id: match text("event_id") {
            Some(id) => Some(ruma::EventId::parse(id).map_err(|_| corrupt("event"))?),
            None => None,
        },
        reason: text("reason").map(str::to_owned),
        received_at_ms: value.get("received_at_ms").and_then(Value::as_u64).ok_or_else(|| corrupt("time"))?,
    })
}

#[async_trait]
impl ModerationStore for EmbeddedStore {
    async fn set_room_forgotten(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        forgotten: bool,
    ) -> Result<(), Error> {
        let mut batch = Batch::new();
        let key = forgotten_key(user_id, room_id);
        if forgotten {
            batch.put(Table::ForgottenRooms, key, Vec::new());
        } else {
            batch.delete(Table::ForgottenRooms, key);
        }
        self.run(move |engine| engine.write(batch)).await
    }

    async fn is_room_forgotten(&self, user_id: &UserId, room_id: &RoomId) -> Result<bool, Error> {
        let key = forgotten_key(user_id, room_id);
        self.run(move |engine| Ok(engine.get(Table::ForgottenRooms, &key)?.is_some())).await
    }

    async fn add_report(&self, report: &ReportRecord) -> Result<(), Error> {
        let value = json!({
            "reporter": report.reporter,
            "room_id": report.room_id,
            "event_id": report.event_id,
            "reason": report.reason,
            "received_at_ms": report.received_at_ms,
        });
        let mut batch = Batch::new();
        batch.put(Table::Reports, report_key(report.received_at_ms)?, value.to_string().into_bytes());
        self.run(move |engine| engine.write(batch)).await
    }

    async fn recent_reports(&self, limit: usize) -> Result<Vec<ReportRecord>, Error> {
        self.run(move |engine| {
            let all = KeyRange { from: Vec::new(), to: None };
            let rows = engine.scan(Table::Reports, &all, Direction::Reverse, limit)?;
            rows.iter().map(|(_, value)| decode_report(value)).collect()
        })
        .await
    }
}
