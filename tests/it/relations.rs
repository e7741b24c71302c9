//! Relations and threads: `/v1/rooms/{id}/relations/…` (three forms, paging),
//! bundled aggregations on `/event/{id}`, `/v1/rooms/{id}/threads`, and visibility.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc, next_txn};

const V1: &str = "/_matrix/client/v1";

async fn send(s: &Server, token: &str, room: &str, kind: &str, content: Value) -> String {
    let resp = s.send_event(token, room, kind, &format!("rel-{}", next_txn()), content).await;
    resp.ok()["event_id"].as_str().unwrap_or_else(|| panic!("no event_id: {}", resp.text)).to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["chunk"]
        .as_array()
        .unwrap_or_else(|| panic!("chunk is not an array: {body}"))
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A root with an edit, a thread reply and a reaction; returns (room, root, edit, reply, reaction).
async fn setup(s: &Server, token: &str) -> (String, String, String, String, String) {
    let room = s.create_room(token, json!({})).await;
    let root = s.send_text(token, &room, "root").await;
    let edit = send(
        s,
        token,
        &room,
        "m.room.message",
        json!({
            "msgtype": "m.text", "body": "* root edited",
            "m.new_content": { "msgtype": "m.text", "body": "root edited" },
            "m.relates_to": { "rel_type": "m.replace", "event_id": root },
        }),
    )
    .await;
    let reply = send(
        s,
        token,
        &room,
        "m.room.message",
        json!({ "msgtype": "m.text", "body": "in thread", "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
    )
    .await;
    let reaction = send(
        s,
        token,
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": "👍" } }),
    )
    .await;
    // Unrelated traffic must not show up.
    s.send_text(token, &room, "unrelated").await;
    (room, root, edit, reply, reaction)
}

fn rel_path(room: &str, event: &str, rest: &str) -> String {
    format!("{V1}/rooms/{}/relations/{}{rest}", enc(room), enc(event))
}

async fn relations_in_all_three_forms(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let (room, root, edit, reply, reaction) = setup(&s, a).await;

    let all = s.get(&rel_path(&room, &root, ""), Some(a)).await;
    assert_eq!(
        sorted(ids(all.ok())),
        sorted(vec![edit.clone(), reply.clone(), reaction.clone()]),
        "{}",
        all.text
    );
    // Default direction is backwards: newest first.
    assert_eq!(ids(&all.json), vec![reaction.clone(), reply.clone(), edit.clone()], "{}", all.text);
    let forward = s.get(&rel_path(&room, &root, "?dir=f"), Some(a)).await;
    assert_eq!(ids(forward.ok()), vec![edit.clone(), reply.clone(), reaction.clone()], "{}", forward.text);

    let annotations = s.get(&rel_path(&room, &root, "/m.annotation"), Some(a)).await;
    assert_eq!(ids(annotations.ok()), vec![reaction.clone()], "{}", annotations.text);
    let typed = s.get(&rel_path(&room, &root, "/m.annotation/m.reaction"), Some(a)).await;
    assert_eq!(ids(typed.ok()), vec![reaction.clone()], "{}", typed.text);
    let wrong_type = s.get(&rel_path(&room, &root, "/m.annotation/m.room.message"), Some(a)).await;
    assert!(ids(wrong_type.ok()).is_empty(), "{}", wrong_type.text);
    let threads = s.get(&rel_path(&room, &root, "/m.thread"), Some(a)).await;
    assert_eq!(ids(threads.ok()), vec![reply.clone()], "{}", threads.text);

    // An event without relations, and an unknown parent.
    let none = s.get(&rel_path(&room, &reply, ""), Some(a)).await;
    assert!(ids(none.ok()).is_empty(), "{}", none.text);
    assert!(none.json.get("next_batch").is_none(), "{}", none.text);
    s.get(&rel_path(&room, "$unknown", ""), Some(a)).await.err(404, "M_NOT_FOUND");
}

async fn relations_paging_visits_each_once(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let (room, root, edit, reply, reaction) = setup(&s, a).await;
    for dir in ["b", "f"] {
        let mut seen = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..10 {
            let query = match &from {
                Some(f) => format!("?limit=1&dir={dir}&from={}", enc(f)),
                None => format!("?limit=1&dir={dir}"),
            };
            let page = s.get(&rel_path(&room, &root, &query), Some(a)).await;
            let chunk = ids(page.ok());
            assert!(chunk.len() <= 1, "limit=1 gave {}", page.text);
            seen.extend(chunk);
            match page.json["next_batch"].as_str() {
                Some(next) => from = Some(next.to_owned()),
                None => break,
            }
        }
        let expected = if dir == "b" {
            vec![reaction.clone(), reply.clone(), edit.clone()]
        } else {
            vec![edit.clone(), reply.clone(), reaction.clone()]
        };
        assert_eq!(seen, expected, "dir={dir}");
    }
}

async fn bundled_aggregations_and_threads(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let (room, root, edit, reply, _reaction) = setup(&s, a).await;

    let event = s.get(&format!("{V3}/rooms/{}/event/{}", enc(&room), enc(&root)), Some(a)).await;
    let relations = &event.ok()["unsigned"]["m.relations"];
    assert_eq!(relations["m.replace"]["event_id"], edit.as_str(), "{}", event.text);
    assert_eq!(relations["m.thread"]["count"], 1, "{}", event.text);
    assert_eq!(relations["m.thread"]["current_user_participated"], true, "{}", event.text);
    assert_eq!(relations["m.thread"]["latest_event"]["event_id"], reply.as_str(), "{}", event.text);
    // The original content is served unchanged.
    assert_eq!(event.json["content"]["body"], "root", "{}", event.text);

    let threads = s.get(&format!("{V1}/rooms/{}/threads", enc(&room)), Some(a)).await;
    assert_eq!(ids(threads.ok()), vec![root.clone()], "{}", threads.text);
    assert_eq!(
        threads.json["chunk"][0]["unsigned"]["m.relations"]["m.thread"]["count"], 1,
        "{}",
        threads.text
    );

    // Someone who never took part: current_user_participated is false for them.
    let bob = s.register("bob", "pw").await;
    s.put_state(a, &room, "m.room.history_visibility", "", json!({ "history_visibility": "shared" }))
        .await
        .ok();
    s.invite(a, &room, &bob.user_id).await;
    s.join(&bob.access_token, &room).await;
    let event =
        s.get(&format!("{V3}/rooms/{}/event/{}", enc(&room), enc(&root)), Some(&bob.access_token)).await;
    assert_eq!(
        event.ok()["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        false,
        "{}",
        event.text
    );
    let mine = s
        .get(&format!("{V1}/rooms/{}/threads?include=participated", enc(&room)), Some(&bob.access_token))
        .await;
    assert!(ids(mine.ok()).is_empty(), "{}", mine.text);
}

/// Redaction strips `m.relates_to`: the redacted edit, reaction or reply leaves
/// `/relations`, the bundled aggregations and `/threads`.
async fn redacted_relations_leave_aggregations(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let (room, root, edit, reply, reaction) = setup(&s, a).await;
    for target in [&edit, &reply, &reaction] {
        let path = format!("{V3}/rooms/{}/redact/{}/red-{}", enc(&room), enc(target), next_txn());
        s.put(&path, Some(a), json!({ "reason": "gone" })).await.ok();
    }
    let all = s.get(&rel_path(&room, &root, ""), Some(a)).await;
    assert!(ids(all.ok()).is_empty(), "{}", all.text);
    let event = s.get(&format!("{V3}/rooms/{}/event/{}", enc(&room), enc(&root)), Some(a)).await;
    assert!(event.ok()["unsigned"].get("m.relations").is_none(), "{}", event.text);
    let threads = s.get(&format!("{V1}/rooms/{}/threads", enc(&room)), Some(a)).await;
    assert!(ids(threads.ok()).is_empty(), "{}", threads.text);
    // A new reaction counts again.
    let again = send(
        &s,
        a,
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": "👍" } }),
    )
    .await;
    let all = s.get(&rel_path(&room, &root, ""), Some(a)).await;
    assert_eq!(ids(all.ok()), vec![again], "{}", all.text);
}

async fn non_member_cannot_read_relations(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let eve = s.register("eve", "pw").await;
    let (room, root, ..) = setup(&s, &alice.access_token).await;
    let e = Some(eve.access_token.as_str());
    let allowed = [(403, "M_FORBIDDEN"), (404, "M_NOT_FOUND")];
    s.get(&rel_path(&room, &root, ""), e).await.err_one_of(&allowed);
    s.get(&rel_path(&room, &root, "/m.annotation"), e).await.err_one_of(&allowed);
    s.get(&rel_path(&room, &root, "/m.annotation/m.reaction"), e).await.err_one_of(&allowed);
    s.get(&format!("{V1}/rooms/{}/threads", enc(&room)), e).await.err_one_of(&allowed);
    s.get(&rel_path(&room, &root, ""), None).await.err(401, "M_MISSING_TOKEN");
}

crate::per_backend!(
    relations_in_all_three_forms,
    relations_paging_visits_each_once,
    bundled_aggregations_and_threads,
    non_member_cannot_read_relations,
    redacted_relations_leave_aggregations,
);
