//! `stoa user create | list | reset-password` against the configured store.

use ruma::OwnedUserId;

use crate::accounts::{AccountsError, localpart};
use crate::app::Services;
use crate::storage::UserRecord;

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum UserCommandError {
    #[error("{0} already exists")]
    Exists(OwnedUserId),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("invalid user name: {0}")]
    InvalidName(String),
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error(transparent)]
    Accounts(AccountsError),
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

impl From<AccountsError> for UserCommandError {
    fn from(error: AccountsError) -> Self {
        match error {
            AccountsError::InvalidUsername(why) => UserCommandError::InvalidName(why),
            AccountsError::Storage(e) => UserCommandError::Storage(e),
            other => UserCommandError::Accounts(other),
        }
    }
}

/// Creates a user with a password; returns the user ID.
pub async fn create(
    services: &Services,
    name: &str,
    password: String,
    admin: bool,
) -> Result<OwnedUserId, UserCommandError> {
    if password.is_empty() {
        return Err(UserCommandError::EmptyPassword);
    }
    let accounts = &services.accounts;
    let user_id = localpart::user_id_for_new_user(name, accounts.server_name())?;
    let hash = accounts.password_hasher().hash(password).await?;
    match accounts.create_user(&user_id, Some(hash), admin, false).await {
        Ok(()) => Ok(user_id),
        Err(AccountsError::UserInUse) => Err(UserCommandError::Exists(user_id)),
        Err(other) => Err(other.into()),
    }
}

/// Every user, in pages, in user-ID order.
pub async fn list(services: &Services, mut each: impl FnMut(&UserRecord)) -> Result<(), UserCommandError> {
    let mut after: Option<OwnedUserId> = None;
    loop {
        let page = services.stores.accounts.list_users(after.as_deref(), 500).await?;
        for user in &page {
            each(user);
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.user_id.clone()),
            _ => return Ok(()),
        }
    }
}

/// Sets a new password and logs out all of the user's devices.
pub async fn reset_password(
    services: &Services,
    name: &str,
    password: String,
) -> Result<OwnedUserId, UserCommandError> {
    if password.is_empty() {
        return Err(UserCommandError::EmptyPassword);
    }
    let accounts = &services.accounts;
    let user_id = localpart::user_id_for_login(name, accounts.server_name())
        .ok_or_else(|| UserCommandError::NoSuchUser(name.to_owned()))?;
    let hash = accounts.password_hasher().hash(password).await?;
    match accounts.set_password_hash(&user_id, &hash).await {
        Ok(()) => {}
        Err(AccountsError::UnknownUser) => {
            return Err(UserCommandError::NoSuchUser(user_id.to_string()));
        }
        Err(other) => return Err(other.into()),
    }
    accounts.delete_devices_except(&user_id, None).await?;
    Ok(user_id)
}
