//! Access and refresh tokens: whoami, logout, logout/all, /refresh, expiry.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3};

async fn login_refreshable(s: &Server, user: &str, pw: &str) -> Session {
    let r = s
        .login_body(json!({
            "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user },
            "password": pw, "refresh_token": true,
        }))
        .await;
    Session::from_json(r.ok())
}

async fn refresh(s: &Server, refresh_token: &str) -> crate::harness::Resp {
    s.post(&format!("{V3}/refresh"), None, json!({ "refresh_token": refresh_token })).await
}

async fn whoami_reports_user_and_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let v = s.whoami(&alice.access_token).await.ok().clone();
    assert_eq!(v["user_id"], json!(alice.user_id));
    assert_eq!(v["device_id"], json!(alice.device_id));
    assert_eq!(v.get("is_guest").cloned().unwrap_or(json!(false)), json!(false), "{v}");
}

async fn logout_kills_only_that_token(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let other = s.login("alice", "pw").await;
    let r = s.post(&format!("{V3}/logout"), alice.token(), json!({})).await;
    assert_eq!(r.ok(), &json!({}));
    s.assert_token_dead(&alice.access_token).await;
    s.assert_token_alive(&other.access_token).await;
    // The device went with the token.
    let devices = s.get(&format!("{V3}/devices"), other.token()).await.ok().clone();
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert!(!ids.contains(&alice.device_id.as_str()), "logged-out device still listed: {devices}");
    // Logging out twice with the dead token is an auth error.
    s.post(&format!("{V3}/logout"), alice.token(), json!({})).await.err(401, "M_UNKNOWN_TOKEN");
}

async fn logout_all_kills_every_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let second = s.login("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let refreshable = login_refreshable(&s, "alice", "pw").await;
    s.post(&format!("{V3}/logout/all"), second.token(), json!({})).await.ok();
    refresh(&s, refreshable.refresh_token.as_deref().expect("rt")).await.err(401, "M_UNKNOWN_TOKEN");
    s.assert_token_dead(&alice.access_token).await;
    s.assert_token_dead(&second.access_token).await;
    s.assert_token_alive(&bob.access_token).await;
    s.post(&format!("{V3}/logout/all"), None, json!({})).await.err(401, "M_MISSING_TOKEN");
    // The account itself still works.
    s.login("alice", "pw").await;
}

async fn refresh_issues_new_tokens(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let a = login_refreshable(&s, "alice", "pw").await;
    let r0 = a.refresh_token.clone().expect("refresh token");
    let v = refresh(&s, &r0).await.ok().clone();
    let a1 = v["access_token"].as_str().expect("access_token").to_owned();
    assert_ne!(a1, a.access_token);
    assert!(v["expires_in_ms"].as_i64().is_some_and(|ms| ms > 0), "{v}");
    let who = s.whoami(&a1).await.ok().clone();
    assert_eq!(who["device_id"], json!(a.device_id), "refreshed token must stay on the device");
    if let Some(r1) = v["refresh_token"].as_str() {
        assert_ne!(r1, r0);
        refresh(&s, r1).await.ok();
    }
}

async fn old_refresh_token_valid_until_new_access_token_used(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let a = login_refreshable(&s, "alice", "pw").await;
    let r0 = a.refresh_token.clone().expect("refresh token");
    let first = refresh(&s, &r0).await.ok().clone();
    // The client may not have received `first`: retrying with the old token works.
    let second = refresh(&s, &r0).await.ok().clone();
    let a2 = second["access_token"].as_str().expect("access_token");
    s.assert_token_alive(a2).await;
    // Now the new token was used: the old refresh token is revoked.
    refresh(&s, &r0).await.err(401, "M_UNKNOWN_TOKEN");
    let _ = first;
}

async fn old_refresh_token_revoked_after_new_one_used(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let a = login_refreshable(&s, "alice", "pw").await;
    let r0 = a.refresh_token.clone().expect("refresh token");
    let v = refresh(&s, &r0).await.ok().clone();
    let a1 = v["access_token"].as_str().expect("access_token").to_owned();
    s.assert_token_alive(&a1).await;
    refresh(&s, &r0).await.err(401, "M_UNKNOWN_TOKEN");
    if let Some(r1) = v["refresh_token"].as_str() {
        refresh(&s, r1).await.ok();
    }
}

async fn bad_refresh_requests(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    refresh(&s, "not-a-refresh-token").await.err(401, "M_UNKNOWN_TOKEN");
    // An access token is not a refresh token.
    refresh(&s, &alice.access_token).await.err(401, "M_UNKNOWN_TOKEN");
    s.post(&format!("{V3}/refresh"), None, json!({})).await.err(400, "M_BAD_JSON");
    s.post(&format!("{V3}/refresh"), None, json!({ "refresh_token": 42 })).await.err(400, "M_BAD_JSON");
    s.assert_token_alive(&alice.access_token).await;
}

async fn refresh_token_dies_with_logout(b: Backend) {
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let a = login_refreshable(&s, "alice", "pw").await;
    s.post(&format!("{V3}/logout"), a.token(), json!({})).await.ok();
    refresh(&s, a.refresh_token.as_deref().expect("refresh token")).await.err(401, "M_UNKNOWN_TOKEN");
}

async fn expired_access_token_is_soft_logout(b: Backend) {
    let s = Server::builder(b).set("auth.refreshable_access_token_lifetime_secs", 1).start().await;
    s.register("alice", "pw").await;
    let a = login_refreshable(&s, "alice", "pw").await;
    let v = s.whoami(&a.access_token).await.ok().clone();
    assert_eq!(v["user_id"], json!("@alice:localhost"));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = s.whoami(&a.access_token).await;
    r.err(401, "M_UNKNOWN_TOKEN");
    assert_eq!(r.json["soft_logout"], json!(true), "{}", r.text);
    let v = refresh(&s, a.refresh_token.as_deref().expect("refresh token")).await.ok().clone();
    let fresh = v["access_token"].as_str().expect("access_token");
    let who = s.whoami(fresh).await.ok().clone();
    assert_eq!(who["device_id"], json!(a.device_id));
}

async fn non_refreshable_tokens_do_not_expire_by_default(b: Backend) {
    let s = Server::builder(b).set("auth.refreshable_access_token_lifetime_secs", 1).start().await;
    let alice = s.register("alice", "pw").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.assert_token_alive(&alice.access_token).await;
    let body: Value = s.whoami(&alice.access_token).await.json;
    assert_eq!(body["user_id"], json!("@alice:localhost"));
}

async fn plain_access_tokens_expire_when_configured(b: Backend) {
    let s = Server::builder(b).set("auth.access_token_lifetime_secs", 1).start().await;
    let alice = s.register("alice", "pw").await;
    s.assert_token_alive(&alice.access_token).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    s.whoami(&alice.access_token).await.err(401, "M_UNKNOWN_TOKEN");
    s.login("alice", "pw").await;
}

async fn query_string_access_token_still_accepted(b: Backend) {
    // Deprecated, but part of v1.19 (removed only in v1.20).
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/account/whoami?access_token={}", crate::harness::enc(&alice.access_token));
    let v = s.get(&path, None).await.ok().clone();
    assert_eq!(v["user_id"], json!(alice.user_id));
    s.get(&format!("{V3}/account/whoami?access_token=bogus"), None).await.err(401, "M_UNKNOWN_TOKEN");
}

async fn refresh_tokens_die_with_password_change_and_device_deletion(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let doomed = login_refreshable(&s, "alice", "pw").await;
    let deleted = login_refreshable(&s, "alice", "pw").await;
    // Delete one device through UIA: its refresh token must die with it.
    let path = format!("{V3}/devices/{}", crate::harness::enc(&deleted.device_id));
    let session = s.delete(&path, alice.token(), Some(json!({}))).await.uia();
    let auth = crate::harness::password_auth("alice", "pw", &session);
    s.delete(&path, alice.token(), Some(json!({ "auth": auth }))).await.ok();
    refresh(&s, deleted.refresh_token.as_deref().expect("rt")).await.err(401, "M_UNKNOWN_TOKEN");
    // A password change logs out other devices, refresh tokens included.
    let pw_path = format!("{V3}/account/password");
    let session = s.post(&pw_path, alice.token(), json!({ "new_password": "pw2" })).await.uia();
    let auth = crate::harness::password_auth("alice", "pw", &session);
    s.post(&pw_path, alice.token(), json!({ "new_password": "pw2", "auth": auth })).await.ok();
    refresh(&s, doomed.refresh_token.as_deref().expect("rt")).await.err(401, "M_UNKNOWN_TOKEN");
}

crate::per_backend!(
    whoami_reports_user_and_device,
    logout_kills_only_that_token,
    logout_all_kills_every_device,
    refresh_issues_new_tokens,
    old_refresh_token_valid_until_new_access_token_used,
    old_refresh_token_revoked_after_new_one_used,
    bad_refresh_requests,
    refresh_token_dies_with_logout,
    expired_access_token_is_soft_logout,
    non_refreshable_tokens_do_not_expire_by_default,
    plain_access_tokens_expire_when_configured,
    query_string_access_token_still_accepted,
    refresh_tokens_die_with_password_change_and_device_deletion,
);
