//! [`RoomStore`] on PostgreSQL — a temporary skeleton that answers every call with an
//! error (never a panic) until the PostgreSQL implementation replaces this file.

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, RoomId, UserId};

use super::PostgresStore;
use crate::storage::{
    Direction, Error, MembershipRecord, PersistBatch, Position, RoomRecord, RoomStore, StateGroupId,
    StateMap, StoredEvent, TxnKey,
};

/// The error every method returns until rooms are implemented on PostgreSQL.
fn not_yet() -> Error {
    Error::Backend("rooms are not implemented on PostgreSQL yet".to_owned())
}

#[async_trait]
impl RoomStore for PostgresStore {
    async fn persist(&self, _batch: &PersistBatch) -> Result<(), Error> {
        Err(not_yet())
    }

    async fn reserve_state_group_ids(&self, _count: u64) -> Result<StateGroupId, Error> {
        Err(not_yet())
    }

    async fn room(&self, _room_id: &RoomId) -> Result<Option<RoomRecord>, Error> {
        Err(not_yet())
    }

    async fn get_event(&self, _event_id: &EventId) -> Result<Option<StoredEvent>, Error> {
        Err(not_yet())
    }

    async fn get_events(&self, _event_ids: &[OwnedEventId]) -> Result<Vec<StoredEvent>, Error> {
        Err(not_yet())
    }

    async fn event_state_groups(
        &self,
        _event_id: &EventId,
    ) -> Result<Option<(StateGroupId, StateGroupId)>, Error> {
        Err(not_yet())
    }

    async fn state_group(&self, _id: StateGroupId) -> Result<Option<StateMap>, Error> {
        Err(not_yet())
    }

    async fn state_group_depth(&self, _id: StateGroupId) -> Result<Option<u32>, Error> {
        Err(not_yet())
    }

    async fn current_state(&self, _room_id: &RoomId) -> Result<StateMap, Error> {
        Err(not_yet())
    }

    async fn current_state_event(
        &self,
        _room_id: &RoomId,
        _event_type: &str,
        _state_key: &str,
    ) -> Result<Option<OwnedEventId>, Error> {
        Err(not_yet())
    }

    async fn forward_extremities(&self, _room_id: &RoomId) -> Result<Vec<OwnedEventId>, Error> {
        Err(not_yet())
    }

    async fn timeline(
        &self,
        _room_id: &RoomId,
        _from: Option<Position>,
        _direction: Direction,
        _limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        Err(not_yet())
    }

    async fn txn_event(&self, _txn: &TxnKey) -> Result<Option<OwnedEventId>, Error> {
        Err(not_yet())
    }

    async fn user_memberships(&self, _user_id: &UserId) -> Result<Vec<MembershipRecord>, Error> {
        Err(not_yet())
    }

    async fn user_membership_changes(
        &self,
        _user_id: &UserId,
        _since: Position,
        _upto: Position,
    ) -> Result<Vec<MembershipRecord>, Error> {
        Err(not_yet())
    }

    async fn room_members(
        &self,
        _room_id: &RoomId,
        _membership: Option<&str>,
        _after: Option<&UserId>,
        _limit: usize,
    ) -> Result<Vec<MembershipRecord>, Error> {
        Err(not_yet())
    }
}
