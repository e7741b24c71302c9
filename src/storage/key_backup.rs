//! Server-side key backup: versions (algorithm and auth data) and, per version, the
//! encrypted Megolm session keys of each room.

use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};

use super::Error;

/// One backup version of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupVersion {
    pub version: u64,
    /// The `algorithm` string as the client sent it.
    pub algorithm: String,
    /// The `auth_data` object as JSON text.
    pub auth_data: String,
    /// Changes whenever the version's keys change.
    pub etag: u64,
    /// How many session keys the version holds.
    pub count: u64,
}

/// One backed-up session key: its `KeyBackupData` JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupKey {
    pub room_id: OwnedRoomId,
    pub session_id: String,
    pub json: String,
}

/// The version's `(etag, count)` after a change.
pub type BackupState = (u64, u64);

/// The spec's rule for a session key uploaded over a stored one: the new one wins if it
/// is verified and the old one is not; with equal verification, if it has a lower
/// `first_message_index`, or an equal one and a lower `forwarded_count`.
pub fn backup_key_replaces(old: &str, new: &str) -> bool {
    let fields = |text: &str| {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let number = |name: &str| value.get(name).and_then(serde_json::Value::as_u64).unwrap_or(u64::MAX);
        let verified = value.get("is_verified").and_then(serde_json::Value::as_bool).unwrap_or(false);
        (verified, number("first_message_index"), number("forwarded_count"))
    };
    let (old_verified, old_index, old_forwarded) = fields(old);
    let (new_verified, new_index, new_forwarded) = fields(new);
    if new_verified != old_verified {
        return new_verified;
    }
    new_index < old_index || (new_index == old_index && new_forwarded < old_forwarded)
}

#[async_trait]
pub trait KeyBackupStore: Send + Sync {
    /// Creates a version numbered above every version the user ever had; returns it.
    async fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<u64, Error>;
    /// The version, or the user's latest when `None`; deleted versions are not found.
    async fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<u64>,
    ) -> Result<Option<BackupVersion>, Error>;
    /// Replaces a version's auth data; `false` if there is no such version.
    async fn update_backup_auth_data(
        &self,
        user_id: &UserId,
        version: u64,
        auth_data: &str,
    ) -> Result<bool, Error>;
    /// Deletes a version and its keys; `false` if there is no such version.
    async fn delete_backup_version(&self, user_id: &UserId, version: u64) -> Result<bool, Error>;
    /// Stores keys in a version, each only where [`backup_key_replaces`] allows over a
    /// stored one. `None` if there is no such version.
    async fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        keys: &[BackupKey],
    ) -> Result<Option<BackupState>, Error>;
    /// The version's keys, of one room or one session when given, in room and session order.
    async fn backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKey>, Error>;
    /// Deletes the version's keys (of one room or session when given). `None` if there is
    /// no such version.
    async fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: u64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Option<BackupState>, Error>;
}
