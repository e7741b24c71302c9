//! Sync filters: `POST /user/{userId}/filter`, `GET /user/{userId}/filter/{filterId}`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::filter::{create_filter, get_filter};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<create_filter::v3::Request, _, _>(router, create);
    route::<get_filter::v3::Request, _, _>(router, get)
}

async fn create(
    State(state): State<AppState>,
    request: Ruma<create_filter::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let filter_id = state.filters.create(requester, &body.user_id, &request.json).await?;
    Ok(Json(json!({ "filter_id": filter_id })))
}

async fn get(
    State(state): State<AppState>,
    request: Ruma<get_filter::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    Ok(Json(state.filters.get(requester, &body.user_id, &body.filter_id).await?))
}
