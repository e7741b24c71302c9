//! Events in a room: send, state, redact, single events, history and members.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::Direction as RumaDirection;
use ruma::api::client::context::get_context;
use ruma::api::client::membership::{get_member_events, joined_members};
use ruma::api::client::message::{get_message_events, send_message_event};
use ruma::api::client::redact::redact_event;
use ruma::api::client::room::{get_event_by_timestamp, get_room_event};
use ruma::api::client::state::{get_state_event_for_key, get_state_events, send_state_event};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route, route_also};
use crate::storage::{Direction, Position};
use crate::sync::event_filter::EventMatcher;
use crate::sync::token::SyncToken;

/// The state endpoints with an empty state key, as clients write them.
const EMPTY_STATE_KEY_PATHS: &[&str] = &[
    "/_matrix/client/v3/rooms/{room_id}/state/{event_type}",
    "/_matrix/client/v3/rooms/{room_id}/state/{event_type}/",
    "/_matrix/client/r0/rooms/{room_id}/state/{event_type}",
    "/_matrix/client/r0/rooms/{room_id}/state/{event_type}/",
];

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<send_message_event::v3::Request, _, _>(router, send);
    let router = route_also::<send_state_event::v3::Request, _, _>(router, put_state, EMPTY_STATE_KEY_PATHS);
    let router =
        route_also::<get_state_event_for_key::v3::Request, _, _>(router, get_state, EMPTY_STATE_KEY_PATHS);
    let router = route::<get_state_events::v3::Request, _, _>(router, all_state);
    let router = route::<redact_event::v3::Request, _, _>(router, redact);
    let router = route::<get_room_event::v3::Request, _, _>(router, event);
    let router = route::<get_message_events::v3::Request, _, _>(router, messages);
    let router = route::<get_member_events::v3::Request, _, _>(router, members);
    let router = route::<get_context::v3::Request, _, _>(router, context);
    let router = route::<get_event_by_timestamp::v1::Request, _, _>(router, by_timestamp);
    route::<joined_members::v3::Request, _, _>(router, joined)
}

/// Event content must be a JSON object.
fn content<T>(raw: &ruma::serde::Raw<T>) -> Result<Value, ApiError> {
    let value: Value =
        serde_json::from_str(raw.json().get()).map_err(|e| ApiError::bad_json(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::bad_json("event content must be a JSON object"));
    }
    Ok(value)
}

async fn send(
    State(state): State<AppState>,
    request: Ruma<send_message_event::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    // Transaction IDs are scoped to the device and the request path.
    let txn = crate::rooms::send::scoped_txn(
        requester,
        "send",
        &[body.room_id.as_str(), &body.event_type.to_string()],
        body.txn_id.as_str(),
    );
    let content = content(&body.body)?;
    let event_type = body.event_type.to_string();
    let event_id =
        state.rooms.send_message(&body.room_id, &requester.user_id, &event_type, content, txn).await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn put_state(
    State(state): State<AppState>,
    request: Ruma<send_state_event::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let content = content(&body.body)?;
    let event_type = body.event_type.to_string();
    let event_id = state
        .rooms
        .send_state(&body.room_id, &requester.user_id, &event_type, &body.state_key, content)
        .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn get_state(
    State(state): State<AppState>,
    request: Ruma<get_state_event_for_key::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let event_type = body.event_type.to_string();
    let content =
        state.rooms.state_event(&body.room_id, &requester.user_id, &event_type, &body.state_key).await?;
    Ok(Json(content))
}

async fn all_state(
    State(state): State<AppState>,
    request: Ruma<get_state_events::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    Ok(Json(Value::Array(state.rooms.state_events(&request.body.room_id, &requester.user_id).await?)))
}

async fn redact(
    State(state): State<AppState>,
    request: Ruma<redact_event::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    // Transaction IDs are scoped to the device and the request path.
    let txn = crate::rooms::send::scoped_txn(
        requester,
        "redact",
        &[body.room_id.as_str(), body.event_id.as_str()],
        body.txn_id.as_str(),
    );
    let event_id = state
        .rooms
        .redact(&body.room_id, &requester.user_id, &body.event_id, body.reason.clone(), txn)
        .await?;
    Ok(Json(json!({ "event_id": event_id })))
}

async fn event(
    State(state): State<AppState>,
    request: Ruma<get_room_event::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    Ok(Json(state.rooms.visible_event(&body.room_id, &requester.user_id, &body.event_id).await?))
}

/// Pagination tokens are `t<position>` (a boundary: paging goes strictly past it). A
/// sync token also works: it names the last event seen, so paging backward from it
/// starts with that event and forward from it starts after it.
pub fn parse_pagination_token(token: &str, direction: Direction) -> Result<Position, ApiError> {
    if let Some(number) = token.strip_prefix('t') {
        return number.parse().map(Position).map_err(|_| ApiError::invalid_param("invalid pagination token"));
    }
    let seen = SyncToken::parse(token)
        .map(|t| t.get(crate::storage::StreamId::Events))
        .map_err(|_| ApiError::invalid_param("invalid pagination token"))?;
    Ok(match direction {
        Direction::Backward => Position(
            seen.0.checked_add(1).ok_or_else(|| ApiError::invalid_param("invalid pagination token"))?,
        ),
        Direction::Forward => seen,
    })
}

pub fn pagination_token(position: Position) -> String {
    format!("t{}", position.0)
}

async fn messages(
    State(state): State<AppState>,
    request: Ruma<get_message_events::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let direction = match body.dir {
        RumaDirection::Backward => Direction::Backward,
        RumaDirection::Forward => Direction::Forward,
    };
    let from = body.from.as_deref().map(|t| parse_pagination_token(t, direction)).transpose()?;
    // `to` bounds the page from the other side.
    let opposite = match direction {
        Direction::Backward => Direction::Forward,
        Direction::Forward => Direction::Backward,
    };
    let to = body.to.as_deref().map(|t| parse_pagination_token(t, opposite)).transpose()?;
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let mut page =
        state.rooms.messages(&body.room_id, &requester.user_id, from, to, direction, limit).await?;
    let ignored = state.accounts.ignored_users(&requester.user_id).await?;
    let matcher = EventMatcher::from_room_event_filter(&body.filter);
    page.chunk.retain(|event| {
        let ignored_sender = event.get("state_key").is_none()
            && event.get("sender").and_then(Value::as_str).is_some_and(|sender| ignored.contains(sender));
        !ignored_sender && matcher.allows_room(body.room_id.as_str()) && matcher.matches(event)
    });
    let mut response = json!({ "chunk": page.chunk, "start": pagination_token(page.start) });
    if !body.filter.lazy_load_options.is_disabled() {
        let mut senders: Vec<String> = page
            .chunk
            .iter()
            .filter_map(|e| e.get("sender").and_then(Value::as_str).map(str::to_owned))
            .collect();
        senders.sort();
        senders.dedup();
        response["state"] =
            json!(state.rooms.member_events_of(&body.room_id, &requester.user_id, &senders).await?);
    }
    if let Some(end) = page.end {
        response["end"] = json!(pagination_token(end));
    }
    Ok(Json(response))
}

async fn members(
    State(state): State<AppState>,
    request: Ruma<get_member_events::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let membership = body.membership.as_ref().map(|m| m.to_string());
    let not_membership = body.not_membership.as_ref().map(|m| m.to_string());
    let at = match body.at.as_deref() {
        Some(token) => Some(parse_pagination_token(token, Direction::Backward)?),
        None => None,
    };
    let chunk = state
        .rooms
        .member_events(
            &body.room_id,
            &requester.user_id,
            at,
            membership.as_deref(),
            not_membership.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "chunk": chunk })))
}

async fn joined(
    State(state): State<AppState>,
    request: Ruma<joined_members::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let joined = state.rooms.joined_member_profiles(&request.body.room_id, &requester.user_id).await?;
    Ok(Json(json!({ "joined": joined })))
}

async fn context(
    State(state): State<AppState>,
    request: Ruma<get_context::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let limit = usize::try_from(u64::from(body.limit)).unwrap_or(usize::MAX);
    let context = state.rooms.context(&body.room_id, &requester.user_id, &body.event_id, limit).await?;
    Ok(Json(json!({
        "event": context.event,
        "events_before": context.before,
        "events_after": context.after,
        "start": pagination_token(context.start),
        "end": pagination_token(context.end),
        "state": context.state,
    })))
}

async fn by_timestamp(
    State(state): State<AppState>,
    request: Ruma<get_event_by_timestamp::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let forward = body.dir == RumaDirection::Forward;
    let ts = u64::from(body.ts.get());
    let (event_id, at) =
        state.rooms.event_at_timestamp(&body.room_id, &requester.user_id, ts, forward).await?;
    Ok(Json(json!({ "event_id": event_id, "origin_server_ts": at })))
}
