//! Wakes the long-polling requests of exactly the users a change concerns.
//!
//! A waiter registers interest *before* it compares positions (see [`Notifier::listen`]),
//! so a change that lands between the comparison and the wait is never missed. Only a
//! stream's [`Watermark`](super::Watermark) wakes, and only once the change's position
//! is published, so a woken waiter always finds the change.

use std::collections::{BTreeSet, HashMap};
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

/// The users one write concerns, woken together once its position is published. A
/// room's member set is shared with its cache (an `Arc`), never copied per write.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    shared: Option<Arc<BTreeSet<OwnedUserId>>>,
    /// Users beside the shared set (usually none or one).
    also: Vec<OwnedUserId>,
}

impl Recipients {
    /// Everyone in a shared set (e.g. a room's joined members).
    pub fn shared(users: Arc<BTreeSet<OwnedUserId>>) -> Self {
        Recipients { shared: Some(users), also: Vec::new() }
    }

    /// Everyone in `users`.
    pub fn set(users: BTreeSet<OwnedUserId>) -> Self {
        Recipients::shared(Arc::new(users))
    }

    /// One user.
    pub fn user(user: OwnedUserId) -> Self {
        Recipients { shared: None, also: vec![user] }
    }

    /// These recipients and `user` (e.g. the target of a membership change).
    pub fn and(mut self, user: Option<OwnedUserId>) -> Self {
        self.also.extend(user);
        self
    }

    /// Every recipient (one may appear twice; waking twice is harmless).
    pub fn iter(&self) -> impl Iterator<Item = &UserId> {
        let shared = self.shared.iter().flat_map(|users| users.iter().map(|user| user.as_ref()));
        shared.chain(self.also.iter().map(|user| user.as_ref()))
    }
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

    /// Wakes every listener of each recipient (cost: O(recipients)). Only the
    /// watermark calls it, once the change is published.
    pub(super) fn wake(&self, recipients: &Recipients) {
        let registered = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        for user in recipients.iter() {
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

    /// Whether a wake-up arrived since the last check (consumes it), without waiting.
    #[cfg(test)]
    pub(super) fn take_wake(&mut self) -> bool {
        let woken = self.receiver.has_changed().unwrap_or(false);
        self.receiver.mark_unchanged();
        woken
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
        notifier.wake(&Recipients::user(alice.clone()));
        assert!(listener.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn every_listener_of_a_user_wakes() {
        let notifier = Notifier::new();
        let alice = user("alice");
        let (mut phone, mut laptop) = (notifier.listen(&alice), notifier.listen(&alice));
        notifier.wake(&Recipients::user(alice.clone()));
        assert!(phone.wait(Duration::from_secs(5)).await);
        assert!(laptop.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn only_the_concerned_users_wake() {
        let notifier = Notifier::new();
        let (alice, bob) = (user("alice"), user("bob"));
        let mut bobs = notifier.listen(&bob);
        notifier.wake(&Recipients::user(alice.clone()));
        assert!(!bobs.wait(Duration::from_millis(50)).await);
    }

    #[test]
    fn recipients_are_the_shared_set_and_the_users_added() {
        let members = Arc::new(BTreeSet::from([user("alice"), user("bob")]));
        let all = Recipients::shared(members).and(Some(user("carol"))).and(None);
        let names: Vec<&str> = all.iter().map(|user| user.localpart()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let two = Recipients::user(user("dan")).and(Some(user("erin")));
        assert_eq!(two.iter().count(), 2, "adding a user keeps the first");
    }

    #[tokio::test]
    async fn a_waiting_listener_wakes_promptly() {
        let notifier = Notifier::new();
        let alice = user("alice");
        let mut listener = notifier.listen(&alice);
        let waiter = tokio::spawn(async move { listener.wait(Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        notifier.wake(&Recipients::user(alice.clone()));
        assert!(waiter.await.unwrap());
    }
}
