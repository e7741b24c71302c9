//! Global profiles in the embedded store.
//!
//! `profiles`: user ID, field name → field value. One row per field rather than one
//! record per user, so setting one field is a blind write that cannot lose a concurrent
//! change to the other (no read-modify-write, no lock).

use async_trait::async_trait;
use ruma::UserId;

use super::EmbeddedStore;
use super::codec::{compound_key, decode_text};
use super::engine::{Batch, Table};
use crate::storage::{Error, Profile, ProfileStore};

const DISPLAYNAME: &[u8] = b"displayname";
const AVATAR_URL: &[u8] = b"avatar_url";

impl EmbeddedStore {
    /// Sets (or, with `None`, removes) one profile field.
    async fn set_profile_field(
        &self,
        user_id: &UserId,
        field: &[u8],
        value: Option<&str>,
    ) -> Result<(), Error> {
        let key = compound_key(&[user_id.as_bytes(), field]);
        let mut batch = Batch::new();
        match value {
            Some(value) => batch.put(Table::Profiles, key, value.as_bytes().to_vec()),
            None => batch.delete(Table::Profiles, key),
        }
        self.run(move |engine| engine.write(batch)).await
    }
}

#[async_trait]
impl ProfileStore for EmbeddedStore {
    async fn get_profile(&self, user_id: &UserId) -> Result<Profile, Error> {
        let displayname_key = compound_key(&[user_id.as_bytes(), DISPLAYNAME]);
        let avatar_url_key = compound_key(&[user_id.as_bytes(), AVATAR_URL]);
        self.run(move |engine| {
            let read =
                |key: &[u8]| engine.get(Table::Profiles, key)?.map(|bytes| decode_text(&bytes)).transpose();
            Ok(Profile { displayname: read(&displayname_key)?, avatar_url: read(&avatar_url_key)? })
        })
        .await
    }

    async fn set_displayname(&self, user_id: &UserId, displayname: Option<&str>) -> Result<(), Error> {
        self.set_profile_field(user_id, DISPLAYNAME, displayname).await
    }

    async fn set_avatar_url(&self, user_id: &UserId, avatar_url: Option<&str>) -> Result<(), Error> {
        self.set_profile_field(user_id, AVATAR_URL, avatar_url).await
    }
}
