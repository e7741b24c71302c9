//! Checks of [`crate::storage::AccountStore`]: users and registration-token counts.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::Fixture;
use super::samples::{user, user_id};

pub(crate) async fn create_user_then_get(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let mut alice = user("@alice:example.org");
    alice.is_admin = true;
    alice.is_guest = true;
    alice.created_at_ms = 1_234_567;
    assert!(accounts.create_user(&alice).await.unwrap());
    assert_eq!(accounts.get_user(&alice.user_id).await.unwrap(), Some(alice.clone()));

    let mut no_password = user("@bob:example.org");
    no_password.password_hash = None;
    assert!(accounts.create_user(&no_password).await.unwrap());
    assert_eq!(accounts.get_user(&no_password.user_id).await.unwrap(), Some(no_password));
}

pub(crate) async fn create_user_conflict(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let first = user("@alice:example.org");
    assert!(accounts.create_user(&first).await.unwrap());
    let mut second = user("@alice:example.org");
    second.password_hash = Some("other".to_owned());
    second.is_admin = true;
    assert!(!accounts.create_user(&second).await.unwrap(), "a taken ID must be refused");
    assert_eq!(
        accounts.get_user(&first.user_id).await.unwrap(),
        Some(first),
        "the first record is untouched"
    );
}

pub(crate) async fn deactivated_user_keeps_id(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let alice = user("@alice:example.org");
    assert!(accounts.create_user(&alice).await.unwrap());
    assert!(accounts.deactivate_user(&alice.user_id).await.unwrap());
    assert!(!accounts.create_user(&alice).await.unwrap(), "a deactivated user's ID is never reused");
    let stored = accounts.get_user(&alice.user_id).await.unwrap().expect("the record stays");
    assert!(stored.deactivated);
}

pub(crate) async fn get_unknown_user(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    assert_eq!(accounts.get_user(&user_id("@nobody:example.org")).await.unwrap(), None);
    assert!(accounts.create_user(&user("@alice:example.org")).await.unwrap());
    assert_eq!(accounts.get_user(&user_id("@alice:example.com")).await.unwrap(), None);
    assert_eq!(accounts.get_user(&user_id("@alic:example.org")).await.unwrap(), None);
}

pub(crate) async fn list_users_paging(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    // Byte order, not a locale's: punctuation and prefixes must sort by code point.
    let ids = [
        "@b:example.org",
        "@a:example.org",
        "@a.b:example.org",
        "@a_b:example.org",
        "@a:example.org2",
        "@_a:example.org",
        "@a-b:example.org",
        "@ab:example.org",
    ];
    for id in ids {
        assert!(accounts.create_user(&user(id)).await.unwrap());
    }
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    let listed = |users: Vec<crate::storage::UserRecord>| -> Vec<String> {
        users.into_iter().map(|user| user.user_id.to_string()).collect()
    };

    assert_eq!(listed(accounts.list_users(None, 100).await.unwrap()), expected);
    assert!(accounts.list_users(None, 0).await.unwrap().is_empty());

    // Page through three at a time.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = accounts.list_users(after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.user_id.clone());
        paged.extend(listed(page));
    }
    assert_eq!(paged, expected);

    // `after` need not exist; the listing is strictly after it.
    let after_missing = accounts.list_users(Some(&user_id("@a:example.org1")), 100).await.unwrap();
    let after_expected: Vec<String> =
        expected.iter().filter(|id| id.as_str() > "@a:example.org1").cloned().collect();
    assert_eq!(listed(after_missing), after_expected);
    let last = user_id(expected.last().unwrap());
    assert!(accounts.list_users(Some(&last), 10).await.unwrap().is_empty());
    // Deactivated users are still listed, with their state.
    assert!(accounts.deactivate_user(&user_id("@b:example.org")).await.unwrap());
    let all = accounts.list_users(None, 100).await.unwrap();
    assert!(all.iter().any(|user| user.user_id == "@b:example.org" && user.deactivated));
}

pub(crate) async fn set_password_hash(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let alice = user("@alice:example.org");
    assert!(accounts.create_user(&alice).await.unwrap());
    assert!(accounts.set_password_hash(&alice.user_id, Some("new-hash")).await.unwrap());
    let stored = accounts.get_user(&alice.user_id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("new-hash"));
    assert_eq!(stored.created_at_ms, alice.created_at_ms, "other fields are kept");
    assert!(accounts.set_password_hash(&alice.user_id, None).await.unwrap());
    assert_eq!(accounts.get_user(&alice.user_id).await.unwrap().unwrap().password_hash, None);
}

pub(crate) async fn set_admin(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let alice = user("@alice:example.org");
    assert!(accounts.create_user(&alice).await.unwrap());
    assert!(accounts.set_admin(&alice.user_id, true).await.unwrap());
    let stored = accounts.get_user(&alice.user_id).await.unwrap().unwrap();
    assert!(stored.is_admin);
    assert_eq!(stored.password_hash, alice.password_hash, "other fields are kept");
    assert!(accounts.set_admin(&alice.user_id, false).await.unwrap());
    assert!(!accounts.get_user(&alice.user_id).await.unwrap().unwrap().is_admin);
}

pub(crate) async fn deactivate_user(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let mut alice = user("@alice:example.org");
    alice.is_admin = true;
    assert!(accounts.create_user(&alice).await.unwrap());
    assert!(accounts.deactivate_user(&alice.user_id).await.unwrap());
    let stored = accounts.get_user(&alice.user_id).await.unwrap().unwrap();
    assert!(stored.deactivated);
    assert_eq!(stored.password_hash, None, "deactivation clears the password");
    assert!(stored.is_admin, "other fields are kept");
    assert!(
        accounts.deactivate_user(&alice.user_id).await.unwrap(),
        "deactivating again still finds the user"
    );
}

pub(crate) async fn unknown_user_updates_return_false(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    let nobody = user_id("@nobody:example.org");
    assert!(!accounts.set_password_hash(&nobody, Some("hash")).await.unwrap());
    assert!(!accounts.set_admin(&nobody, true).await.unwrap());
    assert!(!accounts.deactivate_user(&nobody).await.unwrap());
    assert_eq!(accounts.get_user(&nobody).await.unwrap(), None, "updates never create a user");
    assert!(accounts.list_users(None, 10).await.unwrap().is_empty());
}

pub(crate) async fn registration_token_counting(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    assert_eq!(accounts.registration_token_uses("token-a").await.unwrap(), 0);
    assert!(accounts.use_registration_token("token-a", Some(2)).await.unwrap());
    assert!(accounts.use_registration_token("token-a", Some(2)).await.unwrap());
    assert!(!accounts.use_registration_token("token-a", Some(2)).await.unwrap(), "the limit is reached");
    assert_eq!(accounts.registration_token_uses("token-a").await.unwrap(), 2, "a refused use is not counted");
    // A raised limit allows more uses; a lowered one none.
    assert!(accounts.use_registration_token("token-a", Some(3)).await.unwrap());
    assert!(!accounts.use_registration_token("token-a", Some(1)).await.unwrap());
    assert_eq!(accounts.registration_token_uses("token-a").await.unwrap(), 3);
    // Tokens count independently; a limit of zero allows nothing.
    assert!(!accounts.use_registration_token("token-b", Some(0)).await.unwrap());
    assert_eq!(accounts.registration_token_uses("token-b").await.unwrap(), 0);
    assert!(accounts.use_registration_token("token-b", Some(5)).await.unwrap());
    assert_eq!(accounts.registration_token_uses("token-b").await.unwrap(), 1);
    assert_eq!(accounts.registration_token_uses("token-a").await.unwrap(), 3);
}

pub(crate) async fn registration_token_concurrent_limit(fixture: Fixture) {
    const CALLERS: usize = 20;
    const LIMIT: u64 = 7;
    let accounts = Arc::clone(&fixture.stores.accounts);
    let mut callers = JoinSet::new();
    for _ in 0..CALLERS {
        let accounts = Arc::clone(&accounts);
        callers
            .spawn(async move { accounts.use_registration_token("contested", Some(LIMIT)).await.unwrap() });
    }
    let mut counted = 0;
    while let Some(result) = callers.join_next().await {
        if result.unwrap() {
            counted += 1;
        }
    }
    assert_eq!(counted, LIMIT, "exactly `limit` of {CALLERS} concurrent uses count");
    assert_eq!(accounts.registration_token_uses("contested").await.unwrap(), LIMIT);
}

pub(crate) async fn registration_token_unlimited(fixture: Fixture) {
    let accounts = &fixture.stores.accounts;
    for _ in 0..25 {
        assert!(accounts.use_registration_token("open", None).await.unwrap());
    }
    assert_eq!(accounts.registration_token_uses("open").await.unwrap(), 25);
}
