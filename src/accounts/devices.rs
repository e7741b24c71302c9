//! A user's own devices: list, inspect, rename, delete (deletion behind UIA).

use ruma::api::client::uiaa::AuthData;
use ruma::{DeviceId, OwnedDeviceId};

use super::{Accounts, AccountsError, Requester};
use crate::storage::DeviceRecord;

/// What else must go when devices are deleted (their E2EE keys and to-device queues),
/// implemented by the E2EE domain so accounts need not know it.
#[async_trait::async_trait]
pub trait DeviceRemoval: Send + Sync {
    async fn devices_removed(
        &self,
        user_id: &ruma::UserId,
        device_ids: &[OwnedDeviceId],
    ) -> Result<(), crate::storage::Error>;
}

/// For tools that delete no devices' keys (none exist without the E2EE domain).
pub struct NoDeviceRemoval;

#[async_trait::async_trait]
impl DeviceRemoval for NoDeviceRemoval {
    async fn devices_removed(
        &self,
        _user_id: &ruma::UserId,
        _device_ids: &[OwnedDeviceId],
    ) -> Result<(), crate::storage::Error> {
        Ok(())
    }
}

impl Accounts {
    pub async fn devices(&self, requester: &Requester) -> Result<Vec<DeviceRecord>, AccountsError> {
        Ok(self.stores().devices.list_devices(&requester.user_id).await?)
    }

    pub async fn device(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
    ) -> Result<DeviceRecord, AccountsError> {
        let device = self.stores().devices.get_device(&requester.user_id, device_id).await?;
        device.ok_or(AccountsError::UnknownDevice)
    }

    pub async fn rename_device(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<(), AccountsError> {
        let devices = &self.stores().devices;
        if !devices.set_device_display_name(&requester.user_id, device_id, display_name).await? {
            return Err(AccountsError::UnknownDevice);
        }
        Ok(())
    }

    /// `DELETE /devices/{deviceId}`: unknown devices are 404 before any UIA.
    pub async fn delete_device(
        &self,
        requester: &Requester,
        device_id: &DeviceId,
        auth: Option<&AuthData>,
    ) -> Result<(), AccountsError> {
        self.device(requester, device_id).await?;
        let requirement = self.password_requirement(requester, &format!("delete_device/{device_id}"));
        self.run_uia(&requirement, auth).await?;
        self.delete_device_unchecked(&requester.user_id, device_id).await
    }

    /// `POST /delete_devices`: unknown IDs are ignored, as the spec says.
    pub async fn delete_devices(
        &self,
        requester: &Requester,
        device_ids: &[OwnedDeviceId],
        auth: Option<&AuthData>,
    ) -> Result<(), AccountsError> {
        let mut sorted: Vec<&str> = device_ids.iter().map(|d| d.as_str()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let requirement =
            self.password_requirement(requester, &format!("delete_devices/{}", sorted.join(",")));
        self.run_uia(&requirement, auth).await?;
        for device_id in device_ids {
            self.delete_device_unchecked(&requester.user_id, device_id).await?;
        }
        Ok(())
    }
}
