//! A sync filter read into what the sync engine applies: which rooms, which events in
//! each section, how many timeline events, lazy-loaded members, and the event shape.

use ruma::api::client::filter::{EventFormat, FilterDefinition, LazyLoadOptions};
use serde_json::Value;

use super::event_filter::{EventMatcher, project_fields};

/// Timeline events per room when the filter does not say.
const DEFAULT_TIMELINE_LIMIT: usize = 10;
/// The most timeline events one room's entry carries.
const MAX_TIMELINE_LIMIT: usize = 1000;

/// Everything a sync request's filter asks for.
#[derive(Debug, Clone)]
pub struct SyncFilter {
    /// `room.rooms` / `room.not_rooms`: which rooms appear in any section.
    pub rooms: EventMatcher,
    /// `room.include_leave`: rooms left before the sync window appear in `leave`.
    pub include_leave: bool,
    pub timeline: EventMatcher,
    pub timeline_limit: usize,
    pub state: EventMatcher,
    pub lazy_load_members: bool,
    /// Resend member events the device already has (only with lazy loading).
    pub include_redundant_members: bool,
    pub room_account_data: EventMatcher,
    pub account_data: EventMatcher,
    pub event_fields: Option<Vec<String>>,
    /// `event_format: federation`: room events as the PDUs themselves.
    pub federation_format: bool,
}

impl Default for SyncFilter {
    fn default() -> Self {
        SyncFilter::from_definition(&FilterDefinition::default())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid filter: {0}")]
pub struct InvalidFilter(String);

impl SyncFilter {
    /// Reads a filter given as JSON (inline or stored); `null` is the empty filter.
    pub fn from_json(value: &Value) -> Result<Self, InvalidFilter> {
        if value.is_null() {
            return Ok(SyncFilter::default());
        }
        let definition: FilterDefinition =
            serde_json::from_value(value.clone()).map_err(|e| InvalidFilter(e.to_string()))?;
        Ok(SyncFilter::from_definition(&definition))
    }

    fn from_definition(definition: &FilterDefinition) -> Self {
        let room = &definition.room;
        let mut rooms = EventMatcher::default();
        rooms.restrict_rooms(room.rooms.as_deref(), &room.not_rooms);
        let timeline = EventMatcher::from_room_event_filter(&room.timeline);
        let (lazy_load_members, include_redundant_members) = match room.state.lazy_load_options {
            LazyLoadOptions::Enabled { include_redundant_members } => (true, include_redundant_members),
            _ => (false, false),
        };
        SyncFilter {
            rooms,
            include_leave: room.include_leave,
            timeline_limit: timeline.limit_or(DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT),
            timeline,
            state: EventMatcher::from_room_event_filter(&room.state),
            lazy_load_members,
            include_redundant_members,
            room_account_data: EventMatcher::from_room_event_filter(&room.account_data),
            account_data: EventMatcher::from_filter(&definition.account_data),
            event_fields: definition.event_fields.clone(),
            federation_format: definition.event_format == EventFormat::Federation,
        }
    }

    /// Applies `event_fields` to an event about to be served.
    pub fn shape(&self, event: Value) -> Value {
        match &self.event_fields {
            Some(fields) => project_fields(&event, fields),
            None => event,
        }
    }

    /// Keeps the events `matcher` lets through, at most its limit, each shaped.
    pub fn select(&self, matcher: &EventMatcher, events: Vec<Value>) -> Vec<Value> {
        let limit = matcher.limit.unwrap_or(usize::MAX);
        events.into_iter().filter(|e| matcher.matches(e)).take(limit).map(|e| self.shape(e)).collect()
    }
}
