//! Checks of [`crate::storage::ProfileStore`].

use super::Fixture;
use super::samples::user_id;
use crate::storage::Profile;

pub(crate) async fn empty_profile(fixture: Fixture) {
    let profiles = &fixture.stores.profiles;
    assert_eq!(profiles.get_profile(&user_id("@nobody:example.org")).await.unwrap(), Profile::default());
}

pub(crate) async fn set_and_clear_profile_fields(fixture: Fixture) {
    let profiles = &fixture.stores.profiles;
    let (alice, bob) = (user_id("@alice:example.org"), user_id("@bob:example.org"));
    profiles.set_displayname(&alice, Some("Alice")).await.unwrap();
    assert_eq!(
        profiles.get_profile(&alice).await.unwrap(),
        Profile { displayname: Some("Alice".to_owned()), avatar_url: None }
    );
    profiles.set_avatar_url(&alice, Some("mxc://example.org/abc")).await.unwrap();
    profiles.set_displayname(&alice, Some("Alice 🦊")).await.unwrap();
    let both = Profile {
        displayname: Some("Alice 🦊".to_owned()),
        avatar_url: Some("mxc://example.org/abc".to_owned()),
    };
    assert_eq!(profiles.get_profile(&alice).await.unwrap(), both, "setting one field keeps the other");
    assert_eq!(profiles.get_profile(&bob).await.unwrap(), Profile::default(), "profiles are per user");

    profiles.set_displayname(&alice, None).await.unwrap();
    assert_eq!(
        profiles.get_profile(&alice).await.unwrap(),
        Profile { displayname: None, avatar_url: Some("mxc://example.org/abc".to_owned()) }
    );
    profiles.set_avatar_url(&alice, None).await.unwrap();
    assert_eq!(profiles.get_profile(&alice).await.unwrap(), Profile::default());
    // Clearing what was never set is harmless.
    profiles.set_avatar_url(&bob, None).await.unwrap();
    assert_eq!(profiles.get_profile(&bob).await.unwrap(), Profile::default());
}
