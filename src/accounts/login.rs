//! Logging in and out: password login, issuing a device's tokens, refresh, and
//! turning an access token back into a [`Requester`].

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::{Accounts, AccountsError, Requester, localpart, now_ms, tokens};
use crate::storage::{DeviceTokens, NewDevice};

/// Credentials handed to a client after login or registration.
pub struct IssuedTokens {
    pub device_id: OwnedDeviceId,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Lifetime of the access token in milliseconds, if it expires.
    pub expires_in_ms: Option<u64>,
}

/// Why an access token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("unknown access token")]
    Unknown,
    /// Expired: the client should refresh (soft logout).
    #[error("expired access token")]
    Expired,
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

impl Accounts {
    /// Checks `user`/`password` and logs in; `user` is a localpart or full user ID.
    pub async fn login_with_password(
        &self,
        user: &str,
        password: &str,
        device_id: Option<OwnedDeviceId>,
        display_name: Option<String>,
        want_refresh: bool,
        ip: &str,
    ) -> Result<(OwnedUserId, IssuedTokens), AccountsError> {
        if !self.inner.auth.password_login_enabled {
            return Err(AccountsError::PasswordLoginDisabled);
        }
        let hasher = &self.inner.hasher;
        // Without a stored hash the login still verifies one (a dummy), so the answer
        // takes as long as a wrong password's and does not tell which users exist.
        let Some(user_id) = localpart::user_id_for_login(user, self.server_name()) else {
            hasher.verify_dummy(password.to_owned()).await?;
            return Err(AccountsError::WrongCredentials);
        };
        let record = self.stores().accounts.get_user(&user_id).await?;
        let Some(record) = record else {
            hasher.verify_dummy(password.to_owned()).await?;
            return Err(AccountsError::WrongCredentials);
        };
        if record.deactivated {
            return Err(AccountsError::UserDeactivated);
        }
        let Some(hash) = record.password_hash else {
            hasher.verify_dummy(password.to_owned()).await?;
            return Err(AccountsError::WrongCredentials);
        };
        if !hasher.verify(password.to_owned(), hash).await? {
            return Err(AccountsError::WrongCredentials);
        }
        let issued = self.issue_device(&user_id, device_id, display_name, want_refresh, ip).await?;
        tracing::info!(user = %user_id, device = %issued.device_id, "logged in");
        Ok((user_id, issued))
    }

    /// Creates (or takes over) a device and gives it fresh tokens.
    pub async fn issue_device(
        &self,
        user_id: &UserId,
        device_id: Option<OwnedDeviceId>,
        display_name: Option<String>,
        want_refresh: bool,
        ip: &str,
    ) -> Result<IssuedTokens, AccountsError> {
        let (device_id, display_name) = match device_id {
            // The initial display name is ignored for a device that already exists.
            Some(id) => match self.stores().devices.get_device(user_id, &id).await? {
                Some(_) => (id, None),
                None => (id, display_name),
            },
            None => (tokens::new_device_id()?.into(), display_name),
        };
        let (issued, stored) = self.new_tokens(device_id.clone(), want_refresh)?;
        let device = NewDevice {
            user_id: user_id.to_owned(),
            device_id,
            display_name,
            ip: Some(ip.to_owned()),
            now_ms: now_ms(),
        };
        self.stores().devices.upsert_device(&device, &stored).await?;
        // Logging in again on a device replaces its token.
        self.inner.tokens.forget_user(user_id);
        Ok(issued)
    }

    /// `POST /refresh`: swaps a refresh token for a new token pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, AccountsError> {
        let hash = tokens::hash_token(refresh_token);
        let owner = self.stores().devices.find_refresh_token(&hash).await?;
        let Some(owner) = owner.filter(|o| tokens::hashes_match(&o.token, &hash)) else {
            return Err(AccountsError::UnknownRefreshToken);
        };
        let (issued, stored) = self.new_tokens(owner.device_id.clone(), true)?;
        let devices = &self.stores().devices;
        let refreshed = devices.refresh_tokens(&owner.user_id, &owner.device_id, &hash, &stored).await?;
        self.inner.tokens.forget_user(&owner.user_id);
        if !refreshed {
            return Err(AccountsError::UnknownRefreshToken);
        }
        Ok(issued)
    }

    /// Resolves an access token to its user and device.
    pub async fn authenticate(&self, access_token: &str, ip: &str) -> Result<Requester, TokenRejection> {
        let hash = tokens::hash_token(access_token);
        let devices = &self.stores().devices;
        let now = now_ms();
        if let Some(requester) = self.inner.tokens.get(&hash, now) {
            self.record_last_seen(&requester, ip, now).await?;
            return Ok(requester);
        }
        let epoch = self.inner.tokens.epoch();
        let owner = devices.find_access_token(&hash).await?;
        let Some(owner) = owner.filter(|o| tokens::hashes_match(&o.token, &hash)) else {
            return Err(TokenRejection::Unknown);
        };
        if owner.expires_at_ms.is_some_and(|at| at <= now) {
            return Err(TokenRejection::Expired);
        }
        if owner.has_previous_refresh_token {
            devices.retire_previous_refresh_token(&owner.user_id, &owner.device_id).await?;
        }
        let is_guest = match self.stores().accounts.get_user(&owner.user_id).await? {
            Some(user) if !user.deactivated => user.is_guest,
            _ => return Err(TokenRejection::Unknown),
        };
        let requester = Requester { user_id: owner.user_id, device_id: owner.device_id, is_guest };
        self.record_last_seen(&requester, ip, now).await?;
        self.inner.tokens.insert(&hash, &requester, owner.expires_at_ms, epoch);
        Ok(requester)
    }

    /// Notes the device's last use (now and then, not per request).
    async fn record_last_seen(
        &self,
        requester: &Requester,
        ip: &str,
        now: u64,
    ) -> Result<(), TokenRejection> {
        let (user, device) = (&requester.user_id, &requester.device_id);
        if self.inner.last_seen.should_record(user, device, ip, now) {
            self.stores().devices.touch_device(user, device, ip, now).await?;
        }
        Ok(())
    }

    /// `POST /logout`: deletes the requester's device and with it the token.
    pub async fn logout(&self, requester: &Requester) -> Result<(), AccountsError> {
        self.delete_device_unchecked(&requester.user_id, &requester.device_id).await
    }

    /// `POST /logout/all`: deletes every device of the user.
    pub async fn logout_all(&self, requester: &Requester) -> Result<(), AccountsError> {
        self.delete_devices_except(&requester.user_id, None).await
    }

    pub(super) async fn delete_device_unchecked(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<(), AccountsError> {
        let deleted = self.stores().devices.delete_device(user_id, device_id).await?;
        self.inner.tokens.forget_user(user_id);
        if deleted {
            self.inner.device_removal.devices_removed(user_id, &[device_id.to_owned()]).await?;
        }
        Ok(())
    }

    /// Deletes every device of the user but `keep`, and what hangs off them (keys, queues).
    pub async fn delete_devices_except(
        &self,
        user_id: &UserId,
        keep: Option<&DeviceId>,
    ) -> Result<(), AccountsError> {
        let deleted = self.stores().devices.delete_devices_except(user_id, keep).await?;
        self.inner.tokens.forget_user(user_id);
        if !deleted.is_empty() {
            self.inner.device_removal.devices_removed(user_id, &deleted).await?;
        }
        Ok(())
    }

    fn new_tokens(
        &self,
        device_id: OwnedDeviceId,
        want_refresh: bool,
    ) -> Result<(IssuedTokens, DeviceTokens), AccountsError> {
        let access_token = tokens::new_access_token()?;
        let refresh_token = if want_refresh { Some(tokens::new_refresh_token()?) } else { None };
        let auth = &self.inner.auth;
        let lifetime_secs = if want_refresh {
            auth.refreshable_access_token_lifetime_secs
        } else {
            auth.access_token_lifetime_secs
        };
        let expires_in_ms = (lifetime_secs > 0).then(|| lifetime_secs.saturating_mul(1000));
        let stored = DeviceTokens {
            access_token: tokens::hash_token(&access_token),
            access_expires_at_ms: expires_in_ms.map(|ms| now_ms().saturating_add(ms)),
            refresh_token: refresh_token.as_deref().map(tokens::hash_token),
        };
        Ok((IssuedTokens { device_id, access_token, refresh_token, expires_in_ms }, stored))
    }
}

#[cfg(test)]
mod tests {
    use crate::accounts::AccountsError;
    use crate::config::Config;

    /// Every way a login can lack a stored hash verifies one anyway, exactly as often
    /// as a wrong password does (the timing of the answers cannot tell them apart).
    #[tokio::test]
    async fn logins_without_a_stored_hash_still_verify_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.path = dir.path().join("db");
        config.server.signing_key_path = dir.path().join("signing.key");
        config.auth.argon2_memory_kib = 1024;
        config.auth.argon2_iterations = 1;
        let services = crate::app::Services::build(&config).await.unwrap();
        let accounts = &services.accounts;
        let hasher = accounts.password_hasher();
        let alice: ruma::OwnedUserId = "@alice:localhost".try_into().unwrap();
        let hash = hasher.hash("right".to_owned()).await.unwrap();
        accounts.create_user(&alice, Some(hash), false, false).await.unwrap();
        let hashless: ruma::OwnedUserId = "@hashless:localhost".try_into().unwrap();
        accounts.create_user(&hashless, None, false, false).await.unwrap();
        for user in
            ["alice", "nobody", "@nobody:localhost", "@someone:elsewhere", "hashless", "no such user!"]
        {
            let before = hasher.verifications();
            let result = accounts.login_with_password(user, "guess", None, None, false, "127.0.0.1").await;
            assert!(matches!(result, Err(AccountsError::WrongCredentials)), "{user}: {:?}", result.err());
            assert_eq!(hasher.verifications(), before + 1, "{user}: not exactly one verification");
        }
    }
}
