//! Push rules: `GET /pushrules/`, `/pushrules/global/`, one rule, its `enabled` and
//! `actions`; `PUT`/`DELETE` of a rule and `PUT` of `enabled`/`actions`.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::push::{
    delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled, get_pushrules_all,
    get_pushrules_global_scope, set_pushrule, set_pushrule_actions, set_pushrule_enabled,
};
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route, route_also};

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    // Some clients leave the trailing slash off.
    let router = route_also::<get_pushrules_all::v3::Request, _, _>(
        router,
        all,
        &["/_matrix/client/v3/pushrules", "/_matrix/client/r0/pushrules"],
    );
    let router = route_also::<get_pushrules_global_scope::v3::Request, _, _>(
        router,
        global,
        &["/_matrix/client/v3/pushrules/global", "/_matrix/client/r0/pushrules/global"],
    );
    let router = route::<get_pushrule::v3::Request, _, _>(router, get_rule);
    let router = route::<set_pushrule::v3::Request, _, _>(router, put_rule);
    let router = route::<delete_pushrule::v3::Request, _, _>(router, delete_rule);
    let router = route::<get_pushrule_enabled::v3::Request, _, _>(router, get_enabled);
    let router = route::<set_pushrule_enabled::v3::Request, _, _>(router, put_enabled);
    let router = route::<get_pushrule_actions::v3::Request, _, _>(router, get_actions);
    route::<set_pushrule_actions::v3::Request, _, _>(router, put_actions)
}

async fn all(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_all::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.push.ruleset(request.requester()?).await?))
}

async fn global(
    State(state): State<AppState>,
    request: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let mut content = state.push.ruleset(request.requester()?).await?;
    Ok(Json(content.get_mut("global").map(Value::take).unwrap_or_else(|| json!({}))))
}

async fn get_rule(
    State(state): State<AppState>,
    request: Ruma<get_pushrule::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    Ok(Json(state.push.rule(request.requester()?, &body.kind, &body.rule_id).await?))
}

async fn put_rule(
    State(state): State<AppState>,
    request: Ruma<set_pushrule::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = request.body.clone();
    state.push.put_rule(requester, body.rule, body.before.as_deref(), body.after.as_deref()).await?;
    Ok(Json(json!({})))
}

async fn delete_rule(
    State(state): State<AppState>,
    request: Ruma<delete_pushrule::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    state.push.delete_rule(request.requester()?, &body.kind, &body.rule_id).await?;
    Ok(Json(json!({})))
}

async fn get_enabled(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let rule = state.push.rule(request.requester()?, &body.kind, &body.rule_id).await?;
    Ok(Json(json!({ "enabled": rule.get("enabled").cloned().unwrap_or(Value::Bool(true)) })))
}

async fn put_enabled(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    state.push.set_enabled(request.requester()?, &body.kind, &body.rule_id, body.enabled).await?;
    Ok(Json(json!({})))
}

async fn get_actions(
    State(state): State<AppState>,
    request: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let body = &request.body;
    let rule = state.push.rule(request.requester()?, &body.kind, &body.rule_id).await?;
    Ok(Json(json!({ "actions": rule.get("actions").cloned().unwrap_or_else(|| json!([])) })))
}

async fn put_actions(
    State(state): State<AppState>,
    request: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = request.body.clone();
    state.push.set_actions(requester, &body.kind, &body.rule_id, body.actions).await?;
    Ok(Json(json!({})))
}
