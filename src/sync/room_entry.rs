//! One room's entry in a sync response: the filtered timeline, the state the client
//! needs to make sense of it (lazily loaded members included), and stripped state for
//! invites and knocks.

use std::collections::HashSet;

use ruma::{OwnedEventId, RoomId};
use serde_json::{Value, json};

use super::engine::SyncEngine;
use super::request::SyncRequest;
use crate::events::Pdu;
use crate::rooms::RoomsError;
use crate::rooms::format::stripped_state;
use crate::rooms::read::StatePoint;
use crate::rooms::visibility::VisibilityCheck;
use crate::storage::{MembershipRecord, Position, StateGroupId, StateMap, StoredEvent, StreamId};

/// State keys shown to invitees before they join.
const STRIPPED_STATE: [&str; 7] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];
/// The most events one room's timeline looks through to fill a filtered timeline.
const MAX_SCANNED: usize = 2_000;

/// What stays the same while one timeline is scanned.
struct Scan<'a> {
    request: &'a SyncRequest,
    ignored: &'a HashSet<String>,
    version: stoa_federation::RoomVersion,
    check: VisibilityCheck<'a>,
    room_allowed: bool,
    scanned: usize,
}

/// A room's timeline for one sync.
pub(super) struct Timeline {
    /// Newest first until [`Timeline::finish`] turns them around.
    pub events: Vec<Value>,
    ids: HashSet<OwnedEventId>,
    pub limited: bool,
    prev_batch: Position,
    /// The oldest event served, where the state section ends.
    first_event: Option<OwnedEventId>,
    /// The state group before `first_event`, when known without a read.
    first_state: Option<StateGroupId>,
    /// The newest event in the window, served or not.
    newest_in_window: Option<OwnedEventId>,
    /// A state event in the window was left out by the filter.
    dropped_state: bool,
}

impl SyncEngine {
    /// A joined room's entry, or `None` if nothing in it changed since the token.
    pub(super) async fn joined_room(
        &self,
        request: &SyncRequest,
        room_id: &RoomId,
        upto: Position,
        is_new: bool,
        account_data: Vec<Value>,
        ignored: &HashSet<String>,
    ) -> Result<Option<Value>, RoomsError> {
        let since = request.since.map(|s| s.get(StreamId::Events));
        let whole_room = is_new || request.full_state;
        let after = if whole_room { None } else { since };
        if !whole_room
            && account_data.is_empty()
            && self.rooms().latest_position(room_id).await? <= after.unwrap_or_default()
        {
            return Ok(None);
        }
        let mut timeline = self.timeline(room_id, request, after, upto, ignored).await?;
        if !whole_room && timeline.events.is_empty() && !timeline.dropped_state && account_data.is_empty() {
            return Ok(None);
        }
        let state = self.room_state(request, room_id, whole_room, since, &timeline).await?;
        let events = self.finish_timeline(request, room_id, &mut timeline).await?;
        Ok(Some(json!({
            "timeline": { "events": events, "limited": timeline.limited, "prev_batch": format!("t{}", timeline.prev_batch.0) },
            "state": { "events": state },
            "account_data": { "events": account_data },
            "ephemeral": { "events": [] },
            "unread_notifications": { "highlight_count": 0, "notification_count": 0 },
            "summary": {},
        })))
    }

    pub(super) async fn left_room(
        &self,
        request: &SyncRequest,
        membership: &MembershipRecord,
        upto: Position,
        account_data: Vec<Value>,
        ignored: &HashSet<String>,
    ) -> Result<Value, RoomsError> {
        let since = request.since.map(|s| s.get(StreamId::Events));
        let after = if request.full_state { None } else { since };
        // Up to and including the leave, nothing after it.
        let end = membership.position.min(upto);
        let room_id = &membership.room_id;
        let mut timeline = self.timeline(room_id, request, after, end, ignored).await?;
        let state = self.room_state(request, room_id, after.is_none(), since, &timeline).await?;
        let events = self.finish_timeline(request, room_id, &mut timeline).await?;
        Ok(json!({
            "timeline": { "events": events, "limited": timeline.limited, "prev_batch": format!("t{}", timeline.prev_batch.0) },
            "state": { "events": state },
            "account_data": { "events": account_data },
        }))
    }

    pub(super) async fn stripped(&self, membership: &MembershipRecord) -> Result<Vec<Value>, RoomsError> {
        let rooms = self.rooms();
        let state = rooms.current_state_of(&membership.room_id).await?;
        let mut events = Vec::new();
        for kind in STRIPPED_STATE {
            if let Some(id) = state.get(&(kind.to_owned(), String::new()))
                && let Some(pdu) = rooms.load_readable(id).await?
            {
                events.push(stripped_state(&pdu));
            }
        }
        if let Some(pdu) = rooms.load_readable(&membership.event_id).await? {
            events.push(stripped_state(&pdu));
        }
        Ok(events)
    }

    /// The newest `timeline_limit` events in `(after, upto]` that the user may see and
    /// the filter lets through. Looks through at most [`MAX_SCANNED`] events; recent
    /// ones are read from memory, older ones from the store.
    async fn timeline(
        &self,
        room_id: &RoomId,
        request: &SyncRequest,
        after: Option<Position>,
        upto: Position,
        ignored: &HashSet<String>,
    ) -> Result<Timeline, RoomsError> {
        let filter = &request.filter;
        let limit = filter.timeline_limit;
        let mut timeline = Timeline {
            events: Vec::new(),
            ids: HashSet::new(),
            limited: false,
            prev_batch: Position(upto.0 + 1),
            first_event: None,
            first_state: None,
            newest_in_window: None,
            dropped_state: false,
        };
        let rooms = self.rooms();
        let mut scan = Scan {
            request,
            ignored,
            version: rooms.version_of(room_id).await?,
            check: VisibilityCheck::new(rooms, room_id, &request.user_id).await?,
            room_allowed: filter.timeline.allows_room(room_id.as_str()),
            scanned: 0,
        };
        // Recent events from memory first; the store only for what lies below them.
        if let Some((floor, recent)) = rooms.recent_events(room_id, after, upto) {
            let mut stopped = false;
            for event in &recent {
                let groups = Some((event.state_before, event.state_after));
                if !self.take(&mut timeline, &mut scan, &event.stored, &event.pdu, groups).await? {
                    stopped = true;
                    break;
                }
            }
            if stopped || after.is_some_and(|after| after >= floor) {
                return Ok(timeline);
            }
        }
        // Unfiltered, one extra event tells whether the timeline is limited.
        let batch = if filter.timeline.passes_everything() { limit + 1 } else { (limit + 1).max(100) };
        'pages: loop {
            let page = rooms.timeline_page(room_id, Some(timeline.prev_batch), batch).await?;
            let exhausted = page.len() < batch;
            for stored in &page {
                let Some(position) = stored.position else { continue };
                if after.is_some_and(|after| position <= after) {
                    break 'pages;
                }
                let Some(pdu) = rooms.readable_event(stored, scan.version) else { continue };
                if !self.take(&mut timeline, &mut scan, stored, &pdu, None).await? {
                    break 'pages;
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(timeline)
    }

    /// Looks at the next older event of the window: adds it to the timeline if the
    /// user may see it and the filter lets it through. False once the timeline is full.
    async fn take(
        &self,
        timeline: &mut Timeline,
        scan: &mut Scan<'_>,
        stored: &StoredEvent,
        pdu: &Pdu,
        groups: Option<(StateGroupId, StateGroupId)>,
    ) -> Result<bool, RoomsError> {
        let Some(position) = stored.position else { return Ok(true) };
        let filter = &scan.request.filter;
        if timeline.events.len() == filter.timeline_limit || scan.scanned == MAX_SCANNED {
            timeline.limited = true;
            return Ok(false);
        }
        scan.scanned += 1;
        timeline.prev_batch = position;
        timeline.newest_in_window.get_or_insert_with(|| stored.event_id.clone());
        let is_state = pdu.state_key().is_some();
        if !is_state && scan.ignored.contains(pdu.sender().as_str()) {
            return Ok(true);
        }
        if !scan.check.can_see_in(pdu, stored.position, groups).await? {
            return Ok(true);
        }
        let event = if filter.federation_format {
            crate::rooms::format::federation_event(stored, pdu, scan.version)
        } else {
            self.rooms().served_event(&mut scan.check, stored, pdu, scan.version, groups).await?
        };
        if !scan.room_allowed || !filter.timeline.matches(&event) {
            timeline.dropped_state |= is_state;
            return Ok(true);
        }
        timeline.first_event = Some(stored.event_id.clone());
        timeline.first_state = groups.map(|(before, _)| before);
        timeline.ids.insert(stored.event_id.clone());
        timeline.events.push(event);
        Ok(true)
    }

    /// Oldest first, with bundles and transaction IDs, shaped by `event_fields`.
    async fn finish_timeline(
        &self,
        request: &SyncRequest,
        room_id: &RoomId,
        timeline: &mut Timeline,
    ) -> Result<Vec<Value>, RoomsError> {
        let mut events = std::mem::take(&mut timeline.events);
        events.reverse();
        self.rooms().add_bundles(room_id, &request.user_id, &mut events).await?;
        self.add_transaction_ids(room_id, &mut events, request).await?;
        Ok(events.into_iter().map(|event| request.filter.shape(event)).collect())
    }

    /// The `state` section. A whole room gets the state at the start of its timeline;
    /// an incremental sync gets what changed since the token that the timeline does not
    /// show (after a gap, or when the filter hid state events). A filtered timeline
    /// may skip state events anywhere in it, so then the state at its end is used.
    async fn room_state(
        &self,
        request: &SyncRequest,
        room_id: &RoomId,
        whole_room: bool,
        since: Option<Position>,
        timeline: &Timeline,
    ) -> Result<Vec<Value>, RoomsError> {
        let gap = timeline.limited || timeline.dropped_state;
        let lazy_senders = request.filter.lazy_load_members && !timeline.events.is_empty();
        if !whole_room && !gap && !lazy_senders {
            return Ok(Vec::new());
        }
        let rooms = self.rooms();
        let target = if timeline.dropped_state {
            let point = timeline.newest_in_window.as_deref().map_or(StatePoint::Current, StatePoint::After);
            rooms.state_at(room_id, point).await?
        } else {
            let point = match (timeline.first_state, timeline.first_event.as_deref()) {
                (Some(group), _) => StatePoint::Group(group),
                (None, Some(first)) => StatePoint::Before(first),
                (None, None) => StatePoint::Current,
            };
            rooms.state_at(room_id, point).await?
        };
        let mut selected: StateMap = if whole_room {
            (*target).clone()
        } else if gap {
            let base = match since {
                Some(since) => rooms.state_at(room_id, StatePoint::Boundary(Position(since.0 + 1))).await?,
                None => std::sync::Arc::default(),
            };
            target
                .iter()
                .filter(|(key, id)| base.get(*key) != Some(*id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            StateMap::new()
        };
        selected.retain(|_, id| !timeline.ids.contains(id));
        if request.filter.lazy_load_members {
            self.lazy_load(request, room_id, whole_room, &target, timeline, &mut selected);
        }
        let ids = selected.into_values().collect();
        let events = if request.filter.federation_format {
            rooms.events_as_pdus(room_id, ids).await?
        } else {
            rooms.events_as_client_events(room_id, ids).await?
        };
        Ok(request.filter.select(&request.filter.state, events))
    }

    /// Narrows member events to the timeline's senders (and, for a whole room, the user
    /// themself), leaving out those the device already holds.
    fn lazy_load(
        &self,
        request: &SyncRequest,
        room_id: &RoomId,
        whole_room: bool,
        target: &StateMap,
        timeline: &Timeline,
        selected: &mut StateMap,
    ) {
        let key = (request.user_id.clone(), request.device_id.clone(), room_id.to_owned());
        if whole_room {
            self.sent_members().reset(&key);
        }
        let mut wanted: HashSet<&str> =
            timeline.events.iter().filter_map(|e| e.get("sender").and_then(Value::as_str)).collect();
        if whole_room {
            wanted.insert(request.user_id.as_str());
        }
        selected.retain(|(kind, member), _| kind != "m.room.member" || wanted.contains(member.as_str()));
        let mut sent = Vec::new();
        for member in wanted {
            let state_key = ("m.room.member".to_owned(), member.to_owned());
            let Some(event_id) = target.get(&state_key) else { continue };
            if timeline.ids.contains(event_id) {
                continue;
            }
            let redundant = self.sent_members().already_sent(&key, member, event_id);
            if redundant && !request.filter.include_redundant_members {
                selected.remove(&state_key);
            } else {
                selected.insert(state_key, event_id.clone());
                sent.push((member.to_owned(), event_id.clone()));
            }
        }
        self.sent_members().record(key, sent);
    }

    /// Marks the syncing device's own events with the transaction ID it sent them with.
    async fn add_transaction_ids(
        &self,
        room_id: &RoomId,
        events: &mut [Value],
        request: &SyncRequest,
    ) -> Result<(), RoomsError> {
        for event in events.iter_mut() {
            if event.get("sender").and_then(Value::as_str) != Some(request.user_id.as_str()) {
                continue;
            }
            let Some(event_id) =
                event.get("event_id").and_then(Value::as_str).and_then(|id| ruma::EventId::parse(id).ok())
            else {
                continue;
            };
            let txn = match self.rooms().recent_transaction(room_id, &event_id) {
                Some(known) => known,
                None => self.rooms().event_transaction(&event_id).await?,
            };
            let Some(txn) = txn else { continue };
            if txn.device_id == request.device_id
                && let Some(txn_id) = crate::rooms::send::client_txn_id(&txn.txn_id)
                && let Some(unsigned) = event.get_mut("unsigned").and_then(Value::as_object_mut)
            {
                unsigned.insert("transaction_id".to_owned(), Value::String(txn_id));
            }
        }
        Ok(())
    }

    pub(super) async fn invited_by_ignored(
        &self,
        membership: &MembershipRecord,
        ignored: &HashSet<String>,
    ) -> Result<bool, RoomsError> {
        if ignored.is_empty() {
            return Ok(false);
        }
        let invite = self.rooms().load_readable(&membership.event_id).await?;
        Ok(invite.is_some_and(|invite| ignored.contains(invite.sender().as_str())))
    }
}
