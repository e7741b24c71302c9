//! `PUT /sendToDevice/{eventType}/{txnId}`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::to_device::send_event_to_device;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::e2ee::to_device::Outgoing;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    route::<send_event_to_device::v3::Request, _, _>(router, send)
}

async fn send(
    State(state): State<AppState>,
    request: Ruma<send_event_to_device::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let messages: Outgoing<'_> = body
        .messages
        .iter()
        .map(|(user, devices)| {
            (
                user.clone(),
                devices.iter().map(|(device, raw)| (device.to_string(), raw.json().get())).collect(),
            )
        })
        .collect();
    let event_type = body.event_type.to_string();
    state.e2ee.send_to_device(requester, &event_type, body.txn_id.as_str(), &messages).await?;
    Ok(Json(json!({})))
}
