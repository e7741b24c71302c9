//! Send-to-device messages: a bounded queue per device, kept until the device's sync
//! acknowledges them, and the senders' transaction IDs for idempotent retries.

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::{Error, Position};

/// One message for one device: the event as `/sync` serves it (`sender`, `type`, `content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDeviceMessage {
    pub recipient: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub json: String,
}

/// The sending device's transaction, which makes a retried send a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToDeviceTxn {
    pub sender: OwnedUserId,
    pub sender_device: OwnedDeviceId,
    pub txn_id: String,
}

/// What queueing did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToDeviceQueued {
    /// `false` when the transaction was already used: nothing was queued.
    pub queued: bool,
    /// Devices whose queue was full, with how many of their oldest messages were dropped.
    pub dropped: Vec<(OwnedUserId, OwnedDeviceId, u64)>,
}

#[async_trait]
pub trait ToDeviceStore: Send + Sync {
    /// Queues every message at `position` and records the transaction, atomically, unless
    /// the transaction was already used. A device's queue keeps at most `cap` messages:
    /// the oldest go first.
    async fn queue_to_device(
        &self,
        txn: &ToDeviceTxn,
        position: Position,
        messages: &[ToDeviceMessage],
        cap: u64,
    ) -> Result<ToDeviceQueued, Error>;
    /// Up to `limit` queued messages of the device with positions in `(after, upto]`,
    /// oldest first, with their positions.
    async fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        after: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(Position, String)>, Error>;
    /// Deletes the device's messages at positions up to `upto` (the device has them).
    async fn ack_to_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        upto: Position,
    ) -> Result<(), Error>;
    /// Deletes the device's whole queue (the device is gone).
    async fn delete_to_device_queue(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error>;
}
