//! Races against a real server: the read-modify-write methods must stay correct when many
//! pooled connections call them at once (skipped without `STOA_TEST_POSTGRES_URL`).

use std::collections::HashSet;
use std::sync::Arc;

use ruma::{OwnedDeviceId, OwnedUserId, user_id};

use super::PostgresStore;
use super::test_database::{TestDatabase, fresh_test_database};
use crate::storage::{
    AccountStore, DeviceStore, DeviceTokens, NewDevice, StreamId, StreamStore, TokenHash, UserRecord,
};

const CALLERS: usize = 24;

async fn open() -> Option<(TestDatabase, Arc<PostgresStore>)> {
    let database = fresh_test_database().await?;
    let store = PostgresStore::connect(&database.url, 8).await.expect("connect");
    Some((database, store))
}

/// Runs `call(i)` for every caller at once on the multi-threaded runtime.
async fn all_at_once<T, F, Fut>(call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..CALLERS).map(|i| tokio::spawn(call(i))).collect();
    let mut results = Vec::with_capacity(CALLERS);
    for task in tasks {
        results.push(task.await.expect("task panicked"));
    }
    results
}

fn token(seed: u8, n: usize) -> TokenHash {
    let mut bytes = [seed; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
    TokenHash(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_token_limit_holds_under_concurrent_use() {
    let Some((_database, store)) = open().await else { return };
    let results = all_at_once(|_| {
        let store = store.clone();
        async move { store.use_registration_token("tok", Some(5)).await.expect("use") }
    })
    .await;
    assert_eq!(results.iter().filter(|counted| **counted).count(), 5);
    assert_eq!(store.registration_token_uses("tok").await.expect("uses"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_concurrent_create_user_wins() {
    let Some((_database, store)) = open().await else { return };
    let results = all_at_once(|i| {
        let store = store.clone();
        async move {
            let user = UserRecord {
                user_id: user_id!("@race:example.org").to_owned(),
                password_hash: Some(format!("hash-{i}")),
                is_admin: false,
                is_guest: false,
                deactivated: false,
                created_at_ms: 1,
            };
            store.create_user(&user).await.expect("create")
        }
    })
    .await;
    assert_eq!(results.iter().filter(|created| **created).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_are_distinct_and_survive_a_reconnect() {
    let Some((database, store)) = open().await else { return };
    let results = all_at_once(|_| {
        let store = store.clone();
        async move { store.reserve_position(StreamId::Events).await.expect("reserve").0 }
    })
    .await;
    let distinct: HashSet<u64> = results.iter().copied().collect();
    assert_eq!(distinct.len(), CALLERS);
    let highest = results.iter().copied().max().unwrap_or_default();
    assert_eq!(store.max_reserved_position(StreamId::Events).await.expect("max").0, highest);
    assert_eq!(store.max_reserved_position(StreamId::Typing).await.expect("max").0, 0);
    store.close().await;

    let reopened = PostgresStore::connect(&database.url, 2).await.expect("reconnect");
    assert_eq!(reopened.max_reserved_position(StreamId::Events).await.expect("max").0, highest);
    assert!(reopened.reserve_position(StreamId::Events).await.expect("reserve").0 > highest);
}

async fn login(store: &PostgresStore, user: &OwnedUserId, device: usize, refresh: Option<TokenHash>) {
    let new_device = NewDevice {
        user_id: user.clone(),
        device_id: OwnedDeviceId::from(format!("D{device:02}")),
        display_name: None,
        ip: None,
        now_ms: 1,
    };
    let tokens =
        DeviceTokens { access_token: token(1, device), access_expires_at_ms: None, refresh_token: refresh };
    store.upsert_device(&new_device, &tokens).await.expect("upsert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_delete_devices_except_report_each_device_once() {
    let Some((_database, store)) = open().await else { return };
    let user = user_id!("@many:example.org").to_owned();
    for device in 0..CALLERS {
        login(&store, &user, device, None).await;
    }
    let results = all_at_once(|_| {
        let store = store.clone();
        let user = user.clone();
        async move {
            let keep = OwnedDeviceId::from("D00");
            store.delete_devices_except(&user, Some(&keep)).await.expect("delete")
        }
    })
    .await;
    let reported: Vec<OwnedDeviceId> = results.into_iter().flatten().collect();
    let distinct: HashSet<&OwnedDeviceId> = reported.iter().collect();
    assert_eq!(reported.len(), CALLERS - 1);
    assert_eq!(distinct.len(), CALLERS - 1);
    let left = store.list_devices(&user).await.expect("list");
    assert_eq!(left.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_one_token_all_leave_a_consistent_device() {
    let Some((_database, store)) = open().await else { return };
    let user = user_id!("@refresh:example.org").to_owned();
    let first_refresh = token(2, 0);
    login(&store, &user, 0, Some(first_refresh)).await;
    let results = all_at_once(|i| {
        let store = store.clone();
        let user = user.clone();
        async move {
            let new_tokens = DeviceTokens {
                access_token: token(3, i),
                access_expires_at_ms: Some(10),
                refresh_token: Some(token(4, i)),
            };
            let device = OwnedDeviceId::from("D00");
            store.refresh_tokens(&user, &device, &first_refresh, &new_tokens).await.expect("refresh")
        }
    })
    .await;
    // The used token stays accepted as "previous", so every retry succeeds…
    assert!(results.iter().all(|accepted| *accepted));
    // …and the device ends up with exactly one of the new sets, the old token as previous.
    let owner = store.find_refresh_token(&first_refresh).await.expect("find").expect("still accepted");
    assert_eq!(owner.token, first_refresh);
    let winners: Vec<_> = {
        let mut found = Vec::new();
        for i in 0..CALLERS {
            if let Some(owner) = store.find_access_token(&token(3, i)).await.expect("find") {
                assert!(owner.has_previous_refresh_token);
                found.push(i);
            }
        }
        found
    };
    assert_eq!(winners.len(), 1);
}
