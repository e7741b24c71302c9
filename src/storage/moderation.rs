//! What users do to rooms outside the event graph: forgetting a room they left, and
//! reporting a room or an event to the server's operators.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::Error;

/// A report to the server's operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub reporter: OwnedUserId,
    pub room_id: OwnedRoomId,
    /// `None` when the whole room is reported.
    pub event_id: Option<OwnedEventId>,
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Marks a room forgotten (or no longer forgotten) by a user.
    async fn set_room_forgotten(
        &self,
        user_id: &UserId,
        room_id: &RoomId,
        forgotten: bool,
    ) -> Result<(), Error>;
    async fn is_room_forgotten(&self, user_id: &UserId, room_id: &RoomId) -> Result<bool, Error>;
    /// Stores a report durably.
    async fn add_report(&self, report: &ReportRecord) -> Result<(), Error>;
    /// The newest reports first, at most `limit` (for operators).
    async fn recent_reports(&self, limit: usize) -> Result<Vec<ReportRecord>, Error>;
}
