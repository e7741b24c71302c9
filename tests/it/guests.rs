//! Guest accounts: only the endpoints the spec's Guest Access module lists, joins only
//! where `m.room.guest_access` is `can_join`, and removal when a room closes to guests.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, bodies, enc};

async fn guest(s: &Server) -> (String, String) {
    let v = s.post(&format!("{V3}/register?kind=guest"), None, json!({})).await.ok().clone();
    (v["access_token"].as_str().unwrap().to_owned(), v["user_id"].as_str().unwrap().to_owned())
}

fn joined(resp: &Value) -> Vec<String> {
    resp["joined_rooms"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
}

async fn guests_are_limited_to_the_spec_endpoints(b: Backend) {
    let s = Server::builder(b).set("registration.allow_guests", true).start().await;
    let alice = s.register("alice", "pw").await;
    let (g, guest_id) = guest(&s).await;
    let room = s.create_room(&alice.access_token, json!({"preset": "public_chat"})).await;
    for (method, path, body) in [
        ("POST", format!("{V3}/createRoom"), json!({})),
        ("POST", format!("{V3}/rooms/{}/invite", enc(&room)), json!({"user_id": alice.user_id})),
        ("GET", format!("{V3}/joined_rooms"), json!(null)),
        ("PUT", format!("{V3}/directory/room/{}", enc("#guest:localhost")), json!({"room_id": room})),
        ("POST", format!("{V3}/account/password"), json!({"new_password": "x"})),
        ("PUT", format!("{V3}/user/{}/account_data/org.example", enc(&guest_id)), json!({"a": 1})),
    ] {
        let resp = match method {
            "POST" => s.post(&path, Some(&g), body).await,
            "PUT" => s.put(&path, Some(&g), body).await,
            _ => s.get(&path, Some(&g)).await,
        };
        assert_eq!(resp.status, 403, "{method} {path}: {}", resp.text);
        assert_eq!(resp.json["errcode"], "M_GUEST_ACCESS_FORBIDDEN", "{method} {path}: {}", resp.text);
    }
    let data = s
        .get(&format!("{V3}/user/{}/account_data/org.example", enc(&guest_id)), Some(&alice.access_token))
        .await;
    assert_eq!(data.status, 403, "{}", data.text);
    // Nothing was created or published.
    let aliases = s.get(&format!("{V3}/directory/room/{}", enc("#guest:localhost")), None).await;
    assert_eq!(aliases.status, 404, "{}", aliases.text);
    // What the spec lists works.
    s.get(&format!("{V3}/account/whoami"), Some(&g)).await.ok();
    s.get(&format!("{V3}/sync"), Some(&g)).await.ok();
    s.get(&format!("{V3}/devices"), Some(&g)).await.ok();
}

async fn guests_join_only_rooms_open_to_them(b: Backend) {
    let s = Server::builder(b).set("registration.allow_guests", true).start().await;
    let alice = s.register("alice", "pw").await;
    let a = &alice.access_token;
    let (g, guest_id) = guest(&s).await;
    // public_chat sets guest_access forbidden.
    let closed = s.create_room(a, json!({"preset": "public_chat"})).await;
    let resp = s.post(&format!("{V3}/rooms/{}/join", enc(&closed)), Some(&g), json!({})).await;
    resp.err(403, "M_FORBIDDEN");
    let members = s.get(&format!("{V3}/rooms/{}/joined_members", enc(&closed)), Some(a)).await;
    assert!(members.ok()["joined"].get(&guest_id).is_none(), "{}", members.text);
    // An open room: join, talk, read.
    let open = s.create_room(a, json!({"preset": "public_chat"})).await;
    s.put_state(a, &open, "m.room.guest_access", "", json!({"guest_access": "can_join"})).await.ok();
    s.post(&format!("{V3}/join/{}", enc(&open)), Some(&g), json!({})).await.ok();
    s.send_text(&g, &open, "hello from a guest").await;
    let messages = s.all_messages(a, &open).await;
    assert!(bodies(messages.iter()).contains(&"hello from a guest".to_owned()));
    let rooms = s.get(&format!("{V3}/joined_rooms"), Some(a)).await;
    assert!(joined(rooms.ok()).contains(&open));
    // Closing the room to guests makes the guest leave.
    s.put_state(a, &open, "m.room.guest_access", "", json!({"guest_access": "forbidden"})).await.ok();
    let members = s.get(&format!("{V3}/rooms/{}/joined_members", enc(&open)), Some(a)).await;
    assert!(members.ok()["joined"].get(&guest_id).is_none(), "guest still joined: {}", members.text);
    let member = s.get_state(a, &open, "m.room.member", &guest_id).await;
    assert_eq!(member.ok()["membership"], "leave", "{}", member.text);
    let resp =
        s.send_event(&g, &open, "m.room.message", "after", json!({"msgtype": "m.text", "body": "x"})).await;
    resp.err(403, "M_FORBIDDEN");
}

crate::per_backend!(guests_are_limited_to_the_spec_endpoints, guests_join_only_rooms_open_to_them,);
