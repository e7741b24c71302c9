//! Changing one's password and deactivating one's account (both behind UIA).

use ruma::UserId;
use ruma::api::client::uiaa::AuthData;

use super::uia::{Stage, UiaRequirement};
use super::{Accounts, AccountsError, Requester};

impl Accounts {
    /// Whether `password` is the user's current password.
    pub async fn password_matches(&self, user_id: &UserId, password: &str) -> Result<bool, AccountsError> {
        let record = self.stores().accounts.get_user(user_id).await?;
        match record.and_then(|user| user.password_hash.filter(|_| !user.deactivated)) {
            Some(hash) => self.inner.hasher.verify(password.to_owned(), hash).await,
            None => Ok(false),
        }
    }

    /// The UIA every sensitive account operation of `requester` asks for.
    pub fn password_requirement<'a>(&self, requester: &'a Requester, operation: &str) -> UiaRequirement<'a> {
        UiaRequirement {
            purpose: format!("{operation}:{}:{}", requester.user_id, requester.device_id),
            flows: vec![vec![Stage::Password]],
            user: Some(&requester.user_id),
        }
    }

    /// `POST /account/password`.
    pub async fn change_password(
        &self,
        requester: &Requester,
        new_password: String,
        logout_devices: bool,
        auth: Option<&AuthData>,
    ) -> Result<(), AccountsError> {
        let requirement = self.password_requirement(requester, "change_password");
        self.run_uia(&requirement, auth).await?;
        let hash = self.inner.hasher.hash(new_password).await?;
        self.set_password_hash(&requester.user_id, &hash).await?;
        if logout_devices {
            self.delete_devices_except(&requester.user_id, Some(&requester.device_id)).await?;
        }
        tracing::info!(user = %requester.user_id, logout_devices, "password changed");
        Ok(())
    }

    /// Sets a password hash directly (operator CLI and password change).
    pub async fn set_password_hash(&self, user_id: &UserId, hash: &str) -> Result<(), AccountsError> {
        if !self.stores().accounts.set_password_hash(user_id, Some(hash)).await? {
            return Err(AccountsError::UnknownUser);
        }
        Ok(())
    }

    /// `POST /account/deactivate`: the ID stays taken forever; devices, tokens and
    /// profile go.
    pub async fn deactivate(
        &self,
        requester: &Requester,
        auth: Option<&AuthData>,
    ) -> Result<(), AccountsError> {
        let requirement = self.password_requirement(requester, "deactivate");
        self.run_uia(&requirement, auth).await?;
        let stores = self.stores();
        stores.accounts.deactivate_user(&requester.user_id).await?;
        self.delete_devices_except(&requester.user_id, None).await?;
        stores.profiles.set_displayname(&requester.user_id, None).await?;
        stores.profiles.set_avatar_url(&requester.user_id, None).await?;
        tracing::info!(user = %requester.user_id, "deactivated");
        Ok(())
    }
}

impl Accounts {
    /// Runs password UIA for a sensitive `operation` of the requester's own account.
    pub async fn confirm_with_password(
        &self,
        requester: &Requester,
        operation: &str,
        auth: Option<&AuthData>,
    ) -> Result<(), AccountsError> {
        let requirement = self.password_requirement(requester, operation);
        self.run_uia(&requirement, auth).await?;
        Ok(())
    }
}
