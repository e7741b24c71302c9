//! Client config: global and per-room account data.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

fn global(user: &str, ty: &str) -> String {
    format!("{V3}/user/{}/account_data/{}", enc(user), enc(ty))
}

fn in_room(user: &str, room: &str, ty: &str) -> String {
    format!("{V3}/user/{}/rooms/{}/account_data/{}", enc(user), enc(room), enc(ty))
}

const ROOM: &str = "!someroom:localhost";

async fn global_account_data_roundtrip(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = global(&alice.user_id, "org.example.settings");
    s.get(&path, alice.token()).await.err(404, "M_NOT_FOUND");
    let content = json!({ "theme": "dark", "nested": { "list": [1, 2, 3] }, "unicode": "héllo ✓" });
    assert_eq!(s.put(&path, alice.token(), content.clone()).await.ok(), &json!({}));
    assert_eq!(s.get(&path, alice.token()).await.ok(), &content);
    s.put(&path, alice.token(), json!({ "theme": "light" })).await.ok();
    assert_eq!(s.get(&path, alice.token()).await.ok(), &json!({ "theme": "light" }));
    // Types are independent.
    s.get(&global(&alice.user_id, "org.example.other"), alice.token()).await.err(404, "M_NOT_FOUND");
}

async fn room_account_data_roundtrip(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = in_room(&alice.user_id, ROOM, "org.example.tag");
    s.get(&path, alice.token()).await.err(404, "M_NOT_FOUND");
    s.put(&path, alice.token(), json!({ "colour": "blue" })).await.ok();
    assert_eq!(s.get(&path, alice.token()).await.ok(), &json!({ "colour": "blue" }));
    // Room and global data of the same type do not mix, nor do rooms.
    s.get(&global(&alice.user_id, "org.example.tag"), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&in_room(&alice.user_id, "!other:localhost", "org.example.tag"), alice.token())
        .await
        .err(404, "M_NOT_FOUND");
}

async fn other_users_account_data_is_forbidden(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let bobs = global(&bob.user_id, "org.example.secret");
    let bobs_room = in_room(&bob.user_id, ROOM, "org.example.secret");
    s.put(&bobs, bob.token(), json!({ "v": 1 })).await.ok();
    s.put(&bobs_room, bob.token(), json!({ "v": 1 })).await.ok();
    s.get(&bobs, alice.token()).await.err(403, "M_FORBIDDEN");
    s.get(&bobs_room, alice.token()).await.err(403, "M_FORBIDDEN");
    s.put(&bobs, alice.token(), json!({ "v": 2 })).await.err(403, "M_FORBIDDEN");
    s.put(&bobs_room, alice.token(), json!({ "v": 2 })).await.err(403, "M_FORBIDDEN");
    assert_eq!(s.get(&bobs, bob.token()).await.ok(), &json!({ "v": 1 }));
    assert_eq!(s.get(&bobs_room, bob.token()).await.ok(), &json!({ "v": 1 }));
    s.get(&bobs, None).await.err(401, "M_MISSING_TOKEN");
}

async fn non_object_bodies_are_rejected(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = global(&alice.user_id, "org.example.x");
    let room_path = in_room(&alice.user_id, ROOM, "org.example.x");
    for p in [&path, &room_path] {
        for body in [json!([1, 2]), json!("string"), json!(5), json!(null)] {
            let r = s.put(p, alice.token(), body.clone()).await;
            r.err_one_of(&[(400, "M_BAD_JSON"), (400, "M_NOT_JSON")]);
        }
        s.raw(Method::PUT, p, alice.token(), Some(b"{\"a\":".to_vec())).await.err(400, "M_NOT_JSON");
        s.get(p, alice.token()).await.err(404, "M_NOT_FOUND");
    }
}

async fn server_managed_types_are_405(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    for ty in ["m.fully_read", "m.push_rules"] {
        s.put(&global(&alice.user_id, ty), alice.token(), json!({ "event_id": "$x" }))
            .await
            .err(405, "M_BAD_JSON");
        let r = s.put(&in_room(&alice.user_id, ROOM, ty), alice.token(), json!({ "event_id": "$x" })).await;
        r.err(405, "M_BAD_JSON");
        s.get(&in_room(&alice.user_id, ROOM, ty), alice.token()).await.err(404, "M_NOT_FOUND");
    }
}

async fn invalid_room_id_is_400_invalid_param(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = in_room(&alice.user_id, "not-a-room-id", "org.example.x");
    s.put(&path, alice.token(), json!({ "a": 1 })).await.err(400, "M_INVALID_PARAM");
    s.get(&path, alice.token()).await.err(400, "M_INVALID_PARAM");
}

async fn types_with_reserved_characters_roundtrip(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    for ty in ["org.example/with slash", "org.example.é?&#"] {
        let path = global(&alice.user_id, ty);
        s.put(&path, alice.token(), json!({ "type": ty })).await.ok();
        assert_eq!(s.get(&path, alice.token()).await.ok(), &json!({ "type": ty }), "type {ty:?}");
    }
    s.get(&global(&alice.user_id, "org.example"), alice.token()).await.err(404, "M_NOT_FOUND");
}

crate::per_backend!(
    global_account_data_roundtrip,
    room_account_data_roundtrip,
    other_users_account_data_is_forbidden,
    non_object_bodies_are_rejected,
    server_managed_types_are_405,
    invalid_room_id_is_400_invalid_param,
    types_with_reserved_characters_roundtrip,
);
