//! Profiles: GET /profile/{userId}, GET/PUT displayname and avatar_url.

use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

fn field(user: &str, key: &str) -> String {
    format!("{V3}/profile/{}/{key}", enc(user))
}

async fn set_and_get_displayname_and_avatar(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let me = &alice.user_id;
    s.put(&field(me, "displayname"), alice.token(), json!({ "displayname": "Alice A." })).await.ok();
    let v = s.get(&field(me, "displayname"), alice.token()).await.ok().clone();
    assert_eq!(v, json!({ "displayname": "Alice A." }));
    s.put(&field(me, "avatar_url"), alice.token(), json!({ "avatar_url": "mxc://localhost/abcdef" }))
        .await
        .ok();
    let v = s.get(&field(me, "avatar_url"), alice.token()).await.ok().clone();
    assert_eq!(v, json!({ "avatar_url": "mxc://localhost/abcdef" }));
    let all = s.get(&format!("{V3}/profile/{}", enc(me)), alice.token()).await.ok().clone();
    assert_eq!(all["displayname"], json!("Alice A."), "{all}");
    assert_eq!(all["avatar_url"], json!("mxc://localhost/abcdef"), "{all}");
    // Another user sees the same public profile.
    let bob = s.register("bob", "pw").await;
    let seen = s.get(&format!("{V3}/profile/{}", enc(me)), bob.token()).await.ok().clone();
    assert_eq!(seen["displayname"], json!("Alice A."), "{seen}");
    // Overwrite.
    s.put(&field(me, "displayname"), alice.token(), json!({ "displayname": "Alice B." })).await.ok();
    assert_eq!(s.get(&field(me, "displayname"), bob.token()).await.ok()["displayname"], json!("Alice B."));
}

async fn unset_field_and_unknown_user_are_404(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.get(&field(&alice.user_id, "avatar_url"), alice.token()).await.err(404, "M_NOT_FOUND");
    let nobody = "@nobody:localhost";
    s.get(&format!("{V3}/profile/{}", enc(nobody)), alice.token()).await.err(404, "M_NOT_FOUND");
    s.get(&field(nobody, "displayname"), alice.token()).await.err(404, "M_NOT_FOUND");
}

async fn cannot_set_another_users_profile(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    s.put(&field(&bob.user_id, "displayname"), bob.token(), json!({ "displayname": "Bob" })).await.ok();
    s.put(&field(&bob.user_id, "displayname"), alice.token(), json!({ "displayname": "Hacked" }))
        .await
        .err(403, "M_FORBIDDEN");
    s.put(&field(&bob.user_id, "avatar_url"), alice.token(), json!({ "avatar_url": "mxc://localhost/x" }))
        .await
        .err(403, "M_FORBIDDEN");
    assert_eq!(
        s.get(&field(&bob.user_id, "displayname"), bob.token()).await.ok()["displayname"],
        json!("Bob")
    );
    s.get(&field(&bob.user_id, "avatar_url"), bob.token()).await.err(404, "M_NOT_FOUND");
}

async fn profile_bad_requests(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let me = alice.user_id.clone();
    s.put(&field(&me, "displayname"), alice.token(), json!({ "displayname": "Alice" })).await.ok();
    s.put(&field(&me, "displayname"), None, json!({ "displayname": "x" })).await.err(401, "M_MISSING_TOKEN");
    s.put(&field(&me, "displayname"), Some("bogus"), json!({ "displayname": "x" }))
        .await
        .err(401, "M_UNKNOWN_TOKEN");
    let r = s.put(&field(&me, "displayname"), alice.token(), json!({ "displayname": 12 })).await;
    r.err_one_of(&[(400, "M_BAD_JSON"), (400, "M_INVALID_PARAM")]);
    let r =
        s.raw(reqwest::Method::PUT, &field(&me, "displayname"), alice.token(), Some(b"{oops".to_vec())).await;
    r.err(400, "M_NOT_JSON");
    assert_eq!(s.get(&field(&me, "displayname"), alice.token()).await.ok()["displayname"], json!("Alice"));
    // A path segment that is not a user ID.
    let r = s.get(&format!("{V3}/profile/not-a-user-id"), alice.token()).await;
    assert!(r.status == 400 || r.status == 404, "profile of a non-user-id -> {}: {}", r.status, r.text);
    r.assert_error_body();
}

async fn unencoded_user_id_in_path_works(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.put(
        &format!("{V3}/profile/@alice:localhost/displayname"),
        alice.token(),
        json!({ "displayname": "Raw" }),
    )
    .await
    .ok();
    let v = s.get(&field("@alice:localhost", "displayname"), alice.token()).await.ok().clone();
    assert_eq!(v["displayname"], json!("Raw"));
}

crate::per_backend!(
    set_and_get_displayname_and_avatar,
    unset_field_and_unknown_user_are_404,
    cannot_set_another_users_profile,
    profile_bad_requests,
    unencoded_user_id_in_path_works,
);
