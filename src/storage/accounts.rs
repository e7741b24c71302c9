//! User accounts: the record of each local user and registration-token use counts.

use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::Error;

/// One local user. Deactivated users keep their record so the ID is never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: OwnedUserId,
    /// PHC-format argon2id hash; `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub is_guest: bool,
    pub deactivated: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts the user unless the ID is taken (by an active or deactivated user).
    /// Returns `false` when taken; the check and insert are atomic.
    async fn create_user(&self, user: &UserRecord) -> Result<bool, Error>;
    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, Error>;
    /// Users ordered by user ID, strictly after `after`, at most `limit` of them.
    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> Result<Vec<UserRecord>, Error>;
    /// Replaces the password hash. Returns `false` if no such user.
    async fn set_password_hash(&self, user_id: &UserId, hash: Option<&str>) -> Result<bool, Error>;
    /// Marks the user deactivated and clears the password hash. Returns `false` if no such user.
    async fn deactivate_user(&self, user_id: &UserId) -> Result<bool, Error>;
    /// Returns `false` if no such user.
    async fn set_admin(&self, user_id: &UserId, is_admin: bool) -> Result<bool, Error>;
    /// Counts one completed use of a registration token, atomically, only if that keeps
    /// the count within `uses_allowed` (`None` = unlimited). Returns whether it counted.
    async fn use_registration_token(&self, token: &str, uses_allowed: Option<u64>) -> Result<bool, Error>;
    /// How many registrations completed with this token.
    async fn registration_token_uses(&self, token: &str) -> Result<u64, Error>;
}
