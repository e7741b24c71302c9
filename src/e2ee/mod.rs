//! End-to-end encryption support: the server stores, relays and announces keys it can
//! never use. Device and one-time keys (`upload.rs`, `query.rs`, `claim.rs`),
//! cross-signing (`cross_signing.rs`), to-device messages (`to_device.rs`), device-list
//! changes (`device_lists.rs`), key backup (`backup.rs`); `signatures.rs` checks the
//! signatures on what clients upload.

pub mod backup;
pub mod claim;
pub mod cross_signing;
pub mod dehydrated;
pub mod device_lists;
pub mod query;
pub mod signatures;
pub mod sync_memo;
pub mod to_device;
pub mod upload;

use std::collections::BTreeSet;
use std::sync::Arc;

use ruma::{DeviceId, OwnedServerName, OwnedUserId, UserId};

use crate::rooms::{Rooms, RoomsError};
use crate::storage::{self, Position, Stores, StreamId};
use crate::streams::{Recipients, Watermark};

/// Why an E2EE operation did not happen (the errcode is chosen in the API layer).
#[derive(Debug, thiserror::Error)]
pub enum E2eeError {
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("too large: {0}")]
    TooLarge(String),
    /// The backup version named is not the current one.
    #[error("wrong room keys version; current is {current:?}")]
    WrongRoomKeysVersion { current: Option<String> },
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<RoomsError> for E2eeError {
    fn from(error: RoomsError) -> Self {
        match error {
            RoomsError::Storage(error) => E2eeError::Storage(error),
            other => E2eeError::Internal(other.to_string()),
        }
    }
}

/// The E2EE domain service; cheap to clone.
#[derive(Clone)]
pub struct E2ee {
    inner: Arc<Inner>,
}

struct Inner {
    stores: Stores,
    rooms: Rooms,
    server_name: OwnedServerName,
    to_device_stream: Watermark,
    device_lists_stream: Watermark,
    /// What recent syncs learned about each device (queue empty, key counts).
    sync_memo: sync_memo::SyncMemo,
}

impl E2ee {
    pub fn new(
        stores: Stores,
        rooms: Rooms,
        server_name: OwnedServerName,
        to_device_stream: Watermark,
        device_lists_stream: Watermark,
    ) -> Self {
        E2ee {
            inner: Arc::new(Inner {
                stores,
                rooms,
                server_name,
                to_device_stream,
                device_lists_stream,
                sync_memo: sync_memo::SyncMemo::default(),
            }),
        }
    }

    fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// Published positions of the ToDevice and DeviceLists streams (what sync may read).
    pub fn positions(&self) -> (Position, Position) {
        (self.inner.to_device_stream.published(), self.inner.device_lists_stream.published())
    }

    fn is_local(&self, user_id: &UserId) -> bool {
        user_id.server_name() == self.inner.server_name
    }

    /// Reserves the next position of `stream` through its watermark.
    async fn reserve(&self, stream: StreamId) -> Result<crate::streams::Reservation, E2eeError> {
        let watermark = match stream {
            StreamId::ToDevice => &self.inner.to_device_stream,
            _ => &self.inner.device_lists_stream,
        };
        let streams = self.stores().streams.clone();
        watermark
            .reserve(|| async move { streams.reserve_position(stream).await })
            .await
            .map_err(|error| E2eeError::Internal(error.to_string()))
    }

    /// The users who share a joined room with `user_id`, the user included.
    pub async fn users_sharing_a_room(&self, user_id: &UserId) -> Result<BTreeSet<OwnedUserId>, E2eeError> {
        let mut users = BTreeSet::from([user_id.to_owned()]);
        for room_id in self.inner.rooms.joined_rooms(user_id).await? {
            users.extend(self.inner.rooms.joined_members(&room_id).await?.iter().cloned());
        }
        Ok(users)
    }

    /// Records that `user_id`'s devices or keys changed and wakes everyone who shares a
    /// room with them, so their clients refresh the user's keys.
    pub async fn announce_device_change(&self, user_id: &UserId) -> Result<(), E2eeError> {
        // Looked up first, so no reservation is held (and the stream held back) meanwhile;
        // someone who joins a shared room after this learns of the keys through the join.
        let users = self.users_sharing_a_room(user_id).await?;
        let reservation = self.reserve(StreamId::DeviceLists).await?;
        self.stores().device_lists.record_device_list_change(user_id, reservation.position()).await?;
        reservation.complete_and_wake(Recipients::set(users));
        Ok(())
    }

    /// Forgets everything E2EE of a deleted device and announces the change.
    pub async fn device_deleted(&self, user_id: &UserId, device_id: &DeviceId) -> Result<(), E2eeError> {
        self.stores().e2ee_keys.delete_device_e2ee(user_id, device_id).await?;
        self.stores().to_device.delete_to_device_queue(user_id, device_id).await?;
        self.inner.sync_memo.device_deleted(user_id, device_id);
        self.announce_device_change(user_id).await
    }
}

#[async_trait::async_trait]
impl crate::accounts::DeviceRemoval for E2ee {
    async fn devices_removed(
        &self,
        user_id: &UserId,
        device_ids: &[ruma::OwnedDeviceId],
    ) -> Result<(), storage::Error> {
        for device_id in device_ids {
            match self.device_deleted(user_id, device_id).await {
                Ok(()) => {}
                Err(E2eeError::Storage(error)) => return Err(error),
                Err(other) => return Err(storage::Error::Backend(other.to_string())),
            }
        }
        Ok(())
    }
}
