//! Account data, global and per room, as clients store it; each write advances the
//! `AccountData` stream so `/sync` can deliver it.

use ruma::{RoomId, UserId};

use super::{Accounts, AccountsError, Requester};

/// Types the server manages itself; clients may not write them here.
const SERVER_MANAGED: [&str; 2] = ["m.fully_read", "m.push_rules"];
/// Largest stored account-data object, in bytes.
pub const MAX_ACCOUNT_DATA_BYTES: usize = 65_536;

impl Accounts {
    pub async fn put_account_data(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), AccountsError> {
        if requester.user_id != user_id {
            return Err(AccountsError::NotYourUser);
        }
        if SERVER_MANAGED.contains(&event_type) {
            return Err(AccountsError::ServerManagedAccountData(event_type.to_owned()));
        }
        let text = serde_json::to_string(content).map_err(|e| AccountsError::Internal(e.to_string()))?;
        if text.len() > MAX_ACCOUNT_DATA_BYTES || event_type.len() > 255 {
            return Err(AccountsError::InvalidParam("account data is too large".to_owned()));
        }
        let streams = self.stores().streams.clone();
        let reservation = self
            .inner
            .account_data_stream
            .reserve(|| async move { streams.reserve_position(crate::storage::StreamId::AccountData).await })
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))?;
        let store = &self.stores().account_data;
        store.put_account_data(user_id, room_id, event_type, &text, reservation.position()).await?;
        reservation.complete();
        Ok(())
    }

    pub async fn account_data(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<String, AccountsError> {
        if requester.user_id != user_id {
            return Err(AccountsError::NotYourUser);
        }
        let found = self.stores().account_data.get_account_data(user_id, room_id, event_type).await?;
        found.ok_or(AccountsError::AccountDataNotFound)
    }
}
