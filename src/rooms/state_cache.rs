//! State groups, whole and shared. A group never changes once written, and right after
//! an append the next append and every receiver's visibility check ask for the same
//! few groups; rebuilding one from its delta chain costs a read per link, so they are
//! kept here within a budget of state entries (dropped wholesale when it is exceeded,
//! then refilled on demand).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Rooms, RoomsError};
use crate::storage::{StateGroupId, StateMap};

/// State entries kept across all cached groups (each entry is a few short strings).
const BUDGET: usize = 400_000;

#[derive(Default)]
pub struct StateCache {
    inner: Mutex<Groups>,
}

#[derive(Default)]
struct Groups {
    groups: HashMap<StateGroupId, Arc<StateMap>>,
    entries: usize,
}

impl StateCache {
    fn get(&self, id: StateGroupId) -> Option<Arc<StateMap>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).groups.get(&id).cloned()
    }

    /// Keeps `state` as group `id` (groups larger than the whole budget are not kept).
    pub fn insert(&self, id: StateGroupId, state: Arc<StateMap>) {
        if state.len() > BUDGET {
            return;
        }
        let mut cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.entries + state.len() > BUDGET {
            cache.groups.clear();
            cache.entries = 0;
        }
        cache.entries += state.len();
        if let Some(replaced) = cache.groups.insert(id, state) {
            cache.entries = cache.entries.saturating_sub(replaced.len());
        }
    }
}

impl Rooms {
    /// The whole state of group `id`, or `None` if no such group exists.
    pub(super) async fn state_group(&self, id: StateGroupId) -> Result<Option<Arc<StateMap>>, RoomsError> {
        if let Some(state) = self.inner.state_cache.get(id) {
            return Ok(Some(state));
        }
        let Some(state) = self.stores().rooms.state_group(id).await? else { return Ok(None) };
        let state = Arc::new(state);
        self.inner.state_cache.insert(id, state.clone());
        Ok(Some(state))
    }
}

#[cfg(test)]
mod tests {
    use ruma::OwnedEventId;

    use super::*;

    fn map(size: usize) -> Arc<StateMap> {
        let id: OwnedEventId = "$e:example.org".try_into().unwrap();
        Arc::new((0..size).map(|i| (("m.room.member".to_owned(), format!("@u{i}:x")), id.clone())).collect())
    }

    #[test]
    fn keeps_groups_within_its_budget() {
        let cache = StateCache::default();
        cache.insert(StateGroupId(1), map(10));
        assert_eq!(cache.get(StateGroupId(1)).map(|s| s.len()), Some(10));
        cache.insert(StateGroupId(2), map(BUDGET));
        assert!(cache.get(StateGroupId(1)).is_none(), "dropped to make room");
        assert_eq!(cache.get(StateGroupId(2)).map(|s| s.len()), Some(BUDGET));
        cache.insert(StateGroupId(3), map(BUDGET + 1));
        assert!(cache.get(StateGroupId(3)).is_none(), "too large to keep");
    }
}
