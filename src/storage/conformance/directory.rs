//! Checks of [`crate::storage::DirectoryStore`]: room aliases and the public room directory.

use std::sync::Arc;

use ruma::{OwnedRoomAliasId, OwnedRoomId};
use tokio::task::JoinSet;

use super::Fixture;
use super::samples::{room_id, user_id};
use crate::storage::AliasRecord;

fn alias_id(text: &str) -> OwnedRoomAliasId {
    OwnedRoomAliasId::try_from(text).expect("a valid sample room alias")
}

fn alias(alias: &str, room: &str, creator: &str) -> AliasRecord {
    AliasRecord { alias: alias_id(alias), room_id: room_id(room), creator: user_id(creator) }
}

fn names(records: &[AliasRecord]) -> Vec<String> {
    records.iter().map(|record| record.alias.to_string()).collect()
}

fn room_names(rooms: &[OwnedRoomId]) -> Vec<String> {
    rooms.iter().map(ToString::to_string).collect()
}

pub(crate) async fn create_get_delete_alias(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    let record = alias("#lobby:example.org", "!room:example.org", "@alice:example.org");
    assert_eq!(directory.get_alias(&record.alias).await.unwrap(), None);
    assert!(directory.create_alias(&record).await.unwrap());
    assert_eq!(directory.get_alias(&record.alias).await.unwrap(), Some(record.clone()));
    assert_eq!(directory.get_alias(&alias_id("#lobby:example.com")).await.unwrap(), None);
    assert_eq!(directory.get_alias(&alias_id("#lobb:example.org")).await.unwrap(), None);

    assert!(directory.delete_alias(&record.alias).await.unwrap());
    assert_eq!(directory.get_alias(&record.alias).await.unwrap(), None);
    assert!(directory.room_aliases(&record.room_id).await.unwrap().is_empty(), "the index goes too");
    assert!(!directory.delete_alias(&record.alias).await.unwrap(), "already gone");

    let elsewhere = alias("#lobby:example.org", "!other:example.org", "@bob:example.org");
    assert!(directory.create_alias(&elsewhere).await.unwrap(), "a deleted alias can be taken again");
    assert_eq!(directory.get_alias(&elsewhere.alias).await.unwrap(), Some(elsewhere.clone()));
    assert!(directory.room_aliases(&record.room_id).await.unwrap().is_empty());
    assert_eq!(directory.room_aliases(&elsewhere.room_id).await.unwrap(), [elsewhere]);
}

pub(crate) async fn duplicate_alias_refused(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    let first = alias("#lobby:example.org", "!room:example.org", "@alice:example.org");
    assert!(directory.create_alias(&first).await.unwrap());
    assert!(!directory.create_alias(&first).await.unwrap(), "the same record again is refused");
    let second = alias("#lobby:example.org", "!other:example.org", "@bob:example.org");
    assert!(!directory.create_alias(&second).await.unwrap(), "a taken alias is refused");
    assert_eq!(directory.get_alias(&first.alias).await.unwrap(), Some(first.clone()), "first untouched");
    assert!(directory.room_aliases(&second.room_id).await.unwrap().is_empty(), "no stray index row");
    assert_eq!(directory.room_aliases(&first.room_id).await.unwrap(), [first]);
}

pub(crate) async fn concurrent_alias_creators_one_wins(fixture: Fixture) {
    let directory = Arc::clone(&fixture.stores.directory);
    let mut creators = JoinSet::new();
    for index in 0..10 {
        let directory = Arc::clone(&directory);
        let record =
            alias("#contested:example.org", &format!("!room{index}:example.org"), "@alice:example.org");
        creators.spawn(async move { (directory.create_alias(&record).await.unwrap(), record) });
    }
    let mut winners = Vec::new();
    while let Some(joined) = creators.join_next().await {
        let (created, record) = joined.unwrap();
        if created {
            winners.push(record);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins: {winners:?}");
    let winner = winners.pop().unwrap();
    assert_eq!(directory.get_alias(&winner.alias).await.unwrap(), Some(winner.clone()));
    for index in 0..10 {
        let room = room_id(&format!("!room{index}:example.org"));
        let expected = usize::from(room == winner.room_id);
        assert_eq!(directory.room_aliases(&room).await.unwrap().len(), expected, "index of {room}");
    }
}

pub(crate) async fn room_aliases_ordered_and_isolated(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    // Byte order, not a locale's: case, punctuation and prefixes sort by code point.
    let ids = [
        "#b:example.org",
        "#a:example.org",
        "#B:example.org",
        "#a.b:example.org",
        "#a_b:example.org",
        "#a:example.org2",
        "#_a:example.org",
        "#ab:example.org",
    ];
    for id in ids {
        assert!(directory.create_alias(&alias(id, "!room:example.org", "@alice:example.org")).await.unwrap());
    }
    // A room whose ID extends the first one's must not leak into it, nor it into this.
    let neighbour = alias("#neighbour:example.org", "!room:example.org2", "@bob:example.org");
    assert!(directory.create_alias(&neighbour).await.unwrap());
    let prefix_room = alias("#short:example.org", "!roo:example.org", "@bob:example.org");
    assert!(directory.create_alias(&prefix_room).await.unwrap());

    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    let listed = directory.room_aliases(&room_id("!room:example.org")).await.unwrap();
    assert_eq!(names(&listed), expected);
    assert!(
        listed
            .iter()
            .all(|record| record.room_id == "!room:example.org" && record.creator == "@alice:example.org")
    );
    assert_eq!(directory.room_aliases(&neighbour.room_id).await.unwrap(), [neighbour]);
    assert_eq!(directory.room_aliases(&prefix_room.room_id).await.unwrap(), [prefix_room]);
    assert!(directory.room_aliases(&room_id("!empty:example.org")).await.unwrap().is_empty());

    assert!(directory.delete_alias(&alias_id("#a:example.org")).await.unwrap());
    expected.retain(|id| id != "#a:example.org");
    assert_eq!(names(&directory.room_aliases(&room_id("!room:example.org")).await.unwrap()), expected);
}

pub(crate) async fn delete_unknown_alias(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    assert!(!directory.delete_alias(&alias_id("#nothing:example.org")).await.unwrap());
    let record = alias("#lobby:example.org", "!room:example.org", "@alice:example.org");
    assert!(directory.create_alias(&record).await.unwrap());
    assert!(!directory.delete_alias(&alias_id("#lobby:example.com")).await.unwrap());
    assert_eq!(directory.get_alias(&record.alias).await.unwrap(), Some(record), "others untouched");
}

pub(crate) async fn public_flag_is_idempotent(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    let (room, other) = (room_id("!room:example.org"), room_id("!other:example.org"));
    assert!(!directory.is_room_public(&room).await.unwrap());
    assert_eq!(directory.public_room_count().await.unwrap(), 0);

    directory.set_room_public(&room, false).await.unwrap();
    assert!(!directory.is_room_public(&room).await.unwrap());
    assert_eq!(directory.public_room_count().await.unwrap(), 0, "unpublishing a private room");

    directory.set_room_public(&room, true).await.unwrap();
    directory.set_room_public(&room, true).await.unwrap();
    assert!(directory.is_room_public(&room).await.unwrap());
    assert!(!directory.is_room_public(&other).await.unwrap());
    assert_eq!(directory.public_room_count().await.unwrap(), 1, "publishing twice counts once");

    directory.set_room_public(&room, false).await.unwrap();
    directory.set_room_public(&room, false).await.unwrap();
    assert!(!directory.is_room_public(&room).await.unwrap());
    assert_eq!(directory.public_room_count().await.unwrap(), 0);
    assert!(directory.public_rooms(None, 10).await.unwrap().is_empty());
}

pub(crate) async fn concurrent_publishing_counts_once(fixture: Fixture) {
    let directory = Arc::clone(&fixture.stores.directory);
    let mut writers = JoinSet::new();
    for index in 0..20 {
        let directory = Arc::clone(&directory);
        // Ten writers publish one room, ten others publish a room each.
        let room =
            if index % 2 == 0 { "!same:example.org".to_owned() } else { format!("!r{index}:example.org") };
        writers.spawn(async move { directory.set_room_public(&room_id(&room), true).await.unwrap() });
    }
    while let Some(joined) = writers.join_next().await {
        joined.unwrap();
    }
    assert_eq!(directory.public_room_count().await.unwrap(), 11);
    assert_eq!(directory.public_rooms(None, 100).await.unwrap().len(), 11);
}

pub(crate) async fn public_rooms_paging_and_count(fixture: Fixture) {
    let directory = &fixture.stores.directory;
    let ids = [
        "!b:example.org",
        "!a:example.org",
        "!B:example.org",
        "!a.b:example.org",
        "!a_b:example.org",
        "!a:example.org2",
        "!_a:example.org",
    ];
    for id in ids {
        directory.set_room_public(&room_id(id), true).await.unwrap();
    }
    directory.set_room_public(&room_id("!private:example.org"), false).await.unwrap();
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(directory.public_room_count().await.unwrap(), 7);
    assert_eq!(room_names(&directory.public_rooms(None, 100).await.unwrap()), expected);
    assert!(directory.public_rooms(None, 0).await.unwrap().is_empty());

    // Walk in pages of 3: every room once, in order, and the walk ends.
    let mut walked = Vec::new();
    let mut after: Option<OwnedRoomId> = None;
    loop {
        let page = directory.public_rooms(after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last().cloned() else { break };
        walked.extend(room_names(&page));
        after = Some(last);
    }
    assert_eq!(walked, expected);

    // `after` need not be public itself: the page starts at the next public room.
    let page = directory.public_rooms(Some(&room_id("!a:example.org")), 2).await.unwrap();
    assert_eq!(
        room_names(&page),
        expected.iter().filter(|id| id.as_str() > "!a:example.org").take(2).cloned().collect::<Vec<_>>()
    );
    let between = directory.public_rooms(Some(&room_id("!a0:example.org")), 100).await.unwrap();
    assert_eq!(
        room_names(&between),
        expected.iter().filter(|id| id.as_str() > "!a0:example.org").cloned().collect::<Vec<_>>()
    );

    directory.set_room_public(&room_id("!a:example.org"), false).await.unwrap();
    expected.retain(|id| id != "!a:example.org");
    assert_eq!(directory.public_room_count().await.unwrap(), 6);
    assert_eq!(room_names(&directory.public_rooms(None, 100).await.unwrap()), expected);
}

pub(crate) async fn directory_survives_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let kept = alias("#kept:example.org", "!room:example.org", "@alice:example.org");
    let deleted = alias("#deleted:example.org", "!room:example.org", "@alice:example.org");
    assert!(stores.directory.create_alias(&kept).await.unwrap());
    assert!(stores.directory.create_alias(&deleted).await.unwrap());
    assert!(stores.directory.delete_alias(&deleted.alias).await.unwrap());
    for id in ["!room:example.org", "!gone:example.org", "!other:example.org"] {
        stores.directory.set_room_public(&room_id(id), true).await.unwrap();
    }
    stores.directory.set_room_public(&room_id("!gone:example.org"), false).await.unwrap();
    // No flush: every completed write must already be durable.
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    let directory = &stores.directory;
    assert_eq!(directory.get_alias(&kept.alias).await.unwrap(), Some(kept.clone()));
    assert_eq!(directory.get_alias(&deleted.alias).await.unwrap(), None);
    assert_eq!(directory.room_aliases(&kept.room_id).await.unwrap(), std::slice::from_ref(&kept));
    assert!(!directory.create_alias(&kept).await.unwrap(), "still taken after the restart");
    assert!(directory.is_room_public(&room_id("!room:example.org")).await.unwrap());
    assert!(!directory.is_room_public(&room_id("!gone:example.org")).await.unwrap());
    assert_eq!(directory.public_room_count().await.unwrap(), 2);
    assert_eq!(
        room_names(&directory.public_rooms(None, 10).await.unwrap()),
        ["!other:example.org", "!room:example.org"]
    );
    // The count carries on from its stored value rather than restarting.
    directory.set_room_public(&room_id("!room:example.org"), true).await.unwrap();
    directory.set_room_public(&room_id("!new:example.org"), true).await.unwrap();
    assert_eq!(directory.public_room_count().await.unwrap(), 3);
}
