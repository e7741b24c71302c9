//! A room whose store already holds events the server can no longer accept (content
//! nesting 127 levels deep, written as the server did before the nesting limit, and an
//! event whose text is corrupt) keeps working after a restart: every read path serves
//! the deep events redacted or skips the corrupt one, and the room grows past them.

use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};
use stoa_federation::{ServerSigningKey, hash_and_sign_event, to_canonical_string};

use crate::config::{Backend, StorageConfig};
use crate::rooms::membership::MembershipAction;
use crate::rooms::read::StatePoint;
use crate::rooms::{Rooms, RoomsError, create::CreateRoom};
use crate::storage::{
    Direction, EventStatus, MembershipRecord, NewEvent, NewStateGroup, PersistBatch, StreamId, TxnKey,
};
use crate::streams::{Notifier, Watermark};

const SERVER: &str = "localhost";

fn user(name: &str) -> OwnedUserId {
    UserId::parse(format!("@{name}:{SERVER}")).unwrap()
}

/// Content nesting `levels` deep: the repro, `{"d": [[…]]}`.
fn deep_content(levels: usize, extra: Value) -> Value {
    let mut content = extra;
    content["d"] = (2..levels).fold(json!([]), |inner, _| json!([inner]));
    content
}

/// A Rooms service as the server builds it at start, on `stores`.
async fn start(stores: &crate::storage::Stores, key: &Arc<ServerSigningKey>) -> Rooms {
    let start = stores.streams.max_reserved_position(StreamId::Events).await.unwrap();
    let name = ruma::OwnedServerName::try_from(SERVER).unwrap();
    Rooms::new(
        stores.clone(),
        name,
        key.clone(),
        Watermark::new(start, Notifier::new()),
        stoa_federation::RoomVersion::DEFAULT,
    )
}

/// Persists an event exactly as the write path did before the limit: hashed and signed
/// on the room's tip, stored with its state, whatever its nesting.
async fn persist_unchecked(
    rooms: &Rooms,
    room_id: &RoomId,
    sender: &UserId,
    (kind, state_key): (&str, Option<&str>),
    content: Value,
) -> OwnedEventId {
    let tip = rooms.room_tip(room_id).await.unwrap();
    let new = super::NewLocalEvent {
        sender: sender.to_owned(),
        event_type: kind.to_owned(),
        state_key: state_key.map(str::to_owned),
        content: content.clone(),
        redacts: None,
        txn: None,
    };
    let auth_events = rooms.auth_events_for(&tip, &new).unwrap();
    let mut event = json!({
        "room_id": room_id, "sender": sender, "type": kind, "content": content,
        "prev_events": tip.prev_events, "auth_events": auth_events, "depth": tip.depth,
        "origin_server_ts": crate::accounts::now_ms(),
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    hash_and_sign_event(&mut event, tip.version, SERVER, &rooms.inner.key).unwrap();
    let event_id = OwnedEventId::try_from(stoa_federation::event_id(&event, tip.version).unwrap()).unwrap();
    let json = to_canonical_string(&event).unwrap();
    write_raw(rooms, room_id, (kind, state_key), &event_id, json, content.get("membership")).await;
    event_id
}

/// Writes stored text under `event_id` on the room's tip through the store trait.
async fn write_raw(
    rooms: &Rooms,
    room_id: &RoomId,
    (kind, state_key): (&str, Option<&str>),
    event_id: &OwnedEventId,
    json: String,
    membership: Option<&Value>,
) {
    let tip = rooms.room_tip(room_id).await.unwrap();
    let stores = rooms.stores();
    let position = stores.streams.reserve_position(StreamId::Events).await.unwrap();
    let mut batch = PersistBatch { room_id: Some(room_id.to_owned()), ..PersistBatch::default() };
    let mut state_after = tip.state_group;
    if let Some(key) = state_key {
        state_after = stores.rooms.reserve_state_group_ids(1).await.unwrap();
        let delta = vec![((kind.to_owned(), key.to_owned()), Some(event_id.clone()))];
        batch.new_state_groups.push(NewStateGroup { id: state_after, parent: Some(tip.state_group), delta });
        batch.current_state_delta.push(((kind.to_owned(), key.to_owned()), Some(event_id.clone())));
    }
    if let (Some(membership), Some(key)) = (membership.and_then(Value::as_str), state_key) {
        batch.memberships.push(MembershipRecord {
            room_id: room_id.to_owned(),
            user_id: UserId::parse(key).unwrap(),
            membership: membership.to_owned(),
            event_id: event_id.clone(),
            position,
        });
    }
    batch.events.push(NewEvent {
        event_id: event_id.clone(),
        sender: user("alice"),
        event_type: kind.to_owned(),
        state_key: state_key.map(str::to_owned),
        json,
        position: Some(position),
        status: EventStatus::Accepted,
        state_before: tip.state_group,
        state_after,
        redacts: None,
        txn: None,
    });
    batch.forward_extremities = Some(vec![event_id.clone()]);
    stores.rooms.persist(&batch).await.unwrap();
}

async fn room_with_bob(rooms: &Rooms) -> OwnedRoomId {
    let request = CreateRoom {
        creator: user("alice"),
        room_version: None,
        creation_content: None,
        preset: Some(crate::rooms::create::Preset::PublicChat),
        public: true,
        initial_state: Vec::new(),
        name: None,
        topic: None,
        invite: Vec::new(),
        is_direct: false,
        power_level_content_override: None,
        room_alias_name: None,
        creator_displayname: None,
        creator_avatar_url: None,
    };
    let room_id = rooms.create_room(request).await.unwrap();
    let bob = user("bob");
    rooms.change_membership(&room_id, &bob, &bob, MembershipAction::Join, None, None).await.unwrap();
    room_id
}

/// The event IDs of the room's timeline in an initial `/sync` of `user_id`.
async fn sync_timeline(
    stores: &crate::storage::Stores,
    rooms: &Rooms,
    user_id: &UserId,
    room_id: &RoomId,
) -> Vec<String> {
    let position = stores.streams.max_reserved_position(StreamId::AccountData).await.unwrap();
    let engine = crate::sync::engine::SyncEngine::new(
        rooms.clone(),
        stores.account_data.clone(),
        Watermark::new(position, Notifier::new()),
        Notifier::new(),
    );
    let filter = json!({ "room": { "timeline": { "limit": 50 } } });
    let request = crate::sync::engine::SyncRequest {
        user_id: user_id.to_owned(),
        device_id: "DEV".into(),
        since: None,
        timeout: std::time::Duration::ZERO,
        full_state: false,
        filter: crate::sync::sync_filter::SyncFilter::from_json(&filter).unwrap(),
    };
    let body = engine.sync(&request).await.unwrap();
    let events = body["rooms"]["join"][room_id.as_str()]["timeline"]["events"].as_array().cloned();
    events.unwrap_or_default().iter().filter_map(|e| e["event_id"].as_str().map(str::to_owned)).collect()
}

fn txn(name: &str) -> TxnKey {
    TxnKey { user_id: user("alice"), device_id: "DEV".into(), txn_id: name.to_owned() }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|event| event["event_id"].as_str()).collect()
}

#[tokio::test]
async fn stored_events_beyond_the_limit_are_served_redacted_and_the_room_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig { backend: Backend::Fjall, path: dir.path().join("db"), ..Default::default() };
    let stores = crate::storage::open(&config).await.unwrap();
    let key = Arc::new(ServerSigningKey::generate().unwrap());
    let (alice, bob) = (user("alice"), user("bob"));
    let (deep_message, deep_member, corrupt, room_id) = {
        let rooms = start(&stores, &key).await;
        let room_id = room_with_bob(&rooms).await;
        let message = deep_content(127, json!({ "msgtype": "m.text", "body": "deep" }));
        let deep_message = persist_unchecked(&rooms, &room_id, &bob, ("m.room.message", None), message).await;
        let member = deep_content(127, json!({ "membership": "join", "displayname": "Bob" }));
        let member_key = Some(bob.as_str());
        let deep_member =
            persist_unchecked(&rooms, &room_id, &bob, ("m.room.member", member_key), member).await;
        let corrupt = OwnedEventId::try_from(format!("${}", "A".repeat(43))).unwrap();
        let text = "{\"type\":\"m.room.message\",\"content\":{".to_owned();
        write_raw(&rooms, &room_id, ("m.room.message", None), &corrupt, text.clone(), None).await;
        let topic = OwnedEventId::try_from(format!("${}", "B".repeat(43))).unwrap();
        write_raw(&rooms, &room_id, ("m.room.topic", Some("")), &topic, text, None).await;
        (deep_message, deep_member, corrupt, room_id)
    };
    // A fresh service: nothing of the above is cached, every read goes to the store.
    let rooms = start(&stores, &key).await;

    let page = rooms.messages(&room_id, &alice, None, None, Direction::Backward, 50).await.unwrap();
    let served = ids(&page.chunk);
    assert!(served.contains(&deep_message.as_str()) && served.contains(&deep_member.as_str()), "{served:?}");
    assert!(!served.contains(&corrupt.as_str()), "a corrupt event was served");
    let message = rooms.visible_event(&room_id, &alice, &deep_message).await.unwrap();
    assert_eq!(message["content"], json!({}), "a deep message is served redacted");
    let member = rooms.state_event(&room_id, &bob, "m.room.member", bob.as_str()).await.unwrap();
    assert_eq!(member, json!({ "membership": "join" }), "a deep member event keeps its membership");
    assert!(matches!(rooms.visible_event(&room_id, &alice, &corrupt).await, Err(RoomsError::UnknownEvent)));
    let context = rooms.context(&room_id, &bob, &deep_message, 10).await.unwrap();
    assert_eq!(context.event["event_id"], deep_message.as_str());
    let members = rooms.member_events(&room_id, &alice, None, None, None).await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    let state = rooms.state_events(&room_id, &bob).await.unwrap();
    assert!(state.iter().all(|event| event["type"] != "m.room.topic"), "the corrupt topic was served");
    assert!(matches!(
        rooms.state_event(&room_id, &bob, "m.room.topic", "").await,
        Err(RoomsError::UnknownEvent)
    ));
    rooms.state_at(&room_id, StatePoint::Current).await.unwrap();
    for member in [&alice, &bob] {
        let timeline = sync_timeline(&stores, &rooms, member, &room_id).await;
        assert!(timeline.contains(&deep_message.to_string()), "{member}: {timeline:?}");
        assert!(!timeline.contains(&corrupt.to_string()), "{member}: {timeline:?}");
    }

    // The room grows past them: on the corrupt tip, by the deep member, and bob leaves.
    let after =
        rooms.send_message(&room_id, &alice, "m.room.message", json!({ "body": "after" }), txn("a")).await;
    let after = after.unwrap();
    let reply =
        rooms.send_message(&room_id, &bob, "m.room.message", json!({ "body": "bob" }), txn("b")).await;
    reply.unwrap();
    rooms.change_membership(&room_id, &bob, &bob, MembershipAction::Leave, None, None).await.unwrap();
    rooms.forget(&room_id, &bob).await.unwrap();
    let page = rooms.messages(&room_id, &alice, None, None, Direction::Backward, 50).await.unwrap();
    assert_eq!(page.chunk.first().and_then(|event| event["content"]["membership"].as_str()), Some("leave"));
    assert!(ids(&page.chunk).contains(&after.as_str()));
}

#[tokio::test]
async fn a_member_event_with_a_deep_value_redaction_keeps_still_lets_its_user_act() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig { backend: Backend::Fjall, path: dir.path().join("db"), ..Default::default() };
    let stores = crate::storage::open(&config).await.unwrap();
    let key = Arc::new(ServerSigningKey::generate().unwrap());
    let (alice, bob) = (user("alice"), user("bob"));
    let room_id = {
        let rooms = start(&stores, &key).await;
        let room_id = room_with_bob(&rooms).await;
        // Redaction keeps a member event's `third_party_invite.signed` (versions 11, 12).
        let signed = (2..127).fold(json!([]), |inner, _| json!([inner]));
        let member = json!({ "membership": "join", "third_party_invite": { "signed": signed } });
        persist_unchecked(&rooms, &room_id, &bob, ("m.room.member", Some(bob.as_str())), member).await;
        room_id
    };
    let rooms = start(&stores, &key).await;
    let member = rooms.state_event(&room_id, &bob, "m.room.member", bob.as_str()).await.unwrap();
    assert_eq!(member["membership"], "join", "served emptied, membership kept: {member}");
    let members = rooms.member_events(&room_id, &alice, None, None, None).await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    let sent =
        rooms.send_message(&room_id, &bob, "m.room.message", json!({ "body": "still here" }), txn("c")).await;
    let sent = sent.unwrap();
    assert!(sync_timeline(&stores, &rooms, &alice, &room_id).await.contains(&sent.to_string()));
    rooms.change_membership(&room_id, &bob, &bob, MembershipAction::Leave, None, None).await.unwrap();
    rooms.forget(&room_id, &bob).await.unwrap();
}
