//! Local accounts: registration, login and tokens, user-interactive authentication,
//! passwords, devices, profiles and account data.

pub mod account;
pub mod account_data;
pub mod activity;
pub mod devices;
pub mod localpart;
pub mod login;
pub mod password;
pub mod profile;
pub mod register;
mod token_cache;
pub mod tokens;
pub mod uia;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ruma::{OwnedDeviceId, OwnedServerName, OwnedUserId};

use crate::config::{AuthConfig, RegistrationConfig};
use crate::storage::{self, Stores};
use crate::streams::Watermark;

pub use devices::{DeviceRemoval, NoDeviceRemoval};
pub use password::PasswordHasher;
pub use uia::{StageFailure, UiaChallenge};

/// Who is making an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub is_guest: bool,
}

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("registration is disabled")]
    RegistrationDisabled,
    #[error("registration token used up")]
    RegistrationTokenUsedUp,
    #[error("guest access is disabled")]
    GuestsDisabled,
    #[error("user ID taken")]
    UserInUse,
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("user ID in an application service's exclusive namespace")]
    Exclusive,
    #[error("wrong user or password")]
    WrongCredentials,
    #[error("account deactivated")]
    UserDeactivated,
    #[error("unsupported login type {0}")]
    UnsupportedLoginType(String),
    #[error("password login disabled")]
    PasswordLoginDisabled,
    #[error("not the requester's own user")]
    NotYourUser,
    #[error("unknown user")]
    UnknownUser,
    #[error("unknown device")]
    UnknownDevice,
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("{0} is managed by the server")]
    ServerManagedAccountData(String),
    #[error("no such account data")]
    AccountDataNotFound,
    #[error("unknown UIA session")]
    UnknownUiaSession,
    #[error("user-interactive authentication required")]
    AuthRequired(UiaChallenge),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The accounts domain service; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    server_name: OwnedServerName,
    registration: RegistrationConfig,
    auth: AuthConfig,
    hasher: PasswordHasher,
    account_data_stream: Watermark,
    last_seen: activity::LastSeen,
    /// Deletes what hangs off deleted devices (E2EE keys, to-device queues).
    device_removal: Arc<dyn DeviceRemoval>,
    tokens: token_cache::TokenCache,
}

impl Accounts {
    pub fn new(
        stores: Stores,
        server_name: OwnedServerName,
        registration: RegistrationConfig,
        auth: AuthConfig,
        account_data_stream: Watermark,
        device_removal: Arc<dyn DeviceRemoval>,
    ) -> Result<Self, AccountsError> {
        let hasher = PasswordHasher::new(&auth).map_err(|e| AccountsError::Internal(e.to_string()))?;
        Ok(Accounts {
            inner: Arc::new(Inner {
                stores,
                server_name,
                registration,
                auth,
                hasher,
                account_data_stream,
                last_seen: activity::LastSeen::default(),
                device_removal,
                tokens: token_cache::TokenCache::default(),
            }),
        })
    }

    pub fn server_name(&self) -> &ruma::ServerName {
        &self.inner.server_name
    }

    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    fn stores(&self) -> &Stores {
        &self.inner.stores
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
