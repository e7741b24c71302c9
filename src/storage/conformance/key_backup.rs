//! Checks of [`crate::storage::KeyBackupStore`]: versions, keys at three levels, the
//! replacement rule, etag and count.

use super::Fixture;
use super::samples::{room_id, user_id};
use crate::storage::BackupKey;
use crate::storage::key_backup::backup_key_replaces;

const ALICE: &str = "@alice:example.org";

fn key(room: &str, session: &str, index: u64, verified: bool) -> BackupKey {
    BackupKey {
        room_id: room_id(room),
        session_id: session.to_owned(),
        json: format!(
            r#"{{"first_message_index":{index},"forwarded_count":0,"is_verified":{verified},"session_data":{{}}}}"#
        ),
    }
}

pub(crate) async fn versions_are_never_reused(fixture: Fixture) {
    let store = &fixture.stores.key_backup;
    let (alice, bob) = (user_id(ALICE), user_id("@bob:example.org"));
    assert_eq!(store.backup_version(&alice, None).await.unwrap(), None);
    assert_eq!(store.create_backup_version(&alice, "alg", r#"{"a":1}"#).await.unwrap(), 1);
    assert_eq!(store.create_backup_version(&alice, "alg", r#"{"a":2}"#).await.unwrap(), 2);
    assert_eq!(store.create_backup_version(&bob, "alg", "{}").await.unwrap(), 1, "per user");
    assert_eq!(store.backup_version(&alice, None).await.unwrap().unwrap().version, 2);
    assert!(store.delete_backup_version(&alice, 2).await.unwrap());
    assert!(!store.delete_backup_version(&alice, 2).await.unwrap());
    assert_eq!(store.backup_version(&alice, None).await.unwrap().unwrap().version, 1);
    assert_eq!(store.backup_version(&alice, Some(2)).await.unwrap(), None);
    assert_eq!(store.create_backup_version(&alice, "alg", "{}").await.unwrap(), 3);
    assert!(store.update_backup_auth_data(&alice, 1, r#"{"new":true}"#).await.unwrap());
    assert!(!store.update_backup_auth_data(&alice, 2, "{}").await.unwrap());
    let one = store.backup_version(&alice, Some(1)).await.unwrap().unwrap();
    assert_eq!((one.algorithm.as_str(), one.auth_data.as_str(), one.count), ("alg", r#"{"new":true}"#, 0));
}

pub(crate) async fn keys_replace_by_the_spec_rule(fixture: Fixture) {
    let store = &fixture.stores.key_backup;
    let alice = user_id(ALICE);
    let version = store.create_backup_version(&alice, "alg", "{}").await.unwrap();
    let (room, other) = ("!room:example.org", "!other:example.org");
    let (etag, count) = store
        .put_backup_keys(
            &alice,
            version,
            &[key(room, "s1", 5, false), key(room, "s2", 0, false), key(other, "s1", 0, true)],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count, 3);
    // A worse key changes nothing (not even the etag); a better one replaces.
    let (same_etag, _) =
        store.put_backup_keys(&alice, version, &[key(room, "s1", 9, false)]).await.unwrap().unwrap();
    assert_eq!(same_etag, etag);
    let (new_etag, count) =
        store.put_backup_keys(&alice, version, &[key(room, "s1", 3, false)]).await.unwrap().unwrap();
    assert!(new_etag != etag);
    assert_eq!(count, 3);
    let s1 = store.backup_keys(&alice, version, Some(&room_id(room)), Some("s1")).await.unwrap();
    assert_eq!(s1, [key(room, "s1", 3, false)]);
    assert_eq!(store.backup_keys(&alice, version, Some(&room_id(room)), None).await.unwrap().len(), 2);
    assert_eq!(store.backup_keys(&alice, version, None, None).await.unwrap().len(), 3);
    assert_eq!(store.put_backup_keys(&alice, 99, &[key(room, "s9", 0, false)]).await.unwrap(), None);
    let (_, count) =
        store.delete_backup_keys(&alice, version, Some(&room_id(room)), Some("s2")).await.unwrap().unwrap();
    assert_eq!(count, 2);
    let (_, count) =
        store.delete_backup_keys(&alice, version, Some(&room_id(other)), None).await.unwrap().unwrap();
    assert_eq!(count, 1);
    let (_, count) = store.delete_backup_keys(&alice, version, None, None).await.unwrap().unwrap();
    assert_eq!(count, 0);
    assert!(store.delete_backup_version(&alice, version).await.unwrap());
    assert_eq!(store.delete_backup_keys(&alice, version, None, None).await.unwrap(), None);
}

pub(crate) async fn replacement_rule_in_order(_fixture: Fixture) {
    let json = |verified: bool, index: u64, forwarded: u64| {
        format!(r#"{{"is_verified":{verified},"first_message_index":{index},"forwarded_count":{forwarded}}}"#)
    };
    assert!(backup_key_replaces(&json(false, 0, 0), &json(true, 9, 9)), "verified beats unverified");
    assert!(!backup_key_replaces(&json(true, 9, 9), &json(false, 0, 0)));
    assert!(backup_key_replaces(&json(true, 5, 0), &json(true, 4, 9)), "lower index wins");
    assert!(backup_key_replaces(&json(true, 5, 3), &json(true, 5, 2)), "then fewer forwards");
    assert!(!backup_key_replaces(&json(true, 5, 3), &json(true, 5, 3)));
}
