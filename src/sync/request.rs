//! A parsed `/sync` request: who asks, from which token, how long to wait, and the
//! filter to apply.

use std::time::Duration;

use ruma::{OwnedDeviceId, OwnedUserId};

use super::sync_filter::SyncFilter;
use super::token::SyncToken;

/// A parsed sync request.
pub struct SyncRequest {
    pub user_id: OwnedUserId,
    /// The syncing device: its own events carry `unsigned.transaction_id`.
    pub device_id: OwnedDeviceId,
    pub since: Option<SyncToken>,
    pub timeout: Duration,
    pub full_state: bool,
    pub filter: SyncFilter,
}
