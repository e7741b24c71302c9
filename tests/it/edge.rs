//! Cross-cutting HTTP behaviour: unknown routes, wrong methods, CORS, body parsing,
//! authentication errors (answered before the body is read), body limits, token
//! mixing, unreadable request lines, resilience to garbage.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, RawConn, Server, V3, enc};

async fn unknown_endpoint_is_404_unrecognized(b: Backend) {
    let s = Server::start_default(b).await;
    s.get(&format!("{V3}/no_such_endpoint"), None).await.err(404, "M_UNRECOGNIZED");
    s.post("/_matrix/client/v3/rooms/x/no_such_thing", None, json!({})).await.err(404, "M_UNRECOGNIZED");
    s.get("/_matrix/nothing_here", None).await.err(404, "M_UNRECOGNIZED");
}

async fn wrong_method_is_405_unrecognized(b: Backend) {
    let s = Server::start_default(b).await;
    s.delete(&format!("{V3}/login"), None, None).await.err(405, "M_UNRECOGNIZED");
    s.put("/_matrix/client/versions", None, json!({})).await.err(405, "M_UNRECOGNIZED");
    s.post(&format!("{V3}/account/whoami"), None, json!({})).await.err(405, "M_UNRECOGNIZED");
}

fn header_list_contains(value: &str, wanted: &str) -> bool {
    value.split(',').any(|v| v.trim().eq_ignore_ascii_case(wanted)) || value.trim() == "*"
}

async fn cors_preflight_allows_spec_methods_and_headers(b: Backend) {
    let s = Server::start_default(b).await;
    for path in [format!("{V3}/login"), format!("{V3}/account/whoami"), format!("{V3}/no_such_endpoint")] {
        let resp = s
            .http
            .request(Method::OPTIONS, s.url(&path))
            .header("Origin", "https://app.example.org")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
            .await
            .expect("OPTIONS");
        let status = resp.status().as_u16();
        assert!((200..300).contains(&status), "OPTIONS {path} -> {status}");
        let h = |name: &str| {
            resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert_eq!(h("access-control-allow-origin"), "*", "OPTIONS {path}");
        let methods = h("access-control-allow-methods");
        for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
            assert!(header_list_contains(&methods, m), "allow-methods {methods:?} lacks {m} ({path})");
        }
        let headers = h("access-control-allow-headers");
        for name in ["X-Requested-With", "Content-Type", "Authorization"] {
            assert!(header_list_contains(&headers, name), "allow-headers {headers:?} lacks {name} ({path})");
        }
    }
}

async fn cors_headers_on_ordinary_and_error_responses(b: Backend) {
    let s = Server::start_default(b).await;
    for (method, path) in [
        (Method::GET, "/_matrix/client/versions".to_owned()),
        (Method::GET, format!("{V3}/account/whoami")),
        (Method::GET, format!("{V3}/no_such_endpoint")),
    ] {
        let resp = s
            .http
            .request(method, s.url(&path))
            .header("Origin", "https://app.example.org")
            .send()
            .await
            .expect("request");
        let acao = resp.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
        assert_eq!(acao, Some("*"), "{path} ({}) lacks Access-Control-Allow-Origin: *", resp.status());
    }
}

async fn options_does_not_run_endpoint_logic(b: Backend) {
    let s = Server::start_default(b).await;
    // An OPTIONS on /register must not create an account nor start a session.
    let resp =
        s.http.request(Method::OPTIONS, s.url(&format!("{V3}/register"))).send().await.expect("OPTIONS");
    assert!(resp.status().is_success(), "OPTIONS /register -> {}", resp.status());
    let resp = s
        .http
        .request(Method::OPTIONS, s.url(&format!("{V3}/account/whoami")))
        .send()
        .await
        .expect("OPTIONS");
    assert!(resp.status().is_success(), "OPTIONS on an authenticated endpoint -> {}", resp.status());
}

async fn malformed_json_is_400_not_json(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let body = b"{\"type\": \"m.login.password\", ".to_vec();
    s.raw(Method::POST, &format!("{V3}/login"), None, Some(body)).await.err(400, "M_NOT_JSON");
    s.raw(Method::POST, &format!("{V3}/register"), None, Some(b"not json".to_vec()))
        .await
        .err(400, "M_NOT_JSON");
    let path = format!("{V3}/devices/{}", enc(&alice.device_id));
    s.raw(Method::PUT, &path, alice.token(), Some(b"{".to_vec())).await.err(400, "M_NOT_JSON");
}

async fn wrong_json_types_are_400_bad_json(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.post(
        &format!("{V3}/login"),
        None,
        json!({ "type": "m.login.password", "identifier": "alice", "password": 1 }),
    )
    .await
    .err(400, "M_BAD_JSON");
    s.post(&format!("{V3}/login"), None, json!({ "password": "pw" })).await.err(400, "M_BAD_JSON");
    s.post(&format!("{V3}/register"), None, json!({ "username": 5, "password": "pw" }))
        .await
        .err(400, "M_BAD_JSON");
    let path = format!("{V3}/devices/{}", enc(&alice.device_id));
    s.put(&path, alice.token(), json!({ "display_name": 5 })).await.err(400, "M_BAD_JSON");
    s.post(&format!("{V3}/login"), None, json!(["an", "array"])).await.err(400, "M_BAD_JSON");
}

async fn json_body_without_content_type_is_accepted(b: Backend) {
    // Clients (and curl) often omit Content-Type; the spec does not require it.
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let body = json!({ "type": "m.login.password", "user": "alice", "password": "pw" }).to_string();
    for content_type in [None, Some("text/plain"), Some("application/json; charset=utf-8")] {
        let mut req = s.http.post(s.url(&format!("{V3}/login"))).body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("login");
        assert_eq!(resp.status().as_u16(), 200, "login with content-type {content_type:?}");
    }
}

async fn missing_token_is_401_missing_token(b: Backend) {
    let s = Server::start_default(b).await;
    for path in ["/account/whoami", "/capabilities", "/devices", "/account/3pid"] {
        s.get(&format!("{V3}{path}"), None).await.err(401, "M_MISSING_TOKEN");
    }
    s.post(&format!("{V3}/logout"), None, json!({})).await.err(401, "M_MISSING_TOKEN");
}

async fn invalid_token_is_401_unknown_token(b: Backend) {
    let s = Server::start_default(b).await;
    let resp = s.whoami("not_a_real_token").await;
    resp.err(401, "M_UNKNOWN_TOKEN");
    assert_ne!(resp.json["soft_logout"], json!(true), "an unknown token is not a soft logout");
    s.get(&format!("{V3}/devices"), Some("syt_bogus")).await.err(401, "M_UNKNOWN_TOKEN");
    // A malformed Authorization header is not a valid token either.
    let resp = s
        .http
        .get(s.url(&format!("{V3}/account/whoami")))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
}

async fn oversized_body_is_413_too_large(b: Backend) {
    let s = Server::builder(b).set("http.max_body_bytes", 4096).start().await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/user/{}/account_data/org.example.big", enc(&alice.user_id));
    let big = json!({ "blob": "x".repeat(10_000) });
    s.put(&path, alice.token(), big).await.err(413, "M_TOO_LARGE");
    s.get(&path, alice.token()).await.err(404, "M_NOT_FOUND");
    let login = json!({ "type": "m.login.password", "user": "alice", "password": "y".repeat(8000) });
    s.post(&format!("{V3}/login"), None, login).await.err(413, "M_TOO_LARGE");
    // Just under the limit is fine.
    s.put(&path, alice.token(), json!({ "blob": "x".repeat(3000) })).await.ok();
}

async fn server_survives_a_flood_of_bad_requests(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let garbage: [&[u8]; 6] =
        [b"", b"{", b"[]", b"null", b"\xff\xfe\x00", b"{\"type\":{\"nested\":[[[[[[]]]]]]}}"];
    for round in 0..20 {
        for body in garbage {
            for path in ["/login", "/register", "/account/password", "/delete_devices"] {
                let r = s.raw(Method::POST, &format!("{V3}{path}"), alice.token(), Some(body.to_vec())).await;
                assert!(
                    r.status < 500,
                    "round {round}: POST {path} with {body:?} -> {}: {}",
                    r.status,
                    r.text
                );
            }
        }
        let r = s.get(&format!("{V3}/profile/{}", "%FF%FE"), alice.token()).await;
        assert!(r.status < 500, "bad path encoding -> {}", r.status);
    }
    // Pathologically deep nesting must be refused, not overflow a stack.
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let r = s.raw(Method::POST, &format!("{V3}/login"), None, Some(deep.into_bytes())).await;
    assert!(r.status == 400 || r.status == 413, "deep nesting -> {}: {}", r.status, r.text);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let path = format!("{V3}/user/{}/account_data/org.example.deep", enc(&alice.user_id));
    let r = s.raw(Method::PUT, &path, alice.token(), Some(deep.into_bytes())).await;
    assert!(r.status == 400 || r.status == 413, "deep nesting -> {}: {}", r.status, r.text);
    s.get("/_matrix/client/versions", None).await.ok();
    s.assert_token_alive(&alice.access_token).await;
}

/// Headers of an authenticated-endpoint POST declaring `length` body bytes, sent
/// without the body.
fn post_head(token: Option<&str>, length: u64) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "POST {V3}/createRoom HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

async fn a_refused_token_is_answered_before_the_body_is_sent(b: Backend) {
    let s = Server::start_default(b).await;
    // 8 MiB declared (the limit itself), none of it sent: the answer may not wait for it.
    for (token, errcode) in [(None, "M_MISSING_TOKEN"), (Some("syt_bogus"), "M_UNKNOWN_TOKEN")] {
        let mut conn = RawConn::connect(&s).await;
        conn.send(post_head(token, 8 * 1024 * 1024).as_bytes()).await;
        let answer = conn.response(Duration::from_secs(5)).await.expect("answered without the body");
        answer.err(401, errcode);
    }
}

async fn a_declared_length_over_the_limit_is_413_before_the_body(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let mut conn = RawConn::connect(&s).await;
    conn.send(post_head(Some(&alice.access_token), 8 * 1024 * 1024 + 1).as_bytes()).await;
    let answer = conn.response(Duration::from_secs(5)).await.expect("answered without the body");
    answer.err(413, "M_TOO_LARGE");
    // Unauthenticated endpoints too.
    let mut conn = RawConn::connect(&s).await;
    let head = format!("POST {V3}/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
    conn.send(head.as_bytes()).await;
    conn.response(Duration::from_secs(5)).await.expect("answered without the body").err(413, "M_TOO_LARGE");
}

async fn a_trickling_body_is_cut_with_408(b: Backend) {
    let s = Server::builder(b).set("http.body_read_timeout_secs", 1).start().await;
    let alice = s.register("alice", "pw").await;
    let mut conn = RawConn::connect(&s).await;
    conn.send(post_head(Some(&alice.access_token), 100).as_bytes()).await;
    conn.send(b"{\"name\": ").await;
    let answer = conn.response(Duration::from_secs(10)).await.expect("the body read was not cut");
    answer.err(408, "M_UNKNOWN");
}

async fn large_bodies_over_the_cap_get_429(b: Backend) {
    let s = Server::builder(b)
        .set("http.max_concurrent_large_bodies", 1)
        .set("http.body_read_timeout_secs", 10)
        .start()
        .await;
    let alice = s.register("alice", "pw").await;
    // Two large bodies trickle at once: one holds the only permit, the other waits
    // briefly (a second), then is refused. Which is which is the server's choice.
    let mut conns = Vec::new();
    for _ in 0..2 {
        let mut conn = RawConn::connect(&s).await;
        conn.send(post_head(Some(&alice.access_token), 100_000).as_bytes()).await;
        conn.send(b"{").await;
        conns.push(conn);
    }
    let mut refused = None;
    for conn in &mut conns {
        if let Some(answer) = conn.response(Duration::from_secs(3)).await {
            refused = Some(answer);
            break;
        }
    }
    let answer = refused.expect("neither large body was refused");
    answer.err(429, "M_LIMIT_EXCEEDED");
    assert!(answer.json["retry_after_ms"].is_u64(), "{}", answer.json);
    // Small bodies need no permit.
    s.post(&format!("{V3}/createRoom"), alice.token(), json!({})).await.ok();
}

async fn a_token_in_header_and_query_is_400_missing_token(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let url = s.url(&format!("{V3}/account/whoami?access_token={}", alice.access_token));
    let resp = s.http.get(&url).bearer_auth(&alice.access_token).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["errcode"], "M_MISSING_TOKEN", "{body}");
    // Either one alone still works.
    s.get(&format!("{V3}/account/whoami?access_token={}", alice.access_token), None).await.ok();
    s.get(&format!("{V3}/account/whoami"), alice.token()).await.ok();
}

async fn unreadable_request_lines_get_matrix_json_errors(b: Backend) {
    let s = Server::start_default(b).await;
    let long = format!("GET {V3}/profile/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let mut conn = RawConn::connect(&s).await;
    conn.send(long.as_bytes()).await;
    conn.response(Duration::from_secs(5)).await.expect("an answer").err(414, "M_TOO_LARGE");
    let mut conn = RawConn::connect(&s).await;
    conn.send(b"GET /_matrix/client/v3/profile/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n").await;
    conn.response(Duration::from_secs(5)).await.expect("an answer").err(400, "M_UNRECOGNIZED");
    // Percent-encoded bytes that are not UTF-8 reach the router and are refused there.
    let mut conn = RawConn::connect(&s).await;
    conn.send(b"GET /_matrix/client/v3/profile/%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n").await;
    conn.response(Duration::from_secs(5)).await.expect("an answer").err(400, "M_INVALID_PARAM");
    s.get("/_matrix/client/versions", None).await.ok();
}

crate::per_backend!(
    unknown_endpoint_is_404_unrecognized,
    wrong_method_is_405_unrecognized,
    cors_preflight_allows_spec_methods_and_headers,
    cors_headers_on_ordinary_and_error_responses,
    options_does_not_run_endpoint_logic,
    malformed_json_is_400_not_json,
    wrong_json_types_are_400_bad_json,
    json_body_without_content_type_is_accepted,
    missing_token_is_401_missing_token,
    invalid_token_is_401_unknown_token,
    oversized_body_is_413_too_large,
    server_survives_a_flood_of_bad_requests,
    a_refused_token_is_answered_before_the_body_is_sent,
    a_declared_length_over_the_limit_is_413_before_the_body,
    a_trickling_body_is_cut_with_408,
    large_bodies_over_the_cap_get_429,
    a_token_in_header_and_query_is_400_missing_token,
    unreadable_request_lines_get_matrix_json_errors,
);
