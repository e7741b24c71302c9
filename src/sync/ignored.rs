//! The users each syncing user ignores, kept between syncs: every sync that brings
//! others' events needs the list, and it is account data that rarely changes. An entry
//! read at account-data position P answers a sync from `since` ≥ P whose window holds
//! no change to the list.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use ruma::{OwnedUserId, UserId};

use crate::storage::{AccountDataStore, Position};

/// Users kept at once; past that the memo starts over.
const MAX_USERS: usize = 100_000;

/// User → (account-data position read at, the users they ignore).
type Memo = HashMap<OwnedUserId, (Position, Arc<HashSet<String>>)>;

#[derive(Default)]
pub struct IgnoredUsers {
    users: Mutex<Memo>,
}

/// The account-data window of one sync.
pub struct Window {
    pub since: Option<Position>,
    pub upto: Position,
    /// The window may hold a change to `m.ignored_user_list`.
    pub list_changed: bool,
}

impl IgnoredUsers {
    /// The users `user_id` ignores as of `window.upto` (or later).
    pub async fn get(
        &self,
        store: &dyn AccountDataStore,
        user_id: &UserId,
        window: Window,
    ) -> Result<Arc<HashSet<String>>, crate::storage::Error> {
        if !window.list_changed
            && let Some(since) = window.since
            && let Some((read_at, users)) = self.lock().get(user_id)
            && *read_at >= since
        {
            return Ok(users.clone());
        }
        let users = match store.get_account_data(user_id, None, "m.ignored_user_list").await? {
            Some(text) => crate::accounts::account_data::parse_ignored_users(&text),
            None => HashSet::new(),
        };
        let users = Arc::new(users);
        let mut memo = self.lock();
        if memo.len() >= MAX_USERS {
            memo.clear();
        }
        memo.insert(user_id.to_owned(), (window.upto, users.clone()));
        Ok(users)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
