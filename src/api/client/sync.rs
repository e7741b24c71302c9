//! `GET /sync` (v3).

use std::time::Duration;

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::sync::sync_events;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::sync::engine::SyncRequest;
use crate::sync::token::SyncToken;

/// Timeline events per room when the filter does not say.
const DEFAULT_TIMELINE_LIMIT: usize = 10;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    route::<sync_events::v3::Request, _, _>(router, sync)
}

async fn sync(
    State(state): State<AppState>,
    request: Ruma<sync_events::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
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
        Some(sync_events::v3::Filter::FilterId(id)) => {
            state.filters.get(requester, &requester.user_id, id).await?
        }
        _ => Value::Null,
    };
    let timeline_limit =
        filter.pointer("/room/timeline/limit").and_then(Value::as_u64).and_then(ruma::UInt::new);
    let lazy_load_members =
        filter.pointer("/room/state/lazy_load_members").and_then(Value::as_bool).unwrap_or(false);
    let timeline_limit = timeline_limit
        .map(|n| usize::try_from(u64::from(n)).unwrap_or(usize::MAX))
        .unwrap_or(DEFAULT_TIMELINE_LIMIT)
        .clamp(1, 1000);
    let sync_request = SyncRequest {
        user_id: requester.user_id.clone(),
        device_id: requester.device_id.clone(),
        since,
        timeout: body.timeout.unwrap_or(Duration::ZERO),
        full_state: body.full_state,
        timeline_limit,
        lazy_load_members,
    };
    Ok(Json(state.sync.sync(&sync_request).await?))
}
