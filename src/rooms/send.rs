//! Sending: messages (idempotent per device and transaction ID), state, redactions.

use ruma::{EventId, OwnedEventId, RoomId, UserId};
use serde_json::{Value, json};

use super::append::NewLocalEvent;
use super::power::PowerLevels;
use super::{Rooms, RoomsError};
use crate::storage::TxnKey;

/// Largest `type` or `state_key`, in bytes.
const MAX_KEY_BYTES: usize = 255;

impl Rooms {
    /// `PUT /rooms/{roomId}/send/{eventType}/{txnId}`.
    pub async fn send_message(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        event_type: &str,
        content: Value,
        txn: TxnKey,
    ) -> Result<OwnedEventId, RoomsError> {
        check_type(event_type)?;
        if event_type == "m.room.redaction" || event_type == "m.room.create" {
            return Err(RoomsError::BadJson(format!("{event_type} cannot be sent here")));
        }
        let event = NewLocalEvent {
            sender: sender.to_owned(),
            event_type: event_type.to_owned(),
            state_key: None,
            content,
            redacts: None,
            txn: Some(txn),
        };
        Ok(self.append(room_id, event).await?.event_id().to_owned())
    }

    /// `PUT /rooms/{roomId}/state/{eventType}/{stateKey}`.
    pub async fn send_state(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> Result<OwnedEventId, RoomsError> {
        check_type(event_type)?;
        if state_key.len() > MAX_KEY_BYTES {
            return Err(RoomsError::TooLarge("state_key is longer than 255 bytes".to_owned()));
        }
        if event_type == "m.room.create" {
            return Err(RoomsError::Forbidden("a room has exactly one create event".to_owned()));
        }
        if event_type == "m.room.canonical_alias" {
            self.check_canonical_alias(room_id, &content).await?;
        }
        let event = NewLocalEvent {
            sender: sender.to_owned(),
            event_type: event_type.to_owned(),
            state_key: Some(state_key.to_owned()),
            content,
            redacts: None,
            txn: None,
        };
        let event_id = self.append(room_id, event).await?.event_id().to_owned();
        if event_type == "m.room.guest_access" {
            self.remove_guests_if_closed(room_id).await?;
        }
        Ok(event_id)
    }

    /// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`: joined members redact their own
    /// events, or others' with the room's `redact` power.
    pub async fn redact(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &EventId,
        reason: Option<String>,
        txn: TxnKey,
    ) -> Result<OwnedEventId, RoomsError> {
        // Membership first: a non-member must not learn whether the event exists.
        if self.membership_of_user(room_id, sender).await?.as_deref() != Some("join") {
            return Err(RoomsError::Forbidden("you are not joined to this room".to_owned()));
        }
        let original = self.load_pdu(target).await?;
        if original.room_id() != room_id {
            return Err(RoomsError::UnknownEvent);
        }
        if original.sender() != sender {
            let power = self.power_levels(room_id).await?;
            if power.user_level(sender) < power.action_level("redact") {
                return Err(RoomsError::Forbidden("you may only redact your own events".to_owned()));
            }
        }
        let mut content = json!({});
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        let event = NewLocalEvent {
            sender: sender.to_owned(),
            event_type: "m.room.redaction".to_owned(),
            state_key: None,
            content,
            redacts: Some(target.to_owned()),
            txn: Some(txn),
        };
        Ok(self.append(room_id, event).await?.event_id().to_owned())
    }

    /// The transaction an event was sent with, if any.
    pub async fn event_transaction(&self, event_id: &EventId) -> Result<Option<TxnKey>, RoomsError> {
        Ok(self.stores().rooms.event_txn(event_id).await?)
    }

    /// The room's current power levels and creators.
    pub async fn power_levels(&self, room_id: &RoomId) -> Result<PowerLevels, RoomsError> {
        let rooms = &self.stores().rooms;
        let content = match rooms.current_state_event(room_id, "m.room.power_levels", "").await? {
            Some(id) => Some(super::append::content(&self.load_pdu(&id).await?)),
            None => None,
        };
        let create_id =
            rooms.current_state_event(room_id, "m.room.create", "").await?.ok_or(RoomsError::UnknownRoom)?;
        let create = self.load_pdu(&create_id).await?;
        let mut creators = vec![create.sender().to_string()];
        let create_content = super::append::content(&create);
        if let Some(extra) = create_content.get("additional_creators").and_then(Value::as_array) {
            creators.extend(extra.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        let record = rooms.room(room_id).await?.ok_or(RoomsError::UnknownRoom)?;
        let version = super::append::parse_version(&record.room_version)?;
        Ok(PowerLevels::new(content, creators, version.rules().creators_have_infinite_power))
    }
}

/// A device's transaction scoped to its request path, as the spec scopes them: the ID is
/// a JSON array of the endpoint, the path parameters and the client's ID (unambiguous
/// whatever the parts contain); [`client_txn_id`] recovers the client's part.
pub fn scoped_txn(
    requester: &crate::accounts::Requester,
    endpoint: &str,
    path: &[&str],
    txn_id: &str,
) -> TxnKey {
    let mut parts = vec![endpoint];
    parts.extend_from_slice(path);
    parts.push(txn_id);
    TxnKey {
        user_id: requester.user_id.clone(),
        device_id: requester.device_id.clone(),
        txn_id: serde_json::to_string(&parts).unwrap_or_default(),
    }
}

/// The client's transaction ID inside a scoped one.
pub fn client_txn_id(scoped: &str) -> Option<String> {
    let parts: Vec<String> = serde_json::from_str(scoped).ok()?;
    parts.last().cloned()
}

fn check_type(event_type: &str) -> Result<(), RoomsError> {
    if event_type.is_empty() || event_type.len() > MAX_KEY_BYTES {
        return Err(RoomsError::TooLarge("event type must be 1-255 bytes".to_owned()));
    }
    Ok(())
}
