//! Device-list changes: which users' devices or cross-signing keys changed, at which
//! position of the DeviceLists stream (one entry per user, at their latest change).

use async_trait::async_trait;
use ruma::{OwnedUserId, UserId};

use super::{Error, Position};

#[async_trait]
pub trait DeviceListStore: Send + Sync {
    /// Records that `user_id`'s device list changed at `position` (replacing the user's
    /// older entry).
    async fn record_device_list_change(&self, user_id: &UserId, position: Position) -> Result<(), Error>;
    /// Up to `limit` users whose latest change is in `(since, upto]`, in position order.
    async fn device_list_changes(
        &self,
        since: Position,
        upto: Position,
        limit: usize,
    ) -> Result<Vec<(OwnedUserId, Position)>, Error>;
}
