//! Forgetting rooms (`/rooms/{id}/forget`) and reporting content
//! (`/rooms/{id}/report`, `/rooms/{id}/report/{eventId}`).

use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

async fn forget_requires_leaving_and_hides_history(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bo) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bo, &room).await;
    s.send_text(a, &room, "before bob left").await;
    let forget = format!("{V3}/rooms/{}/forget", enc(&room));
    // Still joined: refused, and history stays readable.
    s.post(&forget, Some(bo), json!({})).await.err(400, "M_UNKNOWN");
    let messages = format!("{V3}/rooms/{}/messages?dir=b&limit=10", enc(&room));
    s.get(&messages, Some(bo)).await.ok();
    s.leave(bo, &room).await;
    s.get(&messages, Some(bo)).await.ok();
    s.post(&forget, Some(bo), json!({})).await.ok();
    // Forgotten: history is gone for bob, not for alice.
    let resp = s.get(&messages, Some(bo)).await;
    assert!(resp.status == 403 || resp.status == 404, "forgotten history still readable: {}", resp.text);
    s.get(&messages, Some(a)).await.ok();
    // Rejoining makes the room theirs again.
    s.join(bo, &room).await;
    s.get(&messages, Some(bo)).await.ok();
    // Unknown rooms and missing tokens.
    s.post(&format!("{V3}/rooms/{}/forget", enc("!nope:localhost")), Some(bo), json!({}))
        .await
        .err(404, "M_NOT_FOUND");
    s.post(&forget, None, json!({})).await.err(401, "M_MISSING_TOKEN");
}

async fn reports_of_visible_content_only(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let mallory = s.register("mallory", "pw").await;
    let (a, m) = (&alice.access_token, &mallory.access_token);
    let room = s.create_room(a, json!({})).await;
    let event = s.send_text(a, &room, "reportable").await;
    let report_event = format!("{V3}/rooms/{}/report/{}", enc(&room), enc(&event));
    let report_room = format!("{V3}/rooms/{}/report", enc(&room));
    s.post(&report_event, Some(a), json!({ "reason": "spam" })).await.ok();
    s.post(&report_room, Some(a), json!({ "reason": "whole room" })).await.ok();
    // A non-member sees neither the room nor the event.
    s.post(&report_event, Some(m), json!({ "reason": "x" })).await.err(404, "M_NOT_FOUND");
    s.post(&report_room, Some(m), json!({ "reason": "x" })).await.err(404, "M_NOT_FOUND");
    let unknown = format!("{V3}/rooms/{}/report/{}", enc(&room), enc("$doesnotexist"));
    s.post(&unknown, Some(a), json!({ "reason": "x" })).await.err(404, "M_NOT_FOUND");
}

crate::per_backend!(forget_requires_leaving_and_hides_history, reports_of_visible_content_only,);
