//! PostgreSQL-only checks of the rooms tables (skipped without `STOA_TEST_POSTGRES_URL`):
//! state group IDs under concurrent reservation, rollback of a failing batch, and the
//! query plans of the paged reads on a table large enough for the planner to care.

use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::{Connection, PgConnection, Row};

use super::PostgresStore;
use super::rooms::{
    MEMBERS_SQL, MEMBERS_WITH_MEMBERSHIP_SQL, MEMBERSHIP_CHANGES_SQL, TIMELINE_BACKWARD_SQL,
    TIMELINE_FORWARD_SQL,
};
use super::test_database::{TestDatabase, fresh_test_database};
use crate::storage::{
    EventStatus, MembershipRecord, NewEvent, PersistBatch, Position, RoomRecord, RoomStore, StateGroupId,
    TxnKey,
};

async fn open() -> Option<(TestDatabase, Arc<PostgresStore>)> {
    let database = fresh_test_database().await?;
    let store = PostgresStore::connect(&database.url, 8).await.expect("connect");
    Some((database, store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_state_group_reservations_are_disjoint_consecutive_ranges() {
    let Some((database, store)) = open().await else { return };
    let tasks: Vec<_> = (1..=24u64)
        .map(|count| {
            let store = store.clone();
            tokio::spawn(async move {
                let first = store.reserve_state_group_ids(count).await.expect("reserve");
                (first.0, count)
            })
        })
        .collect();
    let mut ranges = Vec::new();
    for task in tasks {
        ranges.push(task.await.expect("task panicked"));
    }
    ranges.sort_unstable();
    // Sorted by first ID, each range must start exactly where the previous one ended:
    // no overlap, and (as nothing else reserved) no gap either.
    let mut next = 1;
    for (first, count) in &ranges {
        assert_eq!(*first, next, "ranges {ranges:?}");
        next = first + count;
    }
    assert_eq!(next, 1 + (1..=24u64).sum::<u64>());
    store.close().await;

    let reopened = PostgresStore::connect(&database.url, 2).await.expect("reconnect");
    assert_eq!(reopened.reserve_state_group_ids(1).await.expect("reserve"), StateGroupId(next));
}

fn event(id: &str, position: u64) -> NewEvent {
    NewEvent {
        event_id: OwnedEventId::try_from(id).expect("event ID"),
        sender: OwnedUserId::try_from("@alice:example.org").expect("user ID"),
        event_type: "m.room.message".to_owned(),
        state_key: None,
        json: "{}".to_owned(),
        position: Some(Position(position)),
        status: EventStatus::Accepted,
        state_before: StateGroupId(1),
        state_after: StateGroupId(1),
        redacts: None,
        txn: None,
    }
}

#[tokio::test]
async fn a_batch_that_fails_midway_leaves_nothing_behind() {
    let Some((_database, store)) = open().await else { return };
    let room_id = OwnedRoomId::try_from("!room:example.org").expect("room ID");
    let batch = PersistBatch {
        room_id: Some(room_id.clone()),
        new_room: Some(RoomRecord {
            room_id: room_id.clone(),
            room_version: "11".to_owned(),
            creator: OwnedUserId::try_from("@alice:example.org").expect("user ID"),
            created_at_position: Position(1),
        }),
        // Two events at one position of one room: the unique timeline index refuses the
        // second, after the room row is written in the same transaction.
        events: vec![event("$one", 1), event("$two", 1)],
        ..PersistBatch::default()
    };
    assert!(store.persist(&batch).await.is_err());
    assert_eq!(store.room(&room_id).await.expect("room"), None);
    assert_eq!(store.get_event(&OwnedEventId::try_from("$one").expect("ID")).await.expect("get"), None);
}

#[tokio::test]
async fn a_resent_event_keeps_its_first_copy_and_membership() {
    let Some((_database, store)) = open().await else { return };
    let room_id = OwnedRoomId::try_from("!room:example.org").expect("room ID");
    let bob = OwnedUserId::try_from("@bob:example.org").expect("user ID");
    let batch = |json: &str, membership: &str, txn: &str| {
        let mut first = event("$join", 5);
        first.json = json.to_owned();
        first.txn = Some(TxnKey { user_id: bob.clone(), device_id: "PHONE".into(), txn_id: txn.to_owned() });
        // The same ID listed again in one batch: only the first listing counts.
        let mut again = first.clone();
        again.json = "{\"again\":true}".to_owned();
        again.txn = Some(TxnKey { txn_id: format!("{txn}-again"), ..first.txn.clone().expect("txn") });
        PersistBatch {
            room_id: Some(room_id.clone()),
            events: vec![first, again],
            memberships: vec![MembershipRecord {
                room_id: room_id.clone(),
                user_id: bob.clone(),
                membership: membership.to_owned(),
                event_id: OwnedEventId::try_from("$join").expect("ID"),
                position: Position(5),
            }],
            ..PersistBatch::default()
        }
    };
    store.persist(&batch("{\"first\":true}", "join", "t1")).await.expect("persist");
    store.persist(&batch("{\"second\":true}", "leave", "t2")).await.expect("persist again");

    let stored = store.get_event(&OwnedEventId::try_from("$join").expect("ID")).await.expect("get");
    assert_eq!(stored.map(|event| event.json).as_deref(), Some("{\"first\":true}"));
    let memberships = store.user_memberships(&bob).await.expect("memberships");
    assert_eq!(memberships.iter().map(|record| record.membership.as_str()).collect::<Vec<_>>(), ["join"]);
    let txn =
        |txn_id: &str| TxnKey { user_id: bob.clone(), device_id: "PHONE".into(), txn_id: txn_id.to_owned() };
    assert!(store.txn_event(&txn("t1")).await.expect("txn").is_some());
    assert_eq!(store.txn_event(&txn("t1-again")).await.expect("txn"), None);
    assert_eq!(store.txn_event(&txn("t2")).await.expect("txn"), None);
}

/// Fills the rooms tables with enough rows (50 rooms of 400 events and members) that a
/// sequential scan would be the planner's choice for any query that cannot use an index.
async fn seed(connection: &mut PgConnection) {
    sqlx::raw_sql(
        "INSERT INTO events (event_id, room_id, position, status, sender, event_type, json) \
             SELECT '$e' || n, '!r' || (n % 50) || ':x', n, \
                 CASE WHEN n % 7 = 0 THEN 'soft_failed' ELSE 'accepted' END, '@u:x', 'm.room.message', '{}' \
             FROM generate_series(1, 20000) AS n; \
         INSERT INTO memberships (room_id, user_id, membership, event_id, position) \
             SELECT '!r' || (n % 50) || ':x', '@u' || n || ':x', \
                 CASE WHEN n % 3 = 0 THEN 'leave' ELSE 'join' END, '$e' || n, n \
             FROM generate_series(1, 20000) AS n; \
         INSERT INTO membership_changes (room_id, user_id, membership, event_id, position) \
             SELECT room_id, user_id, membership, event_id, position FROM memberships; \
         ANALYZE",
    )
    .execute(connection)
    .await
    .expect("seed");
}

/// The plan of `sql` run with `binds` (all text, cast by the statement's own casts).
async fn plan(connection: &mut PgConnection, sql: &str, binds: &[&str]) -> String {
    let explain = format!("EXPLAIN {sql}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
    for bind in binds {
        query = query.bind(*bind);
    }
    let rows = query.fetch_all(&mut *connection).await.expect("explain");
    rows.iter().map(|row| row.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
}

async fn assert_index_plan(connection: &mut PgConnection, sql: &str, binds: &[&str], index: &str) {
    let plan = plan(connection, sql, binds).await;
    assert!(plan.contains(index), "expected {index} in\n{plan}");
    assert!(!plan.contains("Seq Scan"), "sequential scan in\n{plan}");
    assert!(!plan.contains("Sort"), "the index order should be the result order in\n{plan}");
}

#[tokio::test]
async fn paged_reads_are_index_range_scans() {
    let Some((database, store)) = open().await else { return };
    store.close().await;
    let mut connection = PgConnection::connect(&database.url).await.expect("connect");
    seed(&mut connection).await;
    // Parameters are typed by the statements' casts or columns; text literals suffice.
    let forward = TIMELINE_FORWARD_SQL.replace("$2", "$2::bigint").replace("$3", "$3::bigint");
    assert_index_plan(&mut connection, &forward, &["!r7:x", "100", "20"], "Index Scan using events_timeline")
        .await;
    let backward = TIMELINE_BACKWARD_SQL.replace("$2", "$2::bigint").replace("$3", "$3::bigint");
    let at_end = i64::MAX.to_string();
    assert_index_plan(
        &mut connection,
        &backward,
        &["!r7:x", &at_end, "20"],
        "Index Scan Backward using events_timeline",
    )
    .await;
    let members = MEMBERS_SQL.replace("$3", "$3::bigint");
    assert_index_plan(&mut connection, &members, &["!r7:x", "", "50"], "memberships_pkey").await;
    let joined = MEMBERS_WITH_MEMBERSHIP_SQL.replace("$3", "$3::bigint");
    assert_index_plan(
        &mut connection,
        &joined,
        &["!r7:x", "@u1:x", "50", "join"],
        "memberships_by_room_membership",
    )
    .await;
    let changes = MEMBERSHIP_CHANGES_SQL.replace("$2", "$2::bigint").replace("$3", "$3::bigint");
    assert_index_plan(&mut connection, &changes, &["@u7:x", "0", "100"], "membership_changes_pkey").await;
    connection.close().await.expect("close");
}
