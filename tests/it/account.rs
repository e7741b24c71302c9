//! Account management: password change, deactivation, and the 3PID endpoints of a
//! server without identity-server or email/SMS support.

use serde_json::{Value, json};

use crate::harness::{Backend, Resp, Server, V3, password_auth};

async fn change_password(s: &Server, token: &str, user: &str, old: &str, new: &str, extra: Value) -> Resp {
    let mut body = json!({ "new_password": new });
    if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    let session = s
        .post(&format!("{V3}/account/password"), Some(token), body.clone())
        .await
        .uia_flow(&["m.login.password"]);
    body["auth"] = password_auth(user, old, &session);
    s.post(&format!("{V3}/account/password"), Some(token), body).await
}

async fn password_change_requires_uia_and_logs_out_other_devices(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "old-pw").await;
    let other = s.login("alice", "old-pw").await;
    let r = change_password(&s, &alice.access_token, "alice", "old-pw", "new-pw", json!({})).await;
    r.ok();
    s.login_resp("alice", "old-pw").await.err(403, "M_FORBIDDEN");
    s.login("alice", "new-pw").await;
    s.assert_token_alive(&alice.access_token).await;
    s.assert_token_dead(&other.access_token).await;
}

async fn password_change_can_keep_other_devices(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "old-pw").await;
    let other = s.login("alice", "old-pw").await;
    let extra = json!({ "logout_devices": false });
    change_password(&s, &alice.access_token, "@alice:localhost", "old-pw", "new-pw", extra).await.ok();
    s.assert_token_alive(&other.access_token).await;
    s.assert_token_alive(&alice.access_token).await;
    s.login("alice", "new-pw").await;
}

async fn password_change_with_wrong_password_changes_nothing(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "old-pw").await;
    let other = s.login("alice", "old-pw").await;
    let body = json!({ "new_password": "new-pw" });
    let path = format!("{V3}/account/password");
    let session = s.post(&path, alice.token(), body.clone()).await.uia_flow(&["m.login.password"]);
    let mut wrong = body.clone();
    wrong["auth"] = password_auth("alice", "not-it", &session);
    let r = s.post(&path, alice.token(), wrong).await;
    r.err(401, "M_FORBIDDEN");
    assert!(r.json["flows"].is_array(), "a failed stage still returns the UIA body: {}", r.text);
    // Another user's password does not authenticate alice either.
    s.register("bob", "bob-pw").await;
    let mut as_bob = body.clone();
    as_bob["auth"] = password_auth("bob", "bob-pw", &session);
    let r = s.post(&path, alice.token(), as_bob).await;
    assert!(
        r.status == 401 || r.status == 403,
        "bob's credentials for alice's UIA -> {}: {}",
        r.status,
        r.text
    );
    s.login("alice", "old-pw").await;
    s.login_resp("alice", "new-pw").await.err(403, "M_FORBIDDEN");
    s.assert_token_alive(&other.access_token).await;
}

async fn password_change_bad_requests(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/account/password");
    s.post(&path, None, json!({ "new_password": "x" })).await.err(401, "M_MISSING_TOKEN");
    s.post(&path, Some("bogus"), json!({ "new_password": "x" })).await.err(401, "M_UNKNOWN_TOKEN");
    s.post(&path, alice.token(), json!({ "new_password": 7 })).await.err(400, "M_BAD_JSON");
    s.post(&path, alice.token(), json!({})).await.err(400, "M_BAD_JSON");
    s.login("alice", "pw").await;
}

async fn deactivate(s: &Server, token: &str, user: &str, pw: &str) -> Resp {
    let path = format!("{V3}/account/deactivate");
    let session = s.post(&path, Some(token), json!({})).await.uia_flow(&["m.login.password"]);
    s.post(&path, Some(token), json!({ "auth": password_auth(user, pw, &session) })).await
}

async fn deactivation_locks_the_account_forever(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let other = s.login("alice", "pw").await;
    let r = deactivate(&s, &alice.access_token, "alice", "pw").await;
    assert_eq!(r.ok()["id_server_unbind_result"], json!("no-support"));
    s.assert_token_dead(&alice.access_token).await;
    s.assert_token_dead(&other.access_token).await;
    let r = s.login_resp("alice", "pw").await;
    r.err_one_of(&[(403, "M_FORBIDDEN"), (403, "M_USER_DEACTIVATED")]);
    s.post(&format!("{V3}/register"), None, json!({ "username": "alice", "password": "pw" }))
        .await
        .err(400, "M_USER_IN_USE");
    assert!(!s.username_available("alice").await, "a deactivated name must stay taken");
}

async fn deactivation_with_wrong_password_changes_nothing(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/account/deactivate");
    s.post(&path, None, json!({})).await.err(401, "M_MISSING_TOKEN");
    let session = s.post(&path, alice.token(), json!({})).await.uia_flow(&["m.login.password"]);
    let r = s.post(&path, alice.token(), json!({ "auth": password_auth("alice", "wrong", &session) })).await;
    r.err(401, "M_FORBIDDEN");
    // A wrong stage type is not a success either.
    let r = s
        .post(&path, alice.token(), json!({ "auth": { "type": "m.login.dummy", "session": session } }))
        .await;
    assert!(r.status == 401 || r.status == 400, "dummy stage for deactivate -> {}: {}", r.status, r.text);
    s.assert_token_alive(&alice.access_token).await;
    s.login("alice", "pw").await;
}

async fn uia_session_of_one_operation_cannot_authorise_another(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let other = s.login("alice", "pw").await;
    // Complete a password change with session S…
    let pw_path = format!("{V3}/account/password");
    let body = json!({ "new_password": "pw2", "logout_devices": false });
    let session = s.post(&pw_path, alice.token(), body.clone()).await.uia();
    let mut done = body;
    done["auth"] = password_auth("alice", "pw", &session);
    s.post(&pw_path, alice.token(), done).await.ok();
    // …then S alone must not authorise a deactivation or a device deletion.
    let de = format!("{V3}/account/deactivate");
    let r = s.post(&de, alice.token(), json!({ "auth": { "session": session } })).await;
    assert!(
        r.status == 401 || r.status == 400 || r.status == 403,
        "deactivate via old session -> {}",
        r.text
    );
    s.assert_token_alive(&alice.access_token).await;
    let dev = format!("{V3}/devices/{}", crate::harness::enc(&other.device_id));
    let r = s.delete(&dev, alice.token(), Some(json!({ "auth": { "session": session } }))).await;
    assert!(
        r.status == 401 || r.status == 400 || r.status == 403,
        "delete device via old session -> {}",
        r.text
    );
    s.assert_token_alive(&other.access_token).await;
    // Nor can bob ride on alice's session.
    let bob = s.register("bob", "pw").await;
    let r = s.post(&de, bob.token(), json!({ "auth": { "session": session } })).await;
    assert!(r.status == 401 || r.status == 400 || r.status == 403, "bob via alice's session -> {}", r.text);
    s.assert_token_alive(&bob.access_token).await;
}

async fn threepid_list_is_empty(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let v = s.get(&format!("{V3}/account/3pid"), alice.token()).await.ok().clone();
    assert_eq!(v["threepids"], json!([]), "{v}");
}

async fn assert_no_threepids(s: &Server, token: &str) {
    let v = s.get(&format!("{V3}/account/3pid"), Some(token)).await.ok().clone();
    assert_eq!(v["threepids"], json!([]), "{v}");
}

async fn threepid_add_and_bind_are_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let add = json!({ "client_secret": "d0nt-T3ll", "sid": "abc123987" });
    let r = s.post(&format!("{V3}/account/3pid/add"), alice.token(), add.clone()).await;
    assert!(r.status >= 400 && r.status < 500, "3pid/add -> {}: {}", r.status, r.text);
    if r.status == 401 {
        // UIA first is allowed; completing it must still not add anything.
        let session = r.uia();
        let mut with_auth = add;
        with_auth["auth"] = password_auth("alice", "pw", &session);
        let r = s.post(&format!("{V3}/account/3pid/add"), alice.token(), with_auth).await;
        assert!(r.status >= 400 && r.status < 500, "3pid/add after UIA -> {}: {}", r.status, r.text);
        r.assert_error_body();
    } else {
        r.assert_error_body();
    }
    let bind = json!({
        "client_secret": "d0nt-T3ll", "id_server": "id.example.org",
        "id_access_token": "abc", "sid": "abc123987",
    });
    let r = s.post(&format!("{V3}/account/3pid/bind"), alice.token(), bind).await;
    assert!(r.status >= 400 && r.status < 500, "3pid/bind -> {}: {}", r.status, r.text);
    r.assert_error_body();
    s.post(&format!("{V3}/account/3pid/add"), None, json!({})).await.err(401, "M_MISSING_TOKEN");
    assert_no_threepids(&s, &alice.access_token).await;
}

async fn threepid_delete_and_unbind_report_no_support(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let body = json!({ "medium": "email", "address": "alice@example.org" });
    for ep in ["delete", "unbind"] {
        let r = s.post(&format!("{V3}/account/3pid/{ep}"), alice.token(), body.clone()).await;
        assert_eq!(r.ok()["id_server_unbind_result"], json!("no-support"), "3pid/{ep}");
        s.post(&format!("{V3}/account/3pid/{ep}"), alice.token(), json!({ "medium": "email" }))
            .await
            .err(400, "M_BAD_JSON");
        s.post(&format!("{V3}/account/3pid/{ep}"), None, body.clone()).await.err(401, "M_MISSING_TOKEN");
    }
    assert_no_threepids(&s, &alice.access_token).await;
}

/// What a homeserver without email/SMS sending may answer to a requestToken call.
const NO_THREEPID_SUPPORT: &[(u16, &str)] =
    &[(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED"), (403, "M_THREEPID_DENIED"), (400, "M_THREEPID_NOT_FOUND")];

async fn request_token_endpoints_are_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let email = json!({ "client_secret": "d0nt-T3ll", "email": "alice@example.org", "send_attempt": 1 });
    let msisdn = json!({ "client_secret": "d0nt-T3ll", "country": "GB", "phone_number": "07700900001", "send_attempt": 1 });
    for (path, body, token) in [
        ("/account/3pid/email/requestToken", &email, alice.token()),
        ("/account/3pid/msisdn/requestToken", &msisdn, alice.token()),
        ("/register/email/requestToken", &email, None),
        ("/register/msisdn/requestToken", &msisdn, None),
        ("/account/password/email/requestToken", &email, None),
        ("/account/password/msisdn/requestToken", &msisdn, None),
    ] {
        let r = s.post(&format!("{V3}{path}"), token, body.clone()).await;
        assert!(r.status != 200, "{path} succeeded without any 3PID support: {}", r.text);
        r.err_one_of(NO_THREEPID_SUPPORT);
    }
    assert_no_threepids(&s, &alice.access_token).await;
}

crate::per_backend!(
    password_change_requires_uia_and_logs_out_other_devices,
    password_change_can_keep_other_devices,
    password_change_with_wrong_password_changes_nothing,
    password_change_bad_requests,
    deactivation_locks_the_account_forever,
    deactivation_with_wrong_password_changes_nothing,
    uia_session_of_one_operation_cannot_authorise_another,
    threepid_list_is_empty,
    threepid_add_and_bind_are_refused,
    threepid_delete_and_unbind_report_no_support,
    request_token_endpoints_are_refused,
);
