//! Checks of [`crate::storage::DeviceStore`]: devices, their tokens and refresh rules.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::Fixture;
use super::samples::{device_id, hash, new_device, tokens, user_id};
use crate::storage::{DeviceStore, DeviceTokens, TokenHash};

const ALICE: &str = "@alice:example.org";

/// Whether `token` currently authenticates, as access and as refresh token.
async fn token_state(devices: &dyn DeviceStore, token: TokenHash) -> (bool, bool) {
    (
        devices.find_access_token(&token).await.unwrap().is_some(),
        devices.find_refresh_token(&token).await.unwrap().is_some(),
    )
}

pub(crate) async fn upsert_creates_device(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    devices.upsert_device(&new_device(ALICE, "PHONE", Some("Phone"), 5_000), &tokens(1)).await.unwrap();
    let device = devices.get_device(&user_id(ALICE), &device_id("PHONE")).await.unwrap().expect("created");
    assert_eq!(device.user_id, ALICE);
    assert_eq!(device.device_id, "PHONE");
    assert_eq!(device.display_name.as_deref(), Some("Phone"));
    assert_eq!(device.created_at_ms, 5_000);
    assert_eq!(device.last_seen_ip.as_deref(), Some("192.0.2.1"), "the login is the first activity");
    assert_eq!(device.last_seen_ts_ms, Some(5_000));

    let mut unnamed = new_device(ALICE, "LAPTOP", None, 6_000);
    unnamed.ip = None;
    devices.upsert_device(&unnamed, &tokens(2)).await.unwrap();
    let device = devices.get_device(&user_id(ALICE), &device_id("LAPTOP")).await.unwrap().unwrap();
    assert_eq!(device.display_name, None);
    assert_eq!(device.last_seen_ip, None);
    assert_eq!(device.created_at_ms, 6_000);
}

pub(crate) async fn upsert_existing_keeps_name_unless_some(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", Some("Phone"), 5_000), &tokens(1)).await.unwrap();
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 7_000), &tokens(2)).await.unwrap();
    let device = devices.get_device(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(device.display_name.as_deref(), Some("Phone"), "None keeps the name");
    assert_eq!(device.created_at_ms, 5_000, "the device is kept, not recreated");
    assert_eq!(device.last_seen_ts_ms, Some(7_000), "a login is activity");
    let mut from_elsewhere = new_device(ALICE, "PHONE", None, 7_500);
    from_elsewhere.ip = Some("198.51.100.9".to_owned());
    devices.upsert_device(&from_elsewhere, &tokens(2)).await.unwrap();
    let device = devices.get_device(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(device.last_seen_ip.as_deref(), Some("198.51.100.9"));
    from_elsewhere.ip = None;
    devices.upsert_device(&from_elsewhere, &tokens(2)).await.unwrap();
    let device = devices.get_device(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(device.last_seen_ip.as_deref(), Some("198.51.100.9"), "no IP keeps the last one");
    devices.upsert_device(&new_device(ALICE, "PHONE", Some("New"), 8_000), &tokens(3)).await.unwrap();
    let device = devices.get_device(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(device.display_name.as_deref(), Some("New"));
    assert_eq!(device.created_at_ms, 5_000);
    assert_eq!(devices.list_devices(&alice).await.unwrap().len(), 1);
}

pub(crate) async fn upsert_replaces_tokens(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    // Leave a "previous" refresh token behind, which the upsert must also drop.
    assert!(
        devices.refresh_tokens(&alice, &phone, &tokens(1).refresh_token.unwrap(), &tokens(2)).await.unwrap()
    );
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 2), &tokens(3)).await.unwrap();
    for old in [tokens(1), tokens(2)] {
        assert_eq!(token_state(devices.as_ref(), old.access_token).await, (false, false));
        assert_eq!(token_state(devices.as_ref(), old.refresh_token.unwrap()).await, (false, false));
    }
    let owner = devices.find_access_token(&tokens(3).access_token).await.unwrap().expect("new token works");
    assert!(!owner.has_previous_refresh_token);
    assert!(devices.find_refresh_token(&tokens(3).refresh_token.unwrap()).await.unwrap().is_some());

    // New tokens without a refresh token drop the old refresh token.
    let access_only =
        DeviceTokens { access_token: hash(500), access_expires_at_ms: Some(99), refresh_token: None };
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 3), &access_only).await.unwrap();
    assert_eq!(token_state(devices.as_ref(), tokens(3).refresh_token.unwrap()).await, (false, false));
    assert_eq!(token_state(devices.as_ref(), tokens(3).access_token).await, (false, false));
    let owner = devices.find_access_token(&hash(500)).await.unwrap().unwrap();
    assert_eq!(owner.expires_at_ms, Some(99));
}

pub(crate) async fn get_unknown_device(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    assert_eq!(devices.get_device(&user_id(ALICE), &device_id("OTHER")).await.unwrap(), None);
    assert_eq!(devices.get_device(&user_id("@bob:example.org"), &device_id("PHONE")).await.unwrap(), None);
}

pub(crate) async fn list_devices_ordered_per_user(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let mut seed = 0;
    for (user, device) in [
        (ALICE, "CCC"),
        (ALICE, "AAA"),
        ("@alice:example.org2", "ZZZ"),
        ("@alic:example.org", "YYY"),
        (ALICE, "BBB"),
        ("@bob:example.org", "AAA"),
    ] {
        seed += 1;
        devices.upsert_device(&new_device(user, device, None, 1), &tokens(seed)).await.unwrap();
    }
    let listed: Vec<String> = devices
        .list_devices(&user_id(ALICE))
        .await
        .unwrap()
        .into_iter()
        .map(|device| device.device_id.to_string())
        .collect();
    assert_eq!(listed, ["AAA", "BBB", "CCC"]);
    assert!(devices.list_devices(&user_id("@nobody:example.org")).await.unwrap().is_empty());
    let bob = devices.list_devices(&user_id("@bob:example.org")).await.unwrap();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].user_id, "@bob:example.org");
}

pub(crate) async fn set_device_display_name(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", Some("Phone"), 1), &tokens(1)).await.unwrap();
    assert!(devices.set_device_display_name(&alice, &phone, Some("Renamed")).await.unwrap());
    assert_eq!(
        devices.get_device(&alice, &phone).await.unwrap().unwrap().display_name.as_deref(),
        Some("Renamed")
    );
    assert!(devices.set_device_display_name(&alice, &phone, None).await.unwrap());
    assert_eq!(devices.get_device(&alice, &phone).await.unwrap().unwrap().display_name, None);
    assert!(!devices.set_device_display_name(&alice, &device_id("OTHER"), Some("x")).await.unwrap());
    assert_eq!(devices.get_device(&alice, &device_id("OTHER")).await.unwrap(), None);
    assert!(
        devices.find_access_token(&tokens(1).access_token).await.unwrap().is_some(),
        "tokens are untouched"
    );
}

pub(crate) async fn touch_device(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", Some("Phone"), 1_000), &tokens(1)).await.unwrap();
    devices.touch_device(&alice, &phone, "198.51.100.7", 9_000).await.unwrap();
    let device = devices.get_device(&alice, &phone).await.unwrap().unwrap();
    assert_eq!(device.last_seen_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(device.last_seen_ts_ms, Some(9_000));
    assert_eq!(device.created_at_ms, 1_000);
    assert_eq!(device.display_name.as_deref(), Some("Phone"));
    assert!(devices.find_access_token(&tokens(1).access_token).await.unwrap().is_some());

    devices.touch_device(&alice, &device_id("GHOST"), "198.51.100.7", 9_000).await.unwrap();
    assert_eq!(devices.get_device(&alice, &device_id("GHOST")).await.unwrap(), None, "touch never creates");
}

pub(crate) async fn delete_device_removes_tokens(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    devices.upsert_device(&new_device(ALICE, "LAPTOP", None, 1), &tokens(2)).await.unwrap();
    assert!(
        devices.refresh_tokens(&alice, &phone, &tokens(1).refresh_token.unwrap(), &tokens(3)).await.unwrap()
    );
    assert!(devices.delete_device(&alice, &phone).await.unwrap());
    assert_eq!(devices.get_device(&alice, &phone).await.unwrap(), None);
    for gone in [tokens(1), tokens(3)] {
        assert_eq!(token_state(devices.as_ref(), gone.access_token).await, (false, false));
        assert_eq!(token_state(devices.as_ref(), gone.refresh_token.unwrap()).await, (false, false));
    }
    assert!(!devices.delete_device(&alice, &phone).await.unwrap(), "already gone");
    assert!(
        devices.find_access_token(&tokens(2).access_token).await.unwrap().is_some(),
        "other devices stay"
    );
    // The ID can be used again, as a new device.
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 7), &tokens(4)).await.unwrap();
    assert_eq!(devices.get_device(&alice, &phone).await.unwrap().unwrap().created_at_ms, 7);
}

pub(crate) async fn delete_devices_except(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let alice = user_id(ALICE);
    for (seed, device) in [(1, "AAA"), (2, "BBB"), (3, "CCC")] {
        devices.upsert_device(&new_device(ALICE, device, None, 1), &tokens(seed)).await.unwrap();
    }
    devices.upsert_device(&new_device("@bob:example.org", "AAA", None, 1), &tokens(4)).await.unwrap();

    let mut deleted = devices.delete_devices_except(&alice, Some(&device_id("BBB"))).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, [device_id("AAA"), device_id("CCC")]);
    let left: Vec<_> =
        devices.list_devices(&alice).await.unwrap().into_iter().map(|device| device.device_id).collect();
    assert_eq!(left, [device_id("BBB")]);
    for gone in [tokens(1), tokens(3)] {
        assert_eq!(token_state(devices.as_ref(), gone.access_token).await, (false, false));
        assert_eq!(token_state(devices.as_ref(), gone.refresh_token.unwrap()).await, (false, false));
    }
    assert!(devices.find_access_token(&tokens(2).access_token).await.unwrap().is_some());

    // Keeping a device that does not exist deletes them all; so does keeping none.
    assert_eq!(
        devices.delete_devices_except(&alice, Some(&device_id("NONE"))).await.unwrap(),
        [device_id("BBB")]
    );
    assert!(devices.list_devices(&alice).await.unwrap().is_empty());
    assert!(devices.delete_devices_except(&alice, None).await.unwrap().is_empty());
    let bob = user_id("@bob:example.org");
    assert_eq!(devices.delete_devices_except(&bob, None).await.unwrap(), [device_id("AAA")]);
    assert_eq!(token_state(devices.as_ref(), tokens(4).access_token).await, (false, false));
}

pub(crate) async fn find_access_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let expiring =
        DeviceTokens { access_token: hash(1), access_expires_at_ms: Some(60_000), refresh_token: None };
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &expiring).await.unwrap();
    let owner = devices.find_access_token(&hash(1)).await.unwrap().expect("found");
    assert_eq!(owner.user_id, ALICE);
    assert_eq!(owner.device_id, "PHONE");
    assert_eq!(owner.expires_at_ms, Some(60_000));
    assert_eq!(owner.token, hash(1));
    assert!(!owner.has_previous_refresh_token);
    assert_eq!(devices.find_access_token(&hash(2)).await.unwrap(), None);
    assert_eq!(
        devices.find_refresh_token(&hash(1)).await.unwrap(),
        None,
        "an access token is no refresh token"
    );
}

pub(crate) async fn find_refresh_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    let refresh = tokens(1).refresh_token.unwrap();
    let owner = devices.find_refresh_token(&refresh).await.unwrap().expect("found");
    assert_eq!(owner.user_id, ALICE);
    assert_eq!(owner.device_id, "PHONE");
    assert_eq!(owner.token, refresh);
    assert_eq!(devices.find_refresh_token(&hash(9_999)).await.unwrap(), None);
    assert_eq!(
        devices.find_access_token(&refresh).await.unwrap(),
        None,
        "a refresh token is no access token"
    );
}

pub(crate) async fn refresh_with_current_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    let used = tokens(1).refresh_token.unwrap();
    assert!(devices.refresh_tokens(&alice, &phone, &used, &tokens(2)).await.unwrap());

    assert_eq!(
        token_state(devices.as_ref(), tokens(1).access_token).await,
        (false, false),
        "old access token stops"
    );
    let owner =
        devices.find_access_token(&tokens(2).access_token).await.unwrap().expect("new access token works");
    assert!(owner.has_previous_refresh_token);
    assert!(devices.find_refresh_token(&tokens(2).refresh_token.unwrap()).await.unwrap().is_some());
    let previous =
        devices.find_refresh_token(&used).await.unwrap().expect("the used token is still accepted");
    assert_eq!(previous.device_id, "PHONE");
    assert_eq!(previous.token, used);
}

pub(crate) async fn refresh_with_previous_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    let first = tokens(1).refresh_token.unwrap();
    assert!(devices.refresh_tokens(&alice, &phone, &first, &tokens(2)).await.unwrap());
    // The client lost the response and retries with the first refresh token.
    assert!(devices.refresh_tokens(&alice, &phone, &first, &tokens(3)).await.unwrap());
    assert_eq!(token_state(devices.as_ref(), tokens(2).access_token).await, (false, false));
    assert_eq!(token_state(devices.as_ref(), tokens(2).refresh_token.unwrap()).await, (false, false));
    assert!(
        devices.find_access_token(&tokens(3).access_token).await.unwrap().unwrap().has_previous_refresh_token
    );
    assert!(devices.find_refresh_token(&tokens(3).refresh_token.unwrap()).await.unwrap().is_some());
    assert!(devices.find_refresh_token(&first).await.unwrap().is_some(), "previous stays as is");
    // The newest token refreshes normally and becomes the previous one.
    assert!(
        devices.refresh_tokens(&alice, &phone, &tokens(3).refresh_token.unwrap(), &tokens(4)).await.unwrap()
    );
    assert_eq!(devices.find_refresh_token(&first).await.unwrap(), None, "the older previous token is gone");
    assert!(!devices.refresh_tokens(&alice, &phone, &first, &tokens(5)).await.unwrap());
    assert!(devices.find_refresh_token(&tokens(3).refresh_token.unwrap()).await.unwrap().is_some());
}

pub(crate) async fn refresh_with_unknown_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    assert!(!devices.refresh_tokens(&alice, &phone, &hash(9_999), &tokens(2)).await.unwrap());
    assert!(
        !devices.refresh_tokens(&alice, &phone, &tokens(1).access_token, &tokens(2)).await.unwrap(),
        "an access token cannot refresh"
    );
    assert!(
        !devices
            .refresh_tokens(&alice, &device_id("GHOST"), &tokens(1).refresh_token.unwrap(), &tokens(2))
            .await
            .unwrap(),
        "unknown device"
    );
    assert_eq!(
        token_state(devices.as_ref(), tokens(2).access_token).await,
        (false, false),
        "nothing changed"
    );
    let owner =
        devices.find_access_token(&tokens(1).access_token).await.unwrap().expect("old tokens still work");
    assert!(!owner.has_previous_refresh_token);
    assert!(devices.find_refresh_token(&tokens(1).refresh_token.unwrap()).await.unwrap().is_some());
}

pub(crate) async fn refresh_wrong_device(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let alice = user_id(ALICE);
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    devices.upsert_device(&new_device(ALICE, "LAPTOP", None, 1), &tokens(2)).await.unwrap();
    devices.upsert_device(&new_device("@bob:example.org", "PHONE", None, 1), &tokens(3)).await.unwrap();
    let phone_refresh = tokens(1).refresh_token.unwrap();
    assert!(!devices.refresh_tokens(&alice, &device_id("LAPTOP"), &phone_refresh, &tokens(4)).await.unwrap());
    let bob = user_id("@bob:example.org");
    assert!(!devices.refresh_tokens(&bob, &device_id("PHONE"), &phone_refresh, &tokens(4)).await.unwrap());
    assert!(devices.find_access_token(&tokens(2).access_token).await.unwrap().is_some());
    assert!(devices.find_access_token(&tokens(3).access_token).await.unwrap().is_some());
    assert_eq!(devices.find_access_token(&tokens(4).access_token).await.unwrap(), None);
}

pub(crate) async fn retire_previous_refresh_token(fixture: Fixture) {
    let devices = &fixture.stores.devices;
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    let first = tokens(1).refresh_token.unwrap();
    assert!(devices.refresh_tokens(&alice, &phone, &first, &tokens(2)).await.unwrap());
    devices.retire_previous_refresh_token(&alice, &phone).await.unwrap();
    assert_eq!(devices.find_refresh_token(&first).await.unwrap(), None);
    assert!(
        !devices.refresh_tokens(&alice, &phone, &first, &tokens(3)).await.unwrap(),
        "a retired token cannot refresh"
    );
    let owner = devices
        .find_access_token(&tokens(2).access_token)
        .await
        .unwrap()
        .expect("current tokens keep working");
    assert!(!owner.has_previous_refresh_token);
    assert!(devices.find_refresh_token(&tokens(2).refresh_token.unwrap()).await.unwrap().is_some());
    // Retiring again, or on a device without one or an unknown device, is harmless.
    devices.retire_previous_refresh_token(&alice, &phone).await.unwrap();
    devices.retire_previous_refresh_token(&alice, &device_id("GHOST")).await.unwrap();
    assert!(devices.find_refresh_token(&tokens(2).refresh_token.unwrap()).await.unwrap().is_some());
}

pub(crate) async fn concurrent_refresh_same_token(fixture: Fixture) {
    const CALLERS: u16 = 10;
    let devices = Arc::clone(&fixture.stores.devices);
    let (alice, phone) = (user_id(ALICE), device_id("PHONE"));
    devices.upsert_device(&new_device(ALICE, "PHONE", None, 1), &tokens(1)).await.unwrap();
    let used = tokens(1).refresh_token.unwrap();
    let mut callers = JoinSet::new();
    for caller in 0..CALLERS {
        let (devices, alice, phone) = (Arc::clone(&devices), alice.clone(), phone.clone());
        callers.spawn(async move {
            devices.refresh_tokens(&alice, &phone, &used, &tokens(100 + caller)).await.unwrap()
        });
    }
    while let Some(result) = callers.join_next().await {
        // The first makes `used` the previous token; the rest refresh with the previous one.
        assert!(result.unwrap(), "every retry with the same token is accepted");
    }
    // Exactly one caller's tokens won; the others' never authenticate.
    let mut live_access = 0;
    let mut live_refresh = 0;
    for caller in 0..CALLERS {
        let (access, _) = token_state(devices.as_ref(), tokens(100 + caller).access_token).await;
        let (_, refresh) = token_state(devices.as_ref(), tokens(100 + caller).refresh_token.unwrap()).await;
        live_access += usize::from(access);
        live_refresh += usize::from(refresh);
    }
    assert_eq!((live_access, live_refresh), (1, 1));
    assert!(devices.find_refresh_token(&used).await.unwrap().is_some(), "the used token is the previous one");
    assert_eq!(token_state(devices.as_ref(), tokens(1).access_token).await, (false, false));
}
