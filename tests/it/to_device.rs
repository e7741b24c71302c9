//! `PUT /sendToDevice`: delivery through `/sync` exactly once (kept until a later
//! `since` acknowledges it), `*` for every device, idempotent transactions, long-poll
//! wake-ups, and bad input.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, enc};

fn path(event_type: &str, txn: &str) -> String {
    format!("{V3}/sendToDevice/{}/{}", enc(event_type), enc(txn))
}

fn messages(sync: &Value) -> Vec<Value> {
    sync["to_device"]["events"].as_array().cloned().unwrap_or_default()
}

async fn login(s: &Server, user: &str, device: &str) -> Session {
    let body = json!({
        "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user },
        "password": "pw", "device_id": device,
    });
    Session::from_json(s.login_body(body).await.ok())
}

async fn delivered_once_per_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await;
    let phone = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "PHONE" })).await;
    let laptop = login(&s, "bob", "LAPTOP").await;
    let phone_since =
        s.sync(&phone.access_token, None, "").await["next_batch"].as_str().expect("s").to_owned();
    let laptop_since =
        s.sync(&laptop.access_token, None, "").await["next_batch"].as_str().expect("s").to_owned();

    let body = json!({ "messages": { "@bob:localhost": { "PHONE": { "n": 1 }, "NOPE": { "n": 0 } } } });
    s.put(&path("m.test", "t1"), alice.token(), body.clone()).await.ok();
    s.put(&path("m.test", "t1"), alice.token(), body).await.ok();
    let all = json!({ "messages": { "@bob:localhost": { "*": { "n": 2 } } } });
    s.put(&path("m.test", "t2"), alice.token(), all).await.ok();

    let first = s.sync(&phone.access_token, Some(&phone_since), "").await;
    let got: Vec<Value> = messages(&first).iter().map(|m| m["content"]["n"].clone()).collect();
    assert_eq!(got, [json!(1), json!(2)], "once despite the retried txn, in order: {first}");
    assert_eq!(messages(&first)[0]["sender"], json!(alice.user_id));
    assert_eq!(messages(&first)[0]["type"], json!("m.test"));
    // The response was "lost": syncing from the same token delivers them again.
    let retry = s.sync(&phone.access_token, Some(&phone_since), "").await;
    assert_eq!(messages(&retry).len(), 2, "{retry}");
    // Acknowledged by the later token: never again.
    let next = retry["next_batch"].as_str().expect("next");
    let after = s.sync(&phone.access_token, Some(next), "").await;
    assert!(messages(&after).is_empty(), "{after}");
    let old = s.sync(&phone.access_token, Some(&phone_since), "").await;
    assert!(messages(&old).is_empty(), "deleted once acknowledged: {old}");

    let other = s.sync(&laptop.access_token, Some(&laptop_since), "").await;
    let got: Vec<Value> = messages(&other).iter().map(|m| m["content"]["n"].clone()).collect();
    assert_eq!(got, [json!(2)], "`*` reaches every device: {other}");
    // The same txn ID from another device is another send.
    let again = json!({ "messages": { "@bob:localhost": { "LAPTOP": { "n": 3 } } } });
    s.put(&path("m.test", "t1"), phone.token(), again).await.ok();
    let next = other["next_batch"].as_str().expect("next");
    assert_eq!(messages(&s.sync(&laptop.access_token, Some(next), "").await).len(), 1);
}

async fn long_poll_wakes_on_to_device(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await;
    let since = s.sync(&bob.access_token, None, "").await["next_batch"].as_str().expect("s").to_owned();
    let url = format!("{}{V3}/sync?since={}&timeout=20000", s.base, enc(&since));
    let token = bob.access_token.clone();
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let body: Value = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("sync")
            .json()
            .await
            .expect("json");
        (body, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = json!({ "messages": { "@bob:localhost": { "BDEV": { "wake": true } } } });
    s.put(&path("m.test", "wake"), alice.token(), body).await.ok();
    let (body, waited) = waiting.await.expect("task");
    assert!(waited < Duration::from_secs(15), "not woken");
    assert_eq!(messages(&body).len(), 1, "{body}");
}

async fn bad_sends_are_refused(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await;
    let body = json!({ "messages": { "@bob:localhost": { "BDEV": { "n": 1 } } } });
    s.put(&path("m.test", "x"), None, body).await.err(401, "M_MISSING_TOKEN");
    let not_object = json!({ "messages": { "@bob:localhost": { "BDEV": [1, 2] } } });
    s.put(&path("m.test", "y"), alice.token(), not_object).await.err(400, "M_BAD_JSON");
    s.put(&path("m.test", "z"), alice.token(), json!({ "messages": "no" })).await.err(400, "M_BAD_JSON");
    s.put(&path("m.test", "w"), alice.token(), json!({ "messages": { "not-a-user": {} } }))
        .await
        .assert_error_body();
    let sync = s.sync(&bob.access_token, None, "").await;
    assert!(messages(&sync).is_empty(), "nothing was queued: {sync}");
}

crate::per_backend!(delivered_once_per_device, long_poll_wakes_on_to_device, bad_sends_are_refused);
