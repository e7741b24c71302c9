//! Aliases and the room directory: `/directory/room/{alias}`, `/rooms/{id}/aliases`,
//! `/directory/list/room/{id}`, `/publicRooms`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::alias::{create_alias, delete_alias, get_alias};
use ruma::api::client::directory::{
    get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
};
use ruma::api::client::room::{Visibility, aliases};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::rooms::directory::PublicRoomsPage;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<create_alias::v3::Request, _, _>(router, create);
    let router = route::<get_alias::v3::Request, _, _>(router, resolve);
    let router = route::<delete_alias::v3::Request, _, _>(router, delete);
    let router = route::<aliases::v3::Request, _, _>(router, room_aliases);
    let router = route::<get_room_visibility::v3::Request, _, _>(router, visibility);
    let router = route::<set_room_visibility::v3::Request, _, _>(router, set_visibility);
    let router = route::<get_public_rooms::v3::Request, _, _>(router, public_rooms);
    route::<get_public_rooms_filtered::v3::Request, _, _>(router, public_rooms_filtered)
}

async fn create(
    State(state): State<AppState>,
    request: Ruma<create_alias::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    state.rooms.create_alias(user, &body.room_alias, &body.room_id).await?;
    Ok(Json(json!({})))
}

async fn resolve(
    State(state): State<AppState>,
    request: Ruma<get_alias::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let room_id = state.rooms.resolve_alias(&request.body.room_alias).await?;
    Ok(Json(json!({ "room_id": room_id, "servers": [state.discovery.server_name] })))
}

async fn delete(
    State(state): State<AppState>,
    request: Ruma<delete_alias::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    state.rooms.delete_alias(user, &request.body.room_alias).await?;
    Ok(Json(json!({})))
}

async fn room_aliases(
    State(state): State<AppState>,
    request: Ruma<aliases::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let aliases = state.rooms.room_aliases(&request.body.room_id, user).await?;
    Ok(Json(json!({ "aliases": aliases })))
}

async fn visibility(
    State(state): State<AppState>,
    request: Ruma<get_room_visibility::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let public = state.rooms.is_public(&request.body.room_id).await?;
    Ok(Json(json!({ "visibility": if public { "public" } else { "private" } })))
}

async fn set_visibility(
    State(state): State<AppState>,
    request: Ruma<set_room_visibility::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    let public = match body.visibility {
        Visibility::Public => true,
        Visibility::Private => false,
        _ => return Err(ApiError::invalid_param("visibility must be public or private")),
    };
    state.rooms.set_public(&body.room_id, user, public).await?;
    Ok(Json(json!({})))
}

fn page_json(page: PublicRoomsPage) -> Json<Value> {
    let mut body = json!({ "chunk": page.chunk, "total_room_count_estimate": page.total });
    if let Some(next) = page.next_batch {
        body["next_batch"] = json!(next);
    }
    Json(body)
}

fn check_server(state: &AppState, server: Option<&ruma::ServerName>) -> Result<(), ApiError> {
    match server {
        Some(server) if server.as_str() != state.discovery.server_name => {
            Err(ApiError::unsupported("other servers' directories need federation"))
        }
        _ => Ok(()),
    }
}

async fn public_rooms(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    check_server(&state, body.server.as_deref())?;
    let limit = body.limit.map(|n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX));
    Ok(page_json(state.rooms.public_rooms(body.since.as_deref(), limit, None).await?))
}

async fn public_rooms_filtered(
    State(state): State<AppState>,
    request: Ruma<get_public_rooms_filtered::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    let body = &request.body;
    check_server(&state, body.server.as_deref())?;
    let limit = body.limit.map(|n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX));
    let search = body.filter.generic_search_term.as_deref();
    Ok(page_json(state.rooms.public_rooms(body.since.as_deref(), limit, search).await?))
}
