//! End-to-end encryption keys: upload, query, claim, changes, and cross-signing
//! (`device_signing/upload`, `signatures/upload`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::keys::{
    claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures, upload_signing_keys,
};
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::e2ee::cross_signing::SigningKeysUpload;
use crate::e2ee::device_lists::ChangeWindow;
use crate::e2ee::upload::KeyUpload;
use crate::storage::StreamId;
use crate::sync::token::SyncToken;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<upload_keys::v3::Request, _, _>(router, upload);
    let router = route::<get_keys::v3::Request, _, _>(router, query);
    let router = route::<claim_keys::v3::Request, _, _>(router, claim);
    let router = route::<get_key_changes::v3::Request, _, _>(router, changes);
    let router = route::<upload_signing_keys::v3::Request, _, _>(router, upload_signing);
    route::<upload_signatures::v3::Request, _, _>(router, upload_signatures_handler)
}

/// `(key ID, JSON)` of each key in an uploaded key map.
pub(super) fn key_texts<T>(
    map: &BTreeMap<ruma::OwnedOneTimeKeyId, ruma::serde::Raw<T>>,
) -> Vec<(String, &str)> {
    map.iter().map(|(id, raw)| (id.to_string(), raw.json().get())).collect()
}

async fn upload(
    State(state): State<AppState>,
    request: Ruma<upload_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let upload = KeyUpload {
        device_keys: body.device_keys.as_ref().map(|raw| raw.json().get()),
        one_time_keys: key_texts(&body.one_time_keys),
        fallback_keys: key_texts(&body.fallback_keys),
    };
    let counts = state.e2ee.upload_keys(request.requester()?, &upload).await?;
    Ok(Json(json!({ "one_time_key_counts": counts })))
}

async fn query(
    State(state): State<AppState>,
    request: Ruma<get_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.e2ee.query_keys(request.requester()?, &request.body.device_keys).await?))
}

async fn claim(
    State(state): State<AppState>,
    request: Ruma<claim_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    let wanted = request
        .body
        .one_time_keys
        .iter()
        .map(|(user, devices)| {
            (
                user.clone(),
                devices.iter().map(|(device, algorithm)| (device.clone(), algorithm.to_string())).collect(),
            )
        })
        .collect();
    Ok(Json(state.e2ee.claim_keys(&wanted).await?))
}

async fn changes(
    State(state): State<AppState>,
    request: Ruma<get_key_changes::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let parse =
        |text: &str| SyncToken::parse(text).map_err(|_| ApiError::invalid_param("invalid sync token"));
    let (from, to) = (parse(&request.body.from)?, parse(&request.body.to)?);
    let window = ChangeWindow {
        device_lists: (from.get(StreamId::DeviceLists), to.get(StreamId::DeviceLists)),
        events: (from.get(StreamId::Events), to.get(StreamId::Events)),
    };
    let delta = state.e2ee.device_list_delta(&requester.user_id, window).await?;
    Ok(Json(json!({ "changed": delta.changed, "left": delta.left })))
}

async fn upload_signing(
    State(state): State<AppState>,
    request: Ruma<upload_signing_keys::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    let upload = SigningKeysUpload {
        master: body.master_key.as_ref().map(|raw| raw.json().get()),
        self_signing: body.self_signing_key.as_ref().map(|raw| raw.json().get()),
        user_signing: body.user_signing_key.as_ref().map(|raw| raw.json().get()),
    };
    state.e2ee.check_signing_keys(requester, &upload).await?;
    if state.e2ee.signing_keys_upload_needs_auth(requester, &upload).await? {
        state.accounts.confirm_with_password(requester, "device_signing_upload", body.auth.as_ref()).await?;
    }
    state.e2ee.upload_signing_keys(requester, &upload).await?;
    Ok(Json(json!({})))
}

async fn upload_signatures_handler(
    State(state): State<AppState>,
    request: Ruma<upload_signatures::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let signed: Map<String, Value> = serde_json::from_slice(&request.json)
        .map_err(|_| ApiError::bad_json("the body must be an object"))?;
    let mut failures = json!({});
    for (user, key_id, error) in state.e2ee.upload_signatures(requester, &signed).await? {
        failures[user.as_str()][key_id.as_str()] = ApiError::from(error).failure_object();
    }
    Ok(Json(json!({ "failures": failures })))
}
