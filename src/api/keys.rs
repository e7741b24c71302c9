//! `GET /_matrix/key/v2/server`: the server's signing keys, signed by itself.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::accounts::now_ms;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/_matrix/key/v2/server", get(server_keys))
        .route("/_matrix/key/v2/server/{key_id}", get(server_keys))
}

async fn server_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let discovery = &state.discovery;
    let body = stoa_federation::server_keys_response(
        &discovery.server_name,
        &state.server_key,
        &[],
        discovery.key_validity,
        now_ms(),
    )
    .map_err(|error| {
        tracing::error!(%error, "building the key response failed");
        ApiError::internal()
    })?;
    Ok(Json(body))
}
