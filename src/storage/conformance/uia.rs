//! Checks of [`crate::storage::UiaStore`]: sessions, expiry and purging.

use super::Fixture;
use super::samples::uia_session;

pub(crate) async fn put_get_session(fixture: Fixture) {
    let uia = &fixture.stores.uia;
    let session = uia_session("sess-1", 10_000);
    uia.put_uia_session(&session).await.unwrap();
    assert_eq!(uia.get_uia_session("sess-1", 5_000).await.unwrap(), Some(session));
    assert_eq!(uia.get_uia_session("sess-2", 5_000).await.unwrap(), None);

    let mut bare = uia_session("sess-3", 10_000);
    bare.completed = Vec::new();
    bare.data = "{}".to_owned();
    uia.put_uia_session(&bare).await.unwrap();
    assert_eq!(uia.get_uia_session("sess-3", 0).await.unwrap(), Some(bare));
}

pub(crate) async fn session_expiry(fixture: Fixture) {
    let uia = &fixture.stores.uia;
    uia.put_uia_session(&uia_session("sess", 10_000)).await.unwrap();
    assert!(
        uia.get_uia_session("sess", 10_000).await.unwrap().is_some(),
        "still valid at its expiry instant"
    );
    assert_eq!(uia.get_uia_session("sess", 10_001).await.unwrap(), None, "gone after it");
}

pub(crate) async fn put_replaces_session(fixture: Fixture) {
    let uia = &fixture.stores.uia;
    uia.put_uia_session(&uia_session("sess", 1_000)).await.unwrap();
    let mut advanced = uia_session("sess", 50_000);
    advanced.completed.push("m.login.registration_token".to_owned());
    advanced.data = r#"{"token":"xyz"}"#.to_owned();
    uia.put_uia_session(&advanced).await.unwrap();
    assert_eq!(uia.get_uia_session("sess", 2_000).await.unwrap(), Some(advanced.clone()));
    // The old expiry no longer applies, to reads or purges.
    assert_eq!(uia.purge_expired_uia_sessions(2_000, 10).await.unwrap(), 0);
    assert_eq!(uia.get_uia_session("sess", 2_000).await.unwrap(), Some(advanced));
    // Shortening the expiry applies too.
    uia.put_uia_session(&uia_session("sess", 500)).await.unwrap();
    assert_eq!(uia.get_uia_session("sess", 2_000).await.unwrap(), None);
    assert_eq!(uia.purge_expired_uia_sessions(2_000, 10).await.unwrap(), 1);
}

pub(crate) async fn delete_session(fixture: Fixture) {
    let uia = &fixture.stores.uia;
    uia.put_uia_session(&uia_session("sess", 10_000)).await.unwrap();
    uia.put_uia_session(&uia_session("other", 10_000)).await.unwrap();
    uia.delete_uia_session("sess").await.unwrap();
    assert_eq!(uia.get_uia_session("sess", 0).await.unwrap(), None);
    assert!(uia.get_uia_session("other", 0).await.unwrap().is_some());
    uia.delete_uia_session("sess").await.unwrap();
    uia.delete_uia_session("never-existed").await.unwrap();
    assert_eq!(uia.purge_expired_uia_sessions(20_000, 10).await.unwrap(), 1, "only the remaining session");
}

pub(crate) async fn purge_expired_with_limit(fixture: Fixture) {
    let uia = &fixture.stores.uia;
    for (index, expires) in [14, 10, 12, 11, 13].into_iter().enumerate() {
        uia.put_uia_session(&uia_session(&format!("old-{index}"), expires)).await.unwrap();
    }
    uia.put_uia_session(&uia_session("live-a", 100)).await.unwrap();
    uia.put_uia_session(&uia_session("live-b", 200)).await.unwrap();

    assert_eq!(uia.purge_expired_uia_sessions(50, 0).await.unwrap(), 0);
    assert_eq!(uia.purge_expired_uia_sessions(50, 3).await.unwrap(), 3);
    assert_eq!(uia.purge_expired_uia_sessions(50, 3).await.unwrap(), 2);
    assert_eq!(uia.purge_expired_uia_sessions(50, 3).await.unwrap(), 0);
    for index in 0..5 {
        assert_eq!(
            uia.get_uia_session(&format!("old-{index}"), 0).await.unwrap(),
            None,
            "purged sessions are gone"
        );
    }
    // A session is expired only after its expiry instant.
    assert_eq!(uia.purge_expired_uia_sessions(100, 10).await.unwrap(), 0);
    assert!(uia.get_uia_session("live-a", 100).await.unwrap().is_some());
    assert_eq!(uia.purge_expired_uia_sessions(101, 10).await.unwrap(), 1);
    assert!(uia.get_uia_session("live-b", 0).await.unwrap().is_some());
}
