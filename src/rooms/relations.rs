//! Relations: `/relations` (all three forms), `/threads`, and the bundled aggregations
//! (`unsigned.m.relations`: latest edit, thread summary, references) on served events.

use ruma::{EventId, RoomId, UserId};
use serde_json::{Map, Value, json};

use super::visibility::VisibilityCheck;
use super::{Rooms, RoomsError};
use crate::storage::relations::RelationRecord;
use crate::storage::{Direction, Position};

/// Largest page of relations or threads.
const MAX_RELATIONS_PAGE: usize = 100;
/// Most references bundled into one event.
const MAX_BUNDLED_REFERENCES: usize = 50;

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

    /// Adds `unsigned.m.relations` to each served event that has aggregations.
    pub async fn add_bundles(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        events: &mut [Value],
    ) -> Result<(), RoomsError> {
        for event in events.iter_mut() {
            let Some(event_id) =
                event.get("event_id").and_then(Value::as_str).and_then(|id| EventId::parse(id).ok())
            else {
                continue;
            };
            let sender = event.get("sender").and_then(Value::as_str).and_then(|s| UserId::parse(s).ok());
            let bundle = self.bundle(room_id, user_id, &event_id, sender.as_deref()).await?;
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
    ) -> Result<Map<String, Value>, RoomsError> {
        // A recent event with nothing relating to it has nothing to bundle.
        if self.inner.recent.known_unrelated(room_id, event_id) {
            return Ok(Map::new());
        }
        let relations = &self.stores().relations;
        let mut bundle = Map::new();
        // Only the original sender's edits count.
        if let Some(sender) = sender
            && let Some(edit) = relations.latest_relation(event_id, "m.replace", Some(sender)).await?
            && let Some(edit) = self.visible_client_events(room_id, user_id, vec![edit.event_id]).await?.pop()
        {
            bundle.insert("m.replace".to_owned(), edit);
        }
        let count = relations.relation_count(event_id, "m.thread").await?;
        if count > 0
            && let Some(latest) = relations.latest_relation(event_id, "m.thread", None).await?
        {
            let participated = self.participated(event_id, user_id).await?;
            let latest = self.visible_client_events(room_id, user_id, vec![latest.event_id]).await?.pop();
            bundle.insert(
                "m.thread".to_owned(),
                json!({ "latest_event": latest, "count": count, "current_user_participated": participated }),
            );
        }
        let references = relations
            .relations(
                room_id,
                event_id,
                Some("m.reference"),
                None,
                None,
                Direction::Forward,
                MAX_BUNDLED_REFERENCES,
            )
            .await?;
        if !references.is_empty() {
            let chunk: Vec<Value> =
                references.iter().map(|r: &RelationRecord| json!({ "event_id": r.event_id })).collect();
            bundle.insert("m.reference".to_owned(), json!({ "chunk": chunk }));
        }
        Ok(bundle)
    }

    /// Whether the user wrote the thread's root or any event in it.
    async fn participated(&self, root: &EventId, user_id: &UserId) -> Result<bool, RoomsError> {
        if self.stores().relations.has_related_from(root, "m.thread", user_id).await? {
            return Ok(true);
        }
        match self.load_pdu(root).await {
            Ok(pdu) => Ok(pdu.sender() == user_id),
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
            let pdu = super::append::parse_stored(&stored, version)?;
            if check.can_see(&pdu, stored.position).await? {
                events.push(self.served_event(&mut check, &stored, &pdu, version, None).await?);
            }
        }
        Ok(events)
    }
}
