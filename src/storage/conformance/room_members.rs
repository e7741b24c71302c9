//! Checks of the membership reads of [`crate::storage::RoomStore`]: a user's current
//! memberships, their changes in a position window, and a room's members by kind.

use ruma::{RoomId, UserId};

use super::Fixture;
use super::rooms::{ALICE, create_room, new_event, state_key};
use super::samples::user_id;
use crate::storage::{MembershipRecord, PersistBatch, Position, StateGroupId, Stores};

/// Persists `user`'s `membership` event in `room` at `position` with its record.
async fn set_membership(
    stores: &Stores,
    room: &RoomId,
    state: StateGroupId,
    user: &str,
    membership: &str,
    position: u64,
) -> MembershipRecord {
    let mut event =
        new_event(room, &format!("{membership}{position}"), "m.room.member", Some(user), position, state);
    event.json = event.json.replace(r#""membership":"join""#, &format!(r#""membership":"{membership}""#));
    let record = MembershipRecord {
        room_id: room.to_owned(),
        user_id: user_id(user),
        membership: membership.to_owned(),
        event_id: event.event_id.clone(),
        position: Position(position),
    };
    let batch = PersistBatch {
        room_id: Some(room.to_owned()),
        current_state_delta: vec![(state_key("m.room.member", user), Some(event.event_id.clone()))],
        events: vec![event],
        memberships: vec![record.clone()],
        ..PersistBatch::default()
    };
    stores.rooms.persist(&batch).await.unwrap();
    record
}

pub(crate) async fn user_memberships_latest_wins(fixture: Fixture) {
    let stores = &fixture.stores;
    // Created out of room-ID order; read back in it.
    let b = create_room(stores, "!bbb:example.org", "b", 1).await;
    let a = create_room(stores, "!aaa:example.org", "a", 4).await;
    let c = create_room(stores, "!ccc:example.org", "c", 7).await;
    let bob = "@bob:example.org";
    set_membership(stores, &a.room_id, a.state, bob, "invite", 10).await;
    let a_join = set_membership(stores, &a.room_id, a.state, bob, "join", 11).await;
    let c_join = set_membership(stores, &c.room_id, c.state, bob, "join", 12).await;
    set_membership(stores, &b.room_id, b.state, bob, "join", 13).await;
    let b_leave = set_membership(stores, &b.room_id, b.state, bob, "leave", 14).await;
    assert_eq!(stores.rooms.user_memberships(&user_id(bob)).await.unwrap(), [a_join, b_leave, c_join]);
    let alice = stores.rooms.user_memberships(&user_id(ALICE)).await.unwrap();
    let rooms: Vec<&RoomId> = alice.iter().map(|record| record.room_id.as_ref()).collect();
    assert_eq!(rooms, [&*a.room_id, &*b.room_id, &*c.room_id], "users are separate");
}

pub(crate) async fn user_membership_changes_window(fixture: Fixture) {
    let stores = &fixture.stores;
    let a = create_room(stores, "!aaa:example.org", "a", 1).await;
    let b = create_room(stores, "!bbb:example.org", "b", 4).await;
    let bob = "@bob:example.org";
    let invite = set_membership(stores, &a.room_id, a.state, bob, "invite", 10).await;
    let join_b = set_membership(stores, &b.room_id, b.state, bob, "join", 12).await;
    let join_a = set_membership(stores, &a.room_id, a.state, bob, "join", 15).await;
    let leave_b = set_membership(stores, &b.room_id, b.state, bob, "leave", 20).await;
    set_membership(stores, &b.room_id, b.state, "@carol:example.org", "join", 21).await;
    let changes = |since: u64, upto: u64| async move {
        stores.rooms.user_membership_changes(&user_id(bob), Position(since), Position(upto)).await.unwrap()
    };
    let everything = [invite.clone(), join_b.clone(), join_a.clone(), leave_b.clone()];
    assert_eq!(changes(0, 100).await, everything, "every change, superseded ones too, by position");
    assert_eq!(changes(0, u64::MAX).await, everything);
    assert_eq!(changes(10, 15).await, [join_b, join_a.clone()], "since excluded, upto included");
    assert_eq!(changes(9, 10).await, [invite]);
    assert_eq!(changes(15, 19).await, []);
    assert_eq!(changes(15, 20).await, [leave_b]);
    assert_eq!(changes(20, 100).await, [], "other users' changes are not bob's");
    assert_eq!(changes(15, 15).await, []);
    assert_eq!(changes(20, 10).await, [], "an empty window");
    assert_eq!(changes(u64::MAX, u64::MAX).await, []);
    let alice =
        stores.rooms.user_membership_changes(&user_id(ALICE), Position(0), Position(100)).await.unwrap();
    assert_eq!(alice.len(), 2, "alice joined both rooms she created");
}

fn users(records: &[MembershipRecord]) -> Vec<&str> {
    records.iter().map(|record| record.user_id.as_str()).collect()
}

pub(crate) async fn room_members_filter_after_limit(fixture: Fixture) {
    let stores = &fixture.stores;
    let room = create_room(stores, "!room:example.org", "a", 1).await;
    let other = create_room(stores, "!other:example.org", "o", 4).await;
    let (state, room_id) = (room.state, &room.room_id);
    set_membership(stores, room_id, state, "@erin:example.org", "ban", 10).await;
    set_membership(stores, room_id, state, "@carol:example.org", "invite", 11).await;
    set_membership(stores, room_id, state, "@bob:example.org", "join", 12).await;
    set_membership(stores, room_id, state, "@dave:example.org", "join", 13).await;
    set_membership(stores, room_id, state, "@dave:example.org", "leave", 14).await;
    set_membership(stores, &other.room_id, other.state, "@frank:example.org", "join", 15).await;
    let members = |membership: Option<&'static str>, after: Option<&'static str>, limit: usize| async move {
        let after = after.map(user_id);
        stores.rooms.room_members(room_id, membership, after.as_deref(), limit).await.unwrap()
    };
    let all = members(None, None, 100).await;
    assert_eq!(
        users(&all),
        [ALICE, "@bob:example.org", "@carol:example.org", "@dave:example.org", "@erin:example.org"]
    );
    let memberships: Vec<&str> = all.iter().map(|record| record.membership.as_str()).collect();
    assert_eq!(memberships, ["join", "join", "invite", "leave", "ban"]);
    assert_eq!(users(&members(Some("join"), None, 100).await), [ALICE, "@bob:example.org"]);
    assert_eq!(users(&members(Some("leave"), None, 100).await), ["@dave:example.org"], "latest wins");
    assert_eq!(users(&members(Some("knock"), None, 100).await), Vec::<&str>::new());
    assert_eq!(
        users(&members(None, Some("@bob:example.org"), 2).await),
        ["@carol:example.org", "@dave:example.org"]
    );
    assert_eq!(users(&members(Some("join"), Some(ALICE), 100).await), ["@bob:example.org"]);
    assert_eq!(users(&members(None, None, 2).await), [ALICE, "@bob:example.org"]);
    assert!(members(None, None, 0).await.is_empty());
    // `after` need not be a member; a prefix of a member's ID sorts before it.
    assert_eq!(users(&members(None, Some("@carl:example.org"), 1).await), ["@carol:example.org"]);
    assert_eq!(users(&members(None, Some("@bob:example.or"), 1).await), ["@bob:example.org"]);

    // Carol's invite becomes a join: she moves from one kind to the other.
    set_membership(stores, room_id, state, "@carol:example.org", "join", 16).await;
    assert_eq!(users(&members(Some("invite"), None, 100).await), Vec::<&str>::new());
    assert_eq!(
        users(&members(Some("join"), None, 100).await),
        [ALICE, "@bob:example.org", "@carol:example.org"]
    );
    let user: &UserId = &user_id("@carol:example.org");
    let carol = stores.rooms.user_memberships(user).await.unwrap();
    assert_eq!(carol.iter().map(|record| record.position).collect::<Vec<_>>(), [Position(16)]);
}
