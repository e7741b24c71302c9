//! Issue 10 §4, the smaller findings, each proven over HTTP: bundled aggregations
//! through history visibility, redaction as an existence oracle, `/login` without a
//! type, positions at `u64::MAX` in tokens, unknown users at login, and the answers
//! to `{}` profile bodies, unknown presence states and oversized filters.

use serde_json::json;

use crate::harness::{Backend, Server, V3, enc, next_txn};

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

/// `/login` without a `type` is refused as Synapse refuses it, and nothing panics.
async fn login_without_type_is_refused_without_panic(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let body = json!({ "identifier": { "type": "m.id.user", "user": "alice" }, "password": "pw" });
    s.login_body(body).await.err(400, "M_UNKNOWN");
    s.login_body(json!({})).await.err(400, "M_UNKNOWN");
    s.login_body(json!({ "type": 7, "password": "pw" })).await.err(400, "M_INVALID_PARAM");
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
    redaction_by_a_non_member_is_forbidden_either_way,
    login_without_type_is_refused_without_panic,
    positions_at_u64_max_are_invalid_params,
    login_as_unknown_user_answers_like_a_wrong_password,
    wrong_answers_are_corrected,
);
