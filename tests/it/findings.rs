//! Issue 10 §4, the smaller findings, each proven over HTTP: bundled aggregations
//! through history visibility, redaction as an existence oracle, `/login` without a
//! type, positions at `u64::MAX` in tokens, unknown users at login, and the answers
//! to `{}` profile bodies, unknown presence states and oversized filters.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc, next_txn};

async fn send(s: &Server, token: &str, room: &str, content: Value) -> String {
    let resp = s.send_event(token, room, "m.room.message", &format!("f-{}", next_txn()), content).await;
    resp.ok()["event_id"].as_str().unwrap_or_else(|| panic!("no event_id: {}", resp.text)).to_owned()
}

fn thread_reply(root: &str, body: &str) -> Value {
    json!({ "msgtype": "m.text", "body": body, "m.relates_to": { "rel_type": "m.thread", "event_id": root } })
}

fn edit(target: &str, body: &str) -> Value {
    json!({
        "msgtype": "m.text", "body": format!("* {body}"),
        "m.new_content": { "msgtype": "m.text", "body": body },
        "m.relates_to": { "rel_type": "m.replace", "event_id": target },
    })
}

fn reference(target: &str) -> Value {
    json!({ "msgtype": "m.text", "body": "see above", "m.relates_to": { "rel_type": "m.reference", "event_id": target } })
}

async fn relations_of(s: &Server, token: &str, room: &str, event: &str) -> Value {
    let resp = s.get(&format!("{V3}/rooms/{}/event/{}", enc(room), enc(event)), Some(token)).await;
    resp.ok()["unsigned"].get("m.relations").cloned().unwrap_or(Value::Null)
}

/// Bob, joined, then away while replies and a reference are sent (`joined` history),
/// then back: what he is served counts and lists only what he may see, and
/// `latest_event` is always an event.
async fn bundles_count_only_what_the_requester_may_see(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bo) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.put_state(a, &room, "m.room.history_visibility", "", json!({ "history_visibility": "joined" }))
        .await
        .ok();
    s.join(bo, &room).await;
    let root = s.send_text(a, &room, "root").await;
    s.leave(bo, &room).await;
    let away_reply = send(&s, a, &room, thread_reply(&root, "while bob was away")).await;
    let away_reference = send(&s, a, &room, reference(&root)).await;
    let away_edit = send(&s, a, &room, edit(&root, "edited while bob was away")).await;
    s.join(bo, &room).await;

    // Alice sees everything; Bob sees neither the reply nor the reference.
    let for_alice = relations_of(&s, a, &room, &root).await;
    assert_eq!(for_alice["m.thread"]["count"], 1, "{for_alice}");
    assert_eq!(for_alice["m.thread"]["latest_event"]["event_id"], away_reply.as_str(), "{for_alice}");
    assert_eq!(for_alice["m.reference"]["chunk"][0]["event_id"], away_reference.as_str(), "{for_alice}");
    let for_bob = relations_of(&s, bo, &room, &root).await;
    assert!(for_bob.get("m.thread").is_none(), "thread summary of invisible replies: {for_bob}");
    assert!(for_bob.get("m.reference").is_none(), "reference bob may not see: {for_bob}");
    assert!(for_bob.get("m.replace").is_none(), "edit bob may not see: {for_bob}");
    assert_eq!(for_alice["m.replace"]["event_id"], away_edit.as_str(), "{for_alice}");

    // A reply after Bob's return counts for him, and only that one.
    let seen_reply = send(&s, a, &room, thread_reply(&root, "bob is back")).await;
    let seen_reference = send(&s, a, &room, reference(&root)).await;
    let seen_edit = send(&s, a, &room, edit(&root, "edited with bob back")).await;
    let for_bob = relations_of(&s, bo, &room, &root).await;
    assert_eq!(for_bob["m.thread"]["count"], 1, "{for_bob}");
    assert_eq!(for_bob["m.thread"]["latest_event"]["event_id"], seen_reply.as_str(), "{for_bob}");
    assert_eq!(for_bob["m.thread"]["current_user_participated"], false, "{for_bob}");
    assert_eq!(for_bob["m.reference"]["chunk"], json!([{ "event_id": seen_reference }]), "{for_bob}");
    let for_alice = relations_of(&s, a, &room, &root).await;
    assert_eq!(for_alice["m.thread"]["count"], 2, "{for_alice}");
    assert_eq!(for_alice["m.reference"]["chunk"].as_array().map(Vec::len), Some(2), "{for_alice}");

    // The newest reply invisible to Bob: latest_event is the newest he may see, not null.
    s.leave(bo, &room).await;
    send(&s, a, &room, thread_reply(&root, "away again")).await;
    send(&s, a, &room, edit(&root, "edited while bob was away again")).await;
    s.join(bo, &room).await;
    let for_bob = relations_of(&s, bo, &room, &root).await;
    // The newest edit he may see, not the newest there is.
    assert_eq!(for_bob["m.replace"]["event_id"], seen_edit.as_str(), "{for_bob}");
    assert_eq!(for_bob["m.thread"]["count"], 1, "{for_bob}");
    assert_eq!(for_bob["m.thread"]["latest_event"]["event_id"], seen_reply.as_str(), "{for_bob}");
    // The same bundle rides on /messages.
    let page = s.messages(bo, &room, "dir=b&limit=50").await;
    let served =
        page.ok()["chunk"].as_array().expect("chunk").iter().find(|e| e["event_id"] == root.as_str());
    let served = served.unwrap_or_else(|| panic!("root not in /messages: {}", page.text));
    assert_eq!(served["unsigned"]["m.relations"]["m.thread"]["count"], 1, "{}", page.text);
}

/// Redacting in a room one is not in answers 403 whether or not the event exists.
async fn redaction_by_a_non_member_is_forbidden_either_way(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let eve = s.register("eve", "pw").await;
    let room = s.create_room(&alice.access_token, json!({})).await;
    let event = s.send_text(&alice.access_token, &room, "secret").await;
    for target in [event.as_str(), "$doesnotexist"] {
        let path = format!("{V3}/rooms/{}/redact/{}/r-{}", enc(&room), enc(target), next_txn());
        s.put(&path, Some(&eve.access_token), json!({})).await.err(403, "M_FORBIDDEN");
    }
    // A member still gets 404 for an event that does not exist.
    let path = format!("{V3}/rooms/{}/redact/{}/r-{}", enc(&room), enc("$doesnotexist"), next_txn());
    s.put(&path, Some(&alice.access_token), json!({})).await.err(404, "M_NOT_FOUND");
}

/// `/login` without a string `type` is refused like any body missing a required field
/// (400 `M_BAD_JSON`), and nothing panics.
async fn login_without_type_is_refused_without_panic(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let body = json!({ "identifier": { "type": "m.id.user", "user": "alice" }, "password": "pw" });
    s.login_body(body).await.err(400, "M_BAD_JSON");
    s.login_body(json!({})).await.err(400, "M_BAD_JSON");
    s.login_body(json!({ "type": 7, "password": "pw" })).await.err(400, "M_BAD_JSON");
    // A proper login still works afterwards.
    s.login("alice", "pw").await;
    let log = s.log();
    assert!(!log.contains("panicked"), "the login handler panicked:\n{log}");
}

/// A sync token whose events position is the largest a token can carry.
const MAX_EVENTS_TOKEN: &str = "s1_18446744073709551615_0_0_0_0_0_0_0";

/// A token at `u64::MAX` is refused as a parameter, never overflowed.
async fn positions_at_u64_max_are_invalid_params(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({})).await;
    s.send_text(a, &room, "hello").await;
    let from = enc(MAX_EVENTS_TOKEN);
    s.messages(a, &room, &format!("dir=b&from={from}")).await.err(400, "M_INVALID_PARAM");
    s.messages(a, &room, &format!("dir=f&to={from}")).await.err(400, "M_INVALID_PARAM");
    let root = s.send_text(a, &room, "root").await;
    let relations = format!("/_matrix/client/v1/rooms/{}/relations/{}", enc(&room), enc(&root));
    s.get(&format!("{relations}?from={from}"), Some(a)).await.err(400, "M_INVALID_PARAM");
    let threads = format!("/_matrix/client/v1/rooms/{}/threads?from={from}", enc(&room));
    s.get(&threads, Some(a)).await.err(400, "M_INVALID_PARAM");
    s.sync_resp(a, Some(MAX_EVENTS_TOKEN), "timeout=0").await.err(400, "M_INVALID_PARAM");
    // A boundary token at the top is a boundary like any other: nothing lies past it.
    let top = format!("t{}", u64::MAX);
    s.messages(a, &room, &format!("dir=b&from={top}")).await.ok();
    let forward = s.messages(a, &room, &format!("dir=f&from={top}")).await;
    assert_eq!(forward.ok()["chunk"], json!([]), "{}", forward.text);
    s.get(&format!("{relations}?dir=f&from={top}"), Some(a)).await.ok();
    // One below the top is a position like any other (from the future: nothing new).
    let below = format!("s1_{}_0_0_0_0_0_0_0", u64::MAX - 1);
    s.messages(a, &room, &format!("dir=b&from={}", enc(&below))).await.ok();
    s.sync_resp(a, Some(&below), "timeout=0").await.ok();
    // The same server keeps answering.
    s.messages(a, &room, "dir=b").await.ok();
    let log = s.log();
    assert!(!log.contains("panicked"), "a token overflowed:\n{log}");
}

/// An unknown user and a wrong password get the same answer.
async fn login_as_unknown_user_answers_like_a_wrong_password(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let wrong = s.login_resp("alice", "not the password").await;
    let unknown = s.login_resp("nobody", "pw").await;
    wrong.err(403, "M_FORBIDDEN");
    unknown.err(403, "M_FORBIDDEN");
    assert_eq!(wrong.json, unknown.json, "the answers tell them apart");
}

/// `{}` does not clear a profile field; unknown presence states and oversized filters
/// are refused with the spec's codes.
async fn wrong_answers_are_corrected(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let field = |key: &str| format!("{V3}/profile/{}/{key}", enc(&alice.user_id));
    s.put(&field("displayname"), Some(a), json!({ "displayname": "Alice" })).await.ok();
    s.put(&field("avatar_url"), Some(a), json!({ "avatar_url": "mxc://localhost/pic" })).await.ok();
    s.put(&field("displayname"), Some(a), json!({})).await.err(400, "M_MISSING_PARAM");
    s.put(&field("avatar_url"), Some(a), json!({})).await.err(400, "M_MISSING_PARAM");
    assert_eq!(s.get(&field("displayname"), Some(a)).await.ok()["displayname"], "Alice");
    assert_eq!(s.get(&field("avatar_url"), Some(a)).await.ok()["avatar_url"], "mxc://localhost/pic");

    s.sync_resp(a, None, "set_presence=zzz&timeout=0").await.err(400, "M_INVALID_PARAM");
    for known in ["online", "offline", "unavailable"] {
        s.sync_resp(a, None, &format!("set_presence={known}&timeout=0")).await.ok();
    }

    let filter_path = format!("{V3}/user/{}/filter", enc(&alice.user_id));
    let senders: Vec<String> = (0..3000).map(|i| format!("@user{i:05}:localhost")).collect();
    let big = json!({ "room": { "timeline": { "senders": senders } } });
    s.post(&filter_path, Some(a), big).await.err(413, "M_TOO_LARGE");
}

crate::per_backend!(
    bundles_count_only_what_the_requester_may_see,
    redaction_by_a_non_member_is_forbidden_either_way,
    login_without_type_is_refused_without_panic,
    positions_at_u64_max_are_invalid_params,
    login_as_unknown_user_answers_like_a_wrong_password,
    wrong_answers_are_corrected,
);
