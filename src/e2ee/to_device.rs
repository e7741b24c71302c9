//! Send-to-device messaging: `PUT /sendToDevice` queues one message per target device
//! (idempotent per sending device and transaction ID; `*` means every device of the
//! user), and `/sync` delivers each exactly once: a message is deleted only when the
//! device syncs again with a `since` at or past its position, so a lost response is
//! delivered again.
//!
//! Queue policy: each device keeps at most [`TO_DEVICE_QUEUE_CAP`] messages. A device
//! that never syncs cannot grow its queue further: the oldest messages are dropped (with
//! a warning in the log naming the device) to make room for new ones.

use std::collections::BTreeMap;

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Value, json};

use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::{Position, StreamId, ToDeviceMessage, ToDeviceTxn};
use crate::streams::Recipients;

/// Most messages one device's queue holds; older ones are dropped past it.
pub const TO_DEVICE_QUEUE_CAP: u64 = 1000;
/// Most messages one sync delivers to a device.
const MAX_PER_SYNC: usize = 100;
/// Largest message content, in bytes.
const MAX_CONTENT_BYTES: usize = 65_536;
/// Most target devices of one send.
const MAX_TARGETS: usize = 10_000;

/// The messages of one send: user → device ID (or `*`) → content JSON.
pub type Outgoing<'a> = BTreeMap<OwnedUserId, BTreeMap<String, &'a str>>;

impl E2ee {
    /// Queues the messages of one send, unless this device already sent `txn_id`.
    pub async fn send_to_device(
        &self,
        requester: &Requester,
        event_type: &str,
        txn_id: &str,
        messages: &Outgoing<'_>,
    ) -> Result<(), E2eeError> {
        if event_type.is_empty() || event_type.len() > 255 {
            return Err(E2eeError::InvalidParam("event types are 1-255 bytes".to_owned()));
        }
        let mut queued = Vec::new();
        for (user_id, devices) in messages {
            if !self.is_local(user_id) {
                tracing::debug!(%user_id, "to-device message for another server dropped: no federation yet");
                continue;
            }
            let known: Vec<OwnedDeviceId> =
                self.stores().devices.list_devices(user_id).await?.into_iter().map(|d| d.device_id).collect();
            for (target, content) in devices {
                if content.len() > MAX_CONTENT_BYTES {
                    return Err(E2eeError::TooLarge("a to-device message is too large".to_owned()));
                }
                let content: Value =
                    serde_json::from_str(content).map_err(|error| E2eeError::BadJson(error.to_string()))?;
                if !content.is_object() {
                    return Err(E2eeError::BadJson("message content must be an object".to_owned()));
                }
                let json = json!({ "sender": requester.user_id, "type": event_type, "content": content })
                    .to_string();
                let targets = known.iter().filter(|device| target == "*" || device.as_str() == target);
                for device_id in targets {
                    queued.push(ToDeviceMessage {
                        recipient: user_id.clone(),
                        device_id: device_id.clone(),
                        json: json.clone(),
                    });
                }
            }
        }
        if queued.len() > MAX_TARGETS {
            return Err(E2eeError::TooLarge("too many target devices".to_owned()));
        }
        let txn = ToDeviceTxn {
            sender: requester.user_id.clone(),
            sender_device: requester.device_id.clone(),
            txn_id: txn_id.to_owned(),
        };
        let reservation = self.reserve(StreamId::ToDevice).await?;
        // Noted before the position is published: syncs must not skip these queues.
        for message in &queued {
            self.inner.sync_memo.queued(&message.recipient, &message.device_id, reservation.position());
        }
        let outcome = self
            .stores()
            .to_device
            .queue_to_device(&txn, reservation.position(), &queued, TO_DEVICE_QUEUE_CAP)
            .await?;
        if outcome.queued {
            let recipients = queued.iter().map(|message| message.recipient.clone()).collect();
            reservation.complete_and_wake(Recipients::set(recipients));
        } else {
            reservation.complete();
        }
        for (user_id, device_id, dropped) in &outcome.dropped {
            tracing::warn!(%user_id, %device_id, dropped, "to-device queue full: oldest messages dropped");
        }
        Ok(())
    }

    /// The device's messages for a sync from `since` (acknowledging everything up to it)
    /// to `upto`, and the ToDevice position the next token should carry (below `upto`
    /// when more messages wait than one sync delivers).
    pub async fn to_device_for_sync(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        since: Option<Position>,
        upto: Position,
    ) -> Result<(Vec<Value>, Position), E2eeError> {
        let memo = &self.inner.sync_memo;
        if since.is_some() && memo.queue_known_empty(user_id, device_id) {
            return Ok((Vec::new(), upto));
        }
        let store = &self.stores().to_device;
        if let Some(since) = since.filter(|since| since.0 > 0) {
            store.ack_to_device(user_id, device_id, since).await?;
        }
        let after = since.unwrap_or_default();
        let mut rows = store.to_device_messages(user_id, device_id, after, upto, MAX_PER_SYNC).await?;
        let mut next = upto;
        if rows.len() == MAX_PER_SYNC
            && let Some(last) = rows.last().map(|(position, _)| *position)
        {
            // Never stop inside one position: the next sync acknowledges whole positions.
            if rows.iter().any(|(position, _)| *position < last) {
                rows.retain(|(position, _)| *position < last);
                next = Position(last.0.saturating_sub(1));
            } else {
                let limit = usize::try_from(TO_DEVICE_QUEUE_CAP).unwrap_or(usize::MAX);
                rows = store
                    .to_device_messages(user_id, device_id, Position(last.0.saturating_sub(1)), last, limit)
                    .await?;
                next = last;
            }
        }
        if rows.is_empty() {
            memo.queue_clean(user_id, device_id, upto);
        }
        let events = rows.into_iter().filter_map(|(_, json)| serde_json::from_str(&json).ok()).collect();
        Ok((events, next))
    }
}
