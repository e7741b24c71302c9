//! User accounts and registration-token counts in the embedded store.
//!
//! `users`: user ID → [`StoredUser`]. Keys are the bare user ID, so key order is user-ID
//! order and `list_users` is one bounded range scan starting after the last ID returned.
//! `registration_tokens`: token → completed uses (u64 big-endian).

use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{decode_record, decode_text, decode_u64, encode_record, encode_u64};
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table, key_after};
use crate::storage::{AccountStore, Error, UserRecord};

/// A user as stored; the user ID is the key.
#[derive(Serialize, Deserialize)]
struct StoredUser {
    password_hash: Option<String>,
    is_admin: bool,
    is_guest: bool,
    deactivated: bool,
    created_at_ms: u64,
}

impl StoredUser {
    fn from_record(user: &UserRecord) -> Self {
        StoredUser {
            password_hash: user.password_hash.clone(),
            is_admin: user.is_admin,
            is_guest: user.is_guest,
            deactivated: user.deactivated,
            created_at_ms: user.created_at_ms,
        }
    }

    fn into_record(self, user_id: OwnedUserId) -> UserRecord {
        UserRecord {
            user_id,
            password_hash: self.password_hash,
            is_admin: self.is_admin,
            is_guest: self.is_guest,
            deactivated: self.deactivated,
            created_at_ms: self.created_at_ms,
        }
    }
}

fn parse_user_id(bytes: &[u8]) -> Result<OwnedUserId, Error> {
    OwnedUserId::try_from(decode_text(bytes)?)
        .map_err(|error| Error::Corrupt(format!("stored user ID is invalid: {error}")))
}

fn load_user(engine: &dyn KvEngine, user_id: &[u8]) -> Result<Option<StoredUser>, Error> {
    engine.get(Table::Users, user_id)?.map(|bytes| decode_record(&bytes)).transpose()
}

impl EmbeddedStore {
    /// Applies `change` to the user's record under the accounts lock; `false` if the user
    /// does not exist.
    async fn update_user<F>(&self, user_id: &UserId, change: F) -> Result<bool, Error>
    where
        F: FnOnce(&mut StoredUser) + Send + 'static,
    {
        let key = user_id.as_bytes().to_vec();
        self.run_locked(self.locks.accounts(), move |engine| {
            let Some(mut user) = load_user(engine, &key)? else {
                return Ok(false);
            };
            change(&mut user);
            let mut batch = Batch::new();
            batch.put(Table::Users, key, encode_record(&user)?);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn create_user(&self, user: &UserRecord) -> Result<bool, Error> {
        let key = user.user_id.as_bytes().to_vec();
        let value = encode_record(&StoredUser::from_record(user))?;
        self.run_locked(self.locks.accounts(), move |engine| {
            // Deactivated users keep their row, so this also refuses their IDs.
            if engine.get(Table::Users, &key)?.is_some() {
                return Ok(false);
            }
            let mut batch = Batch::new();
            batch.put(Table::Users, key, value);
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, Error> {
        let owned = user_id.to_owned();
        self.run(move |engine| Ok(load_user(engine, owned.as_bytes())?.map(|user| user.into_record(owned))))
            .await
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> Result<Vec<UserRecord>, Error> {
        let from = after.map(|user_id| key_after(user_id.as_bytes())).unwrap_or_default();
        self.run(move |engine| {
            let range = KeyRange { from, to: None };
            let rows = engine.scan(Table::Users, &range, Direction::Forward, limit)?;
            rows.into_iter()
                .map(
                    |(key, value)| Ok(decode_record::<StoredUser>(&value)?.into_record(parse_user_id(&key)?)),
                )
                .collect()
        })
        .await
    }

    async fn set_password_hash(&self, user_id: &UserId, hash: Option<&str>) -> Result<bool, Error> {
        let hash = hash.map(str::to_owned);
        self.update_user(user_id, move |user| user.password_hash = hash).await
    }

    async fn deactivate_user(&self, user_id: &UserId) -> Result<bool, Error> {
        self.update_user(user_id, |user| {
            user.deactivated = true;
            user.password_hash = None;
        })
        .await
    }

    async fn set_admin(&self, user_id: &UserId, is_admin: bool) -> Result<bool, Error> {
        self.update_user(user_id, move |user| user.is_admin = is_admin).await
    }

    async fn use_registration_token(&self, token: &str, uses_allowed: Option<u64>) -> Result<bool, Error> {
        let key = token.as_bytes().to_vec();
        self.run_locked(self.locks.accounts(), move |engine| {
            let uses = load_token_uses(engine, &key)?;
            if uses_allowed.is_some_and(|allowed| uses >= allowed) {
                return Ok(false);
            }
            let mut batch = Batch::new();
            batch.put(Table::RegistrationTokens, key, encode_u64(uses.saturating_add(1)).to_vec());
            engine.write(batch)?;
            Ok(true)
        })
        .await
    }

    async fn registration_token_uses(&self, token: &str) -> Result<u64, Error> {
        let key = token.as_bytes().to_vec();
        self.run(move |engine| load_token_uses(engine, &key)).await
    }
}

fn load_token_uses(engine: &dyn KvEngine, token: &[u8]) -> Result<u64, Error> {
    match engine.get(Table::RegistrationTokens, token)? {
        Some(bytes) => decode_u64(&bytes),
        None => Ok(0),
    }
}
