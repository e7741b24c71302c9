//! `/sync` v3: what changed for a user between two tokens, and the long-poll that
//! waits for a change. Interest is registered with the notifier before positions are
//! compared, so no change between the two is missed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::token::SyncToken;
use crate::rooms::format::stripped_state;
use crate::rooms::visibility::VisibilityCheck;
use crate::rooms::{Rooms, RoomsError};
use crate::storage::{AccountDataStore, MembershipRecord, Position, StreamId};
use crate::streams::{Notifier, Watermark};

/// The longest a sync request waits, whatever the client asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(90);
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

/// A parsed sync request.
pub struct SyncRequest {
    pub user_id: OwnedUserId,
    /// The syncing device: its own events carry `unsigned.transaction_id`.
    pub device_id: ruma::OwnedDeviceId,
    pub since: Option<SyncToken>,
    pub timeout: Duration,
    pub full_state: bool,
    pub timeline_limit: usize,
    /// Send only the member events of timeline senders (and the user's own).
    pub lazy_load_members: bool,
}

/// The sync domain service.
#[derive(Clone)]
pub struct SyncEngine {
    rooms: Rooms,
    account_data: Arc<dyn AccountDataStore>,
    account_data_stream: Watermark,
    notifier: Arc<Notifier>,
    /// Adds the E2EE sections (to-device, device lists, key counts) when set.
    e2ee: Option<crate::e2ee::E2ee>,
}

impl SyncEngine {
    pub fn new(
        rooms: Rooms,
        account_data: Arc<dyn AccountDataStore>,
        account_data_stream: Watermark,
        notifier: Arc<Notifier>,
    ) -> Self {
        SyncEngine { rooms, account_data, account_data_stream, notifier, e2ee: None }
    }

    /// Serves the E2EE sections too.
    pub fn with_e2ee(mut self, e2ee: crate::e2ee::E2ee) -> Self {
        self.e2ee = Some(e2ee);
        self
    }

    /// Answers at once when something changed since the token (or there is none),
    /// otherwise waits up to the timeout for a change.
    pub async fn sync(&self, request: &SyncRequest) -> Result<Value, RoomsError> {
        let deadline = Instant::now() + request.timeout.min(MAX_TIMEOUT);
        let mut listener = self.notifier.listen(&request.user_id);
        loop {
            let upto = SyncToken::default()
                .with(StreamId::Events, self.rooms.events_position())
                .with(StreamId::AccountData, self.account_data_stream.published());
            let upto = match &self.e2ee {
                Some(e2ee) => super::e2ee::with_positions(e2ee, upto),
                None => upto,
            };
            let (body, changed) = self.compute(request, upto).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if changed || request.since.is_none() || request.full_state || remaining.is_zero() {
                return Ok(body);
            }
            if !listener.wait(remaining).await {
                // Timed out: report "nothing new" with the latest token.
                return Ok(body);
            }
        }
    }

    async fn compute(&self, request: &SyncRequest, upto: SyncToken) -> Result<(Value, bool), RoomsError> {
        let since = request.since;
        let user = &request.user_id;
        let mut changed = false;
        let (global, mut room_data) = self.account_data_changes(user, since, upto).await?;
        let ignored = ignored_users(self.account_data.as_ref(), user).await?;
        changed |= !global.is_empty() || !room_data.is_empty();
        let (mut join, mut invite, mut leave, mut knock) = (Map::new(), Map::new(), Map::new(), Map::new());
        let upto_events = upto.get(StreamId::Events);
        for membership in self.rooms.stores_memberships(user).await? {
            if membership.position > upto_events {
                continue;
            }
            let room_id = membership.room_id.clone();
            let is_new = since.is_none_or(|s| membership.position > s.get(StreamId::Events));
            let account_data = room_data.remove(room_id.as_str()).unwrap_or_default();
            let entry = match membership.membership.as_str() {
                "join" => {
                    self.joined_room(request, &membership, upto_events, is_new, account_data, &ignored)
                        .await?
                }
                // Invites from ignored users are not shown at all.
                "invite" if is_new && self.invited_by_ignored(&membership, &ignored).await? => None,
                "invite" if is_new => {
                    Some(json!({ "invite_state": { "events": self.stripped(&membership).await? } }))
                }
                "knock" if is_new => {
                    Some(json!({ "knock_state": { "events": self.stripped(&membership).await? } }))
                }
                "leave" | "ban"
                    if is_new && since.is_some() && !self.rooms.is_forgotten(&room_id, user).await? =>
                {
                    Some(self.left_room(request, &membership, upto_events, &ignored).await?)
                }
                _ => None,
            };
            if let Some(entry) = entry {
                changed = true;
                let section = match membership.membership.as_str() {
                    "join" => &mut join,
                    "invite" => &mut invite,
                    "knock" => &mut knock,
                    _ => &mut leave,
                };
                section.insert(room_id.to_string(), entry);
            }
        }
        let mut body = json!({
            "next_batch": upto.to_string(),
            "rooms": { "join": join, "invite": invite, "leave": leave, "knock": knock },
            "account_data": { "events": global },
        });
        if let Some(e2ee) = &self.e2ee {
            changed |= super::e2ee::add_sections(e2ee, request, upto, &mut body).await?;
        }
        Ok((body, changed))
    }

    /// A joined room's entry, or `None` if nothing in it changed since the token.
    async fn joined_room(
        &self,
        request: &SyncRequest,
        membership: &MembershipRecord,
        upto: Position,
        is_new: bool,
        account_data: Vec<Value>,
        ignored: &HashSet<String>,
    ) -> Result<Option<Value>, RoomsError> {
        let room_id = &membership.room_id;
        let since = request.since.map(|s| s.get(StreamId::Events));
        let whole_room = is_new || request.full_state;
        let after = if whole_room { None } else { since };
        if !whole_room
            && account_data.is_empty()
            && self.rooms.latest_position(room_id).await? <= after.unwrap_or_default()
        {
            return Ok(None);
        }
        let mut timeline =
            self.timeline(room_id, &request.user_id, after, upto, request.timeline_limit, ignored).await?;
        self.add_transaction_ids(&mut timeline.events, request).await?;
        if !whole_room && timeline.events.is_empty() && account_data.is_empty() {
            return Ok(None);
        }
        let mut state = if whole_room || timeline.limited {
            self.rooms.state_before_as_client_events(room_id, timeline.first_event.as_deref()).await?
        } else {
            Vec::new()
        };
        if request.lazy_load_members {
            lazy_load(&mut state, &timeline.events, &request.user_id);
        }
        Ok(Some(json!({
            "timeline": { "events": timeline.events, "limited": timeline.limited, "prev_batch": timeline.prev_batch },
            "state": { "events": state },
            "account_data": { "events": account_data },
            "ephemeral": { "events": [] },
            "unread_notifications": { "highlight_count": 0, "notification_count": 0 },
            "summary": {},
        })))
    }

    async fn left_room(
        &self,
        request: &SyncRequest,
        membership: &MembershipRecord,
        upto: Position,
        ignored: &HashSet<String>,
    ) -> Result<Value, RoomsError> {
        let since = request.since.map(|s| s.get(StreamId::Events));
        // Up to and including the leave, nothing after it.
        let end = membership.position.min(upto);
        let timeline = self
            .timeline(&membership.room_id, &request.user_id, since, end, request.timeline_limit, ignored)
            .await?;
        Ok(json!({
            "timeline": { "events": timeline.events, "limited": timeline.limited, "prev_batch": timeline.prev_batch },
            "state": { "events": [] },
            "account_data": { "events": [] },
        }))
    }

    async fn stripped(&self, membership: &MembershipRecord) -> Result<Vec<Value>, RoomsError> {
        let state = self.rooms.current_state_of(&membership.room_id).await?;
        let mut events = Vec::new();
        for kind in STRIPPED_STATE {
            if let Some(id) = state.get(&(kind.to_owned(), String::new())) {
                events.push(stripped_state(&self.rooms.load_pdu(id).await?));
            }
        }
        events.push(stripped_state(&self.rooms.load_pdu(&membership.event_id).await?));
        Ok(events)
    }

    /// The last `limit` visible events in `(after, upto]`.
    async fn timeline(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        after: Option<Position>,
        upto: Position,
        limit: usize,
        ignored: &HashSet<String>,
    ) -> Result<Timeline, RoomsError> {
        let page = self.rooms.timeline_page(room_id, Some(Position(upto.0 + 1)), limit + 1).await?;
        let mut in_range: Vec<_> =
            page.into_iter().filter(|e| e.position.is_some_and(|p| Some(p) > after)).collect();
        let limited = in_range.len() > limit;
        in_range.truncate(limit);
        in_range.reverse();
        let version = self.rooms.version_of(room_id).await?;
        let mut check = VisibilityCheck::new(&self.rooms, room_id, user_id).await?;
        let mut events = Vec::new();
        for stored in &in_range {
            let pdu = self.rooms.parse_event(stored, version)?;
            if pdu.state_key().is_none() && ignored.contains(pdu.sender().as_str()) {
                continue;
            }
            if check.can_see(&pdu, stored.position).await? {
                events.push(self.rooms.client_event_full(stored, &pdu, version).await?);
            }
        }
        self.rooms.add_bundles(room_id, user_id, &mut events).await?;
        let first = in_range.first();
        let prev_batch = first.and_then(|e| e.position).map_or(upto.0 + 1, |p| p.0);
        Ok(Timeline {
            events,
            limited,
            prev_batch: format!("t{prev_batch}"),
            first_event: first.map(|e| e.event_id.clone()),
        })
    }

    /// Global account data and per-room account data (room ID → events) since the token.
    async fn account_data_changes(
        &self,
        user_id: &UserId,
        since: Option<SyncToken>,
        upto: SyncToken,
    ) -> Result<(Vec<Value>, std::collections::HashMap<String, Vec<Value>>), RoomsError> {
        let from = since.map(|s| s.get(StreamId::AccountData)).unwrap_or_default();
        let changes = self
            .account_data
            .account_data_changes(user_id, from, upto.get(StreamId::AccountData), 1000)
            .await?;
        let mut global = Vec::new();
        let mut rooms: std::collections::HashMap<String, Vec<Value>> = std::collections::HashMap::new();
        for change in changes {
            let content: Value = serde_json::from_str(&change.content).unwrap_or(json!({}));
            let event = json!({ "type": change.event_type, "content": content });
            match change.room_id {
                Some(room) => rooms.entry(room.to_string()).or_default().push(event),
                None => global.push(event),
            }
        }
        Ok((global, rooms))
    }
}

impl SyncEngine {
    async fn invited_by_ignored(
        &self,
        membership: &MembershipRecord,
        ignored: &HashSet<String>,
    ) -> Result<bool, RoomsError> {
        if ignored.is_empty() {
            return Ok(false);
        }
        let invite = self.rooms.load_pdu(&membership.event_id).await?;
        Ok(ignored.contains(invite.sender().as_str()))
    }
}

impl SyncEngine {
    /// Marks the syncing device's own events with the transaction ID it sent them with.
    async fn add_transaction_ids(
        &self,
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
            let Some(txn) = self.rooms.event_transaction(&event_id).await? else { continue };
            if txn.device_id == request.device_id
                && let Some(txn_id) = crate::rooms::send::client_txn_id(&txn.txn_id)
                && let Some(unsigned) = event.get_mut("unsigned").and_then(Value::as_object_mut)
            {
                unsigned.insert("transaction_id".to_owned(), Value::String(txn_id));
            }
        }
        Ok(())
    }
}

/// The users in the user's `m.ignored_user_list`.
pub async fn ignored_users(
    store: &dyn AccountDataStore,
    user_id: &UserId,
) -> Result<HashSet<String>, RoomsError> {
    let Some(text) = store.get_account_data(user_id, None, "m.ignored_user_list").await? else {
        return Ok(HashSet::new());
    };
    Ok(crate::accounts::account_data::parse_ignored_users(&text))
}

/// Keeps only the member events of the timeline's senders and the user's own.
fn lazy_load(state: &mut Vec<Value>, timeline: &[Value], user_id: &UserId) {
    let mut wanted: HashSet<&str> =
        timeline.iter().filter_map(|e| e.get("sender").and_then(Value::as_str)).collect();
    wanted.insert(user_id.as_str());
    let wanted: HashSet<String> = wanted.into_iter().map(str::to_owned).collect();
    state.retain(|event| {
        event.get("type").and_then(Value::as_str) != Some("m.room.member")
            || event.get("state_key").and_then(Value::as_str).is_some_and(|key| wanted.contains(key))
    });
}

struct Timeline {
    events: Vec<Value>,
    limited: bool,
    prev_batch: String,
    first_event: Option<ruma::OwnedEventId>,
}
