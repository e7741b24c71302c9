//! Device activity (`last_seen_ip`, `last_seen_ts`), recorded at most once a minute
//! per device so that authenticating a request is not a write.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ruma::{OwnedDeviceId, OwnedUserId};

/// How often a device's activity is written, at most.
const WRITE_INTERVAL_MS: u64 = 60_000;
/// Bound on remembered devices; the map is cleared when it grows past this.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct LastSeen {
    written: Mutex<HashMap<(OwnedUserId, OwnedDeviceId), (u64, String)>>,
}

impl LastSeen {
    /// Whether this sighting should be written to the store (first in a while, or
    /// from a new IP).
    pub fn should_record(&self, user: &OwnedUserId, device: &OwnedDeviceId, ip: &str, now_ms: u64) -> bool {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= MAX_TRACKED {
            written.clear();
        }
        let key = (user.clone(), device.clone());
        match written.get(&key) {
            Some((at, seen_ip)) if seen_ip == ip && now_ms.saturating_sub(*at) < WRITE_INTERVAL_MS => false,
            _ => {
                written.insert(key, (now_ms, ip.to_owned()));
                true
            }
        }
    }
}
