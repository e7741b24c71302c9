//! `POST /createRoom` and `GET /joined_rooms`: versions, presets, initial state, power
//! level overrides, invites seen through /sync, and refused requests that create nothing.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, room_events};

async fn joined_rooms(s: &Server, token: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/joined_rooms"), Some(token)).await;
    resp.ok()["joined_rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("joined_rooms is not an array: {}", resp.text))
        .iter()
        .map(|r| r.as_str().expect("room ID string").to_owned())
        .collect()
}

/// The content of a state event, asserting it exists.
async fn state(s: &Server, token: &str, room: &str, kind: &str, key: &str) -> Value {
    s.get_state(token, room, kind, key).await.ok().clone()
}

async fn create_room_in_each_version(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let mut created = Vec::new();
    for version in ["10", "11", "12"] {
        let room = s.create_room(a, json!({ "room_version": version })).await;
        let create = state(&s, a, &room, "m.room.create", "").await;
        assert_eq!(create["room_version"], version, "create content: {create}");
        if version == "12" {
            // Room version 12: the room ID is the create event's reference hash.
            assert!(!room.contains(':'), "v12 room ID {room} names a server");
        } else {
            assert!(room.ends_with(":localhost"), "v{version} room ID {room}");
        }
        if version == "10" {
            assert_eq!(create["creator"], alice.user_id.as_str(), "v10 create needs creator: {create}");
        }
        let member = state(&s, a, &room, "m.room.member", &alice.user_id).await;
        assert_eq!(member["membership"], "join");
        // The whole state as events: create, member, power levels, the preset's rules.
        let all = s.get(&format!("{V3}/rooms/{}/state", crate::harness::enc(&room)), Some(a)).await;
        let types: Vec<&str> =
            all.ok().as_array().expect("state array").iter().filter_map(|e| e["type"].as_str()).collect();
        for wanted in [
            "m.room.create",
            "m.room.member",
            "m.room.power_levels",
            "m.room.join_rules",
            "m.room.history_visibility",
        ] {
            assert!(types.contains(&wanted), "v{version} state lacks {wanted}: {types:?}");
        }
        for event in all.json.as_array().unwrap() {
            assert_eq!(event["room_id"], room.as_str(), "state event in wrong room: {event}");
            assert!(event["event_id"].as_str().is_some_and(|id| id.starts_with('$')), "{event}");
            assert!(event["sender"].is_string() && event["origin_server_ts"].is_u64(), "{event}");
        }
        created.push(room);
    }
    // No version given: the default is 12.
    let room = s.create_room(a, json!({})).await;
    assert_eq!(state(&s, a, &room, "m.room.create", "").await["room_version"], "12");
    created.push(room);
    let mut joined = joined_rooms(&s, a).await;
    joined.sort();
    created.sort();
    assert_eq!(joined, created);
}

async fn presets_set_the_spec_rules(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let a = &alice.access_token;
    let cases = [
        (json!({ "preset": "private_chat" }), "invite", "shared", "can_join"),
        (json!({ "preset": "public_chat" }), "public", "shared", "forbidden"),
        (json!({ "preset": "trusted_private_chat" }), "invite", "shared", "can_join"),
        // Without a preset, the visibility chooses one.
        (json!({ "visibility": "public" }), "public", "shared", "forbidden"),
        (json!({ "visibility": "private" }), "invite", "shared", "can_join"),
    ];
    for (body, join_rule, history, guests) in cases {
        let room = s.create_room(a, body.clone()).await;
        assert_eq!(state(&s, a, &room, "m.room.join_rules", "").await["join_rule"], join_rule, "{body}");
        assert_eq!(
            state(&s, a, &room, "m.room.history_visibility", "").await["history_visibility"],
            history,
            "{body}"
        );
        assert_eq!(state(&s, a, &room, "m.room.guest_access", "").await["guest_access"], guests, "{body}");
    }
    // trusted_private_chat: invitees get the creator's power (v11: in `users`; v12:
    // as additional creators).
    let room = s
        .create_room(
            a,
            json!({ "preset": "trusted_private_chat", "room_version": "11", "invite": [bob.user_id] }),
        )
        .await;
    let power = state(&s, a, &room, "m.room.power_levels", "").await;
    assert_eq!(power["users"][&alice.user_id], 100, "{power}");
    assert_eq!(power["users"][&bob.user_id], 100, "{power}");
    let room = s
        .create_room(
            a,
            json!({ "preset": "trusted_private_chat", "room_version": "12", "invite": [bob.user_id] }),
        )
        .await;
    let create = state(&s, a, &room, "m.room.create", "").await;
    assert_eq!(create["additional_creators"], json!([bob.user_id]), "{create}");
    // A public room's power levels: invites need 50, the v11 creator has 100.
    let room = s.create_room(a, json!({ "preset": "public_chat", "room_version": "11" })).await;
    let power = state(&s, a, &room, "m.room.power_levels", "").await;
    assert_eq!(power["invite"], 50, "{power}");
    assert_eq!(power["users"][&alice.user_id], 100, "{power}");
    // v12: creators are not listed in `users`.
    let room = s.create_room(a, json!({ "preset": "public_chat", "room_version": "12" })).await;
    let power = state(&s, a, &room, "m.room.power_levels", "").await;
    assert!(power["users"].get(&alice.user_id).is_none(), "v12 creator listed in users: {power}");
}

async fn name_topic_and_initial_state(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s
        .create_room(
            a,
            json!({
                "name": "The Stoa",
                "topic": "philosophy ✓",
                "initial_state": [
                    { "type": "org.example.colour", "state_key": "", "content": { "colour": "blue" } },
                    { "type": "org.example.keyed", "state_key": "k1", "content": { "n": 1 } },
                    { "type": "m.room.history_visibility", "content": { "history_visibility": "joined" } },
                    { "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "public" } },
                ],
            }),
        )
        .await;
    assert_eq!(state(&s, a, &room, "m.room.name", "").await, json!({ "name": "The Stoa" }));
    assert_eq!(state(&s, a, &room, "m.room.topic", "").await["topic"], "philosophy ✓");
    assert_eq!(state(&s, a, &room, "org.example.colour", "").await, json!({ "colour": "blue" }));
    assert_eq!(state(&s, a, &room, "org.example.keyed", "k1").await, json!({ "n": 1 }));
    // initial_state overrides the preset's defaults.
    assert_eq!(state(&s, a, &room, "m.room.history_visibility", "").await["history_visibility"], "joined");
    assert_eq!(state(&s, a, &room, "m.room.join_rules", "").await["join_rule"], "public");
    // Exactly one history_visibility event in the state.
    let all = s.get(&format!("{V3}/rooms/{}/state", crate::harness::enc(&room)), Some(a)).await;
    let count =
        all.ok().as_array().unwrap().iter().filter(|e| e["type"] == "m.room.history_visibility").count();
    assert_eq!(count, 1);
    // Since the room is public, someone else can join.
    let bob = s.register("bob", "pw").await;
    s.join(&bob.access_token, &room).await;
    assert_eq!(state(&s, &bob.access_token, &room, "m.room.name", "").await["name"], "The Stoa");
}

async fn power_level_content_override_applies(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let a = &alice.access_token;
    let room = s
        .create_room(
            a,
            json!({
                "preset": "public_chat",
                "power_level_content_override": {
                    "events_default": 20,
                    "events": { "org.example.open": 0 },
                    "users": { bob.user_id.clone(): 10 },
                },
            }),
        )
        .await;
    let power = state(&s, a, &room, "m.room.power_levels", "").await;
    assert_eq!(power["events_default"], 20, "{power}");
    assert_eq!(power["users"][&bob.user_id], 10, "{power}");
    assert_eq!(power["events"]["org.example.open"], 0, "{power}");
    // Untouched keys keep the defaults.
    assert_eq!(power["state_default"], 50, "{power}");
    assert_eq!(power["ban"], 50, "{power}");
    // The override is enforced: bob (10) may not send messages (20), but may send the
    // type opened to everyone.
    s.join(&bob.access_token, &room).await;
    s.send_event(
        &bob.access_token,
        &room,
        "m.room.message",
        "m1",
        json!({ "msgtype": "m.text", "body": "x" }),
    )
    .await
    .err(403, "M_FORBIDDEN");
    s.send_event(&bob.access_token, &room, "org.example.open", "o1", json!({ "ok": true })).await.ok();
    // The creator (v12: infinite power) still can.
    s.send_text(a, &room, "hello").await;
    let history = s.all_messages(a, &room).await;
    assert!(!history.iter().any(|e| e["sender"] == bob.user_id.as_str() && e["type"] == "m.room.message"));
}

async fn invitees_see_the_invite_in_sync(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let a = &alice.access_token;
    let room = s
        .create_room(
            a,
            json!({
                "name": "Secret plans",
                "topic": "shh",
                "invite": [bob.user_id, carol.user_id],
                "is_direct": true,
            }),
        )
        .await;
    for invitee in [&bob, &carol] {
        let sync = s.sync(&invitee.access_token, None, "").await;
        let invite = &sync["rooms"]["invite"][&room];
        assert!(invite.is_object(), "no invite for {} in {sync}", invitee.user_id);
        assert!(sync["rooms"]["join"].get(&room).is_none(), "invitee sees the room as joined: {sync}");
        let events = invite["invite_state"]["events"].as_array().expect("invite_state.events");
        let find = |kind: &str, key: &str| {
            events.iter().find(|e| e["type"] == kind && e["state_key"] == key).cloned().unwrap_or_else(|| {
                panic!("invite_state lacks {kind}/{key}: {invite}");
            })
        };
        assert_eq!(find("m.room.name", "")["content"]["name"], "Secret plans");
        assert_eq!(find("m.room.create", "")["content"]["room_version"], "12");
        assert_eq!(find("m.room.join_rules", "")["content"]["join_rule"], "invite");
        let me = find("m.room.member", &invitee.user_id);
        assert_eq!(me["content"]["membership"], "invite");
        assert_eq!(me["content"]["is_direct"], true);
        assert_eq!(me["sender"], alice.user_id.as_str());
        // The invitee is not a member yet.
        assert!(joined_rooms(&s, &invitee.access_token).await.is_empty());
    }
    // Bob accepts: the room moves to his join section.
    s.join(&bob.access_token, &room).await;
    let sync = s.sync(&bob.access_token, None, "").await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "{sync}");
    let timeline = room_events(&sync, "join", &room, "timeline");
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == bob.user_id.as_str()
            && e["content"]["membership"] == "join"),
        "bob's join not in his timeline: {sync}"
    );
    assert_eq!(joined_rooms(&s, &bob.access_token).await, vec![room.clone()]);
    // The inviter sees the invite in the room state.
    let carol_member = state(&s, a, &room, "m.room.member", &carol.user_id).await;
    assert_eq!(carol_member["membership"], "invite");
}

async fn unknown_room_version_is_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    for version in ["999", "1.5", "org.example.custom"] {
        s.post(&format!("{V3}/createRoom"), Some(a), json!({ "room_version": version }))
            .await
            .err(400, "M_UNSUPPORTED_ROOM_VERSION");
    }
    assert!(joined_rooms(&s, a).await.is_empty());
    let sync = s.sync(a, None, "").await;
    assert_eq!(sync["rooms"]["join"], json!({}), "{sync}");
}

async fn malformed_create_requests_create_nothing(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let path = format!("{V3}/createRoom");
    for creation_content in [json!([1, 2]), json!("text"), json!(7)] {
        s.post(&path, Some(a), json!({ "creation_content": creation_content })).await.err(400, "M_BAD_JSON");
    }
    s.post(&path, Some(a), json!({ "power_level_content_override": [] })).await.err(400, "M_BAD_JSON");
    s.post(&path, Some(a), json!({ "initial_state": [{ "type": "org.example.x", "content": [1] }] }))
        .await
        .err(400, "M_BAD_JSON");
    s.post(&path, Some(a), json!({ "initial_state": [{ "content": {} }] })).await.err(400, "M_BAD_JSON");
    s.post(&path, Some(a), json!({ "name": 5 })).await.err(400, "M_BAD_JSON");
    s.post(&path, Some(a), json!({ "invite": "@bob:localhost" })).await.err(400, "M_BAD_JSON");
    // A body that is not JSON at all.
    let resp = s.raw(reqwest::Method::POST, &path, Some(a), Some(b"{not json".to_vec())).await;
    resp.err(400, "M_NOT_JSON");
    assert!(joined_rooms(&s, a).await.is_empty());
    assert_eq!(s.sync(a, None, "").await["rooms"]["join"], json!({}));
}

async fn create_room_needs_a_token(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/createRoom");
    s.post(&path, None, json!({ "name": "x" })).await.err(401, "M_MISSING_TOKEN");
    s.post(&path, Some("not-a-token"), json!({ "name": "x" })).await.err(401, "M_UNKNOWN_TOKEN");
    s.get(&format!("{V3}/joined_rooms"), None).await.err(401, "M_MISSING_TOKEN");
    assert!(joined_rooms(&s, &alice.access_token).await.is_empty());
}

async fn identical_creates_give_distinct_rooms(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let body = json!({ "room_version": "12", "preset": "private_chat", "name": "same" });
    // Sequential and concurrent identical requests.
    let first = s.create_room(a, body.clone()).await;
    let second = s.create_room(a, body.clone()).await;
    let (third, fourth) = tokio::join!(s.create_room(a, body.clone()), s.create_room(a, body.clone()));
    let mut ids = vec![first, second, third, fourth];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "room IDs repeat: {ids:?}");
    let mut joined = joined_rooms(&s, a).await;
    joined.sort();
    assert_eq!(joined, ids);
    for room in &ids {
        assert_eq!(state(&s, a, room, "m.room.name", "").await["name"], "same");
    }
}

async fn unknown_preset_and_unsupported_fields(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let path = format!("{V3}/createRoom");
    s.post(&path, Some(a), json!({ "preset": "org.example.preset" }))
        .await
        .err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    // Inviting a user of another server is not possible yet; nothing is created.
    s.post(&path, Some(a), json!({ "invite": ["@bob:elsewhere.example"] }))
        .await
        .err_one_of(&[(400, "M_UNRECOGNIZED"), (403, "M_FORBIDDEN")]);
    assert!(joined_rooms(&s, a).await.is_empty());
}

/// A createRoom whose initial events fail the auth rules must not leave a half-built
/// room behind.
async fn failing_create_leaves_no_room(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let a = &alice.access_token;
    let path = format!("{V3}/createRoom");
    // Joining bob on his behalf, and inviting the creator herself, both break the rules.
    let bodies = [
        json!({ "initial_state": [
            { "type": "m.room.member", "state_key": bob.user_id, "content": { "membership": "join" } },
        ] }),
        json!({ "invite": [alice.user_id] }),
    ];
    for body in bodies {
        let resp = s.post(&path, Some(a), body.clone()).await;
        assert!((400..500).contains(&resp.status), "{body} → {} {}", resp.status, resp.text);
        resp.assert_error_body();
    }
    assert!(joined_rooms(&s, a).await.is_empty(), "a failed createRoom left a room behind");
    assert!(joined_rooms(&s, &bob.access_token).await.is_empty());
}

async fn name_and_topic_override_initial_state(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s
        .create_room(
            a,
            json!({
                "name": "from name",
                "topic": "from topic",
                "initial_state": [
                    { "type": "m.room.name", "state_key": "", "content": { "name": "from initial_state" } },
                    { "type": "m.room.topic", "state_key": "", "content": { "topic": "from initial_state" } },
                ],
            }),
        )
        .await;
    assert_eq!(state(&s, a, &room, "m.room.name", "").await["name"], "from name");
    assert_eq!(state(&s, a, &room, "m.room.topic", "").await["topic"], "from topic");
    // The spec's order: initial_state, then name and topic, then invites.
    let history = s.all_messages(a, &room).await;
    let kinds: Vec<&str> = history.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds[0], "m.room.create");
    assert_eq!(kinds[1], "m.room.member");
    assert_eq!(kinds[2], "m.room.power_levels");
    let names: Vec<&str> = history
        .iter()
        .filter(|e| e["type"] == "m.room.name")
        .filter_map(|e| e["content"]["name"].as_str())
        .collect();
    assert_eq!(names, vec!["from initial_state", "from name"]);
}

/// Spec (createRoom `topic`): an m.room.topic event "with a text/plain mimetype", i.e.
/// with the `m.topic` content block (v1.15).
async fn create_room_topic_has_an_m_topic_block(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "topic": "plain words" })).await;
    let topic = state(&s, a, &room, "m.room.topic", "").await;
    assert_eq!(topic["topic"], "plain words");
    let texts = topic["m.topic"]["m.text"].as_array().unwrap_or_else(|| panic!("no m.topic: {topic}"));
    assert!(
        texts
            .iter()
            .any(|t| t["body"] == "plain words"
                && (t.get("mimetype").is_none() || t["mimetype"] == "text/plain")),
        "{topic}"
    );
}

crate::per_backend!(
    create_room_in_each_version,
    presets_set_the_spec_rules,
    name_topic_and_initial_state,
    power_level_content_override_applies,
    invitees_see_the_invite_in_sync,
    unknown_room_version_is_refused,
    malformed_create_requests_create_nothing,
    create_room_needs_a_token,
    identical_creates_give_distinct_rooms,
    unknown_preset_and_unsupported_fields,
    name_and_topic_override_initial_state,
    create_room_topic_has_an_m_topic_block,
    failing_create_leaves_no_room,
);
