//! Guest access: guest accounts join only rooms whose `m.room.guest_access` is
//! `can_join`, and are made to leave when a room stops allowing them.

use ruma::{RoomId, UserId};
use serde_json::Value;

use super::membership::MembershipAction;
use super::{Rooms, RoomsError};

impl Rooms {
    /// Refuses a guest's join unless the room lets guests join.
    pub(super) async fn check_guest_may_join(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<(), RoomsError> {
        if !self.is_guest(user_id).await? || self.open_to_guests(room_id).await? {
            return Ok(());
        }
        Err(RoomsError::Forbidden("guests may only join rooms whose guest_access is can_join".to_owned()))
    }

    /// After `m.room.guest_access` changed: if guests may no longer join, every local
    /// guest still in the room leaves. Runs on that rare state change only, so walking
    /// the joined members is fine.
    pub(super) async fn remove_guests_if_closed(&self, room_id: &RoomId) -> Result<(), RoomsError> {
        if self.open_to_guests(room_id).await? {
            return Ok(());
        }
        let members = self.joined_members(room_id).await?;
        for member in members.iter() {
            if member.server_name() != self.inner.server_name || !self.is_guest(member).await? {
                continue;
            }
            let reason = Some("this room no longer allows guests".to_owned());
            if let Err(error) =
                self.change_membership(room_id, member, member, MembershipAction::Leave, reason, None).await
            {
                tracing::warn!(%room_id, %member, %error, "could not remove a guest from a room closed to guests");
            }
        }
        Ok(())
    }

    async fn is_guest(&self, user_id: &UserId) -> Result<bool, RoomsError> {
        Ok(self.stores().accounts.get_user(user_id).await?.is_some_and(|user| user.is_guest))
    }

    async fn open_to_guests(&self, room_id: &RoomId) -> Result<bool, RoomsError> {
        let Some(id) = self.stores().rooms.current_state_event(room_id, "m.room.guest_access", "").await?
        else {
            return Ok(false);
        };
        let Some(pdu) = self.load_readable(&id).await? else { return Ok(false) };
        let content = super::append::content(&pdu);
        Ok(content.get("guest_access").and_then(Value::as_str) == Some("can_join"))
    }
}
