//! The private seam between the embedded adapter and an ordered key-value engine.
//!
//! Everything the adapter needs from fjall or RocksDB is here: point reads, atomic
//! durable batches across tables, bounded range scans in either direction, and a flush.
//! Calls block (disk I/O), so the adapter runs them on `spawn_blocking` threads.

use crate::storage::Error;

/// The logical tables of the embedded store. Each engine maps one table to one
/// physically separate tree (fjall keyspace, RocksDB column family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    /// Store-wide facts: schema version, stream high-water marks.
    Meta,
    /// user ID → user record.
    Users,
    /// registration token → completed uses (u64 big-endian).
    RegistrationTokens,
    /// user ID, device ID → device record with its token hashes.
    Devices,
    /// access-token hash → owning device.
    AccessTokens,
    /// refresh-token hash (current or previous) → owning device.
    RefreshTokens,
    /// user ID, field → profile field value.
    Profiles,
    /// user ID, room ID (empty = global), event type → position of the latest change.
    AccountData,
    /// user ID, position, room ID, event type → content: one row per entry, at its
    /// latest position, so "changes since" is one bounded range scan.
    AccountDataLog,
    /// user ID, filter ID → filter JSON.
    Filters,
    /// session ID → UIA session.
    UiaSessions,
    /// expiry (u64 big-endian), session ID → nothing: finds expired sessions in order.
    UiaExpiry,
    /// room ID → room record (version, creator, creation position).
    Rooms,
    /// event ID → event row (room, PDU JSON, position, status, redacted by).
    Events,
    /// event ID → state group before, state group after (two u64 big-endian): kept apart
    /// from the event rows so state lookups never decode PDU JSON.
    EventStateGroups,
    /// room ID, position (u64 big-endian) → event ID: accepted events in stream order,
    /// so a timeline page is one bounded range scan either way.
    Timeline,
    /// state group ID (u64 big-endian) → parent, depth and delta.
    StateGroups,
    /// room ID, event type, state key → event ID: the room's current state.
    CurrentState,
    /// room ID → the room's forward extremities (a short list, replaced as a whole).
    ForwardExtremities,
    /// user ID, device ID, transaction ID → event ID.
    Txns,
    /// event ID → the transaction it was sent with (JSON `[user, device, txn]`), for
    /// `unsigned.transaction_id` on the sender's own device.
    EventTxns,
    /// user ID, room ID → nothing: rooms the user forgot.
    ForgottenRooms,
    /// received time, nonce → report JSON: reports to the operators, newest last.
    Reports,
    /// room ID, user ID → current membership record.
    RoomMembers,
    /// room ID, membership, user ID → current membership record: members by kind
    /// without scanning the others.
    RoomMembersByMembership,
    /// user ID, room ID → current membership record.
    UserRooms,
    /// user ID, position (u64 big-endian), room ID → membership record: every change,
    /// so "changes since" is one bounded range scan.
    MembershipLog,
    /// redacted event ID, redaction event ID → nothing: accepted redactions whose target
    /// has not arrived yet, applied when it does.
    PendingRedactions,
    /// room alias → the room it points to and its creator.
    RoomAliases,
    /// room ID, room alias → the same record as in `room_aliases`: a room's aliases in
    /// alias order with one prefix scan (aliases never change, so the copy cannot drift).
    RoomAliasesByRoom,
    /// room ID → nothing: the public room directory, paged in room-ID order. Its size is
    /// kept in the `meta` table, updated in the same batch.
    PublicRooms,
    /// parent event ID, position (u64 big-endian) → relation row: every relation of a
    /// parent in stream order, for `/relations` without a relation type.
    Relations,
    /// parent, relation type, position → relation row: one type's relations in order, and
    /// the newest of them by one reverse step.
    RelationsByType,
    /// parent, relation type, event type, position → relation row: `/relations` with an
    /// event type, without skipping the other types' rows.
    RelationsByEventType,
    /// parent, relation type, sender, position → relation row: a sender's newest relation
    /// (their latest edit) and "did they already react" by one reverse step.
    RelationsBySender,
    /// parent, relation type → how many relations (u64 big-endian), kept in the same
    /// batch as the rows so a count never needs a scan.
    RelationCounts,
    /// room ID, latest position (u64 big-endian), root event ID → latest event ID: thread
    /// roots by latest activity; a root has one entry, moved when its thread grows.
    Threads,
    /// root event ID → the root's current `threads` entry (room, position, latest event),
    /// so the old entry can be found and replaced.
    ThreadLatest,
    /// user ID, device ID → the device's identity keys (JSON as uploaded).
    DeviceKeys,
    /// user ID, device ID, algorithm, sequence (u64 big-endian) → key ID and JSON: a
    /// device's unclaimed keys of one algorithm, oldest first.
    OneTimeKeys,
    /// user ID, device ID, key ID → sequence (u64 big-endian): finds a key by its ID.
    OneTimeKeyIds,
    /// user ID, device ID, algorithm → the fallback key, with its used mark.
    FallbackKeys,
    /// user ID, kind (`master` …) → the cross-signing key (JSON as uploaded).
    CrossSigningKeys,
    /// target user, target key ID, signer user, signer key ID → signature.
    KeySignatures,
    /// user ID, device ID, position (u64 big-endian), index (u32 big-endian) → message
    /// JSON: a device's queue in delivery order.
    ToDevice,
    /// user ID, device ID → queued messages (u64 big-endian), to bound the queue without a scan.
    ToDeviceCounts,
    /// sender, sender device, transaction ID → position: makes retried sends no-ops.
    ToDeviceTxns,
    /// user ID → position (u64 big-endian) of the user's latest device-list change.
    DeviceListLatest,
    /// position (u64 big-endian), user ID → nothing: one row per user, at the latest change.
    DeviceListLog,
    /// user ID, version (u64 big-endian) → backup version record (deleted ones are kept,
    /// marked, so version numbers are never reused).
    BackupVersions,
    /// user ID, version (u64 big-endian), room ID, session ID → session key JSON.
    BackupKeys,
    /// user ID → the user's dehydrated device (MSC3814): device ID and opaque data.
    DehydratedDevices,
}

impl Table {
    pub(crate) const ALL: [Table; 52] = [
        Table::Meta,
        Table::Users,
        Table::RegistrationTokens,
        Table::Devices,
        Table::AccessTokens,
        Table::RefreshTokens,
        Table::Profiles,
        Table::AccountData,
        Table::AccountDataLog,
        Table::Filters,
        Table::UiaSessions,
        Table::UiaExpiry,
        Table::Rooms,
        Table::Events,
        Table::EventStateGroups,
        Table::Timeline,
        Table::StateGroups,
        Table::CurrentState,
        Table::ForwardExtremities,
        Table::Txns,
        Table::EventTxns,
        Table::ForgottenRooms,
        Table::Reports,
        Table::RoomMembers,
        Table::RoomMembersByMembership,
        Table::UserRooms,
        Table::MembershipLog,
        Table::PendingRedactions,
        Table::RoomAliases,
        Table::RoomAliasesByRoom,
        Table::PublicRooms,
        Table::Relations,
        Table::RelationsByType,
        Table::RelationsByEventType,
        Table::RelationsBySender,
        Table::RelationCounts,
        Table::Threads,
        Table::ThreadLatest,
        Table::DeviceKeys,
        Table::OneTimeKeys,
        Table::OneTimeKeyIds,
        Table::FallbackKeys,
        Table::CrossSigningKeys,
        Table::KeySignatures,
        Table::ToDevice,
        Table::ToDeviceCounts,
        Table::ToDeviceTxns,
        Table::DeviceListLatest,
        Table::DeviceListLog,
        Table::BackupVersions,
        Table::BackupKeys,
        Table::DehydratedDevices,
    ];

    /// The on-disk name of the table; never change one (it would orphan the data).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Users => "users",
            Table::RegistrationTokens => "registration_tokens",
            Table::Devices => "devices",
            Table::AccessTokens => "access_tokens",
            Table::RefreshTokens => "refresh_tokens",
            Table::Profiles => "profiles",
            Table::AccountData => "account_data",
            Table::AccountDataLog => "account_data_log",
            Table::Filters => "filters",
            Table::UiaSessions => "uia_sessions",
            Table::UiaExpiry => "uia_expiry",
            Table::Rooms => "rooms",
            Table::Events => "events",
            Table::EventStateGroups => "event_state_groups",
            Table::Timeline => "timeline",
            Table::StateGroups => "state_groups",
            Table::CurrentState => "current_state",
            Table::ForwardExtremities => "forward_extremities",
            Table::Txns => "txns",
            Table::EventTxns => "event_txns",
            Table::ForgottenRooms => "forgotten_rooms",
            Table::Reports => "reports",
            Table::RoomMembers => "room_members",
            Table::RoomMembersByMembership => "room_members_by_membership",
            Table::UserRooms => "user_rooms",
            Table::MembershipLog => "membership_log",
            Table::PendingRedactions => "pending_redactions",
            Table::RoomAliases => "room_aliases",
            Table::RoomAliasesByRoom => "room_aliases_by_room",
            Table::PublicRooms => "public_rooms",
            Table::Relations => "relations",
            Table::RelationsByType => "relations_by_type",
            Table::RelationsByEventType => "relations_by_event_type",
            Table::RelationsBySender => "relations_by_sender",
            Table::RelationCounts => "relation_counts",
            Table::Threads => "threads",
            Table::ThreadLatest => "thread_latest",
            Table::DeviceKeys => "device_keys",
            Table::OneTimeKeys => "one_time_keys",
            Table::OneTimeKeyIds => "one_time_key_ids",
            Table::FallbackKeys => "fallback_keys",
            Table::CrossSigningKeys => "cross_signing_keys",
            Table::KeySignatures => "key_signatures",
            Table::ToDevice => "to_device",
            Table::ToDeviceCounts => "to_device_counts",
            Table::ToDeviceTxns => "to_device_txns",
            Table::DeviceListLatest => "device_list_latest",
            Table::DeviceListLog => "device_list_log",
            Table::BackupVersions => "backup_versions",
            Table::BackupKeys => "backup_keys",
            Table::DehydratedDevices => "dehydrated_devices",
        }
    }

    /// Position of the table in [`Table::ALL`], for engines that keep one handle each.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Which way a scan walks its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Reverse,
}

/// A half-open key range `[from, to)`; `to: None` runs to the end of the table.
///
/// One normalised shape keeps both engines simple: every bound the adapter needs can be
/// written this way (the key right after `k` is `k` followed by a zero byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub(crate) from: Vec<u8>,
    pub(crate) to: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub(crate) fn prefix(prefix: Vec<u8>) -> Self {
        let to = prefix_successor(&prefix);
        KeyRange { from: prefix, to }
    }

    /// Keys in `[from, to)`.
    pub(crate) fn between(from: Vec<u8>, to: Vec<u8>) -> Self {
        KeyRange { from, to: Some(to) }
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no
/// such key exists (an empty or all-0xFF prefix).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last_incrementable = prefix.iter().rposition(|byte| *byte != 0xFF)?;
    let mut successor = prefix.get(..=last_incrementable)?.to_vec();
    if let Some(byte) = successor.last_mut() {
        *byte += 1;
    }
    Some(successor)
}

/// The key immediately after `key` in byte order.
pub(crate) fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// One change inside a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Put { table: Table, key: Vec<u8>, value: Vec<u8> },
    Delete { table: Table, key: Vec<u8> },
}

/// Changes applied all together or not at all, across tables, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) ops: Vec<BatchOp>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Batch::default()
    }

    pub(crate) fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(BatchOp::Put { table, key, value });
    }

    pub(crate) fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.ops.push(BatchOp::Delete { table, key });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// An owned key-value pair as a scan returns it.
pub(crate) type KeyValue = (Vec<u8>, Vec<u8>);

/// An ordered key-value engine. Implementations are internally synchronised; every
/// method blocks the calling thread.
pub(crate) trait KvEngine: Send + Sync {
    /// The engine's name for logs: `fjall` or `rocksdb`.
    fn name(&self) -> &'static str;

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;

    /// Applies the batch atomically. When this returns `Ok` the batch is on stable
    /// storage (fsynced): a crash afterwards never loses it.
    fn write(&self, batch: Batch) -> Result<(), Error>;

    /// Up to `limit` pairs of `range`, in key order (`Forward`) or reverse key order.
    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<KeyValue>, Error>;

    /// Pushes everything buffered to stable storage (writes already are; this also
    /// flushes memtables so the next open has less journal to replay).
    fn flush(&self) -> Result<(), Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    /// Exercises one engine through the seam: batches across tables, scans in both
    /// directions with bounds and limits, and durability across a reopen.
    fn engine_contract(open: fn(&std::path::Path) -> Result<Box<dyn KvEngine>, Error>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = open(dir.path()).expect("open");
        let mut batch = Batch::new();
        for key in [&b"a"[..], b"b", b"b\x00", b"c", &[b'c', 0xFF], b"d"] {
            batch.put(Table::Users, key.to_vec(), key.to_vec());
        }
        batch.put(Table::Filters, b"b".to_vec(), b"filter".to_vec());
        engine.write(batch).expect("write");

        let keys = |pairs: Vec<KeyValue>| pairs.into_iter().map(|(key, _)| key).collect::<Vec<_>>();
        let all = KeyRange { from: Vec::new(), to: None };
        let forward = engine.scan(Table::Users, &all, Direction::Forward, 100).expect("scan");
        assert_eq!(keys(forward).len(), 6);
        let range = KeyRange::between(key_after(b"a"), b"c\xFF".to_vec());
        let forward = engine.scan(Table::Users, &range, Direction::Forward, 100).expect("scan");
        assert_eq!(keys(forward), [b"b".to_vec(), b"b\x00".to_vec(), b"c".to_vec()]);
        let reverse = engine.scan(Table::Users, &range, Direction::Reverse, 2).expect("scan");
        assert_eq!(keys(reverse), [b"c".to_vec(), b"b\x00".to_vec()]);
        let prefixed = engine.scan(Table::Users, &KeyRange::prefix(b"c".to_vec()), Direction::Reverse, 10);
        assert_eq!(keys(prefixed.expect("scan")), [vec![b'c', 0xFF], b"c".to_vec()]);
        assert!(engine.scan(Table::Users, &all, Direction::Forward, 0).expect("scan").is_empty());
        assert_eq!(engine.get(Table::Filters, b"b").expect("get"), Some(b"filter".to_vec()));
        assert_eq!(engine.get(Table::Filters, b"a").expect("get"), None, "tables are separate");

        let mut batch = Batch::new();
        batch.delete(Table::Users, b"a".to_vec());
        batch.put(Table::Users, b"a".to_vec(), b"again".to_vec());
        batch.delete(Table::Users, b"d".to_vec());
        engine.write(batch).expect("write");
        engine.flush().expect("flush");
        drop(engine);

        let engine = open(dir.path()).expect("reopen");
        assert_eq!(engine.get(Table::Users, b"a").expect("get"), Some(b"again".to_vec()), "later ops win");
        assert_eq!(engine.get(Table::Users, b"d").expect("get"), None);
        assert_eq!(engine.get(Table::Filters, b"b").expect("get"), Some(b"filter".to_vec()));
    }

    #[test]
    fn fjall_engine_contract() {
        engine_contract(|path| Ok(Box::new(super::super::fjall::FjallEngine::open(path)?)));
    }

    #[cfg(feature = "rocksdb")]
    #[test]
    fn rocksdb_engine_contract() {
        engine_contract(|path| Ok(Box::new(super::super::rocksdb::RocksdbEngine::open(path)?)));
    }

    #[test]
    fn table_indexes_match_all() {
        for (position, table) in Table::ALL.iter().enumerate() {
            assert_eq!(table.index(), position);
        }
    }
}
