//! Dehydrated devices (MSC3814): park a device with its keys, receive to-device messages
//! for it while offline, page them out, replace and delete it; bad input changes nothing.

use serde_json::{Value, json};

use crate::e2ee_client::Device;
use crate::harness::{Backend, Server, Session, V3, enc};

const BASE: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

/// A vodozemac device for `owner`'s account with another device ID (never logged in).
fn parked(owner: &Session, device_id: &str) -> Device {
    Device::new(Session { device_id: device_id.to_owned(), ..owner.clone() })
}

fn put_body(device: &mut Device, data: &str) -> Value {
    json!({
        "device_id": device.id(),
        "device_data": { "algorithm": "m.dehydration.v1.olm", "device_pickle": data },
        "initial_device_display_name": "Dehydrated",
        "device_keys": device.device_keys(),
        "one_time_keys": device.one_time_keys(2),
        "fallback_keys": device.fallback_key(),
    })
}

async fn keyed_devices(s: &Server, asker: &Session, user: &str) -> Vec<String> {
    let body =
        s.post(&format!("{V3}/keys/query"), asker.token(), json!({ "device_keys": { user: [] } })).await;
    body.ok()["device_keys"][user].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

async fn dehydrated_device_lifecycle(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register_with(json!({ "username": "alice", "password": "pw", "device_id": "ADEV" })).await;
    let bob = s.register_with(json!({ "username": "bob", "password": "pw", "device_id": "BDEV" })).await;
    s.get(BASE, bob.token()).await.err(404, "M_NOT_FOUND");
    s.get(BASE, None).await.err(401, "M_MISSING_TOKEN");

    let mut dehydrated = parked(&bob, "DEHYD");
    let put = s.put(BASE, bob.token(), put_body(&mut dehydrated, "pickle-1")).await;
    assert_eq!(put.ok()["device_id"], json!("DEHYD"));
    let got = s.get(BASE, bob.token()).await.ok().clone();
    assert_eq!(got["device_id"], json!("DEHYD"));
    assert_eq!(got["device_data"]["device_pickle"], json!("pickle-1"));
    assert_eq!(keyed_devices(&s, &alice, &bob.user_id).await, ["DEHYD"], "only DEHYD has keys");

    // Alice reaches the parked device: claims its key, sends to every device of Bob.
    let claim = json!({ "one_time_keys": { &bob.user_id: { "DEHYD": "signed_curve25519" } } });
    let claimed = s.post(&format!("{V3}/keys/claim"), alice.token(), claim).await.ok().clone();
    assert!(claimed["one_time_keys"][&bob.user_id]["DEHYD"].is_object(), "{claimed}");
    let send = json!({ "messages": { &bob.user_id: { "*": { "room_key": "secret" } } } });
    s.put(&format!("{V3}/sendToDevice/m.test/{}", enc("t1")), alice.token(), send).await.ok();
    let events = format!("{BASE}/DEHYD/events");
    let page = s.post(&events, bob.token(), json!({})).await.ok().clone();
    assert_eq!(page["events"][0]["content"]["room_key"], json!("secret"), "{page}");
    let next = page["next_batch"].as_str().expect("next_batch").to_owned();
    let after = s.post(&events, bob.token(), json!({ "next_batch": next })).await.ok().clone();
    assert_eq!(after["events"], json!([]), "acknowledged: {after}");
    s.post(&format!("{BASE}/BDEV/events"), bob.token(), json!({})).await.err(403, "M_FORBIDDEN");
    s.post(&events, alice.token(), json!({})).await.err(403, "M_FORBIDDEN");

    // Keys for another device are refused and change nothing.
    let mut wrong = parked(&bob, "OTHER");
    let mut bad = put_body(&mut wrong, "pickle-x");
    bad["device_id"] = json!("DEHYD2");
    s.put(BASE, bob.token(), bad).await.err(400, "M_INVALID_PARAM");
    assert_eq!(s.get(BASE, bob.token()).await.ok()["device_id"], json!("DEHYD"));

    // A new dehydrated device replaces the old one and its keys.
    let mut second = parked(&bob, "DEHYD2");
    s.put(BASE, bob.token(), put_body(&mut second, "pickle-2")).await.ok();
    assert_eq!(keyed_devices(&s, &alice, &bob.user_id).await, ["DEHYD2"]);
    assert_eq!(s.delete(BASE, bob.token(), None).await.ok()["device_id"], json!("DEHYD2"));
    s.get(BASE, bob.token()).await.err(404, "M_NOT_FOUND");
    s.delete(BASE, bob.token(), None).await.err(404, "M_NOT_FOUND");
    assert!(keyed_devices(&s, &alice, &bob.user_id).await.is_empty());
}

crate::per_backend!(dehydrated_device_lifecycle);
