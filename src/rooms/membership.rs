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
        let mut content = json!({ "membership": action.membership() });
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
        Ok(pdu.event_id().to_owned())
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
        let pdu = self.load_pdu(&event_id).await?;
        Ok(super::append::membership_of(&pdu))
    }
}
