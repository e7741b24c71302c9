//! Parsed events by ID. A PDU never changes once stored (a redaction is applied when an
//! event is served, not to what is kept), so nothing here is ever stale; the state
//! events every reader consults (history visibility, members, power levels) are parsed
//! once instead of per request. Two generations within a count budget keep memory
//! bounded: when the current one is full the older one is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ruma::{EventId, OwnedEventId};

use super::{Rooms, RoomsError};
use crate::events::Pdu;

/// Events kept in one generation (two generations at most).
const PER_GENERATION: usize = 4_096;

#[derive(Default)]
pub struct EventCache {
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<OwnedEventId, Arc<Pdu>>,
    previous: HashMap<OwnedEventId, Arc<Pdu>>,
}

impl EventCache {
    fn get(&self, event_id: &EventId) -> Option<Arc<Pdu>> {
        let mut generations = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pdu) = generations.current.get(event_id) {
            return Some(pdu.clone());
        }
        let pdu = generations.previous.remove(event_id)?;
        generations.insert(pdu.clone());
        Some(pdu)
    }

    fn insert(&self, pdu: Arc<Pdu>) {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).insert(pdu);
    }
}

impl Generations {
    fn insert(&mut self, pdu: Arc<Pdu>) {
        if self.current.len() >= PER_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(pdu.event_id().to_owned(), pdu);
    }
}

impl Rooms {
    /// A stored event, parsed, from the cache when it was read recently; `None` when it
    /// is missing or cannot be read back (logged): readers treat it as absent.
    pub async fn cached_readable(&self, event_id: &EventId) -> Result<Option<Arc<Pdu>>, RoomsError> {
        if let Some(pdu) = self.inner.event_cache.get(event_id) {
            return Ok(Some(pdu));
        }
        let Some(pdu) = self.load_readable(event_id).await? else { return Ok(None) };
        let pdu = Arc::new(pdu);
        self.inner.event_cache.insert(pdu.clone());
        Ok(Some(pdu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(n: usize) -> Arc<Pdu> {
        let json = serde_json::json!({
            "auth_events": [], "prev_events": [], "content": {}, "depth": 1,
            "hashes": { "sha256": "x" }, "origin_server_ts": 1, "room_id": "!r:x",
            "sender": "@a:x", "signatures": {}, "type": "m.room.message",
        })
        .to_string();
        let id: OwnedEventId = format!("$e{n}").try_into().unwrap();
        Arc::new(Pdu::from_stored(&json, &id, stoa_federation::RoomVersion::V11).unwrap())
    }

    #[test]
    fn keeps_two_generations_at_most() {
        let cache = EventCache::default();
        for n in 0..PER_GENERATION * 2 + 1 {
            cache.insert(pdu(n));
        }
        let first: OwnedEventId = "$e0".try_into().unwrap();
        assert!(cache.get(&first).is_none(), "the oldest generation was dropped");
        let kept: OwnedEventId = format!("$e{}", PER_GENERATION + 1).try_into().unwrap();
        assert!(cache.get(&kept).is_some());
        let inner = cache.inner.lock().unwrap();
        assert!(inner.current.len() + inner.previous.len() <= PER_GENERATION * 2);
    }
}
