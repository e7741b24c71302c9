//! Store micro-benchmarks on every engine and backend, through the domain store the
//! server uses: appending one message (one durable batch, as the write path persists
//! each event), reading one event by ID, and reading a 50-event page of a
//! 10,000-event room's timeline.
//!
//! fjall always; RocksDB when built with `--features rocksdb`; PostgreSQL when
//! `STOA_BENCH_POSTGRES_URL` names a database (its tables are created if missing; every
//! run uses fresh room IDs). Run: `cargo bench --bench store [--features rocksdb]`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde_json::json;
use stoa::config::{Backend, StorageConfig};
use stoa::storage::rooms::{EventStatus, NewEvent, NewStateGroup, PersistBatch, RoomRecord};
use stoa::storage::{Direction, Position, StateGroupId, Stores, StreamId};

/// Events in the room whose timeline is paged.
const ROOM_EVENTS: u64 = 10_000;
/// Events per batch while filling that room.
const FILL_BATCH: u64 = 200;

fn backends(dir: &std::path::Path) -> Vec<(&'static str, StorageConfig)> {
    let config = |backend, name: &str| StorageConfig {
        backend,
        path: dir.join(name),
        postgres_url: std::env::var("STOA_BENCH_POSTGRES_URL").unwrap_or_default(),
        postgres_max_connections: 8,
    };
    let mut backends = vec![("fjall", config(Backend::Fjall, "fjall"))];
    if cfg!(feature = "rocksdb") {
        backends.push(("rocksdb", config(Backend::Rocksdb, "rocksdb")));
    }
    if std::env::var("STOA_BENCH_POSTGRES_URL").is_ok() {
        backends.push(("postgres", config(Backend::Postgres, "unused")));
    }
    backends
}

/// A fresh room: its ID, creator and the state group its messages sit on.
struct Room {
    room_id: OwnedRoomId,
    sender: OwnedUserId,
    group: StateGroupId,
}

fn event_id(room: &Room, n: u64) -> OwnedEventId {
    let tag: String = room.room_id.as_str().chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    OwnedEventId::try_from(format!("${tag}{n:_>30}")).expect("valid event ID")
}

fn message(room: &Room, n: u64, position: Position) -> NewEvent {
    let json = json!({
        "auth_events": [], "prev_events": [], "depth": n,
        "content": { "msgtype": "m.text", "body": format!("message {n} of the benchmark room, a typical short line") },
        "hashes": { "sha256": "kOaBpFBzDWBBlj6UjqzBW8oWMwDW7JQqgkMFMqcKMQE" },
        "origin_server_ts": 1_700_000_000_000_u64, "room_id": room.room_id, "sender": room.sender,
        "signatures": { "localhost": { "ed25519:a_AbCd": "c2lnbmF0dXJlIG9mIHRoZSBldmVudA" } },
        "type": "m.room.message",
    });
    NewEvent {
        event_id: event_id(room, n),
        sender: room.sender.clone(),
        event_type: "m.room.message".to_owned(),
        state_key: None,
        json: json.to_string(),
        position: Some(position),
        status: EventStatus::Accepted,
        state_before: room.group,
        state_after: room.group,
        redacts: None,
        txn: None,
    }
}

async fn create_room(stores: &Stores, tag: &str) -> Room {
    let nonce: u64 = rand_nonce();
    let room_id = OwnedRoomId::try_from(format!("!{tag}{nonce}:localhost")).expect("valid room ID");
    let sender = OwnedUserId::try_from("@bench:localhost").expect("valid user ID");
    let group = stores.rooms.reserve_state_group_ids(1).await.expect("state group");
    let position = stores.streams.reserve_position(StreamId::Events).await.expect("position");
    let room = Room { room_id: room_id.clone(), sender: sender.clone(), group };
    let create = message(&room, 0, position);
    let batch = PersistBatch {
        room_id: Some(room_id.clone()),
        new_room: Some(RoomRecord {
            room_id,
            room_version: "11".to_owned(),
            creator: sender,
            created_at_position: position,
        }),
        new_state_groups: vec![NewStateGroup { id: group, parent: None, delta: vec![] }],
        forward_extremities: Some(vec![create.event_id.clone()]),
        events: vec![create],
        ..PersistBatch::default()
    };
    stores.rooms.persist(&batch).await.expect("room created");
    room
}

fn rand_nonce() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn batch(room: &Room, events: Vec<NewEvent>) -> PersistBatch {
    let last = events.last().map(|e| e.event_id.clone());
    PersistBatch {
        room_id: Some(room.room_id.clone()),
        forward_extremities: last.map(|id| vec![id]),
        events,
        ..PersistBatch::default()
    }
}

fn store_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, config) in backends(dir.path()) {
        let stores = runtime.block_on(stoa::storage::open(&config)).expect("store opens");
        let appended = runtime.block_on(create_room(&stores, "append"));
        let mut n = 1;
        c.bench_function(&format!("store/{name}/append_one_event"), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let position =
                            stores.streams.reserve_position(StreamId::Events).await.expect("position");
                        let batch = batch(&appended, vec![message(&appended, n, position)]);
                        n += 1;
                        let started = Instant::now();
                        stores.rooms.persist(&batch).await.expect("persisted");
                        spent += started.elapsed();
                    }
                    spent
                })
            })
        });

        let room = runtime.block_on(async {
            let room = create_room(&stores, "read").await;
            for first in (1..=ROOM_EVENTS).step_by(FILL_BATCH as usize) {
                let mut events = Vec::new();
                for n in first..first + FILL_BATCH {
                    events.push(message(
                        &room,
                        n,
                        stores.streams.reserve_position(StreamId::Events).await.expect("position"),
                    ));
                }
                stores.rooms.persist(&batch(&room, events)).await.expect("filled");
            }
            room
        });
        let newest = runtime
            .block_on(stores.rooms.timeline(&room.room_id, None, Direction::Backward, 1))
            .expect("timeline")[0]
            .position
            .expect("position");
        let middle = Position(newest.0 - ROOM_EVENTS / 2);
        c.bench_function(&format!("store/{name}/timeline_page_50_of_10k"), |b| {
            b.iter(|| {
                runtime.block_on(stores.rooms.timeline(&room.room_id, Some(middle), Direction::Backward, 50))
            })
        });
        let wanted = event_id(&room, ROOM_EVENTS / 2);
        c.bench_function(&format!("store/{name}/get_event"), |b| {
            b.iter(|| runtime.block_on(stores.rooms.get_event(&wanted)))
        });
        drop(stores);
    }
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = store_benches
}
criterion_main!(store);
