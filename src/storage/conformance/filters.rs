//! Checks of [`crate::storage::FilterStore`].

use super::Fixture;
use super::samples::user_id;

pub(crate) async fn put_and_get_filter(fixture: Fixture) {
    let filters = &fixture.stores.filters;
    let (alice, bob) = (user_id("@alice:example.org"), user_id("@bob:example.org"));
    let filter = r#"{"room":{"timeline":{"limit":10}}}"#;
    filters.put_filter(&alice, "f1", filter).await.unwrap();
    assert_eq!(filters.get_filter(&alice, "f1").await.unwrap().as_deref(), Some(filter));
    assert_eq!(filters.get_filter(&alice, "f2").await.unwrap(), None);
    assert_eq!(filters.get_filter(&bob, "f1").await.unwrap(), None, "filters are per user");
    filters.put_filter(&bob, "f1", "{}").await.unwrap();
    assert_eq!(filters.get_filter(&bob, "f1").await.unwrap().as_deref(), Some("{}"));
    assert_eq!(filters.get_filter(&alice, "f1").await.unwrap().as_deref(), Some(filter));
}

pub(crate) async fn put_filter_again_is_harmless(fixture: Fixture) {
    let filters = &fixture.stores.filters;
    let alice = user_id("@alice:example.org");
    let filter = r#"{"presence":{"not_types":["*"]}}"#;
    filters.put_filter(&alice, "abc", filter).await.unwrap();
    filters.put_filter(&alice, "abc", filter).await.unwrap();
    assert_eq!(filters.get_filter(&alice, "abc").await.unwrap().as_deref(), Some(filter));
}
