//! Membership changes: join, invite, leave, kick, ban, unban, knock — each an
//! `m.room.member` event the auth rules judge.

use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::{Value, json};

use super::append::NewLocalEvent;
use super::{Rooms, RoomsError};
use crate::storage::Profile;

/// What a membership request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipAction {
    Join,
    Invite,
    Leave,
    Kick,
    Ban,
    Unban,
    Knock,
}

impl MembershipAction {
    fn membership(self) -> &'static str {
        match self {
            MembershipAction::Join => "join",
            MembershipAction::Invite => "invite",
            MembershipAction::Leave | MembershipAction::Kick | MembershipAction::Unban => "leave",
            MembershipAction::Ban => "ban",
            MembershipAction::Knock => "knock",
        }
    }
}

impl Rooms {
    /// Applies `action` by `sender` to `target` (the sender for join, leave, knock).
    pub async fn change_membership(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        action: MembershipAction,
        reason: Option<String>,
        profile: Option<Profile>,
    ) -> Result<OwnedEventId, RoomsError> {
        if target.server_name() != self.inner.server_name {
            return Err(RoomsError::Unsupported("membership of users of other servers".to_owned()));
        }
        if self.stores().rooms.room(room_id).await?.is_none() {
            return Err(RoomsError::UnknownRoom);
        }
        if action == MembershipAction::Unban {
            let current = self.membership_of_user(room_id, target).await?;
            if current.as_deref() != Some("ban") {
                return Err(RoomsError::Forbidden(format!("{target} is not banned")));
            }
        }
        if action == MembershipAction::Join {
            self.check_guest_may_join(room_id, target).await?;
        }
        let mut content = json!({ "membership": action.membership() });
        if action == MembershipAction::Join
            && let Some(authoriser) = self.restricted_join_authoriser(room_id, target).await?
        {
            content["join_authorised_via_users_server"] = json!(authoriser);
        }
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        if matches!(action, MembershipAction::Join | MembershipAction::Knock)
            && let Some(profile) = profile
        {
            if let Some(name) = profile.displayname {
                content["displayname"] = Value::String(name);
            }
            if let Some(url) = profile.avatar_url {
                content["avatar_url"] = Value::String(url);
            }
        }
        let event = NewLocalEvent {
            sender: sender.to_owned(),
            event_type: "m.room.member".to_owned(),
            state_key: Some(target.to_string()),
            content,
            redacts: None,
            txn: None,
        };
        let pdu = self.append(room_id, event).await?;
        if matches!(action, MembershipAction::Join | MembershipAction::Invite | MembershipAction::Knock) {
            // Back in the room (or invited back): it is no longer forgotten.
            self.stores().moderation.set_room_forgotten(target, room_id, false).await?;
        }
        Ok(pdu.event_id().to_owned())
    }

    /// For a restricted room the user may join through membership of an allowed room:
    /// a local member with the power to invite who vouches for the join.
    async fn restricted_join_authoriser(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<String>, RoomsError> {
        let state = self.current_state_of(room_id).await?;
        let Some(rules) = super::visibility::state_content(self, &state, "m.room.join_rules", "").await?
        else {
            return Ok(None);
        };
        let rule = rules.get("join_rule").and_then(Value::as_str).unwrap_or("");
        if !matches!(rule, "restricted" | "knock_restricted") {
            return Ok(None);
        }
        if matches!(self.membership_of_user(room_id, user_id).await?.as_deref(), Some("invite" | "join")) {
            return Ok(None);
        }
        let allowed_rooms = rules.get("allow").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut allowed = false;
        for condition in &allowed_rooms {
            if condition.get("type").and_then(Value::as_str) != Some("m.room_membership") {
                continue;
            }
            let Some(other) =
                condition.get("room_id").and_then(Value::as_str).and_then(|id| RoomId::parse(id).ok())
            else {
                continue;
            };
            if self.membership_of_user(&other, user_id).await?.as_deref() == Some("join") {
                allowed = true;
                break;
            }
        }
        if !allowed {
            return Ok(None);
        }
        let power = self.power_levels(room_id).await?;
        let invite_level = power.action_level("invite");
        let members = self.joined_members(room_id).await?;
        Ok(members
            .iter()
            .find(|member| {
                member.server_name() == self.inner.server_name && power.user_level(member) >= invite_level
            })
            .map(ToString::to_string))
    }

    /// A user's current membership in a room, if any.
    pub async fn membership_of_user(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<String>, RoomsError> {
        let key = user_id.as_str();
        let Some(event_id) = self.stores().rooms.current_state_event(room_id, "m.room.member", key).await?
        else {
            return Ok(None);
        };
        // An unreadable member event counts as no membership (logged), so `/forget`
        // and the read paths still answer.
        let pdu = self.cached_readable(&event_id).await?;
        Ok(pdu.and_then(|pdu| super::append::membership_of(&pdu)))
    }
}
