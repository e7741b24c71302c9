//! Wakes the long-polling requests of exactly the users a change concerns.
//!
//! A waiter registers interest *before* it compares positions (see [`Notifier::listen`]),
//! so a change that lands between the comparison and the wait is never missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ruma::{OwnedUserId, UserId};
use tokio::sync::watch;

/// Per-user wake-up points. Entries live only while someone listens.
#[derive(Default)]
pub struct Notifier {
    users: Mutex<HashMap<OwnedUserId, Weak<watch::Sender<u64>>>>,
}

/// Interest in one user's changes, registered at creation: it remembers the user's
/// change counter as it was then, so any later change wakes it.
pub struct Listener {
    receiver: watch::Receiver<u64>,
    /// Keeps the user's entry alive while this listener exists.
    _sender: Arc<watch::Sender<u64>>,
}

impl Notifier {
    pub fn new() -> Arc<Self> {
        Arc::new(Notifier::default())
    }

    /// Registers interest in `user_id`'s changes. Create the listener, then compare
    /// positions, then [`Listener::wait`]: a change after creation always wakes it.
    pub fn listen(&self, user_id: &UserId) -> Listener {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = match users.get(user_id).and_then(Weak::upgrade) {
            Some(existing) => existing,
            None => {
                let fresh = Arc::new(watch::channel(0u64).0);
                users.insert(user_id.to_owned(), Arc::downgrade(&fresh));
                fresh
            }
        };
        // Forget entries whose listeners are gone, a few at a time, to bound the map.
        if users.len() > 1024 && users.len().is_power_of_two() {
            users.retain(|_, weak| weak.strong_count() > 0);
        }
        Listener { receiver: sender.subscribe(), _sender: sender }
    }

    /// Wakes every listener of each user in `users` (cost: O(users)).
    pub fn wake<'a>(&self, users: impl IntoIterator<Item = &'a UserId>) {
        let registered = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        for user in users {
            if let Some(sender) = registered.get(user).and_then(Weak::upgrade) {
                sender.send_modify(|changes| *changes = changes.wrapping_add(1));
            }
        }
    }
}

impl Listener {
    /// Waits until woken or `timeout` passes; returns whether it was woken.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, self.receiver.changed()).await, Ok(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> OwnedUserId {
        UserId::parse(format!("@{name}:example.org")).unwrap()
    }

    #[tokio::test]
    async fn a_wake_between_listen_and_wait_is_not_lost() {
        let notifier = Notifier::new();
        let alice = user("alice");
        let mut listener = notifier.listen(&alice);
        notifier.wake([alice.as_ref()]);
        assert!(listener.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn every_listener_of_a_user_wakes() {
        let notifier = Notifier::new();
        let alice = user("alice");
        let (mut phone, mut laptop) = (notifier.listen(&alice), notifier.listen(&alice));
        notifier.wake([alice.as_ref()]);
        assert!(phone.wait(Duration::from_secs(5)).await);
        assert!(laptop.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn only_the_concerned_users_wake() {
        let notifier = Notifier::new();
        let (alice, bob) = (user("alice"), user("bob"));
        let mut bobs = notifier.listen(&bob);
        notifier.wake([alice.as_ref()]);
        assert!(!bobs.wait(Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn a_waiting_listener_wakes_promptly() {
        let notifier = Notifier::new();
        let alice = user("alice");
        let mut listener = notifier.listen(&alice);
        let waiter = tokio::spawn(async move { listener.wait(Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        notifier.wake([alice.as_ref()]);
        assert!(waiter.await.unwrap());
    }
}
