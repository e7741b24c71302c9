//! Devices and the access/refresh tokens bound to them (one token set per device).

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::Error;

/// SHA-256 of a token. Tokens themselves are never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not secrets, but keep logs short.
        write!(f, "TokenHash({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    pub last_seen_ip: Option<String>,
    pub last_seen_ts_ms: Option<u64>,
    pub created_at_ms: u64,
}

/// A device as login creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    /// Applied only when the device is new, or when `Some` for an existing device.
    pub display_name: Option<String>,
    /// Where the login came from: becomes the device's last-seen IP (an existing
    /// device keeps its old one when `None`).
    pub ip: Option<String>,
    /// When the login happened: the device's last-seen time, and its creation time if new.
    pub now_ms: u64,
}

/// The credentials of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTokens {
    pub access_token: TokenHash,
    /// When the access token stops working (ms since epoch); `None` = never.
    pub access_expires_at_ms: Option<u64>,
    pub refresh_token: Option<TokenHash>,
}

/// Who an access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenOwner {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub expires_at_ms: Option<u64>,
    /// The stored hash, for the caller's constant-time comparison.
    pub token: TokenHash,
    /// A refresh token replaced by the last refresh is still accepted; the first use of
    /// the new access token should retire it ([`DeviceStore::retire_previous_refresh_token`]).
    pub has_previous_refresh_token: bool,
}

/// Who a refresh token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenOwner {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub token: TokenHash,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates the device or, if it exists, keeps it (updating the display name only
    /// when `Some`) and replaces all of its tokens (the old ones stop working at once).
    async fn upsert_device(&self, device: &NewDevice, tokens: &DeviceTokens) -> Result<(), Error>;
    async fn get_device(&self, user_id: &UserId, device_id: &DeviceId)
    -> Result<Option<DeviceRecord>, Error>;
    /// All of a user's devices ordered by device ID.
    async fn list_devices(&self, user_id: &UserId) -> Result<Vec<DeviceRecord>, Error>;
    /// Returns `false` if no such device.
    async fn set_device_display_name(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<bool, Error>;
    /// Records activity; a no-op for unknown devices.
    async fn touch_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        ip: &str,
        now_ms: u64,
    ) -> Result<(), Error>;
    /// Deletes the device and its tokens. Returns `false` if no such device.
    async fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<bool, Error>;
    /// Deletes every device of the user but `keep`, with their tokens; returns the deleted IDs.
    async fn delete_devices_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> Result<Vec<OwnedDeviceId>, Error>;
    async fn find_access_token(&self, token: &TokenHash) -> Result<Option<AccessTokenOwner>, Error>;
    /// Finds the owner of a current refresh token, or of the one the last refresh replaced
    /// while it is still accepted.
    async fn find_refresh_token(&self, token: &TokenHash) -> Result<Option<RefreshTokenOwner>, Error>;
    /// Atomically replaces the device's tokens with `new_tokens` if `used_refresh` is
    /// accepted for it, returning whether it was:
    /// - `used_refresh` is the current refresh token: it becomes the "previous" one (still
    ///   accepted, so a client that lost the response can retry) and `new_tokens` apply;
    /// - `used_refresh` is the previous one: `new_tokens` apply, previous stays as is;
    /// - otherwise nothing changes and the result is `false`.
    async fn refresh_tokens(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        used_refresh: &TokenHash,
        new_tokens: &DeviceTokens,
    ) -> Result<bool, Error>;
    /// Stops accepting the refresh token that the last refresh replaced.
    async fn retire_previous_refresh_token(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<(), Error>;
}
