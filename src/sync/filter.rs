//! Stored sync filters. A filter's ID is derived from its content, so uploading the
//! same filter twice yields the same ID and stores nothing new.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ruma::UserId;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::accounts::Requester;
use crate::storage::{self, FilterStore};

/// Largest stored filter, in bytes of JSON.
const MAX_FILTER_BYTES: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("filters belong to their own user")]
    NotYourUser,
    #[error("no such filter")]
    NotFound,
    #[error("invalid filter: {0}")]
    Invalid(String),
    #[error("filter is too large")]
    TooLarge,
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("filter could not be serialized: {0}")]
    Serialize(String),
}

/// Filters remembered at once; past that the memo starts over.
const MAX_REMEMBERED: usize = 50_000;

/// A user's filter, as the memo keys it.
type FilterKey = (ruma::OwnedUserId, String);

#[derive(Clone)]
pub struct Filters {
    store: std::sync::Arc<dyn FilterStore>,
    /// Filters read recently: a client names the same one in every `/sync`, and a
    /// filter never changes (its ID is derived from its content).
    remembered: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<FilterKey, Value>>>,
}

impl Filters {
    pub fn new(store: std::sync::Arc<dyn FilterStore>) -> Self {
        Filters { store, remembered: std::sync::Arc::default() }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<FilterKey, Value>> {
        self.remembered.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores `json`, the filter exactly as the client sent it (already checked to parse
    /// as a filter), and returns its ID.
    pub async fn create(
        &self,
        requester: &Requester,
        user_id: &UserId,
        json: &[u8],
    ) -> Result<String, FilterError> {
        if requester.user_id != user_id {
            return Err(FilterError::NotYourUser);
        }
        let value: Value = serde_json::from_slice(json).map_err(|e| FilterError::Invalid(e.to_string()))?;
        check_filter(&value)?;
        let text = value.to_string();
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError::TooLarge);
        }
        let digest = Sha256::digest(text.as_bytes());
        let filter_id = URL_SAFE_NO_PAD.encode(&digest[..12]);
        self.store.put_filter(user_id, &filter_id, &text).await?;
        Ok(filter_id)
    }

    pub async fn get(
        &self,
        requester: &Requester,
        user_id: &UserId,
        filter_id: &str,
    ) -> Result<Value, FilterError> {
        if requester.user_id != user_id {
            return Err(FilterError::NotYourUser);
        }
        let key = (user_id.to_owned(), filter_id.to_owned());
        if let Some(filter) = self.remembered().get(&key) {
            return Ok(filter.clone());
        }
        let text = self.store.get_filter(user_id, filter_id).await?.ok_or(FilterError::NotFound)?;
        let filter: Value = serde_json::from_str(&text).map_err(|e| FilterError::Serialize(e.to_string()))?;
        let mut remembered = self.remembered();
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key, filter.clone());
        Ok(filter)
    }
}

/// Checks what ruma's parsing lets through: the enumerations the spec fixes.
fn check_filter(filter: &Value) -> Result<(), FilterError> {
    if !filter.is_object() {
        return Err(FilterError::Invalid("a filter is a JSON object".to_owned()));
    }
    match filter.get("event_format").map(Value::as_str) {
        None | Some(Some("client" | "federation")) => Ok(()),
        _ => Err(FilterError::Invalid("event_format must be \"client\" or \"federation\"".to_owned())),
    }
}
