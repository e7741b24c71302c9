//! The `/account/3pid*` family and the `requestToken` endpoints, answered as the spec
//! allows for a server without identity-server or email/SMS support.

use axum::{Json, Router};
use ruma::api::client::account::{
    add_3pid, bind_3pid, delete_3pid, get_3pids, request_3pid_management_token_via_email,
    request_3pid_management_token_via_msisdn, request_password_change_token_via_email,
    request_password_change_token_via_msisdn, request_registration_token_via_email,
    request_registration_token_via_msisdn, unbind_3pid,
};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<get_3pids::v3::Request, _, _>(router, list);
    let router = route::<add_3pid::v3::Request, _, _>(router, add);
    let router = route::<bind_3pid::v3::Request, _, _>(router, bind);
    let router = route::<delete_3pid::v3::Request, _, _>(router, delete);
    let router = route::<unbind_3pid::v3::Request, _, _>(router, unbind);
    let router =
        route::<request_registration_token_via_email::v3::Request, _, _>(router, deny_email_registration);
    let router =
        route::<request_registration_token_via_msisdn::v3::Request, _, _>(router, deny_msisdn_registration);
    let router = route::<request_3pid_management_token_via_email::v3::Request, _, _>(router, deny_email_add);
    let router =
        route::<request_3pid_management_token_via_msisdn::v3::Request, _, _>(router, deny_msisdn_add);
    let router =
        route::<request_password_change_token_via_email::v3::Request, _, _>(router, no_email_account);
    route::<request_password_change_token_via_msisdn::v3::Request, _, _>(router, no_msisdn_account)
}

async fn list(request: Ruma<get_3pids::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Ok(Json(json!({ "threepids": [] })))
}

async fn add(request: Ruma<add_3pid::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Err(ApiError::threepid_denied())
}

async fn bind(request: Ruma<bind_3pid::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Err(ApiError::server_not_trusted())
}

/// Nothing is bound anywhere, so there is nothing to unbind.
async fn delete(request: Ruma<delete_3pid::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

async fn unbind(request: Ruma<unbind_3pid::v3::Request>) -> Result<Json<Value>, ApiError> {
    request.requester()?;
    Ok(Json(json!({ "id_server_unbind_result": "no-support" })))
}

async fn deny_email_registration(_: Ruma<request_registration_token_via_email::v3::Request>) -> ApiError {
    ApiError::threepid_denied()
}
async fn deny_msisdn_registration(_: Ruma<request_registration_token_via_msisdn::v3::Request>) -> ApiError {
    ApiError::threepid_denied()
}
async fn deny_email_add(_: Ruma<request_3pid_management_token_via_email::v3::Request>) -> ApiError {
    ApiError::threepid_denied()
}
async fn deny_msisdn_add(_: Ruma<request_3pid_management_token_via_msisdn::v3::Request>) -> ApiError {
    ApiError::threepid_denied()
}
async fn no_email_account(_: Ruma<request_password_change_token_via_email::v3::Request>) -> ApiError {
    ApiError::threepid_not_found()
}
async fn no_msisdn_account(_: Ruma<request_password_change_token_via_msisdn::v3::Request>) -> ApiError {
    ApiError::threepid_not_found()
}
