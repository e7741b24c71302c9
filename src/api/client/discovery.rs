//! Discovery: `/versions`, `/.well-known/matrix/{client,server}`, `/capabilities`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use ruma::api::client::discovery::{get_capabilities, get_supported_versions};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

/// Spec versions this server speaks.
const VERSIONS: [&str; 12] =
    ["r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.19"];
/// Room versions this server can create and join, and the default for new rooms.
pub const STABLE_ROOM_VERSIONS: [&str; 3] = ["10", "11", "12"];
pub const DEFAULT_ROOM_VERSION: &str = "12";

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_supported_versions::Request, _, _>(router, versions);
    let router = route::<get_capabilities::v3::Request, _, _>(router, capabilities);
    router
        .route("/.well-known/matrix/client", get(well_known_client))
        .route("/.well-known/matrix/server", get(well_known_server))
}

async fn versions(_: Ruma<get_supported_versions::Request>) -> Json<Value> {
    Json(json!({ "versions": VERSIONS, "unstable_features": {} }))
}

async fn well_known_client(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let base_url = &state.discovery.public_baseurl;
    if base_url.is_empty() {
        return Err(ApiError::not_found("no client discovery information is configured"));
    }
    Ok(Json(json!({ "m.homeserver": { "base_url": base_url } })))
}

async fn well_known_server(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let delegate = &state.discovery.federation_delegate;
    if delegate.is_empty() {
        return Err(ApiError::not_found("no server delegation is configured"));
    }
    Ok(Json(json!({ "m.server": delegate })))
}

async fn capabilities(request: Ruma<get_capabilities::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    let available: serde_json::Map<String, Value> =
        STABLE_ROOM_VERSIONS.iter().map(|v| ((*v).to_owned(), json!("stable"))).collect();
    Ok(Json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.room_versions": { "default": DEFAULT_ROOM_VERSION, "available": available },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": false },
        }
    })))
}
