//! Per-user account data, global and per room, written at positions of the
//! `AccountData` stream so `/sync` can ask what changed since a token.

use async_trait::async_trait;
use ruma::{OwnedRoomId, RoomId, UserId};

use super::{Error, Position};

/// One account-data entry as it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDataChange {
    pub room_id: Option<OwnedRoomId>,
    pub event_type: String,
    /// The JSON object the client stored, verbatim.
    pub content: String,
    pub position: Position,
}

#[async_trait]
pub trait AccountDataStore: Send + Sync {
    /// Stores `content` (a JSON object, as text) for `(room_id, event_type)`, replacing
    /// any earlier value, and records the change at `position` (reserved by the caller
    /// from [`super::StreamId::AccountData`]).
    async fn put_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
        position: Position,
    ) -> Result<(), Error>;
    async fn get_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<String>, Error>;
    /// The latest value of each entry changed at a position in `(since, upto]`, ordered by
    /// position, at most `limit` of them (an entry changed twice appears once, at its last
    /// position).
    async fn account_data_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<AccountDataChange>, Error>;
}
