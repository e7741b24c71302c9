//! The requester's devices: list, get, rename, delete one or many.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::device::{delete_device, delete_devices, get_device, get_devices, update_device};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::storage::DeviceRecord;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_devices::v3::Request, _, _>(router, list);
    let router = route::<get_device::v3::Request, _, _>(router, get);
    let router = route::<update_device::v3::Request, _, _>(router, update);
    let router = route::<delete_device::v3::Request, _, _>(router, delete);
    route::<delete_devices::v3::Request, _, _>(router, delete_many)
}

fn device_json(device: &DeviceRecord) -> Value {
    let mut value = json!({ "device_id": device.device_id });
    if let Some(name) = &device.display_name {
        value["display_name"] = json!(name);
    }
    if let Some(ip) = &device.last_seen_ip {
        value["last_seen_ip"] = json!(ip);
    }
    if let Some(ts) = device.last_seen_ts_ms {
        value["last_seen_ts"] = json!(ts);
    }
    value
}

async fn list(
    State(state): State<AppState>,
    request: Ruma<get_devices::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let devices = state.accounts.devices(request.requester()?).await?;
    Ok(Json(json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() })))
}

async fn get(
    State(state): State<AppState>,
    request: Ruma<get_device::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let device = state.accounts.device(request.requester()?, &request.body.device_id).await?;
    Ok(Json(device_json(&device)))
}

async fn update(
    State(state): State<AppState>,
    request: Ruma<update_device::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    // An absent display_name leaves the name as it is.
    match &body.display_name {
        Some(name) => state.accounts.rename_device(requester, &body.device_id, Some(name)).await?,
        None => drop(state.accounts.device(requester, &body.device_id).await?),
    }
    Ok(Json(json!({})))
}

async fn delete(
    State(state): State<AppState>,
    request: Ruma<delete_device::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    state.accounts.delete_device(requester, &body.device_id, body.auth.as_ref()).await?;
    Ok(Json(json!({})))
}

async fn delete_many(
    State(state): State<AppState>,
    request: Ruma<delete_devices::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    state.accounts.delete_devices(requester, &body.devices, body.auth.as_ref()).await?;
    Ok(Json(json!({})))
}
