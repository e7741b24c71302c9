//! The account itself: `/account/whoami`, `/account/password`, `/account/deactivate`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::account::{change_password, deactivate, whoami};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<whoami::v3::Request, _, _>(router, whoami);
    let router = route::<change_password::v3::Request, _, _>(router, change_password);
    route::<deactivate::v3::Request, _, _>(router, deactivate)
}

async fn whoami(request: Ruma<whoami::v3::Request>) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    Ok(Json(json!({
        "user_id": requester.user_id,
        "device_id": requester.device_id,
        "is_guest": requester.is_guest,
    })))
}

async fn change_password(
    State(state): State<AppState>,
    request: Ruma<change_password::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    state
        .accounts
        .change_password(requester, body.new_password.clone(), body.logout_devices, body.auth.as_ref())
        .await?;
    Ok(Json(json!({})))
}

async fn deactivate(
    State(state): State<AppState>,
    request: Ruma<deactivate::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    state.accounts.deactivate(requester, request.body.auth.as_ref()).await?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}
