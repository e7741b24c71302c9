//! End-to-end encryption keys: device identity keys, one-time and fallback keys,
//! cross-signing keys and the signatures other keys made over them.
//!
//! Keys are stored as the JSON the client signed (verbatim text): the server never
//! re-encodes them, so signatures over them keep verifying.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::Error;

/// One one-time or fallback key: its full ID (`algorithm:key`) and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeKeyRecord {
    pub key_id: String,
    pub json: String,
}

impl OneTimeKeyRecord {
    /// The algorithm part of the key ID (`signed_curve25519` of `signed_curve25519:AAAB`).
    pub fn algorithm(&self) -> &str {
        self.key_id.split_once(':').map_or(self.key_id.as_str(), |(algorithm, _)| algorithm)
    }
}

/// The three cross-signing keys a user can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrossSigningKind {
    Master,
    SelfSigning,
    UserSigning,
}

impl CrossSigningKind {
    pub const ALL: [CrossSigningKind; 3] =
        [CrossSigningKind::Master, CrossSigningKind::SelfSigning, CrossSigningKind::UserSigning];

    /// A stable name for keys and table rows (and the spec's `usage` value).
    pub fn name(self) -> &'static str {
        match self {
            CrossSigningKind::Master => "master",
            CrossSigningKind::SelfSigning => "self_signing",
            CrossSigningKind::UserSigning => "user_signing",
        }
    }
}

/// A signature someone made over one of a user's keys (a device key, or the master key
/// by its public key), kept apart from the key so the key's own JSON stays as uploaded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeySignature {
    /// The signed key: a device ID, or the unpadded base64 of a cross-signing public key.
    pub target_key_id: String,
    pub signer: OwnedUserId,
    /// `ed25519:<device ID or public key>` of the signing key.
    pub signer_key_id: String,
    pub signature: String,
}

#[async_trait]
pub trait E2eeKeyStore: Send + Sync {
    /// Stores (or replaces) the identity keys of a device.
    async fn put_device_keys(&self, user_id: &UserId, device_id: &DeviceId, json: &str) -> Result<(), Error>;
    async fn get_device_keys(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Option<String>, Error>;
    /// Every device of the user that has identity keys, in device-ID order.
    async fn list_device_keys(&self, user_id: &UserId) -> Result<Vec<(OwnedDeviceId, String)>, Error>;

    /// Adds one-time keys, in the given order (claims hand out the oldest first). Keys
    /// already stored with the same JSON are skipped. If any key ID is already stored
    /// with different JSON, nothing is added and those IDs are returned.
    async fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKeyRecord],
    ) -> Result<Vec<String>, Error>;
    /// Unclaimed one-time keys of the device, per algorithm (algorithms with none are absent).
    async fn one_time_key_counts(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<BTreeMap<String, u64>, Error>;
    /// Removes and returns the device's oldest one-time key of `algorithm`. Atomic: two
    /// concurrent claims never get the same key.
    async fn claim_one_time_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error>;

    /// Sets the device's fallback key for the key's algorithm, unused. Uploading the key
    /// that is already stored (same ID and JSON) changes nothing, not even its used mark.
    async fn put_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        key: &OneTimeKeyRecord,
    ) -> Result<(), Error>;
    /// Returns the device's fallback key of `algorithm` and marks it used (it stays
    /// available until replaced).
    async fn claim_fallback_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<OneTimeKeyRecord>, Error>;
    /// Algorithms of the device's fallback keys not yet used, sorted.
    async fn unused_fallback_key_algorithms(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>, Error>;

    /// Deletes everything E2EE of a device: identity keys, one-time and fallback keys and
    /// the signatures over its key.
    async fn delete_device_e2ee(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), Error>;

    async fn put_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
        json: &str,
    ) -> Result<(), Error>;
    async fn get_cross_signing_key(
        &self,
        user_id: &UserId,
        kind: CrossSigningKind,
    ) -> Result<Option<String>, Error>;

    /// Stores signatures over `target_user`'s keys (a signature by the same signer key over
    /// the same target replaces the older one).
    async fn add_key_signatures(
        &self,
        target_user: &UserId,
        signatures: &[KeySignature],
    ) -> Result<(), Error>;
    /// Every stored signature over the user's keys, sorted.
    async fn key_signatures(&self, target_user: &UserId) -> Result<Vec<KeySignature>, Error>;

    /// Records the user's dehydrated device (MSC3814) and its opaque data, replacing the
    /// previous one; returns the previous device's ID.
    async fn put_dehydrated_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        device_data: &str,
    ) -> Result<Option<OwnedDeviceId>, Error>;
    /// The user's dehydrated device and its data.
    async fn get_dehydrated_device(&self, user_id: &UserId)
    -> Result<Option<(OwnedDeviceId, String)>, Error>;
    /// Forgets the user's dehydrated device; returns its ID.
    async fn delete_dehydrated_device(&self, user_id: &UserId) -> Result<Option<OwnedDeviceId>, Error>;
}
