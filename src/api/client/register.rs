//! Registration: `/register`, `/register/available`, registration-token validity.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::account::{check_registration_token_validity, get_username_availability, register};
use serde_json::{Value, json};

use crate::accounts::register::Registration;
use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<register::v3::Request, _, _>(router, register);
    let router = route::<get_username_availability::v3::Request, _, _>(router, available);
    route::<check_registration_token_validity::v1::Request, _, _>(router, token_validity)
}

async fn register(
    State(state): State<AppState>,
    request: Ruma<register::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    state.limits.registration_per_ip.check(&request.ip).map_err(ApiError::limit_exceeded)?;
    let body = request.body;
    let guest = match body.kind {
        register::RegistrationKind::Guest => true,
        register::RegistrationKind::User => false,
        _ => return Err(ApiError::invalid_param("kind must be user or guest")),
    };
    let registration = Registration {
        username: body.username,
        password: body.password,
        device_id: body.device_id,
        initial_device_display_name: body.initial_device_display_name,
        inhibit_login: body.inhibit_login,
        refresh_token: body.refresh_token,
        guest,
        auth: body.auth,
        ip: request.ip,
    };
    let registered = state.accounts.register(registration).await?;
    let mut response = json!({ "user_id": registered.user_id });
    if let Some(login) = registered.login {
        response["access_token"] = json!(login.access_token);
        response["device_id"] = json!(login.device_id);
        if let Some(refresh) = login.refresh_token {
            response["refresh_token"] = json!(refresh);
        }
        if let Some(ms) = login.expires_in_ms {
            response["expires_in_ms"] = json!(ms);
        }
    }
    Ok(Json(response))
}

async fn available(
    State(state): State<AppState>,
    request: Ruma<get_username_availability::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    state.limits.registration_per_ip.check(&request.ip).map_err(ApiError::limit_exceeded)?;
    state.accounts.check_available(&request.body.username).await?;
    Ok(Json(json!({ "available": true })))
}

async fn token_validity(
    State(state): State<AppState>,
    request: Ruma<check_registration_token_validity::v1::Request>,
) -> Result<Json<Value>, ApiError> {
    state.limits.registration_per_ip.check(&request.ip).map_err(ApiError::limit_exceeded)?;
    if !state.discovery.registration_enabled {
        return Err(ApiError::forbidden("registration is disabled on this server"));
    }
    let valid = state.accounts.registration_token_valid(&request.body.token).await?;
    Ok(Json(json!({ "valid": valid })))
}
