//! Filters: POST /user/{userId}/filter and GET /user/{userId}/filter/{filterId}.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

fn filters(user: &str) -> String {
    format!("{V3}/user/{}/filter", enc(user))
}

fn sample_filter() -> serde_json::Value {
    json!({
        "event_fields": ["type", "content", "sender"],
        "event_format": "federation",
        "presence": { "not_senders": ["@spam:example.org"], "types": ["m.presence"] },
        "room": {
            "ephemeral": { "not_rooms": ["!abc:localhost"], "types": ["m.receipt", "m.typing"] },
            "state": { "types": ["m.room.*"], "lazy_load_members": true },
            "timeline": { "limit": 10, "types": ["m.room.message"] },
        },
    })
}

async fn create_and_fetch_filter(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let v = s.post(&filters(&alice.user_id), alice.token(), sample_filter()).await.ok().clone();
    let id = v["filter_id"].as_str().expect("filter_id").to_owned();
    assert!(!id.is_empty() && !id.starts_with('{'), "filter_id {id:?}");
    let got = s.get(&format!("{}/{}", filters(&alice.user_id), enc(&id)), alice.token()).await.ok().clone();
    assert_eq!(got, sample_filter());
    // Empty filter is valid.
    let v = s.post(&filters(&alice.user_id), alice.token(), json!({})).await.ok().clone();
    let empty_id = v["filter_id"].as_str().expect("filter_id");
    assert_ne!(empty_id, id);
}

async fn other_users_filters_are_off_limits(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    s.post(&filters(&bob.user_id), alice.token(), sample_filter()).await.err(403, "M_FORBIDDEN");
    let v = s.post(&filters(&bob.user_id), bob.token(), sample_filter()).await.ok().clone();
    let id = v["filter_id"].as_str().expect("filter_id").to_owned();
    let r = s.get(&format!("{}/{}", filters(&bob.user_id), enc(&id)), alice.token()).await;
    r.err_one_of(&[(403, "M_FORBIDDEN"), (404, "M_NOT_FOUND")]);
    assert!(r.json.get("room").is_none(), "filter content leaked: {}", r.text);
    // Alice asking for bob's filter id under her own user ID finds nothing (or her own).
    let r = s.get(&format!("{}/{}", filters(&alice.user_id), enc(&id)), alice.token()).await;
    if r.status == 200 {
        panic!("bob's filter visible under alice: {}", r.text);
    }
    r.err(404, "M_NOT_FOUND");
    s.post(&filters(&alice.user_id), None, json!({})).await.err(401, "M_MISSING_TOKEN");
}

async fn unknown_filter_is_404(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.get(&format!("{}/12345", filters(&alice.user_id)), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&format!("{}/nonsense", filters(&alice.user_id)), alice.token()).await.err(404, "M_NOT_FOUND");
}

async fn invalid_filters_are_400(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = filters(&alice.user_id);
    let mut wrong = Vec::new();
    for bad in [
        json!({ "room": { "timeline": { "limit": "ten" } } }),
        json!({ "event_format": "xml" }),
        json!({ "event_fields": "type" }),
        json!({ "room": { "rooms": "!notalist:localhost" } }),
        json!([1, 2]),
    ] {
        let r = s.post(&path, alice.token(), bad.clone()).await;
        if r.status != 400 || r.json["errcode"] != "M_BAD_JSON" {
            wrong.push(format!("filter {bad} -> {}: {}", r.status, r.text));
        }
    }
    assert!(wrong.is_empty(), "expected 400 M_BAD_JSON for each:\n{}", wrong.join("\n"));
    s.raw(Method::POST, &path, alice.token(), Some(b"{\"room\":".to_vec())).await.err(400, "M_NOT_JSON");
}

crate::per_backend!(
    create_and_fetch_filter,
    other_users_filters_are_off_limits,
    unknown_filter_is_404,
    invalid_filters_are_400,
);
