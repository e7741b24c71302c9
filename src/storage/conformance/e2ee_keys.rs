//! Checks of [`crate::storage::E2eeKeyStore`]: device, one-time, fallback and
//! cross-signing keys, signatures, and the atomic claim.

use std::collections::{BTreeMap, HashSet};

use super::Fixture;
use super::samples::{device_id, user_id};
use crate::storage::{CrossSigningKind, KeySignature, OneTimeKeyRecord};

const ALICE: &str = "@alice:example.org";

fn otk(id: &str) -> OneTimeKeyRecord {
    OneTimeKeyRecord { key_id: format!("signed_curve25519:{id}"), json: format!(r#"{{"key":"{id}"}}"#) }
}

pub(crate) async fn device_keys_per_device(fixture: Fixture) {
    let keys = &fixture.stores.e2ee_keys;
    let (alice, bob) = (user_id(ALICE), user_id("@bob:example.org"));
    let (phone, laptop) = (device_id("PHONE"), device_id("LAPTOP"));
    assert_eq!(keys.get_device_keys(&alice, &phone).await.unwrap(), None);
    keys.put_device_keys(&alice, &phone, r#"{"v":1}"#).await.unwrap();
    keys.put_device_keys(&alice, &laptop, r#"{"v":2}"#).await.unwrap();
    keys.put_device_keys(&alice, &phone, r#"{"v":3}"#).await.unwrap();
    keys.put_device_keys(&bob, &phone, r#"{"bob":1}"#).await.unwrap();
    assert_eq!(keys.get_device_keys(&alice, &phone).await.unwrap().as_deref(), Some(r#"{"v":3}"#));
    let listed = keys.list_device_keys(&alice).await.unwrap();
    assert_eq!(listed, [(laptop.clone(), r#"{"v":2}"#.to_owned()), (phone.clone(), r#"{"v":3}"#.to_owned())]);
    keys.delete_device_e2ee(&alice, &phone).await.unwrap();
    assert_eq!(keys.list_device_keys(&alice).await.unwrap().len(), 1);
    assert_eq!(keys.list_device_keys(&bob).await.unwrap().len(), 1, "other users keep theirs");
}

pub(crate) async fn one_time_keys_claim_oldest_first(fixture: Fixture) {
    let keys = &fixture.stores.e2ee_keys;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    assert!(keys.add_one_time_keys(&alice, &phone, &[otk("c"), otk("a")]).await.unwrap().is_empty());
    let other = OneTimeKeyRecord { key_id: "curve25519:x".to_owned(), json: r#""x""#.to_owned() };
    assert!(keys.add_one_time_keys(&alice, &phone, &[otk("b"), other]).await.unwrap().is_empty());
    // The same key again is harmless; the same ID with other content is refused whole.
    assert!(keys.add_one_time_keys(&alice, &phone, &[otk("a")]).await.unwrap().is_empty());
    let changed = OneTimeKeyRecord { key_id: otk("a").key_id, json: "{}".to_owned() };
    let conflicts = keys.add_one_time_keys(&alice, &phone, &[otk("d"), changed]).await.unwrap();
    assert_eq!(conflicts, [otk("a").key_id]);
    let counts = keys.one_time_key_counts(&alice, &phone).await.unwrap();
    assert_eq!(counts, BTreeMap::from([("curve25519".to_owned(), 1), ("signed_curve25519".to_owned(), 3)]));
    let mut claimed = Vec::new();
    while let Some(key) = keys.claim_one_time_key(&alice, &phone, "signed_curve25519").await.unwrap() {
        claimed.push(key);
    }
    assert_eq!(claimed, [otk("c"), otk("a"), otk("b")], "oldest first, in upload order");
    assert_eq!(keys.one_time_key_counts(&alice, &phone).await.unwrap().get("signed_curve25519"), None);
    assert_eq!(keys.claim_one_time_key(&alice, &device_id("NOPE"), "signed_curve25519").await.unwrap(), None);
    // A claimed key's ID can be uploaded again (clients never do, but nothing breaks).
    assert!(keys.add_one_time_keys(&alice, &phone, &[otk("e")]).await.unwrap().is_empty());
    assert_eq!(keys.claim_one_time_key(&alice, &phone, "signed_curve25519").await.unwrap(), Some(otk("e")));
}

pub(crate) async fn concurrent_claims_hand_out_each_key_once(fixture: Fixture) {
    let keys = fixture.stores.e2ee_keys.clone();
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    let uploaded: Vec<OneTimeKeyRecord> = (0..10).map(|i| otk(&format!("k{i}"))).collect();
    keys.add_one_time_keys(&alice, &phone, &uploaded).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (keys, alice, phone) = (keys.clone(), alice.clone(), phone.clone());
            tokio::spawn(async move {
                keys.claim_one_time_key(&alice, &phone, "signed_curve25519").await.unwrap()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        if let Some(key) = task.await.unwrap() {
            assert!(seen.insert(key.key_id.clone()), "{} handed out twice", key.key_id);
        }
    }
    assert_eq!(seen.len(), 10);
}

pub(crate) async fn fallback_keys_marked_used(fixture: Fixture) {
    let keys = &fixture.stores.e2ee_keys;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    assert_eq!(keys.claim_fallback_key(&alice, &phone, "signed_curve25519").await.unwrap(), None);
    keys.put_fallback_key(&alice, &phone, &otk("f1")).await.unwrap();
    assert_eq!(keys.unused_fallback_key_algorithms(&alice, &phone).await.unwrap(), ["signed_curve25519"]);
    for _ in 0..2 {
        let claimed = keys.claim_fallback_key(&alice, &phone, "signed_curve25519").await.unwrap();
        assert_eq!(claimed, Some(otk("f1")), "the fallback key stays until replaced");
    }
    assert!(keys.unused_fallback_key_algorithms(&alice, &phone).await.unwrap().is_empty());
    keys.put_fallback_key(&alice, &phone, &otk("f1")).await.unwrap();
    assert!(
        keys.unused_fallback_key_algorithms(&alice, &phone).await.unwrap().is_empty(),
        "same key stays used"
    );
    keys.put_fallback_key(&alice, &phone, &otk("f2")).await.unwrap();
    assert_eq!(keys.unused_fallback_key_algorithms(&alice, &phone).await.unwrap(), ["signed_curve25519"]);
    assert_eq!(keys.claim_fallback_key(&alice, &phone, "signed_curve25519").await.unwrap(), Some(otk("f2")));
    keys.delete_device_e2ee(&alice, &phone).await.unwrap();
    assert_eq!(keys.claim_fallback_key(&alice, &phone, "signed_curve25519").await.unwrap(), None);
}

pub(crate) async fn cross_signing_keys_and_signatures(fixture: Fixture) {
    let keys = &fixture.stores.e2ee_keys;
    let (alice, bob) = (user_id(ALICE), user_id("@bob:example.org"));
    assert_eq!(keys.get_cross_signing_key(&alice, CrossSigningKind::Master).await.unwrap(), None);
    keys.put_cross_signing_key(&alice, CrossSigningKind::Master, r#"{"m":1}"#).await.unwrap();
    keys.put_cross_signing_key(&alice, CrossSigningKind::SelfSigning, r#"{"s":1}"#).await.unwrap();
    keys.put_cross_signing_key(&alice, CrossSigningKind::Master, r#"{"m":2}"#).await.unwrap();
    assert_eq!(
        keys.get_cross_signing_key(&alice, CrossSigningKind::Master).await.unwrap().as_deref(),
        Some(r#"{"m":2}"#)
    );
    assert_eq!(keys.get_cross_signing_key(&alice, CrossSigningKind::UserSigning).await.unwrap(), None);
    assert_eq!(keys.get_cross_signing_key(&bob, CrossSigningKind::Master).await.unwrap(), None);
    let signature = |target: &str, signer: &str, value: &str| KeySignature {
        target_key_id: target.to_owned(),
        signer: user_id(signer),
        signer_key_id: "ed25519:SIGNER".to_owned(),
        signature: value.to_owned(),
    };
    keys.add_key_signatures(
        &alice,
        &[signature("PHONE", ALICE, "s1"), signature("MASTERPUB", "@bob:example.org", "s2")],
    )
    .await
    .unwrap();
    keys.add_key_signatures(&alice, &[signature("PHONE", ALICE, "s3")]).await.unwrap();
    let stored = keys.key_signatures(&alice).await.unwrap();
    assert_eq!(stored, [signature("MASTERPUB", "@bob:example.org", "s2"), signature("PHONE", ALICE, "s3")]);
    assert!(keys.key_signatures(&bob).await.unwrap().is_empty());
    keys.delete_device_e2ee(&alice, &device_id("PHONE")).await.unwrap();
    assert_eq!(
        keys.key_signatures(&alice).await.unwrap(),
        [signature("MASTERPUB", "@bob:example.org", "s2")]
    );
}

pub(crate) async fn dehydrated_device_replaced_and_deleted(fixture: Fixture) {
    let keys = &fixture.stores.e2ee_keys;
    let (alice, bob) = (user_id(ALICE), user_id("@bob:example.org"));
    assert_eq!(keys.get_dehydrated_device(&alice).await.unwrap(), None);
    assert_eq!(keys.put_dehydrated_device(&alice, &device_id("D1"), r#"{"d":1}"#).await.unwrap(), None);
    let previous = keys.put_dehydrated_device(&alice, &device_id("D2"), r#"{"d":2}"#).await.unwrap();
    assert_eq!(previous, Some(device_id("D1")));
    assert_eq!(
        keys.get_dehydrated_device(&alice).await.unwrap(),
        Some((device_id("D2"), r#"{"d":2}"#.to_owned()))
    );
    assert_eq!(keys.get_dehydrated_device(&bob).await.unwrap(), None);
    assert_eq!(keys.delete_dehydrated_device(&alice).await.unwrap(), Some(device_id("D2")));
    assert_eq!(keys.delete_dehydrated_device(&alice).await.unwrap(), None);
    assert_eq!(keys.get_dehydrated_device(&alice).await.unwrap(), None);
}
