//! Account data, global and per room, as clients store it; each write advances the
//! `AccountData` stream so `/sync` can deliver it.

use ruma::{RoomId, UserId};

use super::{Accounts, AccountsError, Requester};
use crate::streams::Recipients;

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
        self.store_account_data(user_id, room_id, event_type, content).await
    }

    /// Stores account data without the client-facing checks (server-managed types too).
    pub async fn store_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), AccountsError> {
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
        reservation.complete_and_wake(Recipients::user(user_id.to_owned()));
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

impl Accounts {
    /// A room's tags (`m.tag` room account data), `{}` when none.
    pub async fn tags(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
    ) -> Result<serde_json::Value, AccountsError> {
        match self.account_data(requester, user_id, Some(room_id), "m.tag").await {
            Ok(text) => Ok(serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("tags").cloned())
                .filter(serde_json::Value::is_object)
                .unwrap_or_else(|| serde_json::json!({}))),
            Err(AccountsError::AccountDataNotFound) => Ok(serde_json::json!({})),
            Err(other) => Err(other),
        }
    }

    /// Adds, replaces (`Some`) or removes (`None`) one tag of a room.
    pub async fn set_tag(
        &self,
        requester: &Requester,
        user_id: &UserId,
        room_id: &RoomId,
        tag: &str,
        info: Option<serde_json::Value>,
    ) -> Result<(), AccountsError> {
        if tag.is_empty() || tag.len() > 255 {
            return Err(AccountsError::InvalidParam("tags are 1-255 bytes".to_owned()));
        }
        let mut tags = self.tags(requester, user_id, room_id).await?;
        if let Some(map) = tags.as_object_mut() {
            match info {
                Some(info) => map.insert(tag.to_owned(), info),
                None => map.remove(tag),
            };
        }
        let mut content = serde_json::Map::new();
        content.insert("tags".to_owned(), tags);
        self.store_account_data(user_id, Some(room_id), "m.tag", &content).await
    }
}

impl Accounts {
    /// The users in the user's `m.ignored_user_list`.
    pub async fn ignored_users(
        &self,
        user_id: &UserId,
    ) -> Result<std::collections::HashSet<String>, AccountsError> {
        let text = self.stores().account_data.get_account_data(user_id, None, "m.ignored_user_list").await?;
        Ok(text.as_deref().map(parse_ignored_users).unwrap_or_default())
    }
}

/// The user IDs in an `m.ignored_user_list` content.
pub fn parse_ignored_users(text: &str) -> std::collections::HashSet<String> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
    value
        .get("ignored_users")
        .and_then(serde_json::Value::as_object)
        .map(|users| users.keys().cloned().collect())
        .unwrap_or_default()
}
