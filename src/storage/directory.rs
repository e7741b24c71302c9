//! Room aliases and the public room directory.

use async_trait::async_trait;
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId};

use super::Error;

/// Who created an alias and where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub alias: OwnedRoomAliasId,
    pub room_id: OwnedRoomId,
    pub creator: OwnedUserId,
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Creates the alias unless it exists; returns whether it was created (atomic).
    async fn create_alias(&self, record: &AliasRecord) -> Result<bool, Error>;
    async fn get_alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRecord>, Error>;
    /// Deletes the alias; returns whether it existed.
    async fn delete_alias(&self, alias: &RoomAliasId) -> Result<bool, Error>;
    /// Local aliases of a room, ordered by alias.
    async fn room_aliases(&self, room_id: &RoomId) -> Result<Vec<AliasRecord>, Error>;
    /// Publishes a room in (or removes it from) the public room directory.
    async fn set_room_public(&self, room_id: &RoomId, public: bool) -> Result<(), Error>;
    async fn is_room_public(&self, room_id: &RoomId) -> Result<bool, Error>;
    /// Public rooms ordered by room ID, strictly after `after`, at most `limit`.
    async fn public_rooms(&self, after: Option<&RoomId>, limit: usize) -> Result<Vec<OwnedRoomId>, Error>;
    /// How many rooms are public (for `total_room_count_estimate`).
    async fn public_room_count(&self) -> Result<u64, Error>;
}
