//! Global profile (display name, avatar) of local users.

use async_trait::async_trait;
use ruma::UserId;

use super::Error;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// The stored profile; an empty [`Profile`] if none was ever set.
    async fn get_profile(&self, user_id: &UserId) -> Result<Profile, Error>;
    async fn set_displayname(&self, user_id: &UserId, displayname: Option<&str>) -> Result<(), Error>;
    async fn set_avatar_url(&self, user_id: &UserId, avatar_url: Option<&str>) -> Result<(), Error>;
}
