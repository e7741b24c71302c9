//! Property: whatever content the nesting limit accepts (deep up to the limit, wide,
//! any unicode and escapes, integers at ±(2^53 − 1)) is built, stored (in real fjall,
//! RocksDB and PostgreSQL stores, as the build and environment have them), read back with `Pdu::from_stored` and formatted for clients unchanged, and a client parsing it inside
//! the deepest envelope a `/sync` response has (with serde_json's default limit) gets it
//! back whole. Content one level deeper is refused.

use proptest::prelude::*;
use ruma::{OwnedRoomId, OwnedUserId};
use serde_json::{Map, Value, json};
use stoa_federation::{MAX_SAFE_INTEGER, MIN_SAFE_INTEGER, RoomVersion, ServerSigningKey};

use super::client_event;
use crate::events::nesting::{MAX_NESTING, value_depth};
use crate::events::{BuildError, EventBuilder, Pdu, PduError};
use crate::storage::{EventStatus, NewEvent, PersistBatch, Position, StateGroupId, Stores};

/// The stores the property runs on: fjall always, RocksDB with the `rocksdb` feature,
/// PostgreSQL (a fresh database, dropped with the fixture) when `STOA_TEST_POSTGRES_URL`
/// is set; each opened through `storage::open`, as the server does.
struct Backends {
    runtime: tokio::runtime::Runtime,
    stores: Vec<(&'static str, Stores)>,
    _dir: tempfile::TempDir,
    _database: Option<crate::storage::postgres::test_database::TestDatabase>,
}

impl Backends {
    fn open() -> Backends {
        use crate::config::{StorageConfig, storage::Backend};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut configs =
            vec![("fjall", StorageConfig { path: dir.path().join("fjall"), ..Default::default() })];
        if cfg!(feature = "rocksdb") {
            let path = dir.path().join("rocksdb");
            configs
                .push(("rocksdb", StorageConfig { backend: Backend::Rocksdb, path, ..Default::default() }));
        }
        let database = runtime.block_on(crate::storage::postgres::test_database::fresh_test_database());
        if let Some(database) = &database {
            let postgres_url = database.url.clone();
            configs.push((
                "postgres",
                StorageConfig { backend: Backend::Postgres, postgres_url, ..Default::default() },
            ));
        }
        let stores = configs
            .into_iter()
            .map(|(name, config)| {
                let stores =
                    runtime.block_on(crate::storage::open(&config)).unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, stores)
            })
            .collect();
        Backends { runtime, stores, _dir: dir, _database: database }
    }

    /// Persists the event through the store trait of every backend and reads it back
    /// from each.
    fn store_and_load(
        &self,
        pdu: &Pdu,
        position: Position,
    ) -> Vec<(&'static str, crate::storage::StoredEvent)> {
        let event = NewEvent {
            event_id: pdu.event_id().to_owned(),
            sender: pdu.sender().to_owned(),
            event_type: pdu.kind().to_owned(),
            state_key: None,
            json: pdu.json().to_owned(),
            position: Some(position),
            status: EventStatus::Accepted,
            state_before: StateGroupId(0),
            state_after: StateGroupId(0),
            redacts: None,
            txn: None,
        };
        let batch = PersistBatch {
            room_id: Some(pdu.room_id().to_owned()),
            events: vec![event],
            ..PersistBatch::default()
        };
        self.stores
            .iter()
            .map(|(name, stores)| {
                let stored = self.runtime.block_on(async {
                    stores.rooms.persist(&batch).await.unwrap_or_else(|e| panic!("{name}: {e}"));
                    stores.rooms.get_event(pdu.event_id()).await.unwrap_or_else(|e| panic!("{name}: {e}"))
                });
                (*name, stored.unwrap_or_else(|| panic!("{name}: the stored event is missing")))
            })
            .collect()
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(MAX_SAFE_INTEGER),
            Just(MIN_SAFE_INTEGER),
            Just(0),
            MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER
        ]
        .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\"\\\\/\\n\\t\\u{0}-\\u{1f}\\u{7f}\\u{2028}é中🎉\\[\\]{}]{0,12}".prop_map(Value::String),
    ]
}

/// A wide object of scalars under arbitrary (unicode, escaped) keys.
fn wide() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(any::<String>(), scalar(), 0..40)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// A chain of `levels` containers (arrays and objects, as `kinds` says) around a leaf.
fn spine(levels: usize, kinds: Vec<bool>, leaf: Value) -> Value {
    (0..levels).fold(leaf, |inner, level| {
        if kinds.get(level).copied().unwrap_or(false) { json!({ "k\"[": inner }) } else { json!([inner]) }
    })
}

/// Message content nesting at most `MAX_NESTING` levels.
fn content() -> impl Strategy<Value = Value> {
    (0..MAX_NESTING, prop::collection::vec(any::<bool>(), MAX_NESTING), scalar(), wide(), any::<String>())
        .prop_map(|(levels, kinds, leaf, wide, body)| {
            let mut content = Map::new();
            content.insert("msgtype".to_owned(), json!("m.text"));
            content.insert("body".to_owned(), json!(body));
            content.insert("wide".to_owned(), wide);
            content.insert("deep".to_owned(), spine(levels, kinds, leaf));
            Value::Object(content)
        })
}

fn build(version: RoomVersion, content: Value) -> Result<Pdu, BuildError> {
    let room = if version == RoomVersion::V12 {
        format!("!{}", "c".repeat(43))
    } else {
        "!room:example.org".to_owned()
    };
    let room: OwnedRoomId = room.try_into().unwrap_or_else(|_| unreachable!());
    let sender: OwnedUserId = "@alice:example.org".try_into().unwrap_or_else(|_| unreachable!());
    let mut builder = EventBuilder::new(version, Some(room), sender, "m.room.message", content);
    builder.prev_events =
        vec!["$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".try_into().unwrap_or_else(|_| unreachable!())];
    let key = ServerSigningKey::from_seed("1", [7; 32]).map_err(|e| BuildError::Randomness(e.to_string()))?;
    builder.build("example.org", &key)
}

/// The event as a client reads it from a `/sync` response, nested where a bundled
/// thread's latest event sits, the deepest place content is served.
fn through_sync(event: Value) -> Value {
    let response = json!({ "rooms": { "join": { "!room:example.org": { "timeline": { "events": [
        { "unsigned": { "m.relations": { "m.thread": { "latest_event": event } } } }
    ] } } } } });
    let text = serde_json::to_string(&response).unwrap_or_default();
    let parsed: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("a client cannot parse it: {e}"));
    parsed["rooms"]["join"]["!room:example.org"]["timeline"]["events"][0]["unsigned"]["m.relations"]["m.thread"]
        ["latest_event"]["content"]
        .clone()
}

/// Whatever the limit accepts is stored by every backend and read back unchanged.
#[test]
fn accepted_content_reads_back_unchanged_on_fjall_rocksdb_and_postgres() {
    let backends = Backends::open();
    let next = std::cell::Cell::new(1u64);
    let strategy = (content(), prop::sample::select(RoomVersion::ALL.to_vec()));
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
    let result = runner.run(&strategy, |(content, version)| {
        prop_assert!(value_depth(&content) <= MAX_NESTING);
        let built = build(version, content.clone());
        let Ok(pdu) = built else {
            // The only refusal for content within the limit is the PDU size limit.
            prop_assert!(
                matches!(built, Err(BuildError::Signing(_) | BuildError::Invalid(PduError::TooLarge(_)))),
                "{built:?}"
            );
            return Ok(());
        };
        let position = Position(next.replace(next.get() + 1));
        for (backend, stored) in backends.store_and_load(&pdu, position) {
            let read = Pdu::from_stored(&stored.json, &stored.event_id, version);
            prop_assert!(read.is_ok(), "{backend}: {read:?}");
            let read = read.unwrap_or_else(|_| unreachable!());
            prop_assert_eq!(read.content_value(), Some(&content), "{}", backend);
            prop_assert_eq!(read.json(), pdu.json(), "{}", backend);
            let event = client_event(&stored, &read, version);
            prop_assert_eq!(&event["content"], &content, "{}", backend);
            prop_assert_eq!(through_sync(event), content.clone(), "{}", backend);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

proptest! {
    #[test]
    fn content_one_level_deeper_is_refused(content in content()) {
        let deeper = json!({ "body": "x", "deep": spine(MAX_NESTING - 1, Vec::new(), json!([])), "c": content });
        prop_assert!(matches!(build(RoomVersion::V11, deeper), Err(BuildError::Invalid(PduError::TooDeep(_)))));
    }
}
