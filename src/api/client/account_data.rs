//! Account data: global and per-room `GET`/`PUT`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::config::{
    get_global_account_data, get_room_account_data, set_global_account_data, set_room_account_data,
};
use ruma::serde::Raw;
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_global_account_data::v3::Request, _, _>(router, get_global);
    let router = route::<set_global_account_data::v3::Request, _, _>(router, set_global);
    let router = route::<get_room_account_data::v3::Request, _, _>(router, get_room);
    route::<set_room_account_data::v3::Request, _, _>(router, set_room)
}

/// Account data must be a JSON object.
fn object<T>(raw: &Raw<T>) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_str(raw.json().get())
        .map_err(|_| ApiError::bad_json("account data must be a JSON object"))
}

fn stored(text: &str) -> Result<Json<Value>, ApiError> {
    serde_json::from_str(text).map(Json).map_err(|error| {
        tracing::error!(%error, "stored account data is not JSON");
        ApiError::internal()
    })
}

async fn set_global(
    State(state): State<AppState>,
    request: Ruma<set_global_account_data::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let content = object(&body.data)?;
    let event_type = body.event_type.to_string();
    state.accounts.put_account_data(requester, &body.user_id, None, &event_type, &content).await?;
    Ok(Json(json!({})))
}

async fn get_global(
    State(state): State<AppState>,
    request: Ruma<get_global_account_data::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let event_type = body.event_type.to_string();
    if event_type == crate::push::PUSH_RULES_TYPE && requester.user_id == body.user_id {
        // Stored as the user's changes; served, as in `/sync`, as the whole ruleset.
        return Ok(Json(state.push.ruleset(requester).await?));
    }
    stored(&state.accounts.account_data(requester, &body.user_id, None, &event_type).await?)
}

async fn set_room(
    State(state): State<AppState>,
    request: Ruma<set_room_account_data::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let content = object(&body.data)?;
    let event_type = body.event_type.to_string();
    let room = Some(body.room_id.as_ref());
    state.accounts.put_account_data(requester, &body.user_id, room, &event_type, &content).await?;
    Ok(Json(json!({})))
}

async fn get_room(
    State(state): State<AppState>,
    request: Ruma<get_room_account_data::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let event_type = body.event_type.to_string();
    let room = Some(body.room_id.as_ref());
    stored(&state.accounts.account_data(requester, &body.user_id, room, &event_type).await?)
}
