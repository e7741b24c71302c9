//! POST /register (UIA: dummy and registration-token stages), availability checks and
//! registration-token validity.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc};

fn register_path() -> String {
    format!("{V3}/register")
}

async fn first_call_offers_dummy_flow_and_completing_it_registers(b: Backend) {
    let s = Server::start_default(b).await;
    let body = json!({ "username": "alice", "password": "secret" });
    let resp = s.post(&register_path(), None, body.clone()).await;
    let session = resp.uia_flow(&["m.login.dummy"]);
    assert!(s.username_available("alice").await, "starting UIA must not create the user");
    let mut done = body;
    done["auth"] = json!({ "type": "m.login.dummy", "session": session });
    let resp = s.post(&register_path(), None, done).await;
    let v = resp.ok();
    assert_eq!(v["user_id"], json!("@alice:localhost"), "{v}");
    let token = v["access_token"].as_str().expect("access_token");
    assert!(v["device_id"].is_string(), "{v}");
    let who = s.whoami(token).await;
    assert_eq!(who.ok()["user_id"], json!("@alice:localhost"));
    assert_eq!(who.json["device_id"], v["device_id"]);
    assert!(!s.username_available("alice").await);
    s.login("alice", "secret").await;
}

async fn register_keeps_client_device_id_and_display_name(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s
        .register_with(json!({
            "username": "alice", "password": "pw",
            "device_id": "ALICEPHONE", "initial_device_display_name": "Alice's phone",
        }))
        .await;
    assert_eq!(alice.device_id, "ALICEPHONE");
    let dev = s.get(&format!("{V3}/devices/ALICEPHONE"), alice.token()).await;
    assert_eq!(dev.ok()["display_name"], json!("Alice's phone"));
}

async fn inhibit_login_returns_no_token(b: Backend) {
    let s = Server::start_default(b).await;
    let mut body = json!({ "username": "alice", "password": "pw", "inhibit_login": true });
    let resp = s.register_dummy(&mut body).await;
    let v = resp.ok();
    assert_eq!(v["user_id"], json!("@alice:localhost"));
    assert!(v.get("access_token").is_none_or(Value::is_null), "inhibit_login still issued a token: {v}");
    assert!(v.get("refresh_token").is_none_or(Value::is_null), "{v}");
    s.login("alice", "pw").await;
}

async fn refresh_token_requested_at_registration(b: Backend) {
    let s = Server::start_default(b).await;
    let mut body = json!({ "username": "alice", "password": "pw", "refresh_token": true });
    let v = s.register_dummy(&mut body).await.ok().clone();
    assert!(v["refresh_token"].is_string(), "{v}");
    assert!(v["expires_in_ms"].as_i64().is_some_and(|ms| ms > 0), "{v}");
    s.assert_token_alive(v["access_token"].as_str().expect("token")).await;
    // Without the flag: no refresh token, no expiry.
    let mut body = json!({ "username": "bob", "password": "pw" });
    let v = s.register_dummy(&mut body).await.ok().clone();
    assert!(v.get("refresh_token").is_none_or(Value::is_null), "{v}");
}

async fn taken_username_is_400_user_in_use_before_uia(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let body = json!({ "username": "alice", "password": "other" });
    s.post(&register_path(), None, body.clone()).await.err(400, "M_USER_IN_USE");
    // The original account is untouched.
    s.login("alice", "pw").await;
    s.login_resp("alice", "other").await.err(403, "M_FORBIDDEN");
    s.assert_token_alive(&alice.access_token).await;
}

async fn username_taken_while_in_uia_is_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let body = json!({ "username": "alice", "password": "first" });
    let session = s.register_session(&body).await;
    s.register("alice", "second").await;
    let mut late = json!({ "username": "alice", "password": "first" });
    late["auth"] = json!({ "type": "m.login.dummy", "session": session });
    s.post(&register_path(), None, late).await.err(400, "M_USER_IN_USE");
    s.login("alice", "second").await;
}

async fn concurrent_registrations_of_one_name_yield_one_account(b: Backend) {
    let s = Server::start_default(b).await;
    let mut bodies = Vec::new();
    for pw in ["first", "second", "third", "fourth"] {
        let body = json!({ "username": "alice", "password": pw });
        let session = s.register_session(&body).await;
        let mut done = body;
        done["auth"] = json!({ "type": "m.login.dummy", "session": session });
        bodies.push(done);
    }
    let path = register_path();
    let (a, b2, c, d) = tokio::join!(
        s.post(&path, None, bodies[0].clone()),
        s.post(&path, None, bodies[1].clone()),
        s.post(&path, None, bodies[2].clone()),
        s.post(&path, None, bodies[3].clone()),
    );
    let results = [a, b2, c, d];
    let winners: Vec<usize> = (0..4).filter(|&i| results[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one registration must win: {results:?}");
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            r.err(400, "M_USER_IN_USE");
        }
    }
    let winning_pw = bodies[winners[0]]["password"].as_str().expect("password");
    s.login("alice", winning_pw).await;
    for (i, body) in bodies.iter().enumerate() {
        if i != winners[0] {
            s.login_resp("alice", body["password"].as_str().expect("pw")).await.err(403, "M_FORBIDDEN");
        }
    }
}

async fn invalid_usernames_are_400_invalid_username(b: Backend) {
    let s = Server::start_default(b).await;
    // "@" + localpart + ":localhost" (10 bytes) must be at most 255 bytes.
    let too_long = "a".repeat(245);
    for name in ["Alice", "al ice", "al:ice", "ali\u{e9}ce", too_long.as_str(), "_underscore_ok_but_@"] {
        let body = json!({ "username": name, "password": "pw" });
        s.post(&register_path(), None, body).await.err(400, "M_INVALID_USERNAME");
        let r = s.get(&format!("{V3}/register/available?username={}", enc(name)), None).await;
        r.err(400, "M_INVALID_USERNAME");
    }
    // The longest valid localpart registers fine.
    let longest = "b".repeat(244);
    let who = s.register(&longest, "pw").await;
    assert_eq!(who.user_id.len(), 255);
}

async fn registration_disabled_is_403_forbidden(b: Backend) {
    let s = Server::builder(b).set("registration.enabled", false).start().await;
    let body = json!({ "username": "alice", "password": "pw" });
    s.post(&register_path(), None, body.clone()).await.err(403, "M_FORBIDDEN");
    let mut with_auth = body;
    with_auth["auth"] = json!({ "type": "m.login.dummy", "session": "whatever" });
    s.post(&register_path(), None, with_auth).await.err(403, "M_FORBIDDEN");
    let v = "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc";
    s.get(v, None).await.err(403, "M_FORBIDDEN");
    s.login_resp("alice", "pw").await.err(403, "M_FORBIDDEN");
}

async fn guest_registration_when_guests_off_is_403(b: Backend) {
    let s = Server::start_default(b).await;
    let r = s.post(&format!("{V3}/register?kind=guest"), None, json!({})).await;
    r.err(403, "M_GUEST_ACCESS_FORBIDDEN");
}

async fn guest_registration_when_guests_on(b: Backend) {
    let s = Server::builder(b).set("registration.allow_guests", true).start().await;
    let r = s
        .post(
            &format!("{V3}/register?kind=guest"),
            None,
            json!({ "username": "ignored", "password": "ignored", "initial_device_display_name": "Guest tab" }),
        )
        .await;
    let v = r.ok().clone();
    let token = v["access_token"].as_str().expect("guest access_token");
    let who = s.whoami(token).await.ok().clone();
    assert_eq!(who["is_guest"], json!(true), "{who}");
    assert_eq!(who["user_id"], v["user_id"]);
    // Body parameters other than the display name are ignored for guests.
    assert!(s.username_available("ignored").await, "guest registration used the requested username");
}

async fn localparts_with_every_allowed_symbol(b: Backend) {
    let s = Server::start_default(b).await;
    let name = "a.b_c=d-e/f+9";
    let who = s.register(name, "pw").await;
    assert_eq!(who.user_id, format!("@{name}:localhost"));
    s.login(name, "pw").await;
    s.login(&who.user_id, "pw").await;
    let path = format!("{V3}/profile/{}/displayname", enc(&who.user_id));
    s.put(&path, who.token(), json!({ "displayname": "Symbols" })).await.ok();
    assert_eq!(s.get(&path, who.token()).await.ok()["displayname"], json!("Symbols"));
    let ad = format!("{V3}/user/{}/account_data/org.example.x", enc(&who.user_id));
    s.put(&ad, who.token(), json!({ "k": 1 })).await.ok();
    assert_eq!(s.get(&ad, who.token()).await.ok(), &json!({ "k": 1 }));
}

async fn unknown_kind_is_rejected(b: Backend) {
    let s = Server::start_default(b).await;
    let r = s.post(&format!("{V3}/register?kind=robot"), None, json!({ "username": "alice" })).await;
    assert!(r.status == 400 || r.status == 403, "kind=robot -> {}: {}", r.status, r.text);
    r.assert_error_body();
    assert!(s.username_available("alice").await);
}

fn token_server(b: Backend, tokens: &str) -> crate::harness::ServerBuilder {
    Server::builder(b).set("registration.require_token", true).set_toml("registration.tokens", tokens)
}

async fn registration_token_flow(b: Backend) {
    let s = token_server(b, r#"[{ token = "letmein" }]"#).start().await;
    let body = json!({ "username": "alice", "password": "pw" });
    let session =
        s.post(&register_path(), None, body.clone()).await.uia_flow(&["m.login.registration_token"]);
    // Wrong token: 401 with the UIA body and M_FORBIDDEN; nothing created.
    let mut wrong = body.clone();
    wrong["auth"] = json!({ "type": "m.login.registration_token", "token": "nope", "session": session });
    let r = s.post(&register_path(), None, wrong).await;
    assert_eq!(r.uia(), session, "the session survives a failed stage");
    r.err(401, "M_FORBIDDEN");
    assert!(s.username_available("alice").await);
    // Wrong stage type: refused, nothing created.
    let mut dummy = body.clone();
    dummy["auth"] = json!({ "type": "m.login.dummy", "session": session });
    let r = s.post(&register_path(), None, dummy).await;
    assert!(
        r.status == 401 || r.status == 400,
        "dummy stage under require_token -> {}: {}",
        r.status,
        r.text
    );
    assert!(s.username_available("alice").await);
    // Right token.
    let mut right = body;
    right["auth"] = json!({ "type": "m.login.registration_token", "token": "letmein", "session": session });
    let v = s.post(&register_path(), None, right).await.ok().clone();
    assert_eq!(v["user_id"], json!("@alice:localhost"));
}

async fn register_with_token(s: &Server, name: &str, token: &str) -> crate::harness::Resp {
    let body = json!({ "username": name, "password": "pw" });
    let session = s.register_session(&body).await;
    let mut done = body;
    done["auth"] = json!({ "type": "m.login.registration_token", "token": token, "session": session });
    s.post(&register_path(), None, done).await
}

async fn used_up_registration_token_is_refused(b: Backend) {
    let s = token_server(b, r#"[{ token = "once", uses_allowed = 1 }]"#).start().await;
    let validity = "/_matrix/client/v1/register/m.login.registration_token/validity?token=once";
    assert_eq!(s.get(validity, None).await.ok()["valid"], json!(true));
    register_with_token(&s, "alice", "once").await.ok();
    let r = register_with_token(&s, "bob", "once").await;
    assert!(r.status == 401 || r.status == 403, "used-up token -> {}: {}", r.status, r.text);
    assert_eq!(r.json["errcode"], json!("M_FORBIDDEN"), "{}", r.text);
    assert!(s.username_available("bob").await, "bob must not exist");
    assert_eq!(s.get(validity, None).await.ok()["valid"], json!(false));
}

async fn token_use_count_survives_restart(b: Backend) {
    let mut s = token_server(b, r#"[{ token = "once", uses_allowed = 1 }]"#).start().await;
    register_with_token(&s, "alice", "once").await.ok();
    s.kill();
    s.start().await;
    let r = register_with_token(&s, "bob", "once").await;
    assert_eq!(r.json["errcode"], json!("M_FORBIDDEN"), "used-up token after restart: {}", r.text);
    assert!(s.username_available("bob").await);
}

async fn expired_registration_token_is_refused(b: Backend) {
    let s =
        token_server(b, r#"[{ token = "old", expires_at_ms = 1000 }, { token = "fresh" }]"#).start().await;
    let v = |t: &str| format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={t}");
    assert_eq!(s.get(&v("old"), None).await.ok()["valid"], json!(false));
    assert_eq!(s.get(&v("fresh"), None).await.ok()["valid"], json!(true));
    assert_eq!(s.get(&v("unknown"), None).await.ok()["valid"], json!(false));
    let r = register_with_token(&s, "alice", "old").await;
    assert_eq!(r.json["errcode"], json!("M_FORBIDDEN"), "{}", r.text);
    assert!(s.username_available("alice").await);
}

async fn validity_endpoint_without_require_token(b: Backend) {
    let s = Server::builder(b).set_toml("registration.tokens", r#"[{ token = "abc" }]"#).start().await;
    let path = "/_matrix/client/v1/register/m.login.registration_token/validity";
    assert_eq!(s.get(&format!("{path}?token=abc"), None).await.ok()["valid"], json!(true));
    assert_eq!(s.get(&format!("{path}?token=zzz"), None).await.ok()["valid"], json!(false));
    let r = s.get(path, None).await;
    assert_eq!(r.status, 400, "missing token parameter: {}", r.text);
    r.assert_error_body();
}

async fn expired_uia_session_is_refused(b: Backend) {
    let s = Server::builder(b).set("registration.uia_session_lifetime_secs", 1).start().await;
    let body = json!({ "username": "alice", "password": "pw" });
    let session = s.register_session(&body).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut done = body;
    done["auth"] = json!({ "type": "m.login.dummy", "session": session });
    let r = s.post(&register_path(), None, done).await;
    assert!(r.status == 400 || r.status == 401, "expired session -> {}: {}", r.status, r.text);
    assert!(r.json["errcode"].is_string() || r.json["flows"].is_array(), "{}", r.text);
    if r.status == 401 {
        assert_ne!(r.json["session"], json!(session), "an expired session must not be resumed");
    }
    assert!(s.username_available("alice").await);
}

async fn unknown_uia_session_is_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let body = json!({
        "username": "alice", "password": "pw",
        "auth": { "type": "m.login.dummy", "session": "no-such-session" },
    });
    let r = s.post(&register_path(), None, body).await;
    assert!(r.status == 400 || r.status == 401, "unknown session -> {}: {}", r.status, r.text);
    assert!(r.json["errcode"].is_string() || r.json["flows"].is_array(), "{}", r.text);
    assert!(s.username_available("alice").await);
}

async fn uia_session_is_bound_to_its_request(b: Backend) {
    let s = Server::start_default(b).await;
    // A session obtained for one registration cannot be reused for a second account.
    let mut first = json!({ "username": "alice", "password": "pw" });
    let session = s.register_session(&first).await;
    first["auth"] = json!({ "type": "m.login.dummy", "session": session });
    s.post(&register_path(), None, first).await.ok();
    let reuse = json!({
        "username": "bob", "password": "pw",
        "auth": { "type": "m.login.dummy", "session": session },
    });
    let r = s.post(&register_path(), None, reuse).await;
    assert_ne!(r.status, 200, "a completed UIA session was reused: {}", r.text);
    assert!(s.username_available("bob").await);
}

async fn username_availability(b: Backend) {
    let s = Server::start_default(b).await;
    let r = s.get(&format!("{V3}/register/available?username=alice"), None).await;
    assert_eq!(r.ok()["available"], json!(true));
    s.register("alice", "pw").await;
    s.get(&format!("{V3}/register/available?username=alice"), None).await.err(400, "M_USER_IN_USE");
    let r = s.get(&format!("{V3}/register/available"), None).await;
    assert_eq!(r.status, 400, "missing username: {}", r.text);
}

async fn generated_username_when_none_given(b: Backend) {
    let s = Server::start_default(b).await;
    let a = s.register_with(json!({ "password": "pw" })).await;
    let c = s.register_with(json!({ "password": "pw" })).await;
    assert_ne!(a.user_id, c.user_id);
    assert!(a.user_id.ends_with(":localhost") && a.user_id.starts_with('@'), "{}", a.user_id);
    s.login(&a.user_id, "pw").await;
}

crate::per_backend!(
    first_call_offers_dummy_flow_and_completing_it_registers,
    register_keeps_client_device_id_and_display_name,
    inhibit_login_returns_no_token,
    refresh_token_requested_at_registration,
    taken_username_is_400_user_in_use_before_uia,
    username_taken_while_in_uia_is_refused,
    concurrent_registrations_of_one_name_yield_one_account,
    invalid_usernames_are_400_invalid_username,
    registration_disabled_is_403_forbidden,
    guest_registration_when_guests_off_is_403,
    unknown_kind_is_rejected,
    guest_registration_when_guests_on,
    localparts_with_every_allowed_symbol,
    registration_token_flow,
    used_up_registration_token_is_refused,
    token_use_count_survives_restart,
    expired_registration_token_is_refused,
    validity_endpoint_without_require_token,
    expired_uia_session_is_refused,
    unknown_uia_session_is_refused,
    uia_session_is_bound_to_its_request,
    username_availability,
    generated_username_when_none_given,
);
