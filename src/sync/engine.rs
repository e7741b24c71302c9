//! `/sync` v3: what changed for a user between two tokens, and the long-poll that
//! waits for a change. Interest is registered with the notifier before positions are
//! compared, so no change between the two is missed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::lazy_members::SentMembers;
pub use super::request::SyncRequest;
use super::sync_filter::SyncFilter;
use super::token::SyncToken;
use crate::push::PUSH_RULES_TYPE;
use crate::rooms::{Rooms, RoomsError};
use crate::storage::{AccountDataStore, MembershipRecord, Position, StreamId};
use crate::streams::{Notifier, Watermark};

/// Most account-data changes one sync reads.
const MAX_ACCOUNT_DATA: usize = 1000;
/// The longest a sync request waits, whatever the client asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(90);

/// A room an incremental sync looks at.
enum Candidate {
    /// The user's current membership, as recorded.
    Record(MembershipRecord),
    /// A room with changes whose membership (join) did not change in the window.
    StillJoined(OwnedRoomId),
}

/// Rooms whose entries are built at the same time.
const ROOMS_AT_ONCE: usize = 8;

/// The `rooms` section a room's entry goes to.
enum Section {
    Join,
    Invite,
    Knock,
    Leave,
}

/// The sync domain service.
#[derive(Clone)]
pub struct SyncEngine {
    rooms: Rooms,
    account_data: Arc<dyn AccountDataStore>,
    account_data_stream: Watermark,
    notifier: Arc<Notifier>,
    sent_members: Arc<SentMembers>,
    ignored: Arc<super::ignored::IgnoredUsers>,
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
        SyncEngine {
            rooms,
            account_data,
            account_data_stream,
            notifier,
            sent_members: Arc::default(),
            ignored: Arc::default(),
            e2ee: None,
        }
    }

    /// Serves the E2EE sections too.
    pub fn with_e2ee(mut self, e2ee: crate::e2ee::E2ee) -> Self {
        self.e2ee = Some(e2ee);
        self
    }

    pub(super) fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    pub(super) fn sent_members(&self) -> &SentMembers {
        &self.sent_members
    }

    /// Answers at once when something changed since the token (or there is none),
    /// otherwise waits up to the timeout for a change.
    pub async fn sync(&self, request: &SyncRequest) -> Result<Value, RoomsError> {
        let deadline = Instant::now() + request.timeout.min(MAX_TIMEOUT);
        let mut listener = self.notifier.listen(&request.user_id);
        let mut timed_out = false;
        loop {
            let upto = SyncToken::default()
                .with(StreamId::Events, self.rooms.events_position())
                .with(StreamId::AccountData, self.account_data_stream.published());
            let upto = match &self.e2ee {
                Some(e2ee) => super::e2ee::with_positions(e2ee, upto),
                None => upto,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            // Every position is where the token left off: nothing can have changed, so
            // wait without computing (a client re-polls right after each answer).
            if request.since == Some(upto) && !request.full_state && !timed_out && !remaining.is_zero() {
                timed_out = !listener.wait(remaining).await;
                continue;
            }
            // Boxed: the long wait below then holds a small future, not room for the
            // whole computation (thousands of syncs wait at once).
            let (body, changed) = Box::pin(self.compute(request, upto)).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if changed || timed_out || request.since.is_none() || request.full_state || remaining.is_zero() {
                return Ok(body);
            }
            // Nothing is kept while waiting; a timeout computes "nothing new" afresh
            // with the latest token.
            drop(body);
            timed_out = !listener.wait(remaining).await;
        }
    }

    async fn compute(&self, request: &SyncRequest, upto: SyncToken) -> Result<(Value, bool), RoomsError> {
        let since = request.since;
        let user = &request.user_id;
        let mut changed = false;
        let changes = self.account_data_changes(user, since, upto, &request.filter).await?;
        let AccountDataChanges { global, rooms: mut room_data, ignored_list_changed } = changes;
        let window = super::ignored::Window {
            since: since.map(|s| s.get(StreamId::AccountData)),
            upto: upto.get(StreamId::AccountData),
            list_changed: ignored_list_changed,
        };
        let ignored = self.ignored.get(self.account_data.as_ref(), user, window).await?;
        changed |= !global.is_empty() || !room_data.is_empty();
        let (mut join, mut invite, mut leave, mut knock) = (Map::new(), Map::new(), Map::new(), Map::new());
        let upto_events = upto.get(StreamId::Events);
        let mut work = Vec::new();
        for candidate in self.candidates(request, upto_events, &room_data).await? {
            let room_id = match &candidate {
                Candidate::StillJoined(room_id) => room_id,
                Candidate::Record(record) => &record.room_id,
            };
            if request.filter.rooms.allows_room(room_id.as_str()) {
                let account_data = room_data.remove(room_id.as_str()).unwrap_or_default();
                work.push((candidate, account_data));
            }
        }
        // Rooms are independent: their store reads overlap (a few at a time, so one
        // sync cannot flood the store).
        let mut entries = futures_util::stream::iter(work)
            .map(|(candidate, account_data)| {
                self.room_entry(request, candidate, account_data, upto_events, &ignored)
            })
            .buffer_unordered(ROOMS_AT_ONCE);
        while let Some(entry) = entries.next().await {
            let Some((section, room_id, entry)) = entry? else { continue };
            changed = true;
            let section = match section {
                Section::Join => &mut join,
                Section::Invite => &mut invite,
                Section::Knock => &mut knock,
                Section::Leave => &mut leave,
            };
            section.insert(room_id.to_string(), entry);
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

    /// One room's entry and its section, or `None` when it has nothing to say.
    async fn room_entry(
        &self,
        request: &SyncRequest,
        candidate: Candidate,
        account_data: Vec<Value>,
        upto: Position,
        ignored: &HashSet<String>,
    ) -> Result<Option<(Section, OwnedRoomId, Value)>, RoomsError> {
        let membership = match candidate {
            Candidate::StillJoined(room_id) => {
                let entry = self.joined_room(request, &room_id, upto, false, account_data, ignored).await?;
                return Ok(entry.map(|entry| (Section::Join, room_id, entry)));
            }
            Candidate::Record(membership) => membership,
        };
        if membership.position > upto {
            return Ok(None);
        }
        let since = request.since;
        let room_id = membership.room_id.clone();
        let is_new = since.is_none_or(|s| membership.position > s.get(StreamId::Events));
        // Rooms left before the window only on request, and only when the client
        // starts over; newly left rooms always.
        let show_left = (is_new && since.is_some())
            || (request.filter.include_leave && (since.is_none() || request.full_state));
        let entry = match membership.membership.as_str() {
            "join" => self
                .joined_room(request, &room_id, upto, is_new, account_data, ignored)
                .await?
                .map(|entry| (Section::Join, entry)),
            // Invites from ignored users are not shown at all.
            "invite" if is_new && self.invited_by_ignored(&membership, ignored).await? => None,
            "invite" if is_new => Some((
                Section::Invite,
                json!({ "invite_state": { "events": self.stripped(&membership).await? } }),
            )),
            "knock" if is_new => Some((
                Section::Knock,
                json!({ "knock_state": { "events": self.stripped(&membership).await? } }),
            )),
            "leave" | "ban" if show_left && !self.rooms.is_forgotten(&room_id, &request.user_id).await? => {
                Some((
                    Section::Leave,
                    self.left_room(request, &membership, upto, account_data, ignored).await?,
                ))
            }
            _ => None,
        };
        Ok(entry.map(|(section, entry)| (section, room_id, entry)))
    }

    /// The rooms to look at. An incremental sync whose token the user's change feed
    /// covers visits only what changed: the user's membership changes in the window,
    /// the rooms with new events, and rooms with new room account data — O(changes).
    /// Otherwise (first sync, full state, a token older than the feed) every
    /// membership, and the feed starts so the next sync is cheap.
    async fn candidates(
        &self,
        request: &SyncRequest,
        upto: Position,
        room_data: &HashMap<String, Vec<Value>>,
    ) -> Result<Vec<Candidate>, RoomsError> {
        let user = &request.user_id;
        let since = request.since.map(|s| s.get(StreamId::Events)).filter(|_| !request.full_state);
        let Some((since, changed)) =
            since.and_then(|since| Some((since, self.rooms.changed_rooms(user, since, upto)?)))
        else {
            self.rooms.track_changes(user);
            let all = self.rooms.stores_memberships(user).await?;
            return Ok(all.into_iter().map(Candidate::Record).collect());
        };
        // The newest change per room is the current membership.
        let mut records: HashMap<OwnedRoomId, MembershipRecord> = HashMap::new();
        for record in self.rooms.membership_changes(user, since, upto).await? {
            records.insert(record.room_id.clone(), record);
        }
        let mut seen: HashSet<OwnedRoomId> = records.keys().cloned().collect();
        let mut candidates: Vec<Candidate> = records.into_values().map(Candidate::Record).collect();
        // A room changed without the user's membership changing: they were joined when
        // it changed (the feed records only members and membership targets) and still are.
        for room_id in changed {
            if seen.insert(room_id.clone()) {
                candidates.push(Candidate::StillJoined(room_id));
            }
        }
        for room in room_data.keys() {
            let Ok(room_id) = RoomId::parse(room) else { continue };
            if !seen.contains(&room_id)
                && self.rooms.membership_of_user(&room_id, user).await?.as_deref() == Some("join")
            {
                seen.insert(room_id.clone());
                candidates.push(Candidate::StillJoined(room_id));
            }
        }
        Ok(candidates)
    }

    /// Global account data and per-room account data (room ID → events) since the token.
    async fn account_data_changes(
        &self,
        user_id: &UserId,
        since: Option<SyncToken>,
        upto: SyncToken,
        filter: &SyncFilter,
    ) -> Result<AccountDataChanges, RoomsError> {
        let from = since.map(|s| s.get(StreamId::AccountData)).unwrap_or_default();
        let upto = upto.get(StreamId::AccountData);
        if since.is_some() && from >= upto {
            // Nobody's account data changed since the token.
            return Ok(AccountDataChanges::default());
        }
        let changes = self.account_data.account_data_changes(user_id, from, upto, MAX_ACCOUNT_DATA).await?;
        let ignored_list_changed = changes.len() >= MAX_ACCOUNT_DATA
            || changes.iter().any(|c| c.room_id.is_none() && c.event_type == "m.ignored_user_list");
        let mut global = Vec::new();
        let mut rooms: HashMap<String, Vec<Value>> = HashMap::new();
        let mut push_rules_sent = false;
        for change in changes {
            let content: Value = if change.room_id.is_none() && change.event_type == PUSH_RULES_TYPE {
                // Stored as the user's changes; served as the whole ruleset.
                push_rules_sent = true;
                crate::push::client_content(user_id, Some(&change.content))
            } else {
                serde_json::from_str(&change.content).unwrap_or(json!({}))
            };
            let event = json!({ "type": change.event_type, "content": content });
            match change.room_id {
                Some(room) if filter.room_account_data.allows_room(room.as_str()) => {
                    rooms.entry(room.to_string()).or_default().push(event)
                }
                Some(_) => {}
                None => global.push(event),
            }
        }
        if since.is_none() && !push_rules_sent {
            // A user who never changed a rule still starts with the server defaults
            // (read, not assumed: the page of changes may have ended before it).
            let stored = self.account_data.get_account_data(user_id, None, PUSH_RULES_TYPE).await?;
            let content = crate::push::client_content(user_id, stored.as_deref());
            global.push(json!({ "type": PUSH_RULES_TYPE, "content": content }));
        }
        let global = filter.select(&filter.account_data, global);
        for events in rooms.values_mut() {
            *events = filter.select(&filter.room_account_data, std::mem::take(events));
        }
        rooms.retain(|_, events| !events.is_empty());
        Ok(AccountDataChanges { global, rooms, ignored_list_changed })
    }
}

/// Account data changed in a sync's window.
#[derive(Default)]
struct AccountDataChanges {
    global: Vec<Value>,
    /// Room ID → events.
    rooms: HashMap<String, Vec<Value>>,
    /// `m.ignored_user_list` may have changed in the window.
    ignored_list_changed: bool,
}
