//! GET/POST /login: flows, identifier forms, failures, device reuse, refresh tokens.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3};

async fn login_flows_include_password(b: Backend) {
    let s = Server::start_default(b).await;
    let v = s.get(&format!("{V3}/login"), None).await.ok().clone();
    let flows = v["flows"].as_array().expect("flows");
    assert!(flows.iter().any(|f| f["type"] == "m.login.password"), "{v}");
}

async fn password_login_disabled_is_not_offered(b: Backend) {
    let s = Server::builder(b).set("auth.password_login_enabled", false).start().await;
    let v = s.get(&format!("{V3}/login"), None).await.ok().clone();
    let flows = v["flows"].as_array().expect("flows");
    assert!(!flows.iter().any(|f| f["type"] == "m.login.password"), "{v}");
    let r = s.login_resp("alice", "pw").await;
    assert!(r.status == 400 || r.status == 403, "password login while disabled -> {}: {}", r.status, r.text);
    r.assert_error_body();
}

async fn login_by_localpart_full_id_and_legacy_user(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let a = s.login("alice", "pw").await;
    assert_eq!(a.user_id, "@alice:localhost");
    let b2 = s.login("@alice:localhost", "pw").await;
    assert_eq!(b2.user_id, "@alice:localhost");
    let legacy = s.login_body(json!({ "type": "m.login.password", "user": "alice", "password": "pw" })).await;
    let c = crate::harness::Session::from_json(legacy.ok());
    assert_eq!(c.user_id, "@alice:localhost");
    // Each login is a new device with its own working token.
    let devices = [&a.device_id, &b2.device_id, &c.device_id];
    assert!(devices[0] != devices[1] && devices[1] != devices[2] && devices[0] != devices[2]);
    for t in [&a.access_token, &b2.access_token, &c.access_token] {
        let who = s.whoami(t).await;
        assert_eq!(who.ok()["user_id"], json!("@alice:localhost"));
    }
}

async fn wrong_password_and_unknown_user_are_403(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    s.login_resp("alice", "wrong").await.err(403, "M_FORBIDDEN");
    s.login_resp("nobody", "pw").await.err(403, "M_FORBIDDEN");
    s.login_resp("@alice:other.server", "pw").await.err(403, "M_FORBIDDEN");
    s.login_resp("alice", "").await.err(403, "M_FORBIDDEN");
}

async fn unknown_login_type_is_400(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let r = s.login_body(json!({ "type": "m.login.bogus", "user": "alice", "password": "pw" })).await;
    assert_eq!(r.status, 400, "{}", r.text);
    r.assert_error_body();
    let r = s
        .login_body(
            json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" } }),
        )
        .await;
    assert!(r.status == 400 || r.status == 403, "missing password -> {}: {}", r.status, r.text);
    r.assert_error_body();
}

async fn device_id_reuse_keeps_the_device(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let login = |display: &str| {
        json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" },
            "password": "pw", "device_id": "MYDEVICE", "initial_device_display_name": display,
        })
    };
    let first = crate::harness::Session::from_json(s.login_body(login("First name")).await.ok());
    assert_eq!(first.device_id, "MYDEVICE");
    let second = crate::harness::Session::from_json(s.login_body(login("Second name")).await.ok());
    assert_eq!(second.device_id, "MYDEVICE");
    assert_eq!(s.whoami(&second.access_token).await.ok()["device_id"], json!("MYDEVICE"));
    // "If the client sets the device_id, the server will invalidate any access and refresh
    // tokens previously assigned to that device."
    s.assert_token_dead(&first.access_token).await;
    let devices = s.get(&format!("{V3}/devices"), second.token()).await.ok().clone();
    let mine: Vec<&Value> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["device_id"] == "MYDEVICE")
        .collect();
    assert_eq!(mine.len(), 1, "{devices}");
    // initial_device_display_name is ignored for a known device.
    assert_eq!(mine[0]["display_name"], json!("First name"), "{devices}");
}

async fn device_id_of_another_user_is_not_taken_over(b: Backend) {
    let s = Server::start_default(b).await;
    let alice =
        s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "SHARED" })).await;
    s.register("bob", "pw").await;
    let r = s
        .login_body(json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "bob" },
            "password": "pw", "device_id": "SHARED",
        }))
        .await;
    if r.status == 200 {
        let bob = crate::harness::Session::from_json(&r.json);
        assert_eq!(bob.user_id, "@bob:localhost");
        s.get(&format!("{V3}/devices/SHARED"), bob.token()).await.ok();
    } else {
        r.assert_error_body();
    }
    // Alice's device and token are untouched either way.
    s.assert_token_alive(&alice.access_token).await;
    assert_eq!(s.whoami(&alice.access_token).await.ok()["device_id"], json!("SHARED"));
    s.get(&format!("{V3}/devices/SHARED"), alice.token()).await.ok();
}

async fn initial_device_display_name_is_applied(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let r = s
        .login_body(json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" },
            "password": "pw", "initial_device_display_name": "Laptop",
        }))
        .await;
    let a = crate::harness::Session::from_json(r.ok());
    let dev = s.get(&format!("{V3}/devices/{}", crate::harness::enc(&a.device_id)), a.token()).await;
    assert_eq!(dev.ok()["display_name"], json!("Laptop"));
    assert_eq!(r.json["home_server"].as_str().unwrap_or("localhost"), "localhost");
}

async fn login_with_refresh_token(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let r = s
        .login_body(json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" },
            "password": "pw", "refresh_token": true,
        }))
        .await;
    let v = r.ok();
    assert!(v["refresh_token"].is_string(), "{v}");
    assert!(v["expires_in_ms"].as_i64().is_some_and(|ms| ms > 0), "{v}");
    let plain = s.login_resp("alice", "pw").await;
    assert!(plain.ok().get("refresh_token").is_none_or(Value::is_null), "{}", plain.text);
}

crate::per_backend!(
    login_flows_include_password,
    password_login_disabled_is_not_offered,
    login_by_localpart_full_id_and_legacy_user,
    wrong_password_and_unknown_user_are_403,
    unknown_login_type_is_400,
    device_id_reuse_keeps_the_device,
    device_id_of_another_user_is_not_taken_over,
    initial_device_display_name_is_applied,
    login_with_refresh_token,
);
