//! Account registration: availability, UIA flows, guests, tokens, first device.

use ruma::api::client::uiaa::AuthData;
use ruma::{OwnedDeviceId, OwnedUserId, UserId};

use super::uia::{Stage, UiaRequirement};
use super::{Accounts, AccountsError, localpart, now_ms};
use crate::storage::UserRecord;

/// A registration request, already parsed.
pub struct Registration {
    pub username: Option<String>,
    pub password: Option<String>,
    pub device_id: Option<OwnedDeviceId>,
    pub initial_device_display_name: Option<String>,
    pub inhibit_login: bool,
    pub refresh_token: bool,
    pub guest: bool,
    pub auth: Option<AuthData>,
    pub ip: String,
}

/// What registration produced.
pub struct Registered {
    pub user_id: OwnedUserId,
    pub login: Option<super::login::IssuedTokens>,
}

impl Accounts {
    pub async fn register(&self, request: Registration) -> Result<Registered, AccountsError> {
        let config = &self.inner.registration;
        if request.guest {
            if !config.allow_guests {
                return Err(AccountsError::GuestsDisabled);
            }
            return self.register_guest(request).await;
        }
        if !config.enabled {
            return Err(AccountsError::RegistrationDisabled);
        }
        // Fail fast on a bad or taken name, before the client goes through UIA.
        let chosen = match &request.username {
            Some(name) => Some(self.check_available(name).await?),
            None => None,
        };
        let stage = if config.require_token { Stage::RegistrationToken } else { Stage::Dummy };
        let requirement =
            UiaRequirement { purpose: "register".to_owned(), flows: vec![vec![stage]], user: None };
        let outcome = self.run_uia(&requirement, request.auth.as_ref()).await?;
        let user_id = match chosen {
            Some(user_id) => user_id,
            None => self.generated_user_id()?,
        };
        if let Some(token) = &outcome.registration_token {
            let allowed = config.tokens.iter().find(|t| &t.token == token).map(|t| t.uses_allowed);
            let limit = allowed.filter(|n| *n > 0);
            if !self.stores().accounts.use_registration_token(token, limit).await? {
                return Err(AccountsError::RegistrationTokenUsedUp);
            }
        }
        let password_hash = match request.password.clone() {
            Some(password) => Some(self.inner.hasher.hash(password).await?),
            None => None,
        };
        self.create_user(&user_id, password_hash, false, false).await?;
        tracing::info!(user = %user_id, "registered");
        let login = if request.inhibit_login {
            None
        } else {
            let device = request.device_id.clone();
            let name = request.initial_device_display_name.clone();
            Some(self.issue_device(&user_id, device, name, request.refresh_token, &request.ip).await?)
        };
        Ok(Registered { user_id, login })
    }

    /// `GET /register/available`: the user ID for `username` if it could be registered.
    pub async fn check_available(&self, username: &str) -> Result<OwnedUserId, AccountsError> {
        let user_id = localpart::user_id_for_new_user(username, self.server_name())?;
        if self.stores().accounts.get_user(&user_id).await?.is_some() {
            return Err(AccountsError::UserInUse);
        }
        Ok(user_id)
    }

    /// Creates a user record (also used by the operator CLI).
    pub async fn create_user(
        &self,
        user_id: &UserId,
        password_hash: Option<String>,
        is_admin: bool,
        is_guest: bool,
    ) -> Result<(), AccountsError> {
        let record = UserRecord {
            user_id: user_id.to_owned(),
            password_hash,
            is_admin,
            is_guest,
            deactivated: false,
            created_at_ms: now_ms(),
        };
        if !self.stores().accounts.create_user(&record).await? {
            return Err(AccountsError::UserInUse);
        }
        Ok(())
    }

    async fn register_guest(&self, request: Registration) -> Result<Registered, AccountsError> {
        let user_id = self.generated_user_id()?;
        self.create_user(&user_id, None, false, true).await?;
        let name = request.initial_device_display_name.clone();
        let login = self.issue_device(&user_id, None, name, request.refresh_token, &request.ip).await?;
        Ok(Registered { user_id, login: Some(login) })
    }

    fn generated_user_id(&self) -> Result<OwnedUserId, AccountsError> {
        let localpart = localpart::generated_localpart()?;
        localpart::user_id_for_new_user(&localpart, self.server_name())
    }
}

/// Tokens are never logged; this keeps that true for the whole request.
impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("username", &self.username).field("guest", &self.guest).finish()
    }
}
