//! Checks of [`crate::storage::RelationStore`]: relations written by the persist batch of
//! their events, paged and filtered, counted, the newest overall and per sender, thread
//! roots by latest activity, idempotent re-persisting, and durability across a restart.

use ruma::{OwnedEventId, RoomId};

use super::Fixture;
use super::rooms::{ALICE, CreatedRoom, create_room, event_id, message};
use super::samples::user_id;
use crate::storage::{
    Direction, EventStatus, NewEvent, PersistBatch, Position, RelationRecord, Stores, ThreadRecord,
};

const BOB: &str = "@bob:example.org";

/// An accepted event `name` of `room` at `position` relating to `parent`, and its relation.
#[allow(clippy::too_many_arguments)]
fn related(
    room: &CreatedRoom,
    name: &str,
    parent: &str,
    rel_type: &str,
    event_type: &str,
    sender: &str,
    position: u64,
) -> (NewEvent, RelationRecord) {
    let event = NewEvent {
        sender: user_id(sender),
        event_type: event_type.to_owned(),
        ..message(&room.room_id, name, position, room.state)
    };
    let relation = RelationRecord {
        event_id: event.event_id.clone(),
        parent_id: event_id(parent),
        rel_type: rel_type.to_owned(),
        event_type: event_type.to_owned(),
        sender: user_id(sender),
        position: Position(position),
    };
    (event, relation)
}

/// One batch of `room` with the events and relations of `items`.
fn batch_of(room_id: &RoomId, items: &[(NewEvent, RelationRecord)]) -> PersistBatch {
    PersistBatch {
        room_id: Some(room_id.to_owned()),
        events: items.iter().map(|(event, _)| event.clone()).collect(),
        relations: items.iter().map(|(_, relation)| relation.clone()).collect(),
        ..PersistBatch::default()
    }
}

async fn persist(stores: &Stores, room_id: &RoomId, items: &[(NewEvent, RelationRecord)]) {
    stores.rooms.persist(&batch_of(room_id, items)).await.unwrap();
}

fn ids(relations: &[RelationRecord]) -> Vec<OwnedEventId> {
    relations.iter().map(|relation| relation.event_id.clone()).collect()
}

fn names(names: &[&str]) -> Vec<OwnedEventId> {
    names.iter().map(|name| event_id(name)).collect()
}

/// A room with a root message `root` at 10 and, relating to it: reactions `r1` (alice,
/// 11), `r2` (bob, 13), `r3` (bob, 16); edits `e1` (alice, 12), `e2` (alice, 15); thread
/// replies `t1` (bob, 14), `t2` (alice, 17) — plus `other`'s reaction `o1` (18).
async fn scenario(stores: &Stores) -> CreatedRoom {
    let room = create_room(stores, "!room:example.org", "a", 1).await;
    let roots =
        [message(&room.room_id, "root", 10, room.state), message(&room.room_id, "other", 9, room.state)];
    stores.rooms.persist(&super::rooms::events_batch(&room.room_id, roots.to_vec())).await.unwrap();
    let items = [
        related(&room, "r1", "root", "m.annotation", "m.reaction", ALICE, 11),
        related(&room, "e1", "root", "m.replace", "m.room.message", ALICE, 12),
        related(&room, "r2", "root", "m.annotation", "m.reaction", BOB, 13),
        related(&room, "t1", "root", "m.thread", "m.room.message", BOB, 14),
        related(&room, "e2", "root", "m.replace", "m.room.message", ALICE, 15),
        related(&room, "r3", "root", "m.annotation", "m.reaction", BOB, 16),
        related(&room, "t2", "root", "m.thread", "m.room.encrypted", ALICE, 17),
        related(&room, "o1", "other", "m.annotation", "m.reaction", BOB, 18),
    ];
    // Two batches, so relations of one parent span batches.
    let (first, second) = items.split_at(3);
    persist(stores, &room.room_id, first).await;
    persist(stores, &room.room_id, second).await;
    room
}

pub(crate) async fn relations_page_both_ways(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = scenario(stores).await;
    let root = event_id("root");
    let page = |from: Option<u64>, direction, limit| {
        let relations = &stores.relations;
        let (room_id, root) = (room.room_id.clone(), root.clone());
        async move {
            let from = from.map(Position);
            ids(&relations.relations(&room_id, &root, None, None, from, direction, limit).await.unwrap())
        }
    };
    let all = names(&["r1", "e1", "r2", "t1", "e2", "r3", "t2"]);
    assert_eq!(page(None, Direction::Forward, 100).await, all);
    assert_eq!(page(None, Direction::Forward, 3).await, names(&["r1", "e1", "r2"]));
    assert_eq!(page(Some(13), Direction::Forward, 3).await, names(&["t1", "e2", "r3"]), "strictly after");
    assert_eq!(page(Some(16), Direction::Forward, 3).await, names(&["t2"]));
    assert_eq!(page(Some(17), Direction::Forward, 3).await, Vec::<OwnedEventId>::new());
    assert_eq!(page(None, Direction::Backward, 2).await, names(&["t2", "r3"]));
    assert_eq!(page(Some(16), Direction::Backward, 3).await, names(&["e2", "t1", "r2"]), "strictly before");
    assert_eq!(page(Some(12), Direction::Backward, 3).await, names(&["r1"]));
    assert_eq!(page(Some(11), Direction::Backward, 3).await, Vec::<OwnedEventId>::new());
    assert_eq!(page(None, Direction::Forward, 0).await, Vec::<OwnedEventId>::new());

    // Walking forward page by page and backward page by page meets every relation once.
    let (mut forward, mut from) = (Vec::new(), None);
    loop {
        let chunk = stores.relations.relations(&room.room_id, &root, None, None, from, Direction::Forward, 2);
        let chunk = chunk.await.unwrap();
        let Some(last) = chunk.last() else { break };
        from = Some(last.position);
        forward.extend(ids(&chunk));
    }
    assert_eq!(forward, all);
    let full = stores.relations.relations(&room.room_id, &root, None, None, None, Direction::Forward, 100);
    let full = full.await.unwrap();
    let first = full.first().expect("relations");
    assert_eq!(first.parent_id, root);
    assert_eq!((first.rel_type.as_str(), first.event_type.as_str()), ("m.annotation", "m.reaction"));
    assert_eq!((first.sender.as_str(), first.position), (ALICE, Position(11)));
}

pub(crate) async fn relations_filter_by_types(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = scenario(stores).await;
    let root = event_id("root");
    let filtered = |rel_type: Option<&'static str>, event_type: Option<&'static str>, direction, limit| {
        let relations = &stores.relations;
        let (room_id, root) = (room.room_id.clone(), root.clone());
        async move {
            let page = relations.relations(&room_id, &root, rel_type, event_type, None, direction, limit);
            ids(&page.await.unwrap())
        }
    };
    let forward = Direction::Forward;
    assert_eq!(filtered(Some("m.annotation"), None, forward, 10).await, names(&["r1", "r2", "r3"]));
    assert_eq!(filtered(Some("m.replace"), None, Direction::Backward, 10).await, names(&["e2", "e1"]));
    assert_eq!(filtered(Some("m.thread"), Some("m.room.message"), forward, 10).await, names(&["t1"]));
    assert_eq!(filtered(Some("m.thread"), Some("m.room.encrypted"), forward, 10).await, names(&["t2"]));
    assert_eq!(
        filtered(Some("m.annotation"), Some("m.room.message"), forward, 10).await,
        Vec::<OwnedEventId>::new()
    );
    assert_eq!(filtered(Some("m.reference"), None, forward, 10).await, Vec::<OwnedEventId>::new());
    // An event type without a relation type: across types, still in order and limited.
    assert_eq!(filtered(None, Some("m.room.message"), forward, 10).await, names(&["e1", "t1", "e2"]));
    assert_eq!(filtered(None, Some("m.room.message"), Direction::Backward, 2).await, names(&["e2", "t1"]));
    // Paging within a filter.
    let page = stores.relations.relations(
        &room.room_id,
        &root,
        Some("m.annotation"),
        Some("m.reaction"),
        Some(Position(11)),
        forward,
        1,
    );
    assert_eq!(ids(&page.await.unwrap()), names(&["r2"]));

    // Other parents and other rooms are not mixed in.
    let other_id = event_id("other");
    let other = stores.relations.relations(&room.room_id, &other_id, None, None, None, forward, 10);
    assert_eq!(ids(&other.await.unwrap()), names(&["o1"]));
    let elsewhere = create_room(stores, "!elsewhere:example.org", "x", 100).await;
    let stray = related(&elsewhere, "stray", "root", "m.annotation", "m.reaction", BOB, 200);
    persist(stores, &elsewhere.room_id, &[stray]).await;
    assert_eq!(filtered(Some("m.annotation"), None, forward, 10).await, names(&["r1", "r2", "r3"]));
    assert_eq!(filtered(None, None, Direction::Backward, 1).await, names(&["t2"]));
}

pub(crate) async fn relation_counts_and_latest(fixture: Fixture) {
    let stores = &fixture.stores;
    scenario(stores).await;
    let relations = &stores.relations;
    let (root, alice, bob) = (event_id("root"), user_id(ALICE), user_id(BOB));
    assert_eq!(relations.relation_count(&root, "m.annotation").await.unwrap(), 3);
    assert_eq!(relations.relation_count(&root, "m.replace").await.unwrap(), 2);
    assert_eq!(relations.relation_count(&root, "m.thread").await.unwrap(), 2);
    assert_eq!(relations.relation_count(&root, "m.reference").await.unwrap(), 0);
    assert_eq!(relations.relation_count(&event_id("other"), "m.annotation").await.unwrap(), 1);
    assert_eq!(relations.relation_count(&event_id("nothing"), "m.annotation").await.unwrap(), 0);

    let latest = |rel_type: &'static str, sender: Option<&'static str>| {
        let root = root.clone();
        async move {
            let sender = sender.map(user_id);
            relations.latest_relation(&root, rel_type, sender.as_deref()).await.unwrap().map(|r| r.event_id)
        }
    };
    assert_eq!(latest("m.replace", None).await, Some(event_id("e2")));
    assert_eq!(latest("m.annotation", None).await, Some(event_id("r3")));
    assert_eq!(latest("m.annotation", Some(ALICE)).await, Some(event_id("r1")));
    assert_eq!(latest("m.annotation", Some(BOB)).await, Some(event_id("r3")));
    assert_eq!(latest("m.replace", Some(BOB)).await, None);
    assert_eq!(latest("m.reference", None).await, None);
    let full = relations.latest_relation(&root, "m.thread", Some(&alice)).await.unwrap();
    let expected = RelationRecord {
        event_id: event_id("t2"),
        parent_id: root.clone(),
        rel_type: "m.thread".to_owned(),
        event_type: "m.room.encrypted".to_owned(),
        sender: alice.clone(),
        position: Position(17),
    };
    assert_eq!(full, Some(expected));

    assert!(relations.has_related_from(&root, "m.annotation", &alice).await.unwrap());
    assert!(relations.has_related_from(&root, "m.annotation", &bob).await.unwrap());
    assert!(!relations.has_related_from(&root, "m.replace", &bob).await.unwrap());
    assert!(!relations.has_related_from(&event_id("other"), "m.annotation", &alice).await.unwrap());
    let carol = user_id("@bo:example.org");
    assert!(!relations.has_related_from(&root, "m.annotation", &carol).await.unwrap(), "no prefix match");
}

fn thread(root: &str, position: u64, latest: &str) -> ThreadRecord {
    ThreadRecord {
        root_id: event_id(root),
        latest_position: Position(position),
        latest_event_id: event_id(latest),
    }
}

pub(crate) async fn threads_by_latest_activity(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = create_room(stores, "!room:example.org", "a", 1).await;
    let other = create_room(stores, "!other:example.org", "o", 4).await;
    let roots: Vec<NewEvent> = ["ta", "tb", "tc"]
        .iter()
        .zip(10..)
        .map(|(name, position)| message(&room.room_id, name, position, room.state))
        .collect();
    stores.rooms.persist(&super::rooms::events_batch(&room.room_id, roots)).await.unwrap();
    let reply = |name: &str, root: &str, position: u64| {
        related(&room, name, root, "m.thread", "m.room.message", BOB, position)
    };
    persist(stores, &room.room_id, &[reply("a1", "ta", 20), reply("b1", "tb", 21)]).await;
    persist(stores, &room.room_id, &[reply("c1", "tc", 22), reply("a2", "ta", 23)]).await;
    // Several replies to one root in one batch, out of order: the newest counts.
    persist(stores, &room.room_id, &[reply("b3", "tb", 25), reply("b2", "tb", 24)]).await;
    // Not threads: other relation types, and another room's thread.
    let edit = related(&room, "edit", "tc", "m.replace", "m.room.message", ALICE, 26);
    persist(stores, &room.room_id, &[edit]).await;
    let elsewhere = related(&other, "x1", "ox", "m.thread", "m.room.message", BOB, 27);
    persist(stores, &other.room_id, &[elsewhere]).await;

    let threads = &stores.relations;
    let expected = vec![thread("tb", 25, "b3"), thread("ta", 23, "a2"), thread("tc", 22, "c1")];
    assert_eq!(threads.threads(&room.room_id, None, 10).await.unwrap(), expected);
    assert_eq!(threads.threads(&room.room_id, None, 2).await.unwrap(), expected[..2]);
    assert_eq!(threads.threads(&room.room_id, Some(Position(25)), 10).await.unwrap(), expected[1..]);
    assert_eq!(threads.threads(&room.room_id, Some(Position(23)), 10).await.unwrap(), expected[2..]);
    assert_eq!(threads.threads(&room.room_id, Some(Position(24)), 1).await.unwrap(), expected[1..2]);
    assert_eq!(threads.threads(&room.room_id, Some(Position(22)), 10).await.unwrap(), Vec::new());
    assert_eq!(threads.threads(&room.room_id, None, 0).await.unwrap(), Vec::new());
    assert_eq!(threads.threads(&other.room_id, None, 10).await.unwrap(), vec![thread("ox", 27, "x1")]);

    // New activity moves a root to the front, leaving no stale entry behind.
    persist(stores, &room.room_id, &[reply("c2", "tc", 30)]).await;
    let moved = vec![thread("tc", 30, "c2"), thread("tb", 25, "b3"), thread("ta", 23, "a2")];
    assert_eq!(threads.threads(&room.room_id, None, 10).await.unwrap(), moved);
    assert_eq!(threads.threads(&room.room_id, Some(Position(30)), 10).await.unwrap(), moved[1..]);
}

pub(crate) async fn relations_written_with_their_events(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = create_room(stores, "!room:example.org", "a", 1).await;
    let parent = message(&room.room_id, "parent", 4, room.state);
    let reaction = related(&room, "reaction", "parent", "m.annotation", "m.reaction", BOB, 5);
    // The parent, the relating event and its relation in one batch: all visible at once.
    let mut batch = batch_of(&room.room_id, std::slice::from_ref(&reaction));
    batch.events.insert(0, parent);
    stores.rooms.persist(&batch).await.unwrap();
    assert!(stores.rooms.get_event(&event_id("reaction")).await.unwrap().is_some());
    let parent_id = event_id("parent");
    let page =
        stores.relations.relations(&room.room_id, &parent_id, None, None, None, Direction::Forward, 10);
    assert_eq!(page.await.unwrap(), vec![reaction.1.clone()]);
    assert_eq!(stores.relations.relation_count(&parent_id, "m.annotation").await.unwrap(), 1);

    // A relation whose event is not an accepted event of its batch is not indexed.
    let (soft, soft_relation) = related(&room, "soft", "parent", "m.annotation", "m.reaction", ALICE, 6);
    let soft = NewEvent { status: EventStatus::SoftFailed, ..soft };
    let (_, absent) = related(&room, "absent", "parent", "m.annotation", "m.reaction", ALICE, 7);
    let batch = PersistBatch { relations: vec![soft_relation, absent], ..batch_of(&room.room_id, &[]) };
    stores.rooms.persist(&PersistBatch { events: vec![soft], ..batch }).await.unwrap();
    assert_eq!(stores.relations.relation_count(&event_id("parent"), "m.annotation").await.unwrap(), 1);
    assert!(
        !stores
            .relations
            .has_related_from(&event_id("parent"), "m.annotation", &user_id(ALICE))
            .await
            .unwrap()
    );
}

pub(crate) async fn duplicate_event_keeps_one_relation(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = create_room(stores, "!room:example.org", "a", 1).await;
    let parent = message(&room.room_id, "parent", 4, room.state);
    stores.rooms.persist(&super::rooms::events_batch(&room.room_id, vec![parent])).await.unwrap();
    let first = related(&room, "first", "parent", "m.thread", "m.room.message", BOB, 5);
    persist(stores, &room.room_id, std::slice::from_ref(&first)).await;
    // The whole batch again, then the event again under a different relation and position.
    persist(stores, &room.room_id, std::slice::from_ref(&first)).await;
    let (again, mut changed) = first.clone();
    changed.rel_type = "m.annotation".to_owned();
    changed.position = Position(9);
    persist(stores, &room.room_id, &[(NewEvent { position: Some(Position(9)), ..again }, changed)]).await;
    // Listed twice in one batch: indexed once.
    let twice = related(&room, "twice", "parent", "m.thread", "m.room.message", ALICE, 6);
    let relisted = (NewEvent { position: Some(Position(7)), ..twice.0.clone() }, twice.1.clone());
    persist(stores, &room.room_id, &[twice.clone(), relisted]).await;

    let relations = &stores.relations;
    let parent = event_id("parent");
    assert_eq!(relations.relation_count(&parent, "m.thread").await.unwrap(), 2);
    assert_eq!(relations.relation_count(&parent, "m.annotation").await.unwrap(), 0);
    let all =
        relations.relations(&room.room_id, &parent, None, None, None, Direction::Forward, 10).await.unwrap();
    assert_eq!(all, vec![first.1, twice.1]);
    assert_eq!(relations.threads(&room.room_id, None, 10).await.unwrap(), vec![thread("parent", 6, "twice")]);
}

/// A redaction at `position` of the event of `relation`, removing that relation.
fn redaction(room: &CreatedRoom, name: &str, relation: &RelationRecord, position: u64) -> PersistBatch {
    let event = NewEvent {
        event_type: "m.room.redaction".to_owned(),
        redacts: Some(relation.event_id.clone()),
        ..message(&room.room_id, name, position, room.state)
    };
    PersistBatch {
        room_id: Some(room.room_id.clone()),
        events: vec![event],
        removed_relations: vec![relation.clone()],
        ..PersistBatch::default()
    }
}

pub(crate) async fn redactions_remove_relations(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = scenario(stores).await;
    let root = event_id("root");
    let relations = &stores.relations;
    let relation_of = |name: &str, rel_type: &str, event_type: &str, sender: &str, position: u64| {
        related(&room, name, "root", rel_type, event_type, sender, position).1
    };
    // A reaction goes from the list and the count; a retry and a second redaction of
    // the same event change nothing more.
    let r2 = relation_of("r2", "m.annotation", "m.reaction", BOB, 13);
    let batch = redaction(&room, "x1", &r2, 20);
    stores.rooms.persist(&batch).await.unwrap();
    stores.rooms.persist(&batch).await.unwrap();
    stores.rooms.persist(&redaction(&room, "x2", &r2, 21)).await.unwrap();
    assert_eq!(relations.relation_count(&root, "m.annotation").await.unwrap(), 2);
    let page =
        relations.relations(&room.room_id, &root, Some("m.annotation"), None, None, Direction::Forward, 10);
    assert_eq!(ids(&page.await.unwrap()), names(&["r1", "r3"]));
    assert!(relations.has_related_from(&root, "m.annotation", &user_id(BOB)).await.unwrap(), "r3 is bob's");
    // The latest edit falls back to the one before.
    stores
        .rooms
        .persist(&redaction(&room, "x3", &relation_of("e2", "m.replace", "m.room.message", ALICE, 15), 22))
        .await
        .unwrap();
    let latest = relations.latest_relation(&root, "m.replace", Some(&user_id(ALICE))).await.unwrap();
    assert_eq!(latest.map(|relation| relation.event_id), Some(event_id("e1")));
    // A thread's activity moves back to its newest remaining reply, then the thread goes.
    stores
        .rooms
        .persist(&redaction(&room, "x4", &relation_of("t2", "m.thread", "m.room.encrypted", ALICE, 17), 23))
        .await
        .unwrap();
    assert_eq!(relations.threads(&room.room_id, None, 10).await.unwrap(), vec![thread("root", 14, "t1")]);
    assert_eq!(relations.relation_count(&root, "m.thread").await.unwrap(), 1);
    stores
        .rooms
        .persist(&redaction(&room, "x5", &relation_of("t1", "m.thread", "m.room.message", BOB, 14), 24))
        .await
        .unwrap();
    assert_eq!(relations.threads(&room.room_id, None, 10).await.unwrap(), Vec::new());
    assert_eq!(relations.relation_count(&root, "m.thread").await.unwrap(), 0);
    // A removal listed without a redaction of that event in the batch is ignored.
    let r1 = relation_of("r1", "m.annotation", "m.reaction", ALICE, 11);
    let unrelated = PersistBatch { removed_relations: vec![r1], ..batch_of(&room.room_id, &[]) };
    stores
        .rooms
        .persist(&PersistBatch { events: vec![message(&room.room_id, "m", 25, room.state)], ..unrelated })
        .await
        .unwrap();
    assert_eq!(relations.relation_count(&root, "m.annotation").await.unwrap(), 2);
}

pub(crate) async fn relations_survive_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let room = scenario(&stores).await;
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    let root = event_id("root");
    let relations = &stores.relations;
    let page =
        relations.relations(&room.room_id, &root, Some("m.annotation"), None, None, Direction::Forward, 10);
    assert_eq!(ids(&page.await.unwrap()), names(&["r1", "r2", "r3"]));
    assert_eq!(relations.relation_count(&root, "m.annotation").await.unwrap(), 3);
    let latest = relations.latest_relation(&root, "m.replace", Some(&user_id(ALICE))).await.unwrap();
    assert_eq!(latest.map(|relation| relation.event_id), Some(event_id("e2")));
    assert!(relations.has_related_from(&root, "m.thread", &user_id(BOB)).await.unwrap());
    assert_eq!(relations.threads(&room.room_id, None, 10).await.unwrap(), vec![thread("root", 17, "t2")]);

    // Counters carry on from what was stored, not from zero.
    let more = related(&room, "r4", "root", "m.annotation", "m.reaction", ALICE, 40);
    persist(&stores, &room.room_id, &[more]).await;
    assert_eq!(stores.relations.relation_count(&root, "m.annotation").await.unwrap(), 4);
}
