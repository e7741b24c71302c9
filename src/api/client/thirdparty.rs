//! Third-party networks (`/thirdparty/…`): bridges announce them through application
//! services; none is registered, so there are no protocols.

use axum::{Json, Router};
use ruma::api::client::thirdparty::{get_protocol, get_protocols};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_protocols::v3::Request, _, _>(router, protocols);
    route::<get_protocol::v3::Request, _, _>(router, protocol)
}

async fn protocols(request: Ruma<get_protocols::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Ok(Json(json!({})))
}

async fn protocol(request: Ruma<get_protocol::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Err(ApiError::not_found("no such third-party protocol"))
}
