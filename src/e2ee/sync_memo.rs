//! What recent syncs learned about each device, so a sync with nothing new for the
//! device costs no store reads for its E2EE sections: whether its to-device queue is
//! empty, and its one-time key counts and unused fallback key types.
//!
//! The queue: a sync that acknowledged everything up to its `since` and found nothing
//! up to its `upto` marks the queue clean up to `upto`; every send notes its position
//! for each target device *before* publishing it. A queue is known empty while no
//! noted send is past its clean mark, so a message visible to a sync is never skipped.
//!
//! The keys: every upload, claim or deletion forgets the device's counts and bumps an
//! epoch; counts read by a sync are kept only if no epoch bump happened since before the
//! read, so a read racing a change is never kept.
//!
//! Bounded: past [`MAX_DEVICES`] the memo starts over (unknown means "read the store").

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use crate::storage::Position;

/// Devices remembered at once.
const MAX_DEVICES: usize = 200_000;

/// A device's one-time key counts and unused fallback key types.
pub type KeyCounts = (BTreeMap<String, u64>, Vec<String>);

#[derive(Default)]
pub struct SyncMemo {
    inner: Mutex<Memo>,
}

#[derive(Default)]
struct Memo {
    devices: HashMap<(OwnedUserId, OwnedDeviceId), DeviceFacts>,
    /// Bumped by every key change.
    key_epoch: u64,
}

#[derive(Default)]
struct DeviceFacts {
    /// The queue held nothing at or below this position (and everything below was acknowledged).
    clean_upto: Option<Position>,
    /// The newest position of a message sent to the device.
    last_queued: Position,
    keys: Option<KeyCounts>,
}

impl Memo {
    fn facts(&mut self, user_id: &UserId, device_id: &DeviceId) -> &mut DeviceFacts {
        if self.devices.len() >= MAX_DEVICES {
            self.devices.clear();
        }
        self.devices.entry((user_id.to_owned(), device_id.to_owned())).or_default()
    }

    fn get(&self, user_id: &UserId, device_id: &DeviceId) -> Option<&DeviceFacts> {
        self.devices.get(&(user_id.to_owned(), device_id.to_owned()))
    }
}

impl SyncMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes a message for the device at `position`; called before it is published.
    pub fn queued(&self, user_id: &UserId, device_id: &DeviceId, position: Position) {
        let mut memo = self.lock();
        let facts = memo.facts(user_id, device_id);
        facts.last_queued = facts.last_queued.max(position);
    }

    /// Whether the device's queue is known to hold nothing a sync could deliver.
    pub fn queue_known_empty(&self, user_id: &UserId, device_id: &DeviceId) -> bool {
        self.lock()
            .get(user_id, device_id)
            .and_then(|facts| facts.clean_upto.map(|clean| facts.last_queued <= clean))
            .unwrap_or(false)
    }

    /// Notes that a sync acknowledged the queue and found nothing up to `upto`.
    pub fn queue_clean(&self, user_id: &UserId, device_id: &DeviceId, upto: Position) {
        let mut memo = self.lock();
        let facts = memo.facts(user_id, device_id);
        facts.clean_upto = Some(facts.clean_upto.map_or(upto, |clean| clean.max(upto)));
    }

    /// The device's remembered key counts.
    pub fn key_counts(&self, user_id: &UserId, device_id: &DeviceId) -> Option<KeyCounts> {
        self.lock().get(user_id, device_id).and_then(|facts| facts.keys.clone())
    }

    /// Taken before reading key counts, for [`SyncMemo::remember_key_counts`].
    pub fn key_epoch(&self) -> u64 {
        self.lock().key_epoch
    }

    /// Keeps counts read since `epoch`, unless a key changed in between.
    pub fn remember_key_counts(&self, user_id: &UserId, device_id: &DeviceId, counts: KeyCounts, epoch: u64) {
        let mut memo = self.lock();
        if memo.key_epoch == epoch {
            memo.facts(user_id, device_id).keys = Some(counts);
        }
    }

    /// Forgets the device's key counts (its keys changed).
    pub fn keys_changed(&self, user_id: &UserId, device_id: &DeviceId) {
        let mut memo = self.lock();
        memo.key_epoch += 1;
        if let Some(facts) = memo.devices.get_mut(&(user_id.to_owned(), device_id.to_owned())) {
            facts.keys = None;
        }
    }

    /// Forgets everything about a deleted device.
    pub fn device_deleted(&self, user_id: &UserId, device_id: &DeviceId) {
        let mut memo = self.lock();
        memo.key_epoch += 1;
        memo.devices.remove(&(user_id.to_owned(), device_id.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_known_empty_only_while_no_send_is_past_its_clean_mark() {
        let memo = SyncMemo::default();
        let (user, device) = (UserId::parse("@a:x").unwrap(), <&DeviceId>::from("D"));
        assert!(!memo.queue_known_empty(&user, device), "unknown");
        memo.queue_clean(&user, device, Position(10));
        assert!(memo.queue_known_empty(&user, device));
        memo.queued(&user, device, Position(11));
        assert!(!memo.queue_known_empty(&user, device));
        memo.queue_clean(&user, device, Position(11));
        assert!(memo.queue_known_empty(&user, device));
        memo.device_deleted(&user, device);
        assert!(!memo.queue_known_empty(&user, device));
    }

    #[test]
    fn counts_read_across_a_key_change_are_not_kept() {
        let memo = SyncMemo::default();
        let (user, device) = (UserId::parse("@a:x").unwrap(), <&DeviceId>::from("D"));
        let counts: KeyCounts = (BTreeMap::from([("signed_curve25519".to_owned(), 5)]), vec![]);
        let epoch = memo.key_epoch();
        memo.keys_changed(&user, device);
        memo.remember_key_counts(&user, device, counts.clone(), epoch);
        assert!(memo.key_counts(&user, device).is_none());
        memo.remember_key_counts(&user, device, counts.clone(), memo.key_epoch());
        assert_eq!(memo.key_counts(&user, device), Some(counts));
        memo.keys_changed(&user, device);
        assert!(memo.key_counts(&user, device).is_none());
    }
}
