//! [`ProfileStore`] on PostgreSQL: the `profiles` table, one row per user that ever set
//! a field.

use async_trait::async_trait;
use ruma::UserId;
use sqlx::Row;

use super::{PostgresStore, query_failed};
use crate::storage::{Error, Profile, ProfileStore};

#[async_trait]
impl ProfileStore for PostgresStore {
    async fn get_profile(&self, user_id: &UserId) -> Result<Profile, Error> {
        let doing = "reading a profile";
        let row = sqlx::query("SELECT displayname, avatar_url FROM profiles WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(query_failed(doing))?;
        let Some(row) = row else {
            return Ok(Profile::default());
        };
        Ok(Profile {
            displayname: row.try_get("displayname").map_err(query_failed(doing))?,
            avatar_url: row.try_get("avatar_url").map_err(query_failed(doing))?,
        })
    }

    async fn set_displayname(&self, user_id: &UserId, displayname: Option<&str>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO profiles (user_id, displayname) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET displayname = EXCLUDED.displayname",
        )
        .bind(user_id.as_str())
        .bind(displayname)
        .execute(&self.pool)
        .await
        .map_err(query_failed("setting a display name"))?;
        Ok(())
    }

    async fn set_avatar_url(&self, user_id: &UserId, avatar_url: Option<&str>) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO profiles (user_id, avatar_url) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET avatar_url = EXCLUDED.avatar_url",
        )
        .bind(user_id.as_str())
        .bind(avatar_url)
        .execute(&self.pool)
        .await
        .map_err(query_failed("setting an avatar URL"))?;
        Ok(())
    }
}
