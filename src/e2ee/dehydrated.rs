//! Dehydrated devices (MSC3814): a device a client parks on the server, with its keys and
//! opaque (client-encrypted) data, so to-device messages sent while the user has no
//! device online are kept; a new device later fetches them and takes its place. It has
//! no usable access token: its token hash is of a random value nobody holds.

use ruma::{DeviceId, OwnedDeviceId};
use serde_json::Value;

use super::signatures::check_device_keys;
use super::upload::KeyUpload;
use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::{DeviceTokens, NewDevice, Position, TokenHash};

/// Largest `device_data`, in bytes.
const MAX_DEVICE_DATA_BYTES: usize = 65_536;

/// What `PUT /dehydrated_device` carries.
pub struct DehydratedDeviceUpload<'a> {
    pub device_id: &'a DeviceId,
    pub display_name: Option<&'a str>,
    pub device_data: &'a str,
    pub keys: KeyUpload<'a>,
}

fn unusable_token() -> Result<TokenHash, E2eeError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| E2eeError::Internal(format!("no randomness: {error}")))?;
    Ok(TokenHash(bytes))
}

impl E2ee {
    /// Replaces the user's dehydrated device with a new one and its keys.
    pub async fn put_dehydrated_device(
        &self,
        requester: &Requester,
        upload: &DehydratedDeviceUpload<'_>,
    ) -> Result<OwnedDeviceId, E2eeError> {
        let user_id = &requester.user_id;
        let device_id = upload.device_id;
        if upload.device_data.len() > MAX_DEVICE_DATA_BYTES {
            return Err(E2eeError::TooLarge("device_data is too large".to_owned()));
        }
        let device_keys = upload
            .keys
            .device_keys
            .ok_or_else(|| E2eeError::BadJson("device_keys are required".to_owned()))?;
        let parsed =
            serde_json::from_str::<Value>(device_keys).map_err(|e| E2eeError::BadJson(e.to_string()))?;
        check_device_keys(&parsed, user_id, device_id)?;
        if let Some((previous, _)) = self.stores().e2ee_keys.get_dehydrated_device(user_id).await? {
            self.remove_device(requester, &previous).await?;
        }
        if self.stores().devices.get_device(user_id, device_id).await?.is_some() {
            return Err(E2eeError::InvalidParam("that device ID is in use".to_owned()));
        }
        let device = NewDevice {
            user_id: user_id.clone(),
            device_id: device_id.to_owned(),
            display_name: upload.display_name.map(str::to_owned),
            ip: None,
            now_ms: crate::accounts::now_ms(),
        };
        let tokens =
            DeviceTokens { access_token: unusable_token()?, access_expires_at_ms: None, refresh_token: None };
        self.stores().devices.upsert_device(&device, &tokens).await?;
        let dehydrated =
            Requester { user_id: user_id.clone(), device_id: device_id.to_owned(), is_guest: false };
        if let Err(error) = self.upload_keys(&dehydrated, &upload.keys).await {
            self.stores().devices.delete_device(user_id, device_id).await?;
            self.stores().e2ee_keys.delete_device_e2ee(user_id, device_id).await?;
            self.inner.sync_memo.device_deleted(user_id, device_id);
            return Err(error);
        }
        self.stores().e2ee_keys.put_dehydrated_device(user_id, device_id, upload.device_data).await?;
        Ok(device_id.to_owned())
    }

    /// The user's dehydrated device: its ID and data.
    pub async fn dehydrated_device(
        &self,
        requester: &Requester,
    ) -> Result<(OwnedDeviceId, Value), E2eeError> {
        let found = self.stores().e2ee_keys.get_dehydrated_device(&requester.user_id).await?;
        let (device_id, data) =
            found.ok_or_else(|| E2eeError::NotFound("no dehydrated device".to_owned()))?;
        Ok((device_id, serde_json::from_str(&data).unwrap_or_default()))
    }

    /// Deletes the user's dehydrated device; returns its ID.
    pub async fn delete_dehydrated_device(&self, requester: &Requester) -> Result<OwnedDeviceId, E2eeError> {
        let found = self.stores().e2ee_keys.get_dehydrated_device(&requester.user_id).await?;
        let (device_id, _) = found.ok_or_else(|| E2eeError::NotFound("no dehydrated device".to_owned()))?;
        self.remove_device(requester, &device_id).await?;
        Ok(device_id)
    }

    /// The dehydrated device's to-device messages after `next_batch` (acknowledging those
    /// up to it), and the token for the next page.
    pub async fn dehydrated_device_events(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
        next_batch: Option<&str>,
    ) -> Result<(Vec<Value>, String), E2eeError> {
        let found = self.stores().e2ee_keys.get_dehydrated_device(&requester.user_id).await?;
        if found.is_none_or(|(current, _)| current != device_id) {
            return Err(E2eeError::Forbidden("that is not your dehydrated device".to_owned()));
        }
        let since = match next_batch {
            Some(text) => Some(Position(
                text.parse().map_err(|_| E2eeError::InvalidParam("invalid next_batch".to_owned()))?,
            )),
            None => None,
        };
        let (to_device, _) = self.positions();
        let (events, next) = self.to_device_for_sync(&requester.user_id, device_id, since, to_device).await?;
        Ok((events, next.0.to_string()))
    }

    /// Deletes a device with everything hanging off it and forgets it as dehydrated.
    async fn remove_device(&self, requester: &Requester, device_id: &DeviceId) -> Result<(), E2eeError> {
        self.stores().e2ee_keys.delete_dehydrated_device(&requester.user_id).await?;
        self.stores().devices.delete_device(&requester.user_id, device_id).await?;
        self.device_deleted(&requester.user_id, device_id).await
    }
}
