//! Rate limits on login and registration: 429 M_LIMIT_EXCEEDED with retry hints.

use serde_json::json;

use crate::harness::{Backend, Resp, Server, V3};

/// A bucket that allows two requests and then refills far slower than any test runs.
const TIGHT: &str = "{ per_second = 0.01, burst = 2 }";

fn assert_limited(r: &Resp) {
    r.err(429, "M_LIMIT_EXCEEDED");
    if let Some(ms) = r.json.get("retry_after_ms") {
        assert!(ms.as_i64().is_some_and(|ms| ms > 0), "retry_after_ms: {}", r.text);
    }
    let retry =
        r.header("retry-after").unwrap_or_else(|| panic!("429 without Retry-After header: {}", r.text));
    assert!(retry.trim().parse::<u64>().is_ok_and(|secs| secs >= 1), "Retry-After {retry:?}");
}

async fn login_per_ip_limit(b: Backend) {
    let s = Server::builder(b).set_toml("rate_limits.login_per_ip", TIGHT).start().await;
    s.register("alice", "pw").await;
    s.login("alice", "pw").await;
    s.login("alice", "pw").await;
    let r = s.login_resp("alice", "pw").await;
    assert_limited(&r);
    // The limit is per IP, on login only: other endpoints still answer.
    s.get(&format!("{V3}/login"), None).await.ok();
    s.register("bob", "pw").await;
}

async fn login_per_account_limit(b: Backend) {
    let s = Server::builder(b).set_toml("rate_limits.login_per_account", TIGHT).start().await;
    s.register("alice", "pw").await;
    s.register("bob", "pw").await;
    s.login("alice", "pw").await;
    s.login("alice", "pw").await;
    assert_limited(&s.login_resp("alice", "pw").await);
    s.login("bob", "pw").await;
}

async fn failed_login_per_account_limit(b: Backend) {
    let s = Server::builder(b).set_toml("rate_limits.failed_login_per_account", TIGHT).start().await;
    s.register("alice", "pw").await;
    s.login_resp("alice", "wrong").await.err(403, "M_FORBIDDEN");
    s.login_resp("alice", "wrong").await.err(403, "M_FORBIDDEN");
    assert_limited(&s.login_resp("alice", "wrong").await);
}

async fn registration_per_ip_limit(b: Backend) {
    let s = Server::builder(b).set_toml("rate_limits.registration_per_ip", TIGHT).start().await;
    let mut created = 0;
    let mut limited = None;
    for name in ["u1", "u2", "u3", "u4"] {
        let r = s.post(&format!("{V3}/register"), None, json!({ "username": name, "password": "pw" })).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        let session = r.uia();
        let body = json!({
            "username": name, "password": "pw",
            "auth": { "type": "m.login.dummy", "session": session },
        });
        let r = s.post(&format!("{V3}/register"), None, body).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.ok();
        created += 1;
    }
    let r = limited.expect("registration was never rate-limited");
    assert_limited(&r);
    assert!(created <= 2, "{created} registrations passed a burst of 2");
}

async fn forwarded_for_header_does_not_dodge_ip_limit(b: Backend) {
    let s = Server::builder(b).set_toml("rate_limits.login_per_ip", TIGHT).start().await;
    s.register("alice", "pw").await;
    let body = json!({ "type": "m.login.password", "user": "alice", "password": "pw" });
    let mut statuses = Vec::new();
    for i in 0..4 {
        let resp = s
            .http
            .post(s.url(&format!("{V3}/login")))
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .header("X-Real-IP", format!("198.51.100.{i}"))
            .json(&body)
            .send()
            .await
            .expect("login");
        statuses.push(resp.status().as_u16());
    }
    assert!(statuses.contains(&429), "spoofed forwarding headers escaped the per-IP limit: {statuses:?}");
}

crate::per_backend!(
    forwarded_for_header_does_not_dodge_ip_limit,
    login_per_ip_limit,
    login_per_account_limit,
    failed_login_per_account_limit,
    registration_per_ip_limit,
);
