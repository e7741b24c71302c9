//! Sessions: `GET/POST /login`, `/refresh`, `/logout`, `/logout/all`.

use axum::extract::{FromRequest, Request, State};
use axum::{Json, Router};
use ruma::api::client::session::{get_login_types, login, logout, logout_all, refresh_token};
use ruma::api::client::uiaa::UserIdentifier;
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_login_types::v3::Request, _, _>(router, login_types);
    let router = route::<login::v3::Request, _, _>(router, login);
    let router = route::<refresh_token::v3::Request, _, _>(router, refresh);
    let router = route::<logout::v3::Request, _, _>(router, logout);
    route::<logout_all::v3::Request, _, _>(router, logout_all)
}

async fn login_types(State(state): State<AppState>, _: Ruma<get_login_types::v3::Request>) -> Json<Value> {
    let flows = if state.discovery.password_login_enabled {
        vec![json!({ "type": "m.login.password" })]
    } else {
        vec![]
    };
    Json(json!({ "flows": flows }))
}

/// The `/login` request, its body checked for a string `type` before ruma parses it:
/// ruma looks the field up by index and panics when it is missing.
struct LoginRequest(Ruma<login::v3::Request>);

impl FromRequest<AppState> for LoginRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        state.limits.bodies.check_declared(&parts.headers)?;
        let bytes = state.limits.bodies.read(&parts.headers, body).await?;
        check_login_type(&bytes)?;
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        Ruma::from_request(request, state).await.map(LoginRequest)
    }
}

/// Refuses an object body without a string `type` with 400 `M_BAD_JSON`, as every
/// other body missing a required field or with a field of the wrong type (Synapse
/// answers 400 too). Anything that is not a JSON object is left to the extractor,
/// which refuses it as usual.
fn check_login_type(body: &[u8]) -> Result<(), ApiError> {
    let Ok(object) = serde_json::from_slice::<Map<String, Value>>(body) else {
        return Ok(());
    };
    match object.get("type") {
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(ApiError::bad_json("`type` must be a string")),
        None => Err(ApiError::bad_json("missing field `type`")),
    }
}

async fn login(
    State(state): State<AppState>,
    LoginRequest(request): LoginRequest,
) -> Result<Json<Value>, ApiError> {
    let limits = &state.limits;
    limits.login_per_ip.check(&request.ip).map_err(ApiError::limit_exceeded)?;
    let body = request.body;
    let login::v3::LoginInfo::Password(password) = body.login_info else {
        let kind = match body.login_info {
            login::v3::LoginInfo::Token(_) => "m.login.token",
            login::v3::LoginInfo::ApplicationService(_) => "m.login.application_service",
            _ => "(unknown)",
        };
        return Err(crate::accounts::AccountsError::UnsupportedLoginType(kind.to_owned()).into());
    };
    #[allow(deprecated)]
    let user = match (&password.identifier, &password.user) {
        (Some(UserIdentifier::Matrix(id)), _) => id.user.clone(),
        (None, Some(user)) => user.clone(),
        // Third-party identifiers are unsupported here: no account has one.
        _ => return Err(ApiError::forbidden("invalid username or password")),
    };
    let account_key = user.to_lowercase();
    limits.login_per_account.check(&account_key).map_err(ApiError::limit_exceeded)?;
    let result = state
        .accounts
        .login_with_password(
            &user,
            &password.password,
            body.device_id,
            body.initial_device_display_name,
            body.refresh_token,
            &request.ip,
        )
        .await;
    let (user_id, issued) = match result {
        Ok(ok) => ok,
        Err(error) => {
            if matches!(error, crate::accounts::AccountsError::WrongCredentials) {
                limits.failed_login_per_account.check(&account_key).map_err(ApiError::limit_exceeded)?;
            }
            return Err(error.into());
        }
    };
    let mut response = json!({
        "user_id": user_id,
        "access_token": issued.access_token,
        "device_id": issued.device_id,
        "home_server": state.discovery.server_name,
    });
    if let Some(refresh) = issued.refresh_token {
        response["refresh_token"] = json!(refresh);
    }
    if let Some(ms) = issued.expires_in_ms {
        response["expires_in_ms"] = json!(ms);
    }
    if !state.discovery.public_baseurl.is_empty() {
        response["well_known"] = json!({ "m.homeserver": { "base_url": state.discovery.public_baseurl } });
    }
    Ok(Json(response))
}

async fn refresh(
    State(state): State<AppState>,
    request: Ruma<refresh_token::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let issued = state.accounts.refresh(&request.body.refresh_token).await?;
    let mut response = json!({ "access_token": issued.access_token });
    if let Some(refresh) = issued.refresh_token {
        response["refresh_token"] = json!(refresh);
    }
    if let Some(ms) = issued.expires_in_ms {
        response["expires_in_ms"] = json!(ms);
    }
    Ok(Json(response))
}

async fn logout(
    State(state): State<AppState>,
    request: Ruma<logout::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    state.accounts.logout(request.requester()?).await?;
    Ok(Json(json!({})))
}

async fn logout_all(
    State(state): State<AppState>,
    request: Ruma<logout_all::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    state.accounts.logout_all(request.requester()?).await?;
    Ok(Json(json!({})))
}
