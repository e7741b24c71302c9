//! Appending a local event to a room: choose prev and auth events, build and sign the
//! PDU, authorize it against the state before it, derive the state after it, and
//! persist everything in one batch, then wake the members it concerns.

use std::collections::BTreeSet;
use std::sync::Arc;

use ruma::{OwnedEventId, OwnedUserId, RoomId, UserId};
use serde_json::Value;
use stoa_federation::RoomVersion;

use super::{Rooms, RoomsError};
use crate::accounts::now_ms;
use crate::events::{EventBuilder, Pdu};
use crate::storage::{
    EventStatus, MembershipRecord, NewEvent, NewStateGroup, PersistBatch, StateGroupId, StateMap, StreamId,
    TxnKey,
};
use crate::streams::Recipients;

/// Most prev_events one event names (the spec's cap for the federation is 20).
const MAX_PREV_EVENTS: usize = 10;
/// Longest delta chain before a state group is stored in full.
const MAX_STATE_CHAIN: u32 = 32;

/// A local event to append.
pub struct NewLocalEvent {
    pub sender: OwnedUserId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub redacts: Option<OwnedEventId>,
    pub txn: Option<TxnKey>,
}

/// The state groups around an event being persisted.
pub(super) struct EventStates {
    pub before: StateGroupId,
    pub after: StateGroupId,
    /// The whole state after, when the event changed it (cached before waking anyone).
    pub new_state: Option<Arc<StateMap>>,
}

/// A room's tip, as the next event builds on it.
pub(super) struct RoomTip {
    pub version: RoomVersion,
    pub prev_events: Vec<OwnedEventId>,
    pub depth: u64,
    pub state_group: StateGroupId,
    /// The state at the tip, shared with the state cache.
    pub state: Arc<StateMap>,
}

impl RoomTip {
    /// Moves the tip past a just-persisted event, with the state after it when it
    /// changed the state.
    pub(super) fn advance(&mut self, pdu: &Pdu, state_after: StateGroupId, state: Option<Arc<StateMap>>) {
        self.prev_events = vec![pdu.event_id().to_owned()];
        self.depth = pdu.depth() + 1;
        if let Some(state) = state {
            self.state = state;
        }
        self.state_group = state_after;
    }
}

impl Rooms {
    /// Appends `event` to `room_id` in the room's turn and returns the persisted PDU.
    pub async fn append(&self, room_id: &RoomId, event: NewLocalEvent) -> Result<Pdu, RoomsError> {
        let _turn = self.inner.queues.enter(room_id).await;
        if let Some(txn) = &event.txn
            && let Some(existing) = self.stores().rooms.txn_event(txn).await?
        {
            return self.load_pdu(&existing).await;
        }
        let mut tip = self.room_tip(room_id).await?;
        self.append_in_turn(room_id, &mut tip, event).await
    }

    /// The current tip of a room: its version, extremities, depth and state.
    pub(super) async fn room_tip(&self, room_id: &RoomId) -> Result<RoomTip, RoomsError> {
        let rooms = &self.stores().rooms;
        let record = rooms.room(room_id).await?.ok_or(RoomsError::UnknownRoom)?;
        let version = parse_version(&record.room_version)?;
        let mut prev_events = rooms.forward_extremities(room_id).await?;
        prev_events.truncate(MAX_PREV_EVENTS);
        let mut depth = 0;
        let mut state_group = None;
        for prev in rooms.get_events(&prev_events).await? {
            // Only the depth is needed: read without a full parse, so an event that
            // cannot be read back whole still lets the room grow past it.
            match stored_depth(&prev.json) {
                Some(prev_depth) => depth = depth.max(prev_depth),
                None => tracing::warn!(event_id = %prev.event_id, "prev event has no readable depth"),
            }
            if let Some((_, after)) = rooms.event_state_groups(&prev.event_id).await? {
                // Local rooms grow linearly; with several extremities the latest state
                // wins until federation brings state resolution into this path.
                state_group = Some(state_group.map_or(after, |g: StateGroupId| g.max(after)));
            }
        }
        let state_group =
            state_group.ok_or_else(|| RoomsError::Internal(format!("{room_id} has no state")))?;
        let state = self.state_group(state_group).await?.unwrap_or_default();
        Ok(RoomTip { version, prev_events, depth: depth + 1, state_group, state })
    }

    /// Builds, authorizes and persists one event on `tip`, then moves `tip` past it;
    /// the caller holds the room's turn.
    pub(super) async fn append_in_turn(
        &self,
        room_id: &RoomId,
        tip: &mut RoomTip,
        event: NewLocalEvent,
    ) -> Result<Pdu, RoomsError> {
        let auth_events = self.auth_events_for(tip, &event)?;
        let builder = EventBuilder {
            version: tip.version,
            room_id: Some(room_id.to_owned()),
            sender: event.sender.clone(),
            event_type: event.event_type.clone(),
            state_key: event.state_key.clone(),
            content: event.content.clone(),
            prev_events: tip.prev_events.clone(),
            auth_events,
            depth: tip.depth,
            origin_server_ts: ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new_saturating(now_ms())),
            redacts: event.redacts.clone(),
        };
        let pdu = builder
            .build(self.inner.server_name.as_str(), &self.inner.key)
            .map_err(super::append::build_error)?;
        self.authorize(tip, &pdu).await?;
        let (state_after, state) = self.persist_local(room_id, tip, &pdu, event.txn, None).await?;
        tip.advance(&pdu, state_after, state);
        Ok(pdu)
    }

    fn auth_events_for(&self, tip: &RoomTip, event: &NewLocalEvent) -> Result<Vec<OwnedEventId>, RoomsError> {
        let content = serde_json::value::to_raw_value(&event.content)
            .map_err(|e| RoomsError::BadJson(e.to_string()))?;
        let types = stoa_federation::auth_types_for_event(
            tip.version,
            &event.event_type,
            &event.sender,
            event.state_key.as_deref(),
            &content,
        )
        .map_err(|e| RoomsError::Forbidden(e.to_string()))?;
        let mut ids: Vec<OwnedEventId> = types
            .iter()
            .filter_map(|(kind, key)| tip.state.get(&(kind.to_string(), key.clone())).cloned())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Checks the event against its auth events and the state before it.
    async fn authorize(&self, tip: &RoomTip, pdu: &Pdu) -> Result<(), RoomsError> {
        // The auth events are exactly the state the auth rules consult (selected from
        // the state before the event), so nothing else of the room is loaded.
        // Room version 12 names the create event by the room ID instead of listing it.
        let mut wanted: Vec<OwnedEventId> = pdu.auth_events().to_vec();
        if let Some(create) = tip.state.get(&("m.room.create".to_owned(), String::new())) {
            wanted.push(create.clone());
        }
        let loaded = self.stores().rooms.get_events(&wanted).await?;
        let mut by_id = std::collections::HashMap::new();
        // An auth event that cannot be read counts as missing: the auth rules then
        // decide (usually refusing), rather than the room failing with an error.
        for parsed in loaded.iter().filter_map(|stored| readable(stored, tip.version)) {
            by_id.insert(parsed.event_id().to_owned(), parsed);
        }
        let fetch_event = |id: &ruma::EventId| by_id.get(id).cloned();
        let fetch_state = |kind: &ruma::events::StateEventType, key: &str| {
            tip.state.get(&(kind.to_string(), key.to_owned())).and_then(|id| by_id.get(id)).cloned()
        };
        stoa_federation::authorize_event(tip.version, pdu, fetch_event, fetch_state)
            .map_err(|e| RoomsError::Forbidden(e.to_string()))
    }

    /// Persists an authorized local PDU on `tip`, then wakes those concerned; returns
    /// the state group after the event and, for a state event, the new state (cached
    /// before anyone is woken: the next append and every reader's visibility check
    /// want it).
    pub(super) async fn persist_local(
        &self,
        room_id: &RoomId,
        tip: &RoomTip,
        pdu: &Pdu,
        txn: Option<TxnKey>,
        new_room: Option<crate::storage::RoomRecord>,
    ) -> Result<(StateGroupId, Option<Arc<StateMap>>), RoomsError> {
        let rooms = &self.stores().rooms;
        let mut batch =
            PersistBatch { room_id: Some(room_id.to_owned()), new_room, ..PersistBatch::default() };
        let mut new_state = None;
        let state_after = match pdu.state_key() {
            Some(key) => {
                let id = rooms.reserve_state_group_ids(1).await?;
                let state_key = (pdu.kind().to_owned(), key.to_owned());
                let depth = rooms.state_group_depth(tip.state_group).await?.unwrap_or(0);
                let group = if depth >= MAX_STATE_CHAIN {
                    let mut full: Vec<_> =
                        tip.state.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
                    full.retain(|(k, _)| *k != state_key);
                    full.push((state_key.clone(), Some(pdu.event_id().to_owned())));
                    NewStateGroup { id, parent: None, delta: full }
                } else {
                    let delta = vec![(state_key.clone(), Some(pdu.event_id().to_owned()))];
                    NewStateGroup { id, parent: Some(tip.state_group), delta }
                };
                batch.new_state_groups.push(group);
                batch.current_state_delta.push((state_key.clone(), Some(pdu.event_id().to_owned())));
                let mut state = (*tip.state).clone();
                state.insert(state_key, pdu.event_id().to_owned());
                new_state = Some(Arc::new(state));
                id
            }
            None => tip.state_group,
        };
        let states =
            EventStates { before: tip.state_group, after: state_after, new_state: new_state.clone() };
        self.finish_batch(room_id, states, pdu, txn, batch).await?;
        Ok((state_after, new_state))
    }

    /// Reserves the stream position, writes the batch, publishes, and wakes members
    /// (once the position is published).
    pub(super) async fn finish_batch(
        &self,
        room_id: &RoomId,
        states: EventStates,
        pdu: &Pdu,
        txn: Option<TxnKey>,
        mut batch: PersistBatch,
    ) -> Result<(), RoomsError> {
        let EventStates { before: state_before, after: state_after, new_state } = states;
        let streams = self.stores().streams.clone();
        let reservation = self
            .inner
            .events_stream
            .reserve(|| async move { streams.reserve_position(StreamId::Events).await })
            .await
            .map_err(|e| RoomsError::Internal(e.to_string()))?;
        let position = reservation.position();
        let membership = membership_of(pdu);
        let txn_copy = txn.clone();
        if let (Some(membership), Some(target)) = (&membership, pdu.state_key()) {
            let user_id = UserId::parse(target).map_err(|e| RoomsError::BadJson(e.to_string()))?;
            batch.memberships.push(MembershipRecord {
                room_id: room_id.to_owned(),
                user_id,
                membership: membership.clone(),
                event_id: pdu.event_id().to_owned(),
                position,
            });
        }
        batch.events.push(NewEvent {
            event_id: pdu.event_id().to_owned(),
            sender: pdu.sender().to_owned(),
            event_type: pdu.kind().to_owned(),
            state_key: pdu.state_key().map(str::to_owned),
            json: pdu.json().to_owned(),
            position: Some(position),
            status: EventStatus::Accepted,
            state_before,
            state_after,
            redacts: pdu.redacts().map(ToOwned::to_owned),
            txn,
        });
        batch.relations.extend(relation_of(pdu, position));
        if let Some(target) = pdu.redacts() {
            batch.removed_relations.extend(self.relation_of_stored(room_id, target).await?);
        }
        batch.forward_extremities = Some(vec![pdu.event_id().to_owned()]);
        self.stores().rooms.persist(&batch).await?;
        self.remember_recent(room_id, pdu, position, (state_before, state_after), txn_copy);
        if let Some(state) = new_state {
            self.inner.state_cache.insert(state_after, state);
        }
        self.note_latest(room_id, position);
        // Sync feeds learn of the event before its position is published, so a sync
        // that sees the position also finds the room in its feed.
        let (members, extra) = match self.recipients(room_id, pdu, membership.as_deref()).await {
            Ok(recipients) => recipients,
            Err(error) => {
                reservation.complete();
                return Err(error);
            }
        };
        let users = members.iter().map(|u| u.as_ref()).chain(extra.as_deref());
        self.inner.changes.record(users, room_id, position, extra.as_deref());
        // The members are woken once the position is published (an earlier event of
        // another room may still be in flight); the member set is shared, not copied.
        reservation.complete_and_wake(Recipients::shared(members).and(extra));
        Ok(())
    }

    /// Keeps the just-persisted event for the readers about to be woken: a redaction
    /// drops the room's recent window first (it changes how an event is served), a
    /// relation marks its parent as related.
    fn remember_recent(
        &self,
        room_id: &RoomId,
        pdu: &Pdu,
        position: crate::storage::Position,
        groups: (StateGroupId, StateGroupId),
        txn: Option<TxnKey>,
    ) {
        let recent = &self.inner.recent;
        if pdu.redacts().is_some() {
            recent.drop_room(room_id);
        }
        if let Some(relation) = relation_of(pdu, position) {
            recent.mark_related(room_id, &relation.parent_id);
        }
        let stored = crate::storage::StoredEvent {
            event_id: pdu.event_id().to_owned(),
            room_id: room_id.to_owned(),
            json: String::new(),
            position: Some(position),
            status: EventStatus::Accepted,
            redacted_by: None,
        };
        recent.push(room_id, super::recent::RecentEvent::new(stored, pdu.clone(), groups, txn));
    }

    /// Who an event concerns: the room's joined members after it, plus the target of a
    /// membership change (an invitee, or someone who just left).
    async fn recipients(
        &self,
        room_id: &RoomId,
        pdu: &Pdu,
        membership: Option<&str>,
    ) -> Result<(Arc<BTreeSet<OwnedUserId>>, Option<OwnedUserId>), RoomsError> {
        let target = pdu.state_key().and_then(|key| UserId::parse(key).ok());
        if let (Some(membership), Some(target)) = (membership, &target) {
            self.inner.members.apply(room_id, target, membership);
        }
        let members = self.joined_members_in_turn(room_id).await?;
        Ok((members, if membership.is_some() { target } else { None }))
    }

    /// The relation a stored event of the room carries (what redacting it removes).
    async fn relation_of_stored(
        &self,
        room_id: &RoomId,
        event_id: &ruma::EventId,
    ) -> Result<Option<crate::storage::relations::RelationRecord>, RoomsError> {
        let Some(stored) = self.stores().rooms.get_event(event_id).await? else { return Ok(None) };
        let Some(position) = stored.position.filter(|_| stored.room_id == room_id) else { return Ok(None) };
        let version = self.room_version(room_id).await?;
        Ok(readable(&stored, version).and_then(|pdu| relation_of(&pdu, position)))
    }

    /// Loads and parses a stored event.
    pub async fn load_pdu(&self, event_id: &ruma::EventId) -> Result<Pdu, RoomsError> {
        let stored = self.stores().rooms.get_event(event_id).await?.ok_or(RoomsError::UnknownEvent)?;
        let version = self.room_version(&stored.room_id).await?;
        Pdu::from_stored(&stored.json, &stored.event_id, version)
            .map_err(|e| RoomsError::Internal(format!("stored event {event_id} cannot be read: {e}")))
    }

    /// A stored event, parsed; `None` when it is missing or cannot be read back (logged
    /// with its ID), for readers that can do without it.
    pub async fn load_readable(&self, event_id: &ruma::EventId) -> Result<Option<Pdu>, RoomsError> {
        let Some(stored) = self.stores().rooms.get_event(event_id).await? else { return Ok(None) };
        let version = self.room_version(&stored.room_id).await?;
        Ok(readable(&stored, version))
    }
}

/// `content.membership` of an `m.room.member` event.
pub(super) fn membership_of(pdu: &Pdu) -> Option<String> {
    if pdu.kind() != "m.room.member" {
        return None;
    }
    content(pdu).get("membership").and_then(Value::as_str).map(str::to_owned)
}

pub(super) fn parse_version(version: &str) -> Result<RoomVersion, RoomsError> {
    version.parse().map_err(|_| RoomsError::UnsupportedRoomVersion(version.to_owned()))
}

/// The event's content as a JSON value.
pub(super) fn content(pdu: &Pdu) -> Value {
    serde_json::from_str(pdu.content().get()).unwrap_or(Value::Null)
}

/// A stored event parsed for a reader that can do without it: one that cannot be read
/// back is logged with its event ID and skipped, so it never fails a whole page, room
/// or sync.
pub(super) fn readable(stored: &crate::storage::StoredEvent, version: RoomVersion) -> Option<Pdu> {
    match Pdu::from_stored(&stored.json, &stored.event_id, version) {
        Ok(pdu) => Some(pdu),
        Err(error) => {
            tracing::warn!(event_id = %stored.event_id, %error, "skipping a stored event that cannot be read");
            None
        }
    }
}

/// The `depth` of a stored event, read without parsing the rest (serde_json skips
/// unknown fields without a recursion limit), so it works on any well-formed text.
fn stored_depth(json: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Depth {
        depth: u64,
    }
    serde_json::from_str::<Depth>(json).ok().map(|parsed| parsed.depth)
}

/// The relation an event's `content.m.relates_to` declares, if any.
pub(super) fn relation_of(
    pdu: &Pdu,
    position: crate::storage::Position,
) -> Option<crate::storage::relations::RelationRecord> {
    let content = content(pdu);
    let relates_to = content.get("m.relates_to")?;
    let rel_type = relates_to.get("rel_type").and_then(Value::as_str)?;
    let parent = relates_to.get("event_id").and_then(Value::as_str)?;
    let parent_id = ruma::EventId::parse(parent).ok()?;
    Some(crate::storage::relations::RelationRecord {
        event_id: pdu.event_id().to_owned(),
        parent_id,
        rel_type: rel_type.to_owned(),
        event_type: pdu.kind().to_owned(),
        sender: pdu.sender().to_owned(),
        position,
    })
}

/// Size-limit failures are `M_TOO_LARGE`; any other build failure is bad input.
pub(super) fn build_error(error: crate::events::BuildError) -> RoomsError {
    use crate::events::BuildError;
    use crate::events::PduError;
    match error {
        BuildError::Signing(stoa_federation::EventSigningError::ExceedsPduLimits(e))
        | BuildError::Invalid(PduError::TooLarge(e)) => RoomsError::TooLarge(e.to_string()),
        other => RoomsError::BadJson(other.to_string()),
    }
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod recovery_tests;
