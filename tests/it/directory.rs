//! Room aliases and the room directory: `/directory/room/{alias}`, `/rooms/{id}/aliases`,
//! canonical alias checks, joining by alias, `/directory/list/room/{id}` and `/publicRooms`.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc};

async fn joined_rooms(s: &Server, token: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/joined_rooms"), Some(token)).await;
    resp.ok()["joined_rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("joined_rooms is not an array: {}", resp.text))
        .iter()
        .map(|r| r.as_str().expect("room ID string").to_owned())
        .collect()
}

fn alias_path(alias: &str) -> String {
    format!("{V3}/directory/room/{}", enc(alias))
}

async fn room_aliases(s: &Server, token: &str, room: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/rooms/{}/aliases", enc(room)), Some(token)).await;
    let mut aliases: Vec<String> = resp.ok()["aliases"]
        .as_array()
        .unwrap_or_else(|| panic!("aliases is not an array: {}", resp.text))
        .iter()
        .map(|a| a.as_str().expect("alias string").to_owned())
        .collect();
    aliases.sort();
    aliases
}

async fn create_room_alias_resolves_and_is_unique(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "room_alias_name": "lobby" })).await;
    let resolved = s.get(&alias_path("#lobby:localhost"), Some(a)).await;
    let body = resolved.ok();
    assert_eq!(body["room_id"], room.as_str(), "{}", resolved.text);
    assert_eq!(body["servers"], json!(["localhost"]), "{}", resolved.text);
    // createRoom also sets the canonical alias.
    let canonical = s.get_state(a, &room, "m.room.canonical_alias", "").await;
    assert_eq!(canonical.ok()["alias"], "#lobby:localhost");

    // The same alias again: refused, and no second room exists.
    let again = s.post(&format!("{V3}/createRoom"), Some(a), json!({ "room_alias_name": "lobby" })).await;
    again.err(400, "M_ROOM_IN_USE");
    assert_eq!(joined_rooms(&s, a).await, vec![room.clone()]);
    assert_eq!(s.get(&alias_path("#lobby:localhost"), Some(a)).await.ok()["room_id"], room.as_str());

    // An unknown alias.
    s.get(&alias_path("#nowhere:localhost"), Some(a)).await.err(404, "M_NOT_FOUND");
}

async fn put_list_and_delete_aliases(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    let (a, bt, c) = (&alice.access_token, &bob.access_token, &carol.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;

    // A member may add an alias; a non-member may not.
    s.put(&alias_path("#by-alice:localhost"), Some(a), json!({ "room_id": room })).await.ok();
    s.put(&alias_path("#by-bob:localhost"), Some(bt), json!({ "room_id": room })).await.ok();
    s.put(&alias_path("#by-carol:localhost"), Some(c), json!({ "room_id": room }))
        .await
        .err(403, "M_FORBIDDEN");
    s.get(&alias_path("#by-carol:localhost"), Some(a)).await.err(404, "M_NOT_FOUND");
    // A taken alias: 409, and it still points where it did.
    let other = s.create_room(bt, json!({})).await;
    s.put(&alias_path("#by-alice:localhost"), Some(bt), json!({ "room_id": other }))
        .await
        .err(409, "M_UNKNOWN");
    assert_eq!(s.get(&alias_path("#by-alice:localhost"), Some(a)).await.ok()["room_id"], room.as_str());

    assert_eq!(room_aliases(&s, a, &room).await, vec!["#by-alice:localhost", "#by-bob:localhost"]);

    // Bob (power 0) may not delete Alice's alias; nothing changes.
    s.delete(&alias_path("#by-alice:localhost"), Some(bt), None).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get(&alias_path("#by-alice:localhost"), Some(a)).await.ok()["room_id"], room.as_str());
    // The creator of an alias may delete it.
    s.delete(&alias_path("#by-alice:localhost"), Some(a), None).await.ok();
    s.get(&alias_path("#by-alice:localhost"), Some(a)).await.err(404, "M_NOT_FOUND");
    // Bob deletes his own alias despite having no power.
    s.delete(&alias_path("#by-bob:localhost"), Some(bt), None).await.ok();
    assert!(room_aliases(&s, a, &room).await.is_empty());
    // Deleting again: unknown.
    s.delete(&alias_path("#by-bob:localhost"), Some(bt), None).await.err(404, "M_NOT_FOUND");
}

async fn canonical_alias_must_exist(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "room_alias_name": "home" })).await;
    let other = s.create_room(a, json!({ "room_alias_name": "elsewhere" })).await;
    assert_ne!(room, other);
    // Missing alias, and an alias of another room: both refused.
    for content in [
        json!({ "alias": "#missing:localhost" }),
        json!({ "alias": "#elsewhere:localhost" }),
        json!({ "alias": "#home:localhost", "alt_aliases": ["#missing:localhost"] }),
    ] {
        s.put_state(a, &room, "m.room.canonical_alias", "", content).await.err(400, "M_BAD_ALIAS");
    }
    let canonical = s.get_state(a, &room, "m.room.canonical_alias", "").await;
    assert_eq!(canonical.ok(), &json!({ "alias": "#home:localhost" }));
    // A real alias of the room is accepted.
    s.put(&alias_path("#second:localhost"), Some(a), json!({ "room_id": room })).await.ok();
    let content = json!({ "alias": "#home:localhost", "alt_aliases": ["#second:localhost"] });
    s.put_state(a, &room, "m.room.canonical_alias", "", content.clone()).await.ok();
    assert_eq!(s.get_state(a, &room, "m.room.canonical_alias", "").await.ok(), &content);
}

async fn join_by_alias(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let room = s
        .create_room(&alice.access_token, json!({ "preset": "public_chat", "room_alias_name": "square" }))
        .await;
    let resp = s.post(&format!("{V3}/join/%23square:localhost"), Some(&bob.access_token), json!({})).await;
    assert_eq!(resp.ok()["room_id"], room.as_str(), "{}", resp.text);
    assert_eq!(joined_rooms(&s, &bob.access_token).await, vec![room.clone()]);
    // An unknown alias joins nothing.
    let resp = s.post(&format!("{V3}/join/%23nothing:localhost"), Some(&bob.access_token), json!({})).await;
    resp.err(404, "M_NOT_FOUND");
    assert_eq!(joined_rooms(&s, &bob.access_token).await, vec![room]);
}

fn chunk_ids(body: &Value) -> Vec<String> {
    body["chunk"]
        .as_array()
        .unwrap_or_else(|| panic!("chunk is not an array: {body}"))
        .iter()
        .map(|r| r["room_id"].as_str().expect("room_id").to_owned())
        .collect()
}

async fn public_room_directory(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let carol = s.register("carol", "pw").await;
    let (a, c) = (&alice.access_token, &carol.access_token);
    let public = s
        .create_room(
            a,
            json!({ "visibility": "public", "preset": "public_chat", "name": "Gardening Club", "topic": "roses" }),
        )
        .await;
    let private = s.create_room(a, json!({ "name": "Gardening secrets" })).await;
    let vis = |room: &str| format!("{V3}/directory/list/room/{}", enc(room));
    assert_eq!(s.get(&vis(&public), None).await.ok()["visibility"], "public");
    assert_eq!(s.get(&vis(&private), None).await.ok()["visibility"], "private");

    let listed = s.get(&format!("{V3}/publicRooms"), None).await;
    assert_eq!(chunk_ids(listed.ok()), vec![public.clone()], "{}", listed.text);
    let entry = &listed.json["chunk"][0];
    assert_eq!(entry["name"], "Gardening Club", "{entry}");
    assert_eq!(entry["topic"], "roses", "{entry}");
    assert_eq!(entry["join_rule"], "public", "{entry}");
    assert_eq!(entry["num_joined_members"], 1, "{entry}");

    let search = |term: &str| json!({ "filter": { "generic_search_term": term } });
    let found = s.post(&format!("{V3}/publicRooms"), Some(c), search("garden")).await;
    assert_eq!(chunk_ids(found.ok()), vec![public.clone()], "{}", found.text);
    let none = s.post(&format!("{V3}/publicRooms"), Some(c), search("cricket")).await;
    assert!(chunk_ids(none.ok()).is_empty(), "{}", none.text);

    // A non-member may not change visibility; nothing changes.
    s.put(&vis(&public), Some(c), json!({ "visibility": "private" })).await.err(403, "M_FORBIDDEN");
    s.put(&vis(&private), Some(c), json!({ "visibility": "public" })).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get(&vis(&public), None).await.ok()["visibility"], "public");
    assert_eq!(s.get(&vis(&private), None).await.ok()["visibility"], "private");
    // The creator may.
    s.put(&vis(&private), Some(a), json!({ "visibility": "public" })).await.ok();
    s.put(&vis(&public), Some(a), json!({ "visibility": "private" })).await.ok();
    let listed = s.get(&format!("{V3}/publicRooms"), None).await;
    assert_eq!(chunk_ids(listed.ok()), vec![private], "{}", listed.text);
    // Unknown room.
    s.get(&vis("!nope:localhost"), None).await.err(404, "M_NOT_FOUND");
}

crate::per_backend!(
    create_room_alias_resolves_and_is_unique,
    put_list_and_delete_aliases,
    canonical_alias_must_exist,
    join_by_alias,
    public_room_directory,
);
