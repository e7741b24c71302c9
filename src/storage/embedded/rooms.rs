//! [`RoomStore`] in the embedded store: events, state groups, current state, forward
//! extremities, memberships and transaction IDs, each in its own tables.
//!
//! Every read has a key layout made for it (see the submodules and [`Table`]); every
//! [`PersistBatch`] is one atomic, durable engine batch, written under the rooms write
//! lock. One lock for all rooms rather than one per room: a batch also touches keys
//! shared across rooms (transaction IDs, pending redactions, users' memberships), each
//! write waits for an fsync anyway, and the domain already funnels each room's writes
//! through one queue.

mod current_state;
mod events;
mod memberships;
mod persist;
pub(super) mod state_groups;
mod timeline;

use async_trait::async_trait;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{compound_key, decode_record, decode_text};
use super::engine::{self, KeyRange, KeyValue, KvEngine, Table};
use crate::storage::{
    Direction, Error, MembershipRecord, PersistBatch, Position, RoomRecord, RoomStore, StateGroupId,
    StateMap, StoredEvent, TxnKey,
};

/// A room as stored; the room ID is the key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRoom {
    room_version: String,
    creator: OwnedUserId,
    created_at_position: u64,
}

impl From<&RoomRecord> for StoredRoom {
    fn from(room: &RoomRecord) -> Self {
        StoredRoom {
            room_version: room.room_version.clone(),
            creator: room.creator.clone(),
            created_at_position: room.created_at_position.0,
        }
    }
}

impl StoredRoom {
    fn into_record(self, room_id: OwnedRoomId) -> RoomRecord {
        RoomRecord {
            room_id,
            room_version: self.room_version,
            creator: self.creator,
            created_at_position: Position(self.created_at_position),
        }
    }
}

/// `txns` key: user ID, device ID, transaction ID (none of which can hold the separator).
fn txn_key(txn: &TxnKey) -> Vec<u8> {
    compound_key(&[txn.user_id.as_bytes(), txn.device_id.as_bytes(), txn.txn_id.as_bytes()])
}

/// How many rows one scan step reads when a method returns a whole range.
const SCAN_PAGE: usize = 256;

/// Every pair of `range`, in key order, read in bounded pages.
pub(super) fn scan_all(
    engine: &dyn KvEngine,
    table: Table,
    mut range: KeyRange,
) -> Result<Vec<KeyValue>, Error> {
    let mut pairs = Vec::new();
    loop {
        let page = engine.scan(table, &range, engine::Direction::Forward, SCAN_PAGE)?;
        let full_page = page.len() == SCAN_PAGE;
        if let Some((last, _)) = page.last() {
            range.from = engine::key_after(last);
        }
        pairs.extend(page);
        if !full_page {
            return Ok(pairs);
        }
    }
}

#[async_trait]
impl RoomStore for EmbeddedStore {
    async fn persist(&self, batch: &PersistBatch) -> Result<(), Error> {
        let batch = batch.clone();
        self.run_locked(self.locks.rooms(), move |engine| persist::persist(engine, &batch)).await
    }

    async fn reserve_state_group_ids(&self, count: u64) -> Result<StateGroupId, Error> {
        let ids = std::sync::Arc::clone(&self.state_group_ids);
        self.run(move |engine| ids.reserve(engine, count)).await
    }

    async fn room(&self, room_id: &RoomId) -> Result<Option<RoomRecord>, Error> {
        let room_id = room_id.to_owned();
        self.run(move |engine| {
            let Some(bytes) = engine.get(Table::Rooms, room_id.as_bytes())? else {
                return Ok(None);
            };
            Ok(Some(decode_record::<StoredRoom>(&bytes)?.into_record(room_id)))
        })
        .await
    }

    async fn get_event(&self, event_id: &EventId) -> Result<Option<StoredEvent>, Error> {
        let event_id = event_id.to_owned();
        self.run(move |engine| events::stored_event(engine, &event_id)).await
    }

    async fn get_events(&self, event_ids: &[OwnedEventId]) -> Result<Vec<StoredEvent>, Error> {
        if event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let event_ids = event_ids.to_vec();
        self.run(move |engine| {
            let mut found = Vec::with_capacity(event_ids.len());
            for event_id in &event_ids {
                found.extend(events::stored_event(engine, event_id)?);
            }
            Ok(found)
        })
        .await
    }

    async fn event_state_groups(
        &self,
        event_id: &EventId,
    ) -> Result<Option<(StateGroupId, StateGroupId)>, Error> {
        let event_id = event_id.to_owned();
        self.run(move |engine| events::load_state_groups(engine, event_id.as_str())).await
    }

    async fn state_group(&self, id: StateGroupId) -> Result<Option<StateMap>, Error> {
        self.run(move |engine| state_groups::resolve(engine, id)).await
    }

    async fn state_group_depth(&self, id: StateGroupId) -> Result<Option<u32>, Error> {
        self.run(move |engine| state_groups::depth(engine, id)).await
    }

    async fn current_state(&self, room_id: &RoomId) -> Result<StateMap, Error> {
        let room_id = room_id.to_owned();
        self.run(move |engine| current_state::whole(engine, &room_id)).await
    }

    async fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<OwnedEventId>, Error> {
        let (room_id, event_type, state_key) =
            (room_id.to_owned(), event_type.to_owned(), state_key.to_owned());
        self.run(move |engine| current_state::event(engine, &room_id, &event_type, &state_key)).await
    }

    async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<OwnedEventId>, Error> {
        let room_id = room_id.to_owned();
        self.run(move |engine| current_state::extremities(engine, &room_id)).await
    }

    async fn timeline(
        &self,
        room_id: &RoomId,
        from: Option<Position>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, Error> {
        let room_id = room_id.to_owned();
        self.run(move |engine| timeline::page(engine, &room_id, from, direction, limit)).await
    }

    async fn txn_event(&self, txn: &TxnKey) -> Result<Option<OwnedEventId>, Error> {
        let key = txn_key(txn);
        self.run(move |engine| {
            let Some(bytes) = engine.get(Table::Txns, &key)? else {
                return Ok(None);
            };
            let event_id = OwnedEventId::try_from(decode_text(&bytes)?)
                .map_err(|error| Error::Corrupt(format!("a transaction names an invalid event: {error}")))?;
            Ok(Some(event_id))
        })
        .await
    }

    async fn event_txn(&self, event_id: &EventId) -> Result<Option<TxnKey>, Error> {
        let key = event_id.as_bytes().to_vec();
        self.run(move |engine| {
            let Some(bytes) = engine.get(Table::EventTxns, &key)? else {
                return Ok(None);
            };
            let [user, device, txn]: [String; 3] = serde_json::from_slice(&bytes)
                .map_err(|error| Error::Corrupt(format!("an event's transaction is unreadable: {error}")))?;
            let user_id = OwnedUserId::try_from(user).map_err(|error| {
                Error::Corrupt(format!("an event's transaction names an invalid user: {error}"))
            })?;
            Ok(Some(TxnKey { user_id, device_id: device.into(), txn_id: txn }))
        })
        .await
    }

    async fn user_memberships(&self, user_id: &UserId) -> Result<Vec<MembershipRecord>, Error> {
        let user_id = user_id.to_owned();
        self.run(move |engine| memberships::of_user(engine, &user_id)).await
    }

    async fn user_membership_changes(
        &self,
        user_id: &UserId,
        since: Position,
        upto: Position,
    ) -> Result<Vec<MembershipRecord>, Error> {
        let user_id = user_id.to_owned();
        self.run(move |engine| memberships::changes(engine, &user_id, since, upto)).await
    }

    async fn room_members(
        &self,
        room_id: &RoomId,
        membership: Option<&str>,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<MembershipRecord>, Error> {
        let (room_id, membership, after) =
            (room_id.to_owned(), membership.map(str::to_owned), after.map(UserId::to_owned));
        self.run(move |engine| {
            memberships::of_room(engine, &room_id, membership.as_deref(), after.as_deref(), limit)
        })
        .await
    }
}
