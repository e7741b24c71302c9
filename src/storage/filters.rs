//! Sync filters uploaded by clients, addressed by an ID the domain derives.

use async_trait::async_trait;
use ruma::UserId;

use super::Error;

#[async_trait]
pub trait FilterStore: Send + Sync {
    /// Stores `filter` (JSON text) under `(user_id, filter_id)`; storing the same pair
    /// again is harmless (IDs are derived from content).
    async fn put_filter(&self, user_id: &UserId, filter_id: &str, filter: &str) -> Result<(), Error>;
    async fn get_filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<String>, Error>;
}
