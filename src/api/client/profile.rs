//! Profiles: `GET /profile/{userId}` and the display-name and avatar fields.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::profile::{
    get_avatar_url, get_display_name, get_profile, set_avatar_url, set_display_name,
};
use serde_json::{Map, Value, json};

use crate::accounts::profile::ProfileField;
use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::storage::Profile;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_profile::v3::Request, _, _>(router, profile);
    let router = route::<get_display_name::v3::Request, _, _>(router, display_name);
    let router = route::<set_display_name::v3::Request, _, _>(router, set_display_name);
    let router = route::<get_avatar_url::v3::Request, _, _>(router, avatar_url);
    route::<set_avatar_url::v3::Request, _, _>(router, set_avatar_url)
}

fn profile_json(profile: &Profile) -> Map<String, Value> {
    let mut body = Map::new();
    if let Some(name) = &profile.displayname {
        body.insert("displayname".to_owned(), json!(name));
    }
    if let Some(url) = &profile.avatar_url {
        body.insert("avatar_url".to_owned(), json!(url));
    }
    body
}

async fn profile(
    State(state): State<AppState>,
    request: Ruma<get_profile::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let profile = state.accounts.profile(&request.body.user_id).await?;
    Ok(Json(Value::Object(profile_json(&profile))))
}

/// One field; 404 when the user exists but never set it.
async fn field(state: &AppState, user_id: &ruma::UserId, key: &str) -> Result<Json<Value>, ApiError> {
    let profile = state.accounts.profile(user_id).await?;
    let body = profile_json(&profile);
    match body.get(key) {
        Some(value) => Ok(Json(json!({ key: value }))),
        None => Err(ApiError::not_found(format!("{key} is not set"))),
    }
}

async fn display_name(
    State(state): State<AppState>,
    request: Ruma<get_display_name::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    field(&state, &request.body.user_id, "displayname").await
}

async fn avatar_url(
    State(state): State<AppState>,
    request: Ruma<get_avatar_url::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    field(&state, &request.body.user_id, "avatar_url").await
}

async fn set_display_name(
    State(state): State<AppState>,
    request: Ruma<set_display_name::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    require_key(&request.json, "displayname")?;
    let body = &request.body;
    let value = body.displayname.as_deref();
    state.accounts.set_profile_field(requester, &body.user_id, ProfileField::DisplayName, value).await?;
    Ok(Json(json!({})))
}

async fn set_avatar_url(
    State(state): State<AppState>,
    request: Ruma<set_avatar_url::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    require_key(&request.json, "avatar_url")?;
    let body = &request.body;
    let value = body.avatar_url.as_ref().map(|url| url.as_str());
    state.accounts.set_profile_field(requester, &body.user_id, ProfileField::AvatarUrl, value).await?;
    Ok(Json(json!({})))
}

/// The field must be in the body: ruma reads a missing one as `None`, which would clear
/// it. An explicit `null` still clears, as before.
fn require_key(json: &[u8], key: &str) -> Result<(), ApiError> {
    let body: Map<String, Value> = serde_json::from_slice(json).unwrap_or_default();
    if body.contains_key(key) { Ok(()) } else { Err(ApiError::missing_param(format!("missing key '{key}'"))) }
}
