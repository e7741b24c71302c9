//! Relations: `/relations` (all three forms), `/threads`, and the bundled aggregations
//! (`unsigned.m.relations`: latest edit, thread summary, references) on served events.

use ruma::{EventId, RoomId, UserId};
use serde_json::{Map, Value, json};
use stoa_federation::RoomVersion;

use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::events::Pdu;
use crate::storage::relations::RelationRecord;
use crate::storage::{Direction, Position, StoredEvent};

/// Largest page of relations or threads.
const MAX_RELATIONS_PAGE: usize = 100;
/// Most references bundled into one event.
const MAX_BUNDLED_REFERENCES: usize = 50;
/// Most relations of one kind looked through for one bundle when the requester's
/// membership does not cover them all, so the work per served event stays bounded: in
/// a longer thread, the count a returning member is shown covers the newest this many.
const MAX_SCANNED_RELATIONS: usize = 500;

/// What `/relations` asks for.
pub struct RelationsQuery<'a> {
    pub parent: &'a EventId,
    pub rel_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub from: Option<Position>,
    pub to: Option<Position>,
    pub direction: Direction,
    pub limit: usize,
}

/// A page of relations or threads, with the position to continue from.
pub struct RelationsPage {
    pub chunk: Vec<Value>,
    pub next: Option<Position>,
}

impl Rooms {
    /// `GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]`.
    pub async fn relations(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        query: RelationsQuery<'_>,
    ) -> Result<RelationsPage, RoomsError> {
        // The parent must itself be visible, or the relations would leak its existence.
        self.check_event_visible(room_id, user_id, query.parent).await?;
        let limit = query.limit.clamp(1, MAX_RELATIONS_PAGE);
        let records = self
            .stores()
            .relations
            .relations(
                room_id,
                query.parent,
                query.rel_type,
                query.event_type,
                query.from,
                query.direction,
                limit,
            )
            .await?;
        let full = records.len() == limit;
        let mut last = None;
        let mut ids = Vec::new();
        for record in &records {
            let beyond_to = match (query.to, query.direction) {
                (Some(to), Direction::Backward) => record.position <= to,
                (Some(to), Direction::Forward) => record.position >= to,
                (None, _) => false,
            };
            if beyond_to {
                break;
            }
            last = Some(record.position);
            ids.push(record.event_id.clone());
        }
        let chunk = self.visible_client_events(room_id, user_id, ids).await?;
        Ok(RelationsPage { chunk, next: if full { last } else { None } })
    }

    /// `GET /v1/rooms/{roomId}/threads`: thread roots, most recently active first.
    pub async fn threads(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        participated_only: bool,
        before: Option<Position>,
        limit: usize,
    ) -> Result<RelationsPage, RoomsError> {
        self.visible_state(room_id, user_id).await?;
        let limit = limit.clamp(1, MAX_RELATIONS_PAGE);
        let relations = &self.stores().relations;
        let threads = relations.threads(room_id, before, limit).await?;
        let next = if threads.len() == limit { threads.last().map(|t| t.latest_position) } else { None };
        let mut roots = Vec::new();
        for thread in threads {
            if participated_only && !self.participated(&thread.root_id, user_id).await? {
                continue;
            }
            roots.push(thread.root_id);
        }
        let mut chunk = self.visible_client_events(room_id, user_id, roots).await?;
        self.add_bundles(room_id, user_id, &mut chunk).await?;
        Ok(RelationsPage { chunk, next })
    }

    /// Adds `unsigned.m.relations` to each served event that has aggregations, made of
    /// the relating events the user may see.
    pub async fn add_bundles(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        events: &mut [Value],
    ) -> Result<(), RoomsError> {
        // Found on the first event that has relations: most pages have none.
        let mut viewer = None;
        for event in events.iter_mut() {
            let Some(event_id) =
                event.get("event_id").and_then(Value::as_str).and_then(|id| EventId::parse(id).ok())
            else {
                continue;
            };
            // A recent event with nothing relating to it has nothing to bundle.
            if self.inner.recent.known_unrelated(room_id, &event_id) {
                continue;
            }
            let viewer = match &mut viewer {
                Some(viewer) => viewer,
                None => viewer.insert(Viewer::new(self, room_id, user_id).await?),
            };
            let sender = event.get("sender").and_then(Value::as_str).and_then(|s| UserId::parse(s).ok());
            let bundle = self.bundle(room_id, user_id, &event_id, sender.as_deref(), viewer).await?;
            if !bundle.is_empty()
                && let Some(unsigned) = event.get_mut("unsigned").and_then(Value::as_object_mut)
            {
                unsigned.insert("m.relations".to_owned(), Value::Object(bundle));
            }
        }
        Ok(())
    }

    async fn bundle(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        event_id: &EventId,
        sender: Option<&UserId>,
        viewer: &mut Viewer<'_>,
    ) -> Result<Map<String, Value>, RoomsError> {
        let mut bundle = Map::new();
        // Only the original sender's edits count.
        if let Some(sender) = sender
            && let Some(edit) = self.latest_visible_edit(room_id, event_id, sender, viewer).await?
        {
            bundle.insert("m.replace".to_owned(), edit);
        }
        if let Some((count, latest)) = self.visible_thread(room_id, event_id, viewer).await? {
            let participated = self.participated(event_id, user_id).await?;
            bundle.insert(
                "m.thread".to_owned(),
                json!({ "latest_event": latest, "count": count, "current_user_participated": participated }),
            );
        }
        let references =
            Scan { rel_type: "m.reference", direction: Direction::Forward, want: MAX_BUNDLED_REFERENCES };
        let references = self.visible_relations(room_id, event_id, &references, viewer, |_| true).await?;
        if !references.records.is_empty() {
            let chunk: Vec<Value> =
                references.records.iter().map(|r| json!({ "event_id": r.event_id })).collect();
            bundle.insert("m.reference".to_owned(), json!({ "chunk": chunk }));
        }
        Ok(bundle)
    }

    /// The newest edit by `sender` the viewer may see, as a client event.
    async fn latest_visible_edit(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        viewer: &mut Viewer<'_>,
    ) -> Result<Option<Value>, RoomsError> {
        let relations = &self.stores().relations;
        let Some(latest) = relations.latest_relation(event_id, "m.replace", Some(sender)).await? else {
            return Ok(None);
        };
        // Usually the newest edit is visible; only otherwise are older ones looked through.
        if let Some(edit) = self.visible_client_event(room_id, &latest, viewer).await? {
            return Ok(Some(edit));
        }
        let edits = Scan { rel_type: "m.replace", direction: Direction::Backward, want: 1 };
        let found = self.visible_relations(room_id, event_id, &edits, viewer, |r| r.sender == sender).await?;
        match found.records.first() {
            Some(record) => self.visible_client_event(room_id, record, viewer).await,
            None => Ok(None),
        }
    }

    /// How many thread replies the viewer may see and the newest of them (a client
    /// event); `None` when they may see none.
    async fn visible_thread(
        &self,
        room_id: &RoomId,
        root: &EventId,
        viewer: &mut Viewer<'_>,
    ) -> Result<Option<(u64, Value)>, RoomsError> {
        let relations = &self.stores().relations;
        let oldest =
            relations.relations(room_id, root, Some("m.thread"), None, None, Direction::Forward, 1).await?;
        let Some(oldest) = oldest.first() else { return Ok(None) };
        // Joined since before the first reply: every reply is visible, so the store's
        // count is the answer and no reply needs loading.
        if viewer.sees_all_after(oldest.position)
            && let Some(latest) = relations.latest_relation(root, "m.thread", None).await?
            && let Some(event) = self.visible_client_event(room_id, &latest, viewer).await?
        {
            return Ok(Some((relations.relation_count(root, "m.thread").await?, event)));
        }
        let replies = Scan { rel_type: "m.thread", direction: Direction::Backward, want: usize::MAX };
        let found = self.visible_relations(room_id, root, &replies, viewer, |_| true).await?;
        for record in &found.records {
            if let Some(event) = self.visible_client_event(room_id, record, viewer).await? {
                let count = u64::try_from(found.records.len()).unwrap_or(u64::MAX);
                return Ok(Some((count, event)));
            }
        }
        Ok(None)
    }

    /// The relations of `parent` the viewer may see, in the scan's direction, until
    /// `scan.want` are found or [`MAX_SCANNED_RELATIONS`] were looked at. Relations the
    /// viewer's unbroken membership covers need no reads; the others are checked one
    /// by one against history visibility.
    async fn visible_relations(
        &self,
        room_id: &RoomId,
        parent: &EventId,
        scan: &Scan,
        viewer: &mut Viewer<'_>,
        keep: impl Fn(&RelationRecord) -> bool,
    ) -> Result<VisibleRelations, RoomsError> {
        let relations = &self.stores().relations;
        let mut found = VisibleRelations { records: Vec::new() };
        let (mut from, mut scanned) = (None, 0);
        while scanned < MAX_SCANNED_RELATIONS && found.records.len() < scan.want {
            let limit = MAX_RELATIONS_PAGE.min(MAX_SCANNED_RELATIONS - scanned);
            let page = relations
                .relations(room_id, parent, Some(scan.rel_type), None, from, scan.direction, limit)
                .await?;
            scanned += page.len();
            from = page.last().map(|record| record.position);
            for record in page.iter().filter(|record| keep(record)) {
                if found.records.len() < scan.want && viewer.may_see(self, room_id, record).await? {
                    found.records.push(record.clone());
                }
            }
            if page.len() < limit {
                break;
            }
        }
        Ok(found)
    }

    /// `record`'s event as a client event, if it is still served and the viewer may see it.
    async fn visible_client_event(
        &self,
        room_id: &RoomId,
        record: &RelationRecord,
        viewer: &mut Viewer<'_>,
    ) -> Result<Option<Value>, RoomsError> {
        let Some((stored, pdu)) = viewer.load(self, room_id, &record.event_id).await? else {
            return Ok(None);
        };
        let implied = viewer.sees_all_after(record.position);
        if implied || viewer.check.can_see(&pdu, stored.position).await? {
            return Ok(Some(self.client_event_full(&stored, &pdu, viewer.version).await?));
        }
        Ok(None)
    }

    /// Whether the user wrote the thread's root or any event in it.
    async fn participated(&self, root: &EventId, user_id: &UserId) -> Result<bool, RoomsError> {
        if self.stores().relations.has_related_from(root, "m.thread", user_id).await? {
            return Ok(true);
        }
        match self.load_readable(root).await {
            Ok(pdu) => Ok(pdu.is_some_and(|pdu| pdu.sender() == user_id)),
            Err(RoomsError::UnknownEvent | RoomsError::UnknownRoom) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The client events among `ids` the user may see, in the order given.
    async fn visible_client_events(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        ids: Vec<ruma::OwnedEventId>,
    ) -> Result<Vec<Value>, RoomsError> {
        let version = self.room_version(room_id).await?;
        let mut check = VisibilityCheck::new(self, room_id, user_id).await?;
        let mut events = Vec::new();
        for stored in self.stores().rooms.get_events(&ids).await? {
            if stored.room_id != room_id || stored.position.is_none() {
                continue;
            }
            let Some(pdu) = super::append::readable(&stored, version) else { continue };
            if check.can_see(&pdu, stored.position).await? {
                events.push(self.served_event(&mut check, &stored, &pdu, version, None).await?);
            }
        }
        Ok(events)
    }
}

/// One walk over a parent's relations of one type.
struct Scan {
    rel_type: &'static str,
    direction: Direction,
    /// Stop once this many visible ones are found.
    want: usize,
}

/// What a [`Scan`] found, in its order.
struct VisibleRelations {
    records: Vec<RelationRecord>,
}

/// The requester of one request's bundles: their history-visibility check and since
/// when they have been joined without a break, both found once.
struct Viewer<'a> {
    check: VisibilityCheck<'a>,
    /// Position of the member event that made the user joined, while still joined:
    /// everything after it was sent while they were in the room.
    joined_since: Option<Position>,
    version: RoomVersion,
}

impl<'a> Viewer<'a> {
    async fn new(rooms: &'a Rooms, room_id: &RoomId, user_id: &'a UserId) -> Result<Viewer<'a>, RoomsError> {
        let store = &rooms.stores().rooms;
        let mut joined_since = None;
        if let Some(member) = store.current_state_event(room_id, "m.room.member", user_id.as_str()).await?
            && let Some(pdu) = rooms.cached_readable(&member).await?
            && super::append::membership_of(&pdu).as_deref() == Some("join")
        {
            joined_since = store.get_event(&member).await?.and_then(|stored| stored.position);
        }
        Ok(Viewer {
            check: VisibilityCheck::new(rooms, room_id, user_id).await?,
            joined_since,
            version: rooms.room_version(room_id).await?,
        })
    }

    /// Whether an event at `position` was sent while the user was joined, without a
    /// break until now (so they may see it whatever the history visibility).
    fn sees_all_after(&self, position: Position) -> bool {
        self.joined_since.is_some_and(|since| position > since)
    }

    /// Whether the user may see `record`'s event: at once when their membership covers
    /// it, else by loading it and checking history visibility.
    async fn may_see(
        &mut self,
        rooms: &Rooms,
        room_id: &RoomId,
        record: &RelationRecord,
    ) -> Result<bool, RoomsError> {
        if self.sees_all_after(record.position) {
            return Ok(true);
        }
        match self.load(rooms, room_id, &record.event_id).await? {
            Some((stored, pdu)) => self.check.can_see(&pdu, stored.position).await,
            None => Ok(false),
        }
    }

    /// A served event of this room, parsed; `None` if it is not one (or cannot be read,
    /// which is logged: one bad event must not take the whole bundle down).
    async fn load(
        &self,
        rooms: &Rooms,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Option<(StoredEvent, Pdu)>, RoomsError> {
        let Some(stored) = rooms.stores().rooms.get_event(event_id).await? else { return Ok(None) };
        if stored.room_id != room_id || stored.position.is_none() {
            return Ok(None);
        }
        // An unreadable event is logged by `readable` and left out of the bundle.
        Ok(super::append::readable(&stored, self.version).map(|pdu| (stored, pdu)))
    }
}
