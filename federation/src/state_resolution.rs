//! State resolution: merging the room states of forked DAG branches into one, with state
//! resolution v2 (room versions 10 and 11) or v2.1 (room version 12), run by ruma-state-res.
//!
//! ruma leaves two inputs to the caller: the full auth chain of every state being resolved, and,
//! for v2.1, the conflicted state subgraph. Both are computed here by walking `auth_events`
//! through the caller's `fetch_event`, and both walks are bounded by [`MAX_AUTH_CHAIN_WALK`]: a
//! room member must not be able to make the server walk an unbounded auth DAG.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};

use ruma::room_version_rules::StateResolutionV2Rules;
use ruma::state_res::utils::event_id_set::EventIdSet;
use ruma::state_res::{self, Event};
use ruma::{EventId, OwnedEventId};

pub use ruma::state_res::StateMap;

use crate::event_auth::authorization_rules;
use crate::room_version::{RoomVersion, StateResolution};

/// The most distinct events one auth DAG walk may visit before state resolution gives up. Real
/// rooms' auth chains stay far below this; pathological ones crafted to exhaust the server do not.
pub const MAX_AUTH_CHAIN_WALK: usize = 100_000;

/// Why a set of states could not be resolved. Nothing was decided; the caller must not fall back
/// to picking a state by hand (that is how state resets happen).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateResolutionError {
    /// Walking the auth DAG visited more events than allowed.
    #[error("auth chain walk exceeded {limit} events")]
    AuthChainTooLarge {
        /// The limit that was hit.
        limit: usize,
    },
    /// An event whose auth events are needed is not available; fetch it and retry.
    #[error("event {0} is needed for state resolution but is not available")]
    MissingEvent(OwnedEventId),
    /// ruma's algorithm failed, e.g. on an auth event it could not interpret.
    #[error("state resolution failed: {0}")]
    Algorithm(String),
}

/// The state resolution v2 variant ruma applies for `version`.
pub fn state_resolution_rules(version: RoomVersion) -> StateResolutionV2Rules {
    match version.rules().state_resolution {
        StateResolution::V2 => StateResolutionV2Rules::V2_0,
        StateResolution::V2_1 => StateResolutionV2Rules::V2_1,
    }
}

/// Resolves the room states `state_maps` (one per forward branch, e.g. the states after each of
/// an event's `prev_events`) into one, under the rules of room `version`. `fetch_event` must
/// return every event of the states and of their auth chains (rejected ones marked as such).
/// Auth DAG walks are bounded by [`MAX_AUTH_CHAIN_WALK`].
pub fn resolve_state<E>(
    version: RoomVersion,
    state_maps: &[StateMap<OwnedEventId>],
    fetch_event: impl Fn(&EventId) -> Option<E>,
) -> Result<StateMap<OwnedEventId>, StateResolutionError>
where
    E: Event<Id = OwnedEventId> + Clone,
{
    resolve_state_with_limit(version, state_maps, fetch_event, MAX_AUTH_CHAIN_WALK)
}

/// [`resolve_state`] with an explicit bound on each auth DAG walk, for rooms whose operators
/// accept larger auth chains (or tests that want smaller ones).
pub fn resolve_state_with_limit<E>(
    version: RoomVersion,
    state_maps: &[StateMap<OwnedEventId>],
    fetch_event: impl Fn(&EventId) -> Option<E>,
    walk_limit: usize,
) -> Result<StateMap<OwnedEventId>, StateResolutionError>
where
    E: Event<Id = OwnedEventId> + Clone,
{
    if let Some(unconflicted) = unconflicted_state(state_maps) {
        return Ok(unconflicted);
    }
    let auth_chains = state_maps
        .iter()
        .map(|state| {
            auth_chain(state.values().map(|id| id.as_ref()), &fetch_event, walk_limit)
                .map(|chain| chain.into_iter().collect::<EventIdSet<OwnedEventId>>())
        })
        .collect::<Result<Vec<_>, _>>()?;
    // ruma's callback can only say "failed", so keep the real reason to report it.
    let subgraph_failure = RefCell::new(None);
    let resolved = state_res::resolve(
        &authorization_rules(version),
        &state_resolution_rules(version),
        state_maps.iter(),
        auth_chains,
        &fetch_event,
        |conflicted| {
            let conflicted = conflicted.values().flatten().map(|id| id.as_ref());
            match conflicted_state_subgraph(conflicted, &fetch_event, walk_limit) {
                Ok(subgraph) => Some(subgraph.into_iter().collect()),
                Err(error) => {
                    subgraph_failure.replace(Some(error));
                    None
                }
            }
        },
    );
    resolved.map_err(|error| {
        subgraph_failure.take().unwrap_or_else(|| StateResolutionError::Algorithm(error.to_string()))
    })
}

/// The common state when no key is conflicted (including when there is at most one state), so
/// the auth DAG need not be walked at all.
fn unconflicted_state(state_maps: &[StateMap<OwnedEventId>]) -> Option<StateMap<OwnedEventId>> {
    let (first, rest) = state_maps.split_first()?;
    rest.iter().all(|state| state == first).then(|| first.clone())
}

/// The auth chain of the events `start`: every event reachable through `auth_events`, excluding
/// the starting events unless one of them is reached from another. Refuses to visit more than
/// `limit` distinct events.
pub fn auth_chain<'a, E: Event<Id = OwnedEventId>>(
    start: impl IntoIterator<Item = &'a EventId>,
    fetch_event: impl Fn(&EventId) -> Option<E>,
    limit: usize,
) -> Result<HashSet<OwnedEventId>, StateResolutionError> {
    let mut chain = HashSet::new();
    let mut stack = Vec::new();
    for id in start {
        let event = fetch_event(id).ok_or_else(|| StateResolutionError::MissingEvent(id.to_owned()))?;
        stack.extend(event.auth_events().cloned());
    }
    while let Some(id) = stack.pop() {
        if chain.contains(&id) {
            continue;
        }
        let event = fetch_event(&id).ok_or_else(|| StateResolutionError::MissingEvent(id.clone()))?;
        stack.extend(event.auth_events().filter(|auth_id| !chain.contains(*auth_id)).cloned());
        chain.insert(id);
        if chain.len() > limit {
            return Err(StateResolutionError::AuthChainTooLarge { limit });
        }
    }
    Ok(chain)
}

/// The conflicted state subgraph of state resolution v2.1: every event on an `auth_events` path
/// from one conflicted event to another (endpoints included). An event is on such a path when
/// it is reachable from a conflicted event and can itself reach one, each in at least one step.
pub fn conflicted_state_subgraph<'a, E: Event<Id = OwnedEventId>>(
    conflicted: impl IntoIterator<Item = &'a EventId>,
    fetch_event: impl Fn(&EventId) -> Option<E>,
    limit: usize,
) -> Result<HashSet<OwnedEventId>, StateResolutionError> {
    let conflicted: HashSet<OwnedEventId> = conflicted.into_iter().map(ToOwned::to_owned).collect();
    let walk = AuthWalk::walk(&conflicted, &fetch_event, limit)?;
    let reaches_conflicted = walk.ancestors_of(&conflicted);
    Ok(reaches_conflicted
        .iter()
        .filter(|id| walk.reached.contains(*id) || conflicted.contains(*id))
        .chain(walk.reached.iter().filter(|id| conflicted.contains(*id)))
        .cloned()
        .collect())
}

/// The part of the auth DAG below a set of events, with its edges reversed so the walk can be
/// run back up.
struct AuthWalk {
    /// Events reachable from the starting set in at least one step.
    reached: HashSet<OwnedEventId>,
    /// For each event, the visited events that cite it in `auth_events`.
    cited_by: HashMap<OwnedEventId, Vec<OwnedEventId>>,
}

impl AuthWalk {
    /// Walks `auth_events` down from `start`, visiting at most `limit` events.
    fn walk<E: Event<Id = OwnedEventId>>(
        start: &HashSet<OwnedEventId>,
        fetch_event: impl Fn(&EventId) -> Option<E>,
        limit: usize,
    ) -> Result<Self, StateResolutionError> {
        let mut walk = Self { reached: HashSet::new(), cited_by: HashMap::new() };
        let mut expanded: HashSet<OwnedEventId> = HashSet::new();
        let mut queue: VecDeque<OwnedEventId> = start.iter().cloned().collect();
        while let Some(id) = queue.pop_front() {
            if !expanded.insert(id.clone()) {
                continue;
            }
            if expanded.len() > limit {
                return Err(StateResolutionError::AuthChainTooLarge { limit });
            }
            let event = fetch_event(&id).ok_or_else(|| StateResolutionError::MissingEvent(id.clone()))?;
            for auth_id in event.auth_events() {
                walk.cited_by.entry(auth_id.clone()).or_default().push(id.clone());
                walk.reached.insert(auth_id.clone());
                queue.push_back(auth_id.clone());
            }
        }
        Ok(walk)
    }

    /// The visited events from which some event of `targets` is reachable in at least one step.
    fn ancestors_of(&self, targets: &HashSet<OwnedEventId>) -> HashSet<OwnedEventId> {
        let mut ancestors = HashSet::new();
        let mut queue: VecDeque<&OwnedEventId> = targets.iter().collect();
        while let Some(id) = queue.pop_front() {
            for citing in self.cited_by.get(id).into_iter().flatten() {
                if ancestors.insert(citing.clone()) {
                    queue.push_back(citing);
                }
            }
        }
        ancestors
    }
}

#[cfg(test)]
#[path = "state_resolution_tests.rs"]
mod tests;
