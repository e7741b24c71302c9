//! JSON nesting: content nesting deeper than the limit (64 levels) is refused with 400
//! `M_BAD_JSON` and nothing is stored, so no member can break a room or anyone's sync;
//! content at the limit (and wide, unicode, escaped, extreme integers) reads back
//! through every read path, before and after a restart.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc, next_txn, timeline_filter};

const V1: &str = "/_matrix/client/v1";
/// The server's limit on content nesting (the content object is level 1).
const LIMIT: usize = 64;

/// `levels` nested arrays, e.g. 2 → `[[]]`.
fn arrays(levels: usize) -> Value {
    (1..levels).fold(json!([]), |inner, _| json!([inner]))
}

/// The repro from the issue: `{"d":` + `[`×126 + `]`×126 + `}` (127 levels).
fn repro_body(arrays: usize) -> Vec<u8> {
    format!("{{\"d\":{}{}}}", "[".repeat(arrays), "]".repeat(arrays)).into_bytes()
}

/// Message content nesting exactly `levels` deep.
fn message_at(levels: usize, body: &str) -> Value {
    json!({ "msgtype": "m.text", "body": body, "deep": arrays(levels - 1) })
}

async fn put_raw(s: &Server, token: &str, path: &str, body: Vec<u8>) -> crate::harness::Resp {
    s.raw(Method::PUT, path, Some(token), Some(body)).await
}

fn send_path(room: &str, kind: &str) -> String {
    format!("{V3}/rooms/{}/send/{}/n{}", enc(room), enc(kind), next_txn())
}

/// A room of alice's that bob has joined.
async fn shared_room(s: &Server) -> (String, String, String) {
    let alice = s.register("alice", "pw").await.access_token;
    let bob = s.register("bob", "pw").await.access_token;
    let room = s.create_room(&alice, json!({ "preset": "public_chat" })).await;
    s.join(&bob, &room).await;
    (alice, bob, room)
}

/// Everything a member does in a room still works.
async fn assert_room_works(s: &Server, alice: &str, bob: &str, room: &str) {
    s.send_text(alice, room, "still alive").await;
    s.put_state(alice, room, "m.room.topic", "", json!({ "topic": "fine" })).await.ok();
    s.messages(bob, room, "dir=b&limit=20").await.ok();
    s.get(&format!("{V3}/rooms/{}/state", enc(room)), Some(bob)).await.ok();
    s.get(&format!("{V3}/rooms/{}/members", enc(room)), Some(bob)).await.ok();
    s.sync_resp(alice, None, "").await.ok();
    s.sync_resp(bob, None, "").await.ok();
}

async fn nested_message_is_refused(b: Backend) {
    let mut s = Server::start_default(b).await;
    let (alice, bob, room) = shared_room(&s).await;
    let before = s.all_messages(&bob, &room).await.len();

    let resp = put_raw(&s, &bob, &send_path(&room, "m.room.message"), repro_body(126)).await;
    resp.err(400, "M_BAD_JSON");
    let one_over = serde_json::to_vec(&message_at(LIMIT + 1, "too deep")).unwrap();
    put_raw(&s, &bob, &send_path(&room, "m.room.message"), one_over).await.err(400, "M_BAD_JSON");
    // Deeper than serde_json's own limit of 128: still the same answer.
    put_raw(&s, &bob, &send_path(&room, "m.room.message"), repro_body(500)).await.err(400, "M_BAD_JSON");

    assert_eq!(s.all_messages(&bob, &room).await.len(), before, "a refused event was stored");
    assert_room_works(&s, &alice, &bob, &room).await;
    s.room_action(&alice, &room, "kick", json!({ "user_id": "@bob:localhost" })).await.ok();
    s.stop();
    s.start().await;
    assert_room_works(&s, &alice, &alice, &room).await;
    s.room_action(&alice, &room, "leave", json!({})).await.ok();
    s.post(&format!("{V3}/rooms/{}/forget", enc(&room)), Some(&alice), json!({})).await.ok();
}

async fn nested_member_and_invite_are_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let (alice, bob, room) = shared_room(&s).await;
    let carol = s.register("carol", "pw").await.access_token;
    let member_path = Server::state_path(&room, "m.room.member", "@bob:localhost");
    let nested = json!({ "membership": "join", "x": arrays(LIMIT) });
    s.put(&member_path, Some(&bob), nested).await.err(400, "M_BAD_JSON");
    let invite_path = Server::state_path(&room, "m.room.member", "@carol:localhost");
    let body = format!(r#"{{"membership":"invite","x":{}{}}}"#, "[".repeat(125), "]".repeat(125));
    put_raw(&s, &alice, &invite_path, body.into_bytes()).await.err(400, "M_BAD_JSON");

    let sync = s.sync(&carol, None, "").await;
    assert!(sync["rooms"]["invite"].get(&room).is_none(), "a refused invite reached carol: {sync}");
    s.invite(&alice, &room, "@carol:localhost").await;
    let sync = s.sync(&carol, None, "").await;
    assert!(sync["rooms"]["invite"].get(&room).is_some(), "the real invite is missing: {sync}");
    s.join(&carol, &room).await;
    assert_room_works(&s, &alice, &bob, &room).await;
    let upgrade = format!("{V3}/rooms/{}/upgrade", enc(&room));
    s.post(&upgrade, Some(&alice), json!({ "new_version": "11" })).await.ok();
    s.room_action(&bob, &room, "leave", json!({})).await.ok();
}

async fn nested_bodies_of_other_endpoints_are_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/user/{}/account_data/org.example.deep", enc(&alice.user_id));
    let too_deep = serde_json::to_vec(&json!({ "x": arrays(LIMIT) })).unwrap();
    put_raw(&s, &alice.access_token, &path, too_deep).await.err(400, "M_BAD_JSON");
    s.get(&path, Some(&alice.access_token)).await.err(404, "M_NOT_FOUND");
    let at_limit = json!({ "x": arrays(LIMIT - 1) });
    s.put(&path, Some(&alice.access_token), at_limit.clone()).await.ok();
    assert_eq!(s.get(&path, Some(&alice.access_token)).await.ok(), &at_limit);
}

/// Contents a client may send, each nesting within the limit.
fn accepted_contents() -> Vec<Value> {
    let wide: serde_json::Map<String, Value> = (0..200).map(|i| (format!("k{i:03}"), json!(i))).collect();
    vec![
        message_at(LIMIT, "deepest allowed"),
        json!({ "msgtype": "m.text", "body": "wide", "wide": wide }),
        json!({ "msgtype": "m.text", "body": "ünïcødé 🎉 \u{2028} 中文", "ключ": "значение" }),
        json!({ "msgtype": "m.text", "body": "esc \" \\ / \n \t \u{0001} \u{001f}", "q": "[{\"not\":\"nested\"}]" }),
        json!({ "msgtype": "m.text", "body": "ints", "max": 9_007_199_254_740_991_i64, "min": -9_007_199_254_740_991_i64, "zero": 0 }),
    ]
}

/// Finds the event with `id` among `events`.
fn find<'a>(events: &'a [Value], id: &str) -> Option<&'a Value> {
    events.iter().find(|event| event["event_id"] == id)
}

/// Reads every sent event back through `/event`, `/messages`, `/context` and `/sync`.
async fn assert_timeline_reads(s: &Server, token: &str, room: &str, sent: &[(String, Value)]) {
    let messages = s.all_messages(token, room).await;
    let sync = s.sync(token, None, &timeline_filter(50)).await;
    let timeline = sync["rooms"]["join"][room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
    for (id, content) in sent {
        let event = s.get(&format!("{V3}/rooms/{}/event/{}", enc(room), enc(id)), Some(token)).await;
        assert_eq!(&event.ok()["content"], content, "/event {id}");
        assert_eq!(find(&messages, id).map(|e| &e["content"]), Some(content), "/messages {id}");
        let context =
            s.get(&format!("{V3}/rooms/{}/context/{}?limit=2", enc(room), enc(id)), Some(token)).await;
        assert_eq!(&context.ok()["event"]["content"], content, "/context {id}");
        assert_eq!(find(&timeline, id).map(|e| &e["content"]), Some(content), "/sync {id}");
    }
}

/// Reads the state events back through `/state`, `/state/{type}/{key}` and `/members`.
async fn assert_state_reads(s: &Server, token: &str, room: &str, state: &[(&str, &str, Value)]) {
    let all = s.get(&format!("{V3}/rooms/{}/state", enc(room)), Some(token)).await;
    let all = all.ok().as_array().cloned().unwrap_or_default();
    let members = s.get(&format!("{V3}/rooms/{}/members", enc(room)), Some(token)).await;
    let members = members.ok()["chunk"].as_array().cloned().unwrap_or_default();
    for (kind, key, content) in state {
        let matching = |e: &&Value| e["type"] == *kind && e["state_key"] == *key;
        assert_eq!(all.iter().find(matching).map(|e| &e["content"]), Some(content), "/state {kind}");
        assert_eq!(s.get_state(token, room, kind, key).await.ok(), content, "/state/{kind}/{key}");
        if *kind == "m.room.member" {
            assert_eq!(members.iter().find(matching).map(|e| &e["content"]), Some(content), "/members");
        }
    }
}

async fn accepted_content_reads_back_everywhere(b: Backend) {
    let mut s = Server::start_default(b).await;
    let (alice, bob, room) = shared_room(&s).await;
    let mut sent = Vec::new();
    for content in accepted_contents() {
        let txn = format!("a{}", next_txn());
        let resp = s.send_event(&alice, &room, "m.room.message", &txn, content.clone()).await;
        sent.push((resp.ok()["event_id"].as_str().unwrap().to_owned(), content));
    }
    let root = sent[1].0.clone();
    let relation = json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": "k" }, "deep": arrays(LIMIT - 3) });
    let reaction =
        s.send_event(&bob, &room, "m.reaction", &format!("r{}", next_txn()), relation.clone()).await;
    let reaction = reaction.ok()["event_id"].as_str().unwrap().to_owned();
    let member = json!({ "membership": "join", "displayname": "Bob", "deep": arrays(LIMIT - 1) });
    s.put_state(&bob, &room, "m.room.member", "@bob:localhost", member.clone()).await.ok();
    let custom = json!({ "deep": arrays(LIMIT - 1), "ü": "\u{0000}" });
    s.put_state(&alice, &room, "org.example.deep", "k", custom.clone()).await.ok();
    let state = [("m.room.member", "@bob:localhost", member), ("org.example.deep", "k", custom)];

    for round in 0..2 {
        for token in [&alice, &bob] {
            assert_timeline_reads(&s, token, &room, &sent).await;
            assert_state_reads(&s, token, &room, &state).await;
            let path = format!("{V1}/rooms/{}/relations/{}", enc(&room), enc(&root));
            let chunk = s.get(&path, Some(token)).await.ok()["chunk"].as_array().cloned().unwrap_or_default();
            assert_eq!(find(&chunk, &reaction).map(|e| &e["content"]), Some(&relation), "/relations");
        }
        if round == 0 {
            // The second round reads from the store, not from what the writer kept in memory.
            s.stop();
            s.start().await;
        }
    }
    assert_room_works(&s, &alice, &bob, &room).await;
}

crate::per_backend!(
    nested_message_is_refused,
    nested_member_and_invite_are_refused,
    nested_bodies_of_other_endpoints_are_refused,
    accepted_content_reads_back_everywhere,
);
