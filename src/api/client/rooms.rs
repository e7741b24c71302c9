//! Room lifecycle and membership: `/createRoom`, `/joined_rooms`, join, invite, leave,
//! kick, ban, unban, knock.

use axum::extract::State;
use axum::{Json, Router};
use ruma::api::client::knock::knock_room;
use ruma::api::client::membership::{
    ban_user, forget_room, invite_user, join_room_by_id, join_room_by_id_or_alias, joined_rooms, kick_user,
    leave_room, unban_user,
};
use ruma::api::client::room::{Visibility, create_room, report_content, report_room, upgrade_room};
use ruma::{OwnedRoomId, RoomId, RoomOrAliasId, UserId};
use serde_json::{Map, Value, json};

use crate::api::error::ApiError;
use crate::api::extract::Ruma;
use crate::api::{AppState, route};
use crate::rooms::create::{CreateRoom, Preset};
use crate::rooms::membership::MembershipAction;

pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = route::<create_room::v3::Request, _, _>(router, create);
    let router = route::<joined_rooms::v3::Request, _, _>(router, joined);
    let router = route::<join_room_by_id::v3::Request, _, _>(router, join_by_id);
    let router = route::<join_room_by_id_or_alias::v3::Request, _, _>(router, join_by_id_or_alias);
    let router = route::<knock_room::v3::Request, _, _>(router, knock);
    let router = route::<invite_user::v3::Request, _, _>(router, invite);
    let router = route::<leave_room::v3::Request, _, _>(router, leave);
    let router = route::<kick_user::v3::Request, _, _>(router, kick);
    let router = route::<ban_user::v3::Request, _, _>(router, ban);
    let router = route::<upgrade_room::v3::Request, _, _>(router, upgrade);
    let router = route::<forget_room::v3::Request, _, _>(router, forget);
    let router = route::<report_content::v3::Request, _, _>(router, report_event);
    let router = route::<report_room::v3::Request, _, _>(router, report_room);
    route::<unban_user::v3::Request, _, _>(router, unban)
}

fn raw_object<T>(raw: &ruma::serde::Raw<T>, what: &str) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_str(raw.json().get())
        .map_err(|_| ApiError::bad_json(format!("{what} must be a JSON object")))
}

async fn create(
    State(state): State<AppState>,
    request: Ruma<create_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let requester = request.requester()?;
    let body = &request.body;
    if !body.invite_3pid.is_empty() {
        return Err(ApiError::unsupported("third-party invites are not supported"));
    }
    let creation_content = match &body.creation_content {
        Some(raw) => Some(raw_object(raw, "creation_content")?),
        None => None,
    };
    let mut initial_state = Vec::new();
    for raw in &body.initial_state {
        let event: Value =
            serde_json::from_str(raw.json().get()).map_err(|e| ApiError::bad_json(e.to_string()))?;
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_json("initial_state needs type"))?;
        let key = event.get("state_key").and_then(Value::as_str).unwrap_or("");
        let content = event
            .get("content")
            .filter(|c| c.is_object())
            .cloned()
            .ok_or_else(|| ApiError::bad_json("initial_state needs content"))?;
        initial_state.push((kind.to_owned(), key.to_owned(), content));
    }
    let power_level_content_override = match &body.power_level_content_override {
        Some(raw) => Some(raw_object(raw, "power_level_content_override")?),
        None => None,
    };
    let preset = match &body.preset {
        None => None,
        Some(preset) => Some(match preset.as_str() {
            "private_chat" => Preset::PrivateChat,
            "trusted_private_chat" => Preset::TrustedPrivateChat,
            "public_chat" => Preset::PublicChat,
            other => return Err(ApiError::invalid_param(format!("unknown preset {other}"))),
        }),
    };
    let profile = state.accounts.profile(&requester.user_id).await.unwrap_or_default();
    let create = CreateRoom {
        creator: requester.user_id.clone(),
        room_version: body.room_version.as_ref().map(ToString::to_string),
        creation_content,
        preset,
        public: body.visibility == Visibility::Public,
        initial_state,
        name: body.name.clone(),
        topic: body.topic.clone(),
        invite: body.invite.clone(),
        is_direct: body.is_direct,
        power_level_content_override,
        room_alias_name: body.room_alias_name.clone(),
        creator_displayname: profile.displayname,
        creator_avatar_url: profile.avatar_url,
    };
    let room_id = state.rooms.create_room(create).await?;
    Ok(Json(json!({ "room_id": room_id })))
}

async fn joined(
    State(state): State<AppState>,
    request: Ruma<joined_rooms::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let rooms = state.rooms.joined_rooms(&request.requester()?.user_id).await?;
    Ok(Json(json!({ "joined_rooms": rooms })))
}

async fn change(
    state: &AppState,
    room_id: &RoomId,
    sender: &UserId,
    target: &UserId,
    action: MembershipAction,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let profile = if matches!(action, MembershipAction::Join | MembershipAction::Knock) {
        Some(state.accounts.profile(sender).await.unwrap_or_default())
    } else {
        None
    };
    state.rooms.change_membership(room_id, sender, target, action, reason, profile).await?;
    Ok(())
}

/// A room ID as given, or the room a local alias points to.
async fn room_id_of(state: &AppState, id: &RoomOrAliasId) -> Result<OwnedRoomId, ApiError> {
    if let Ok(room_id) = OwnedRoomId::try_from(id.as_str()) {
        return Ok(room_id);
    }
    let alias = ruma::RoomAliasId::parse(id.as_str())
        .map_err(|_| ApiError::invalid_param("not a room ID or alias"))?;
    Ok(state.rooms.resolve_alias(&alias).await?)
}

async fn join_by_id(
    State(state): State<AppState>,
    request: Ruma<join_room_by_id::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    change(&state, &body.room_id, user, user, MembershipAction::Join, body.reason.clone()).await?;
    Ok(Json(json!({ "room_id": body.room_id })))
}

async fn join_by_id_or_alias(
    State(state): State<AppState>,
    request: Ruma<join_room_by_id_or_alias::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let room_id = room_id_of(&state, &request.body.room_id_or_alias).await?;
    change(&state, &room_id, user, user, MembershipAction::Join, request.body.reason.clone()).await?;
    Ok(Json(json!({ "room_id": room_id })))
}

async fn knock(
    State(state): State<AppState>,
    request: Ruma<knock_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let room_id = room_id_of(&state, &request.body.room_id_or_alias).await?;
    change(&state, &room_id, user, user, MembershipAction::Knock, request.body.reason.clone()).await?;
    Ok(Json(json!({ "room_id": room_id })))
}

async fn invite(
    State(state): State<AppState>,
    request: Ruma<invite_user::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    let invite_user::v3::InvitationRecipient::UserId(recipient) = &body.recipient else {
        return Err(ApiError::unsupported("third-party invites are not supported"));
    };
    change(
        &state,
        &body.room_id,
        user,
        &recipient.user_id,
        MembershipAction::Invite,
        recipient.reason.clone(),
    )
    .await?;
    Ok(Json(json!({})))
}

async fn leave(
    State(state): State<AppState>,
    request: Ruma<leave_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    change(&state, &body.room_id, user, user, MembershipAction::Leave, body.reason.clone()).await?;
    Ok(Json(json!({})))
}

async fn kick(
    State(state): State<AppState>,
    request: Ruma<kick_user::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    change(&state, &body.room_id, user, &body.user_id, MembershipAction::Kick, body.reason.clone()).await?;
    Ok(Json(json!({})))
}

async fn ban(
    State(state): State<AppState>,
    request: Ruma<ban_user::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    change(&state, &body.room_id, user, &body.user_id, MembershipAction::Ban, body.reason.clone()).await?;
    Ok(Json(json!({})))
}

async fn unban(
    State(state): State<AppState>,
    request: Ruma<unban_user::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    change(&state, &body.room_id, user, &body.user_id, MembershipAction::Unban, body.reason.clone()).await?;
    Ok(Json(json!({})))
}

async fn upgrade(
    State(state): State<AppState>,
    request: Ruma<upgrade_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    let new_room = state
        .rooms
        .upgrade(&body.room_id, user, body.new_version.as_str(), body.additional_creators.clone())
        .await?;
    Ok(Json(json!({ "replacement_room": new_room })))
}

async fn forget(
    State(state): State<AppState>,
    request: Ruma<forget_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    state.rooms.forget(&request.body.room_id, user).await?;
    Ok(Json(json!({})))
}

async fn report_event(
    State(state): State<AppState>,
    request: Ruma<report_content::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    state.rooms.report(&body.room_id, user, Some(&body.event_id), body.reason.clone()).await?;
    Ok(Json(json!({})))
}

async fn report_room(
    State(state): State<AppState>,
    request: Ruma<report_room::v3::Request>,
) -> Result<Json<Value>, ApiError> {
    let user = &request.requester()?.user_id;
    let body = &request.body;
    state.rooms.report(&body.room_id, user, None, Some(body.reason.clone())).await?;
    Ok(Json(json!({})))
}
