//! VoIP: `GET /voip/turnServer`. No TURN server is configured, so the answer is
//! empty (`{}`, as Synapse answers then); clients fall back to STUN or direct routes.

use axum::{Json, Router};
use ruma::api::client::voip::get_turn_server_info;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    route::<get_turn_server_info::v3::Request, _, _>(router, turn_server)
}

async fn turn_server(request: Ruma<get_turn_server_info::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Ok(Json(json!({})))
}
