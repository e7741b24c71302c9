//! Global profiles of local users: display name and avatar URL.

use ruma::UserId;

use super::{Accounts, AccountsError, Requester};
use crate::storage::Profile;

/// Longest display name accepted, in bytes (Synapse's limit).
pub const MAX_DISPLAYNAME_BYTES: usize = 256;
/// Longest avatar URL accepted, in bytes.
pub const MAX_AVATAR_URL_BYTES: usize = 1000;

/// Which profile field a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    DisplayName,
    AvatarUrl,
}

impl Accounts {
    /// The profile of a user of this server; unknown or deactivated users are 404.
    pub async fn profile(&self, user_id: &UserId) -> Result<Profile, AccountsError> {
        if user_id.server_name() != self.server_name() {
            // Remote profiles come with federation.
            return Err(AccountsError::UnknownUser);
        }
        match self.stores().accounts.get_user(user_id).await? {
            Some(user) if !user.deactivated => Ok(self.stores().profiles.get_profile(user_id).await?),
            _ => Err(AccountsError::UnknownUser),
        }
    }

    pub async fn set_profile_field(
        &self,
        requester: &Requester,
        user_id: &UserId,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<(), AccountsError> {
        if requester.user_id != user_id {
            return Err(AccountsError::NotYourUser);
        }
        let value = value.filter(|v| !v.is_empty());
        let profiles = &self.stores().profiles;
        match field {
            ProfileField::DisplayName => {
                if value.is_some_and(|v| v.len() > MAX_DISPLAYNAME_BYTES) {
                    return Err(AccountsError::InvalidParam("displayname is too long".to_owned()));
                }
                profiles.set_displayname(user_id, value).await?;
            }
            ProfileField::AvatarUrl => {
                if value.is_some_and(|v| v.len() > MAX_AVATAR_URL_BYTES || !v.starts_with("mxc://")) {
                    return Err(AccountsError::InvalidParam("avatar_url must be an mxc:// URI".to_owned()));
                }
                profiles.set_avatar_url(user_id, value).await?;
            }
        }
        Ok(())
    }
}
