//! Room tags (`/user/{userId}/rooms/{roomId}/tags`) and read markers (`m.fully_read`).

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::read_marker::set_read_marker;
use ruma::api::client::tag::{create_tag, delete_tag, get_tags};
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_tags::v3::Request, _, _>(router, list);
    let router = route::<create_tag::v3::Request, _, _>(router, put);
    let router = route::<delete_tag::v3::Request, _, _>(router, delete);
    route::<set_read_marker::v3::Request, _, _>(router, read_markers)
}

async fn list(
    State(state): State<AppState>,
    request: Ruma<get_tags::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let tags = state.accounts.tags(requester, &body.user_id, &body.room_id).await?;
    Ok(Json(json!({ "tags": tags })))
}

async fn put(
    State(state): State<AppState>,
    request: Ruma<create_tag::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    // The stored tag info is what the client sent (an object, e.g. with `order`).
    let info: Value = serde_json::from_slice(&request.json).unwrap_or_else(|_| json!({}));
    if !info.is_object() {
        return Err(ApiError::bad_json("tag info must be a JSON object"));
    }
    state.accounts.set_tag(requester, &body.user_id, &body.room_id, &body.tag, Some(info)).await?;
    Ok(Json(json!({})))
}

async fn delete(
    State(state): State<AppState>,
    request: Ruma<delete_tag::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    state.accounts.set_tag(requester, &body.user_id, &body.room_id, &body.tag, None).await?;
    Ok(Json(json!({})))
}

/// `POST /rooms/{roomId}/read_markers`: `m.fully_read` is kept as room account data;
/// read receipts come with the receipts stream.
async fn read_markers(
    State(state): State<AppState>,
    request: Ruma<set_read_marker::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    if state.rooms.membership_of_user(&body.room_id, &requester.user_id).await?.as_deref() != Some("join") {
        return Err(ApiError::forbidden("you are not a member of this room"));
    }
    if let Some(event_id) = &body.fully_read {
        let mut content = Map::new();
        content.insert("event_id".to_owned(), json!(event_id));
        state
            .accounts
            .store_account_data(&requester.user_id, Some(&body.room_id), "m.fully_read", &content)
            .await?;
    }
    Ok(Json(json!({})))
}
