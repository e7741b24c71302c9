//! Server-side key backup: `/room_keys/version[/{version}]` and `/room_keys/keys` at the
//! three levels (whole backup, one room, one session).

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::backup::{
    add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session, create_backup_version,
    delete_backup_keys, delete_backup_keys_for_room, delete_backup_keys_for_session, delete_backup_version,
    get_backup_info, get_backup_keys, get_backup_keys_for_room, get_backup_keys_for_session,
    get_latest_backup_info, update_backup_version,
};
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::e2ee::backup::keys_of_rooms;
use crate::storage::BackupKey;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<create_backup_version::v3::Request, _, _>(router, create_version);
    let router = route::<get_latest_backup_info::v3::Request, _, _>(router, latest_version);
    let router = route::<get_backup_info::v3::Request, _, _>(router, get_version);
    let router = route::<update_backup_version::v3::Request, _, _>(router, update_version);
    let router = route::<delete_backup_version::v3::Request, _, _>(router, delete_version);
    let router = route::<add_backup_keys::v3::Request, _, _>(router, put_all);
    let router = route::<add_backup_keys_for_room::v3::Request, _, _>(router, put_room);
    let router = route::<add_backup_keys_for_session::v3::Request, _, _>(router, put_session);
    let router = route::<get_backup_keys::v3::Request, _, _>(router, get_all);
    let router = route::<get_backup_keys_for_room::v3::Request, _, _>(router, get_room);
    let router = route::<get_backup_keys_for_session::v3::Request, _, _>(router, get_session);
    let router = route::<delete_backup_keys::v3::Request, _, _>(router, delete_all);
    let router = route::<delete_backup_keys_for_room::v3::Request, _, _>(router, delete_room);
    route::<delete_backup_keys_for_session::v3::Request, _, _>(router, delete_session)
}

/// The request body as a JSON object.
fn object(json: &[u8]) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_slice(json).map_err(|_| ApiError::bad_json("the body must be a JSON object"))
}

/// `algorithm` and `auth_data` of a version body.
fn version_body(json: &[u8]) -> Result<(String, Value, Option<String>), ApiError> {
    let body = object(json)?;
    let algorithm = body
        .get("algorithm")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_json("algorithm is required"))?;
    let auth_data = body
        .get("auth_data")
        .filter(|v| v.is_object())
        .ok_or_else(|| ApiError::bad_json("auth_data must be an object"))?;
    let version = body.get("version").and_then(Value::as_str).map(str::to_owned);
    Ok((algorithm.to_owned(), auth_data.clone(), version))
}

async fn create_version(
    State(state): State<AppState>,
    request: Ruma<create_backup_version::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let (algorithm, auth_data, _) = version_body(&request.json)?;
    let version = state.e2ee.create_backup(request.requester()?, &algorithm, &auth_data).await?;
    Ok(Json(json!({ "version": version })))
}

async fn latest_version(
    State(state): State<AppState>,
    request: Ruma<get_latest_backup_info::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.e2ee.backup_info(request.requester()?, None).await?))
}

async fn get_version(
    State(state): State<AppState>,
    request: Ruma<get_backup_info::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.e2ee.backup_info(request.requester()?, Some(&request.body.version)).await?))
}

async fn update_version(
    State(state): State<AppState>,
    request: Ruma<update_backup_version::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let (algorithm, auth_data, body_version) = version_body(&request.json)?;
    let version = &request.body.version;
    state
        .e2ee
        .update_backup(request.requester()?, version, &algorithm, &auth_data, body_version.as_deref())
        .await?;
    Ok(Json(json!({})))
}

async fn delete_version(
    State(state): State<AppState>,
    request: Ruma<delete_backup_version::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    state.e2ee.delete_backup(request.requester()?, &request.body.version).await?;
    Ok(Json(json!({})))
}

async fn put_all(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = object(&request.json)?;
    let rooms = body
        .get("rooms")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_json("rooms must be an object"))?;
    let keys = keys_of_rooms(rooms)?;
    Ok(Json(state.e2ee.put_backup_keys(request.requester()?, &request.body.version, &keys).await?))
}

async fn put_room(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys_for_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let mut rooms = Map::new();
    rooms.insert(request.body.room_id.to_string(), Value::Object(object(&request.json)?));
    let keys = keys_of_rooms(&rooms)?;
    Ok(Json(state.e2ee.put_backup_keys(request.requester()?, &request.body.version, &keys).await?))
}

async fn put_session(
    State(state): State<AppState>,
    request: Ruma<add_backup_keys_for_session::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let data = Value::Object(object(&request.json)?);
    let key = BackupKey {
        room_id: body.room_id.clone(),
        session_id: body.session_id.clone(),
        json: data.to_string(),
    };
    Ok(Json(state.e2ee.put_backup_keys(request.requester()?, &body.version, &[key]).await?))
}

async fn get_all(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.e2ee.backup_keys(request.requester()?, &request.body.version, None, None).await?))
}

async fn get_room(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys_for_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    Ok(Json(state.e2ee.backup_keys(request.requester()?, &body.version, Some(&body.room_id), None).await?))
}

async fn get_session(
    State(state): State<AppState>,
    request: Ruma<get_backup_keys_for_session::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let (room, session) = (Some(body.room_id.as_ref()), Some(body.session_id.as_str()));
    Ok(Json(state.e2ee.backup_keys(request.requester()?, &body.version, room, session).await?))
}

async fn delete_all(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.e2ee.delete_backup_keys(request.requester()?, &request.body.version, None, None).await?))
}

async fn delete_room(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys_for_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    Ok(Json(
        state.e2ee.delete_backup_keys(request.requester()?, &body.version, Some(&body.room_id), None).await?,
    ))
}

async fn delete_session(
    State(state): State<AppState>,
    request: Ruma<delete_backup_keys_for_session::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let (room, session) = (Some(body.room_id.as_ref()), Some(body.session_id.as_str()));
    Ok(Json(state.e2ee.delete_backup_keys(request.requester()?, &body.version, room, session).await?))
}
