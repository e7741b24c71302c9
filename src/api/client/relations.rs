//! Relations and threads: `/v1/rooms/{roomId}/relations/…` and `/v1/rooms/{roomId}/threads`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::Direction as RumaDirection;
use ruma::api::client::relations::{
    get_relating_events, get_relating_events_with_rel_type, get_relating_events_with_rel_type_and_event_type,
};
use ruma::api::client::threads::get_threads;
use ruma::{EventId, RoomId, UInt};
use serde_json::{Value, json};

use super::room_events::{pagination_token, parse_pagination_token};
use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::rooms::relations::{RelationsPage, RelationsQuery};
use crate::storage::Direction;

/// Relations per page when the client does not say.
const DEFAULT_LIMIT: usize = 50;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_relating_events::v1::Request, _, _>(router, all);
    let router = route::<get_relating_events_with_rel_type::v1::Request, _, _>(router, by_type);
    let router = route::<get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
        router,
        by_type_and_event,
    );
    route::<get_threads::v1::Request, _, _>(router, threads)
}

/// The parts every form of `/relations` shares.
struct Paging<'a> {
    from: Option<&'a str>,
    to: Option<&'a str>,
    dir: RumaDirection,
    limit: Option<UInt>,
}

#[allow(clippy::too_many_arguments)]
async fn relations(
    state: &AppState,
    user: &ruma::UserId,
    room_id: &RoomId,
    parent: &EventId,
    rel_type: Option<&str>,
    event_type: Option<&str>,
    paging: Paging<'_>,
) -> Result<Json<Value>, ApiError> {
    let direction = match paging.dir {
        RumaDirection::Forward => Direction::Forward,
        RumaDirection::Backward => Direction::Backward,
    };
    let query = RelationsQuery {
        parent,
        rel_type,
        event_type,
        from: paging.from.map(|t| parse_pagination_token(t, direction)).transpose()?,
        to: paging.to.map(|t| parse_pagination_token(t, opposite(direction))).transpose()?,
        direction,
        limit: paging.limit.map_or(DEFAULT_LIMIT, |n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX)),
    };
    let mut page = state.rooms.relations(room_id, user, query).await?;
    state.rooms.add_bundles(room_id, user, &mut page.chunk).await?;
    Ok(page_json(page))
}

fn page_json(page: RelationsPage) -> Json<Value> {
    let mut body = json!({ "chunk": page.chunk });
    if let Some(next) = page.next {
        body["next_batch"] = json!(pagination_token(next));
    }
    Json(body)
}

async fn all(
    State(state): State<AppState>,
    request: Ruma<get_relating_events::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let b = &request.body;
    let paging = Paging { from: b.from.as_deref(), to: b.to.as_deref(), dir: b.dir, limit: b.limit };
    relations(&state, user, &b.room_id, &b.event_id, None, None, paging).await
}

async fn by_type(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let b = &request.body;
    let paging = Paging { from: b.from.as_deref(), to: b.to.as_deref(), dir: b.dir, limit: b.limit };
    let rel_type = b.rel_type.to_string();
    relations(&state, user, &b.room_id, &b.event_id, Some(&rel_type), None, paging).await
}

async fn by_type_and_event(
    State(state): State<AppState>,
    request: Ruma<get_relating_events_with_rel_type_and_event_type::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let b = &request.body;
    let paging = Paging { from: b.from.as_deref(), to: b.to.as_deref(), dir: b.dir, limit: b.limit };
    let (rel_type, event_type) = (b.rel_type.to_string(), b.event_type.to_string());
    relations(&state, user, &b.room_id, &b.event_id, Some(&rel_type), Some(&event_type), paging).await
}

async fn threads(
    State(state): State<AppState>,
    request: Ruma<get_threads::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let b = &request.body;
    let participated = b.include.as_str() == "participated";
    let before = b.from.as_deref().map(|t| parse_pagination_token(t, Direction::Backward)).transpose()?;
    let limit = b.limit.map_or(DEFAULT_LIMIT, |n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX));
    Ok(page_json(state.rooms.threads(&b.room_id, user, participated, before, limit).await?))
}

fn opposite(direction: Direction) -> Direction {
    match direction {
        Direction::Backward => Direction::Forward,
        Direction::Forward => Direction::Backward,
    }
}
