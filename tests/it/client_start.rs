//! What a client (Element, matrix-js-sdk) fetches before its first `/sync`: every
//! request answers as the spec allows, none with a 404 that would stall the client.

use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

async fn start_up_requests_are_answered(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let t = alice.token();
    let versions = s.get("/_matrix/client/versions", None).await.ok().clone();
    assert!(versions["versions"].as_array().is_some_and(|v| !v.is_empty()), "{versions}");
    let caps = s.get(&format!("{V3}/capabilities"), t).await.ok().clone();
    assert!(caps["capabilities"]["m.room_versions"]["default"].is_string(), "{caps}");
    assert!(s.get(&format!("{V3}/pushrules/"), t).await.ok()["global"]["override"].is_array());
    // No TURN server configured: an empty answer (as Synapse gives), not a 404.
    assert_eq!(s.get(&format!("{V3}/voip/turnServer"), t).await.ok(), &json!({}));
    // No bridges: no third-party protocols.
    assert_eq!(s.get(&format!("{V3}/thirdparty/protocols"), t).await.ok(), &json!({}));
    s.get(&format!("{V3}/thirdparty/protocol/irc"), t).await.err(404, "M_NOT_FOUND");
    let whoami = s.get(&format!("{V3}/account/whoami"), t).await.ok().clone();
    assert_eq!(whoami["user_id"], json!(alice.user_id));
    let filter_path = format!("{V3}/user/{}/filter", enc(&alice.user_id));
    let filter = json!({ "room": { "timeline": { "limit": 20 } } });
    let created = s.post(&filter_path, t, filter).await.ok().clone();
    let id = created["filter_id"].as_str().unwrap_or_else(|| panic!("no filter_id: {created}"));
    let stored = s.get(&format!("{filter_path}/{}", enc(id)), t).await.ok().clone();
    assert_eq!(stored["room"]["timeline"]["limit"], 20, "{stored}");
    s.get(&format!("{V3}/profile/{}", enc(&alice.user_id)), t).await.ok();
    // Each still wants a token.
    for path in ["voip/turnServer", "thirdparty/protocols", "pushrules/", "capabilities"] {
        s.get(&format!("{V3}/{path}"), None).await.err(401, "M_MISSING_TOKEN");
    }
}

crate::per_backend!(start_up_requests_are_answered);
