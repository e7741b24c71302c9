//! Device management: list, get, rename, delete (UIA), delete_devices (UIA).

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, enc, password_auth};

fn device_path(id: &str) -> String {
    format!("{V3}/devices/{}", enc(id))
}

async fn device_ids(s: &Server, who: &Session) -> Vec<String> {
    let v = s.get(&format!("{V3}/devices"), who.token()).await.ok().clone();
    v["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("devices array: {v}"))
        .iter()
        .map(|d| d["device_id"].as_str().expect("device_id").to_owned())
        .collect()
}

async fn list_devices_shows_own_devices_only(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s
        .register_with(
            json!({ "username": "alice", "password": "pw", "initial_device_display_name": "Phone" }),
        )
        .await;
    let laptop = s
        .login_body(json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" },
            "password": "pw", "initial_device_display_name": "Laptop",
        }))
        .await;
    let laptop = Session::from_json(laptop.ok());
    let bob = s.register("bob", "pw").await;
    s.assert_token_alive(&alice.access_token).await;
    let v = s.get(&format!("{V3}/devices"), alice.token()).await.ok().clone();
    let devices = v["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{v}");
    let find = |id: &str| devices.iter().find(|d| d["device_id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(find(&alice.device_id)["display_name"], json!("Phone"), "{v}");
    assert_eq!(find(&laptop.device_id)["display_name"], json!("Laptop"), "{v}");
    let used = find(&alice.device_id);
    assert!(used["last_seen_ts"].as_i64().is_some_and(|t| t > 0), "last_seen_ts of a used device: {v}");
    if let Some(ip) = used.get("last_seen_ip").and_then(Value::as_str) {
        assert_eq!(ip, "127.0.0.1", "{v}");
    }
    assert!(!devices.iter().any(|d| d["device_id"] == json!(bob.device_id)), "bob's device leaked: {v}");
}

async fn get_single_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await;
    let v = s.get(&device_path("ADEV"), alice.token()).await.ok().clone();
    assert_eq!(v["device_id"], json!("ADEV"));
    s.get(&device_path("BDEV"), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&device_path("NOPE"), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&device_path("ADEV"), None).await.err(401, "M_MISSING_TOKEN");
    s.get(&device_path("BDEV"), bob.token()).await.ok();
}

async fn rename_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await;
    let bob = s
        .register_with(json!({
            "username": "bob", "password": "pw", "device_id": "BDEV", "initial_device_display_name": "Bob's",
        }))
        .await;
    let r = s.put(&device_path("ADEV"), alice.token(), json!({ "display_name": "Renamed" })).await;
    assert_eq!(r.ok(), &json!({}));
    assert_eq!(s.get(&device_path("ADEV"), alice.token()).await.ok()["display_name"], json!("Renamed"));
    // Omitting display_name leaves it unchanged.
    s.put(&device_path("ADEV"), alice.token(), json!({})).await.ok();
    assert_eq!(s.get(&device_path("ADEV"), alice.token()).await.ok()["display_name"], json!("Renamed"));
    // Unknown device, or another user's device: 404, and nothing changes.
    s.put(&device_path("NOPE"), alice.token(), json!({ "display_name": "x" })).await.err(404, "M_NOT_FOUND");
    s.put(&device_path("BDEV"), alice.token(), json!({ "display_name": "pwned" }))
        .await
        .err(404, "M_NOT_FOUND");
    assert_eq!(s.get(&device_path("BDEV"), bob.token()).await.ok()["display_name"], json!("Bob's"));
    s.get(&device_path("NOPE"), alice.token()).await.err(404, "M_NOT_FOUND");
    s.put(&device_path("ADEV"), alice.token(), json!({ "display_name": ["x"] })).await.err(400, "M_BAD_JSON");
    assert_eq!(s.get(&device_path("ADEV"), alice.token()).await.ok()["display_name"], json!("Renamed"));
}

async fn delete_device_requires_uia(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let phone = s.login("alice", "pw").await;
    let path = device_path(&phone.device_id);
    let session = s.delete(&path, alice.token(), Some(json!({}))).await.uia_flow(&["m.login.password"]);
    // Without a body at all (the spec requires one): a UIA 401 or a JSON error, never a deletion.
    let r = s.delete(&path, alice.token(), None).await;
    assert!(r.status == 401 || r.status == 400, "DELETE without body -> {}: {}", r.status, r.text);
    // Wrong password: refused, device intact.
    let r = s
        .delete(&path, alice.token(), Some(json!({ "auth": password_auth("alice", "bad", &session) })))
        .await;
    r.err(401, "M_FORBIDDEN");
    s.assert_token_alive(&phone.access_token).await;
    assert!(device_ids(&s, &alice).await.contains(&phone.device_id));
    // Right password.
    let r =
        s.delete(&path, alice.token(), Some(json!({ "auth": password_auth("alice", "pw", &session) }))).await;
    r.ok();
    s.assert_token_dead(&phone.access_token).await;
    assert!(!device_ids(&s, &alice).await.contains(&phone.device_id));
    s.get(&path, alice.token()).await.err(404, "M_NOT_FOUND");
    s.assert_token_alive(&alice.access_token).await;
}

async fn cannot_delete_another_users_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let path = device_path(&bob.device_id);
    let r = s.delete(&path, alice.token(), Some(json!({}))).await;
    if r.status == 401 {
        let session = r.uia();
        let r = s
            .delete(&path, alice.token(), Some(json!({ "auth": password_auth("alice", "pw", &session) })))
            .await;
        assert!(
            r.status == 404 || r.status == 200,
            "deleting bob's device as alice -> {}: {}",
            r.status,
            r.text
        );
    } else {
        r.err(404, "M_NOT_FOUND");
    }
    s.assert_token_alive(&bob.access_token).await;
    assert!(device_ids(&s, &bob).await.contains(&bob.device_id));
    // Nor with bob's password inside alice's UIA.
    let r = s
        .post(&format!("{V3}/delete_devices"), alice.token(), json!({ "devices": [bob.device_id.clone()] }))
        .await;
    let session = r.uia();
    let r = s
        .post(
            &format!("{V3}/delete_devices"),
            alice.token(),
            json!({ "devices": [bob.device_id.clone()], "auth": password_auth("bob", "pw", &session) }),
        )
        .await;
    assert_ne!(r.status, 500, "{}", r.text);
    s.assert_token_alive(&bob.access_token).await;
}

async fn delete_devices_in_bulk(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let one = s.login("alice", "pw").await;
    let two = s.login("alice", "pw").await;
    let keep = s.login("alice", "pw").await;
    let path = format!("{V3}/delete_devices");
    let ids = json!([one.device_id.clone(), two.device_id.clone(), "NOSUCHDEVICE"]);
    s.post(&path, None, json!({ "devices": ids.clone() })).await.err(401, "M_MISSING_TOKEN");
    s.post(&path, alice.token(), json!({ "devices": "notalist" })).await.err(400, "M_BAD_JSON");
    let session =
        s.post(&path, alice.token(), json!({ "devices": ids.clone() })).await.uia_flow(&["m.login.password"]);
    let r = s
        .post(
            &path,
            alice.token(),
            json!({ "devices": ids.clone(), "auth": password_auth("alice", "no", &session) }),
        )
        .await;
    r.err(401, "M_FORBIDDEN");
    s.assert_token_alive(&one.access_token).await;
    let r = s
        .post(&path, alice.token(), json!({ "devices": ids, "auth": password_auth("alice", "pw", &session) }))
        .await;
    r.ok();
    s.assert_token_dead(&one.access_token).await;
    s.assert_token_dead(&two.access_token).await;
    s.assert_token_alive(&keep.access_token).await;
    s.assert_token_alive(&alice.access_token).await;
    let left = device_ids(&s, &alice).await;
    assert_eq!(left.len(), 2, "{left:?}");
}

crate::per_backend!(
    list_devices_shows_own_devices_only,
    get_single_device,
    rename_device,
    delete_device_requires_uia,
    cannot_delete_another_users_device,
    delete_devices_in_bulk,
);
