//! `GET /sync` (v3).

use std::time::Duration;

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::sync::sync_events;
use ruma::presence::PresenceState;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::sync::engine::SyncRequest;
use crate::sync::sync_filter::SyncFilter;
use crate::sync::token::SyncToken;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    route::<sync_events::v3::Request, _, _>(router, sync)
}

async fn sync(
    State(state): State<AppState>,
    request: Ruma<sync_events::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    // The parsed request is dropped before the long wait: only what sync needs stays.
    let sync_request = sync_request(&state, request).await?;
    Ok(Json(state.sync.sync(&sync_request).await?))
}

async fn sync_request(
    state: &AppState,
    request: Ruma<sync_events::v3::Request>,
) -> Result<SyncRequest, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    // ruma keeps any string as a custom state; the spec knows only these three.
    if !matches!(
        body.set_presence,
        PresenceState::Online | PresenceState::Offline | PresenceState::Unavailable
    ) {
        return Err(ApiError::invalid_param(format!("unknown presence state {}", body.set_presence)));
    }
    let since = match body.since.as_deref() {
        Some(token) => {
            Some(SyncToken::parse(token).map_err(|_| ApiError::invalid_param("invalid since token"))?)
        }
        None => None,
    };
    // Both filter forms are read as JSON, so stored filters keep every field.
    let filter: Value = match &body.filter {
        Some(sync_events::v3::Filter::FilterDefinition(filter)) => {
            serde_json::to_value(filter).unwrap_or(Value::Null)
        }
        // ruma falls back to an ID when inline JSON does not fit the filter schema.
        Some(sync_events::v3::Filter::FilterId(id)) if id.starts_with('{') => serde_json::from_str(id)
            .map_err(|_| ApiError::invalid_param("the filter is neither JSON nor a filter ID"))?,
        Some(sync_events::v3::Filter::FilterId(id)) => {
            state.filters.get(requester, &requester.user_id, id).await?
        }
        _ => Value::Null,
    };
    let filter = SyncFilter::from_json(&filter).map_err(|e| ApiError::invalid_param(e.to_string()))?;
    Ok(SyncRequest {
        user_id: requester.user_id.clone(),
        device_id: requester.device_id.clone(),
        since,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        full_state: body.full_state,
        filter,
    })
}
