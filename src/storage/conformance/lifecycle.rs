//! Checks of [`crate::storage::StoreLifecycle`] and of the store as a whole: flush,
//! durability across a restart, and refusal of a newer schema.

use super::Fixture;
use super::samples::{new_device, room_id, tokens, uia_session, user, user_id};
use crate::storage::{Error, Position, SCHEMA_VERSION};

pub(crate) async fn flush_succeeds(fixture: Fixture) {
    let stores = &fixture.stores;
    stores.lifecycle.flush().await.unwrap();
    assert!(stores.accounts.create_user(&user("@alice:example.org")).await.unwrap());
    stores.lifecycle.flush().await.unwrap();
    stores.lifecycle.flush().await.unwrap();
    assert!(stores.accounts.get_user(&user_id("@alice:example.org")).await.unwrap().is_some());
}

pub(crate) async fn data_survives_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let (alice, room) = (user("@alice:example.org"), room_id("!room:example.org"));
    assert!(stores.accounts.create_user(&alice).await.unwrap());
    assert!(stores.accounts.use_registration_token("token", Some(5)).await.unwrap());
    stores
        .devices
        .upsert_device(&new_device("@alice:example.org", "PHONE", Some("Phone"), 1), &tokens(1))
        .await
        .unwrap();
    stores.profiles.set_displayname(&alice.user_id, Some("Alice")).await.unwrap();
    stores
        .account_data
        .put_account_data(&alice.user_id, Some(&room), "m.tag", "{}", Position(4))
        .await
        .unwrap();
    stores.filters.put_filter(&alice.user_id, "f", "{}").await.unwrap();
    stores.uia.put_uia_session(&uia_session("sess", 10_000)).await.unwrap();
    // No flush: every completed write must already be durable.
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    assert_eq!(stores.accounts.get_user(&alice.user_id).await.unwrap(), Some(alice.clone()));
    assert_eq!(stores.accounts.registration_token_uses("token").await.unwrap(), 1);
    let owner =
        stores.devices.find_access_token(&tokens(1).access_token).await.unwrap().expect("token survives");
    assert_eq!(owner.device_id, "PHONE");
    assert!(stores.devices.find_refresh_token(&tokens(1).refresh_token.unwrap()).await.unwrap().is_some());
    assert_eq!(
        stores.profiles.get_profile(&alice.user_id).await.unwrap().displayname.as_deref(),
        Some("Alice")
    );
    assert_eq!(
        stores.account_data.get_account_data(&alice.user_id, Some(&room), "m.tag").await.unwrap().as_deref(),
        Some("{}")
    );
    let changes = stores
        .account_data
        .account_data_changes(&alice.user_id, Position(0), Position(10), 10)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(stores.filters.get_filter(&alice.user_id, "f").await.unwrap().as_deref(), Some("{}"));
    assert!(stores.uia.get_uia_session("sess", 0).await.unwrap().is_some());
    assert_eq!(
        stores.uia.purge_expired_uia_sessions(20_000, 10).await.unwrap(),
        1,
        "the expiry index survives too"
    );
}

pub(crate) async fn schema_too_new_is_refused(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    assert!(stores.accounts.create_user(&user("@alice:example.org")).await.unwrap());
    drop(stores);

    restart.set_schema_version(SCHEMA_VERSION + 1).await.unwrap();
    match restart.reopen().await {
        Err(Error::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(other) => panic!("expected SchemaTooNew, got {other:?}"),
        Ok(_) => panic!("a store with a newer schema was opened"),
    }
    // The refusal left the data alone: with the version back, it opens as before.
    restart.set_schema_version(SCHEMA_VERSION).await.unwrap();
    let stores = restart.reopen().await.unwrap();
    assert!(stores.accounts.get_user(&user_id("@alice:example.org")).await.unwrap().is_some());
}

pub(crate) async fn backend_name_is_known(fixture: Fixture) {
    let name = fixture.stores.lifecycle.backend_name();
    assert!(["fjall", "rocksdb", "postgres"].contains(&name), "unexpected backend name {name}");
}
