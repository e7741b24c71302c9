//! Dehydrated devices (MSC3814): put, get, delete, and the parked device's to-device events.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::dehydrated_device::{
    delete_dehydrated_device, get_dehydrated_device, get_events, put_dehydrated_device,
};
use serde_json::{Value, json};

use super::keys::key_texts;
use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::e2ee::dehydrated::DehydratedDeviceUpload;
use crate::e2ee::upload::KeyUpload;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<put_dehydrated_device::unstable::Request, _, _>(router, put);
    let router = route::<get_dehydrated_device::unstable::Request, _, _>(router, get);
    let router = route::<delete_dehydrated_device::unstable::Request, _, _>(router, delete);
    route::<get_events::unstable::Request, _, _>(router, events)
}

async fn put(
    State(state): State<AppState>,
    request: Ruma<put_dehydrated_device::unstable::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let upload = DehydratedDeviceUpload {
        device_id: &body.device_id,
        display_name: body.initial_device_display_name.as_deref(),
        device_data: body.device_data.json().get(),
        keys: KeyUpload {
            device_keys: Some(body.device_keys.json().get()),
            one_time_keys: key_texts(&body.one_time_keys),
            fallback_keys: key_texts(&body.fallback_keys),
        },
    };
    let device_id = state.e2ee.put_dehydrated_device(request.requester()?, &upload).await?;
    Ok(Json(json!({ "device_id": device_id })))
}

async fn get(
    State(state): State<AppState>,
    request: Ruma<get_dehydrated_device::unstable::Request>,
) -> Result<Json<Value>, ApiError> {
    let (device_id, device_data) = state.e2ee.dehydrated_device(request.requester()?).await?;
    Ok(Json(json!({ "device_id": device_id, "device_data": device_data })))
}

async fn delete(
    State(state): State<AppState>,
    request: Ruma<delete_dehydrated_device::unstable::Request>,
) -> Result<Json<Value>, ApiError> {
    let device_id = state.e2ee.delete_dehydrated_device(request.requester()?).await?;
    Ok(Json(json!({ "device_id": device_id })))
}

async fn events(
    State(state): State<AppState>,
    request: Ruma<get_events::unstable::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let (events, next_batch) = state
        .e2ee
        .dehydrated_device_events(request.requester()?, &body.device_id, body.next_batch.as_deref())
        .await?;
    Ok(Json(json!({ "events": events, "next_batch": next_batch })))
}
