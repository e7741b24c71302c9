//! Checks of [`crate::storage::AccountDataStore`]: values and the change window.

use super::Fixture;
use super::samples::{room_id, user_id};
use crate::storage::{AccountDataChange, Position};

const ALICE: &str = "@alice:example.org";

/// `(room, type, position)` of each change, for compact comparisons.
fn summary(changes: &[AccountDataChange]) -> Vec<(Option<String>, String, u64)> {
    changes
        .iter()
        .map(|change| {
            (change.room_id.as_ref().map(ToString::to_string), change.event_type.clone(), change.position.0)
        })
        .collect()
}

pub(crate) async fn global_and_room_are_separate(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let (alice, room, other_room) =
        (user_id(ALICE), room_id("!room:example.org"), room_id("!other:example.org"));
    data.put_account_data(&alice, None, "m.tag", r#"{"scope":"global"}"#, Position(1)).await.unwrap();
    data.put_account_data(&alice, Some(&room), "m.tag", r#"{"scope":"room"}"#, Position(2)).await.unwrap();
    assert_eq!(
        data.get_account_data(&alice, None, "m.tag").await.unwrap().as_deref(),
        Some(r#"{"scope":"global"}"#)
    );
    assert_eq!(
        data.get_account_data(&alice, Some(&room), "m.tag").await.unwrap().as_deref(),
        Some(r#"{"scope":"room"}"#)
    );
    assert_eq!(data.get_account_data(&alice, Some(&other_room), "m.tag").await.unwrap(), None);
    assert_eq!(data.get_account_data(&alice, None, "m.other").await.unwrap(), None);
    assert_eq!(data.get_account_data(&user_id("@bob:example.org"), None, "m.tag").await.unwrap(), None);

    let changes = data.account_data_changes(&alice, Position(0), Position(2), 10).await.unwrap();
    assert_eq!(
        changes,
        [
            AccountDataChange {
                room_id: None,
                event_type: "m.tag".to_owned(),
                content: r#"{"scope":"global"}"#.to_owned(),
                position: Position(1),
            },
            AccountDataChange {
                room_id: Some(room),
                event_type: "m.tag".to_owned(),
                content: r#"{"scope":"room"}"#.to_owned(),
                position: Position(2),
            },
        ]
    );
}

pub(crate) async fn overwrite_replaces_value(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let alice = user_id(ALICE);
    data.put_account_data(&alice, None, "m.push_rules", r#"{"v":1}"#, Position(3)).await.unwrap();
    data.put_account_data(&alice, None, "m.push_rules", r#"{"v":2,"big":"é"}"#, Position(7)).await.unwrap();
    assert_eq!(
        data.get_account_data(&alice, None, "m.push_rules").await.unwrap().as_deref(),
        Some(r#"{"v":2,"big":"é"}"#)
    );
    let changes = data.account_data_changes(&alice, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].content, r#"{"v":2,"big":"é"}"#);
    assert_eq!(changes[0].position, Position(7));
}

pub(crate) async fn changes_window_and_order(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let (alice, room) = (user_id(ALICE), room_id("!room:example.org"));
    // Written out of position order: the window orders by position, not by write.
    for (event_type, position) in [("c", 3), ("a", 1), ("e", 5), ("b", 2), ("d", 4), ("big", 300)] {
        data.put_account_data(&alice, Some(&room), event_type, "{}", Position(position)).await.unwrap();
    }
    let types = |changes: Vec<AccountDataChange>| -> Vec<String> {
        changes.into_iter().map(|change| change.event_type).collect()
    };
    assert_eq!(
        types(data.account_data_changes(&alice, Position(0), Position(5), 10).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        types(data.account_data_changes(&alice, Position(2), Position(4), 10).await.unwrap()),
        ["c", "d"],
        "(since, upto]"
    );
    assert!(data.account_data_changes(&alice, Position(3), Position(3), 10).await.unwrap().is_empty());
    assert!(data.account_data_changes(&alice, Position(4), Position(2), 10).await.unwrap().is_empty());
    assert!(data.account_data_changes(&alice, Position(5), Position(299), 10).await.unwrap().is_empty());
    assert_eq!(
        types(data.account_data_changes(&alice, Position(5), Position(u64::MAX), 10).await.unwrap()),
        ["big"]
    );
    // Positions compare as numbers, not as text (300 > 5 although "300" < "5").
    assert_eq!(
        types(data.account_data_changes(&alice, Position(4), Position(300), 10).await.unwrap()),
        ["e", "big"]
    );
}

pub(crate) async fn changes_dedup_latest_position(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let alice = user_id(ALICE);
    data.put_account_data(&alice, None, "x", r#"{"n":1}"#, Position(1)).await.unwrap();
    data.put_account_data(&alice, None, "y", r#"{"n":2}"#, Position(2)).await.unwrap();
    data.put_account_data(&alice, None, "x", r#"{"n":3}"#, Position(3)).await.unwrap();

    let changes = data.account_data_changes(&alice, Position(0), Position(3), 10).await.unwrap();
    assert_eq!(summary(&changes), [(None, "y".to_owned(), 2), (None, "x".to_owned(), 3)]);
    assert_eq!(changes[1].content, r#"{"n":3}"#, "the latest value");
    // x's last change is at 3, outside (0, 2]: it is not reported at its old position.
    let early = data.account_data_changes(&alice, Position(0), Position(2), 10).await.unwrap();
    assert_eq!(summary(&early), [(None, "y".to_owned(), 2)]);
    let late = data.account_data_changes(&alice, Position(2), Position(3), 10).await.unwrap();
    assert_eq!(summary(&late), [(None, "x".to_owned(), 3)]);
}

pub(crate) async fn changes_limit(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let alice = user_id(ALICE);
    for position in 1..=5 {
        data.put_account_data(&alice, None, &format!("t{position}"), "{}", Position(position * 10))
            .await
            .unwrap();
    }
    assert!(data.account_data_changes(&alice, Position(0), Position(100), 0).await.unwrap().is_empty());
    // Page with the last position seen as the next `since`.
    let mut since = Position(0);
    let mut pages = Vec::new();
    loop {
        let page = data.account_data_changes(&alice, since, Position(100), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        since = last.position;
        pages.push(page.iter().map(|change| change.position.0).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec![10, 20], vec![30, 40], vec![50]]);
}

pub(crate) async fn changes_are_per_user(fixture: Fixture) {
    let data = &fixture.stores.account_data;
    let (alice, bob, alice_prefix) =
        (user_id(ALICE), user_id("@bob:example.org"), user_id("@alice:example.org2"));
    data.put_account_data(&alice, None, "a", "{}", Position(1)).await.unwrap();
    data.put_account_data(&bob, None, "b", "{}", Position(2)).await.unwrap();
    data.put_account_data(&alice_prefix, None, "c", "{}", Position(3)).await.unwrap();
    data.put_account_data(&alice, None, "d", "{}", Position(4)).await.unwrap();
    let changes = data.account_data_changes(&alice, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(summary(&changes), [(None, "a".to_owned(), 1), (None, "d".to_owned(), 4)]);
    let changes = data.account_data_changes(&bob, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(summary(&changes), [(None, "b".to_owned(), 2)]);
    assert!(
        data.account_data_changes(&user_id("@carol:example.org"), Position(0), Position(10), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(data.get_account_data(&bob, None, "a").await.unwrap(), None);
}
