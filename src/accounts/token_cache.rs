//! Access tokens already checked, so a request does not read the token and the user
//! record again: a client long-polling `/sync` presents the same token many times a
//! minute. Every change to a user's devices or tokens in this process forgets the
//! user's entries at once; entries also expire after [`TTL`], which bounds how long a
//! change made by another process (`stoa user …` on a shared PostgreSQL) goes unseen.
//! Two generations within a count budget keep memory bounded.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ruma::{OwnedUserId, UserId};

use super::Requester;
use crate::storage::TokenHash;

/// How long a checked token is trusted without reading the store again.
const TTL: Duration = Duration::from_secs(60);
/// Tokens kept in one generation (two generations at most).
const PER_GENERATION: usize = 65_536;

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Generations>,
}

struct Entry {
    requester: Requester,
    /// When the token itself expires (refreshable tokens), in ms since the epoch.
    expires_at_ms: Option<u64>,
    checked: Instant,
}

#[derive(Default)]
struct Generation {
    tokens: HashMap<[u8; 32], Entry>,
    by_user: HashMap<OwnedUserId, Vec<[u8; 32]>>,
}

#[derive(Default)]
struct Generations {
    current: Generation,
    previous: Generation,
    /// Counts `forget_user` calls: a check that raced with one is not remembered.
    forgets: u64,
}

impl Generation {
    fn forget_user(&mut self, user_id: &UserId) {
        for hash in self.by_user.remove(user_id).unwrap_or_default() {
            self.tokens.remove(&hash);
        }
    }
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requester a token was checked to belong to, if that is recent and the token
    /// has not expired since.
    pub fn get(&self, hash: &TokenHash, now_ms: u64) -> Option<Requester> {
        let generations = self.lock();
        let entry =
            generations.current.tokens.get(&hash.0).or_else(|| generations.previous.tokens.get(&hash.0))?;
        let fresh = entry.checked.elapsed() < TTL && entry.expires_at_ms.is_none_or(|at| at > now_ms);
        fresh.then(|| entry.requester.clone())
    }

    /// Taken before checking a token against the store, for [`TokenCache::insert`].
    pub fn epoch(&self) -> u64 {
        self.lock().forgets
    }

    /// Remembers a token checked against the store, unless a user's tokens were
    /// forgotten since `epoch` (the check may have read what was just removed).
    pub fn insert(&self, hash: &TokenHash, requester: &Requester, expires_at_ms: Option<u64>, epoch: u64) {
        let mut generations = self.lock();
        if generations.forgets != epoch {
            return;
        }
        if generations.current.tokens.len() >= PER_GENERATION {
            generations.previous = std::mem::take(&mut generations.current);
        }
        let current = &mut generations.current;
        let entry = Entry { requester: requester.clone(), expires_at_ms, checked: Instant::now() };
        if current.tokens.insert(hash.0, entry).is_none() {
            current.by_user.entry(requester.user_id.clone()).or_default().push(hash.0);
        }
    }

    /// Forgets every token of the user (a device or token of theirs changed).
    pub fn forget_user(&self, user_id: &UserId) {
        let mut generations = self.lock();
        generations.forgets += 1;
        generations.current.forget_user(user_id);
        generations.previous.forget_user(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requester(user: &str, device: &str) -> Requester {
        Requester { user_id: UserId::parse(user).unwrap(), device_id: device.into(), is_guest: false }
    }

    #[test]
    fn forgets_a_users_tokens_and_expired_ones() {
        let cache = TokenCache::default();
        let (a1, a2, b) = (TokenHash([1; 32]), TokenHash([2; 32]), TokenHash([3; 32]));
        let epoch = cache.epoch();
        cache.insert(&a1, &requester("@a:x", "D1"), None, epoch);
        cache.insert(&a2, &requester("@a:x", "D2"), Some(1_000), epoch);
        cache.insert(&b, &requester("@b:x", "D"), None, epoch);
        assert_eq!(cache.get(&a1, 0).map(|r| r.device_id.to_string()), Some("D1".to_owned()));
        assert!(cache.get(&a2, 999).is_some());
        assert!(cache.get(&a2, 1_000).is_none(), "the token expired");
        cache.forget_user(&UserId::parse("@a:x").unwrap());
        assert!(cache.get(&a1, 0).is_none());
        assert!(cache.get(&b, 0).is_some());
        cache.insert(&a1, &requester("@a:x", "D1"), None, epoch);
        assert!(cache.get(&a1, 0).is_none(), "checked before a forget: not remembered");
    }
}
