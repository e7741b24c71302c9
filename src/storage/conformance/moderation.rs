//! Checks of [`crate::storage::ModerationStore`].

use super::Fixture;
use super::samples::{room_id, user_id};
use crate::storage::ReportRecord;

pub(crate) async fn forgetting_is_per_user_and_room(fixture: Fixture) {
    let store = &fixture.stores.moderation;
    let (alice, bob) = (user_id("@alice:example.org"), user_id("@bob:example.org"));
    let (room, other) = (room_id("!room:example.org"), room_id("!other:example.org"));
    assert!(!store.is_room_forgotten(&alice, &room).await.unwrap());
    store.set_room_forgotten(&alice, &room, true).await.unwrap();
    store.set_room_forgotten(&alice, &room, true).await.unwrap();
    assert!(store.is_room_forgotten(&alice, &room).await.unwrap());
    assert!(!store.is_room_forgotten(&bob, &room).await.unwrap(), "per user");
    assert!(!store.is_room_forgotten(&alice, &other).await.unwrap(), "per room");
    store.set_room_forgotten(&alice, &room, false).await.unwrap();
    assert!(!store.is_room_forgotten(&alice, &room).await.unwrap());
    store.set_room_forgotten(&alice, &other, false).await.unwrap();
}

fn report(reporter: &str, event: Option<&str>, at: u64) -> ReportRecord {
    ReportRecord {
        reporter: user_id(reporter),
        room_id: room_id("!room:example.org"),
        event_id: event.map(|id| ruma::EventId::parse(id).unwrap()),
        reason: Some(format!("reason {at}")),
        received_at_ms: at,
    }
}

pub(crate) async fn reports_are_listed_newest_first(fixture: Fixture) {
    let store = &fixture.stores.moderation;
    assert!(store.recent_reports(10).await.unwrap().is_empty());
    let first = report("@alice:example.org", Some("$event1"), 1_000);
    let second = report("@bob:example.org", None, 2_000);
    let third = ReportRecord { reason: None, ..report("@carol:example.org", Some("$event2"), 3_000) };
    for report in [&first, &second, &third] {
        store.add_report(report).await.unwrap();
    }
    assert_eq!(store.recent_reports(10).await.unwrap(), vec![third.clone(), second.clone(), first]);
    assert_eq!(store.recent_reports(2).await.unwrap(), vec![third, second]);
}

pub(crate) async fn moderation_survives_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let alice = user_id("@alice:example.org");
    let room = room_id("!room:example.org");
    stores.moderation.set_room_forgotten(&alice, &room, true).await.unwrap();
    stores.moderation.add_report(&report("@alice:example.org", None, 5)).await.unwrap();
    drop(stores);
    let stores = restart.reopen().await.unwrap();
    assert!(stores.moderation.is_room_forgotten(&alice, &room).await.unwrap());
    assert_eq!(stores.moderation.recent_reports(5).await.unwrap().len(), 1);
}
