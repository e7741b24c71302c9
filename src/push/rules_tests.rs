//! Unit tests of the stored push rules and their merge with the server defaults.

use ruma::push::{Action, NewConditionalPushRule, NewPatternedPushRule, NewPushRule, RuleKind};
use ruma::user_id;

use super::*;

fn content_rule(id: &str) -> NewPushRule {
    NewPushRule::Content(NewPatternedPushRule::new(id.to_owned(), "cake".to_owned(), vec![Action::Notify]))
}

fn ids(stored: &StoredRules, kind: &str) -> Vec<String> {
    let content = client_content(&stored.merged(user_id!("@a:x")));
    content["global"][kind]
        .as_array()
        .map(|rules| rules.iter().filter_map(|r| r["rule_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn defaults_follow_the_spec_and_every_kind_is_listed() {
    let stored = StoredRules::default();
    let override_ids = ids(&stored, "override");
    assert_eq!(override_ids.first().map(String::as_str), Some(".m.rule.master"));
    for id in [".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.suppress_notices"] {
        assert!(override_ids.iter().any(|i| i == id), "{id} missing");
    }
    assert!(ids(&stored, "underride").iter().any(|i| i == ".m.rule.message"));
    for kind in KINDS {
        let content = client_content(&stored.merged(user_id!("@a:x")));
        assert!(content["global"][kind].is_array(), "{kind}");
    }
}

#[test]
fn placement_before_after_and_replacement() {
    let mut stored = StoredRules::default();
    stored.put_rule(content_rule("a"), None, None).unwrap();
    stored.put_rule(content_rule("b"), None, None).unwrap();
    assert_eq!(ids(&stored, "content"), ["b", "a"]);
    stored.put_rule(content_rule("c"), None, Some("a")).unwrap();
    assert_eq!(ids(&stored, "content"), ["b", "a", "c"]);
    stored.put_rule(content_rule("d"), Some("a"), None).unwrap();
    assert_eq!(ids(&stored, "content"), ["b", "d", "a", "c"]);
    // Moving the first rule after the last one must not run off the end.
    stored.put_rule(content_rule("b"), None, Some("c")).unwrap();
    assert_eq!(ids(&stored, "content"), ["d", "a", "c", "b"]);
    // Replacing without placement keeps the position and the enabled flag.
    stored.set_enabled(user_id!("@a:x"), &RuleKind::Content, "a", false).unwrap();
    stored.put_rule(content_rule("a"), None, None).unwrap();
    assert_eq!(ids(&stored, "content"), ["d", "a", "c", "b"]);
    let content = client_content(&stored.merged(user_id!("@a:x")));
    assert_eq!(content["global"]["content"][1]["enabled"], false);
    assert!(matches!(
        stored.put_rule(content_rule("e"), Some("nope"), None),
        Err(PushError::UnknownRelativeRule(_))
    ));
    assert!(matches!(
        stored.put_rule(content_rule("a"), None, Some("a")),
        Err(PushError::UnknownRelativeRule(_))
    ));
}

#[test]
fn user_override_rules_come_after_master_and_before_other_defaults() {
    let mut stored = StoredRules::default();
    let rule = NewPushRule::Override(NewConditionalPushRule::new("mine".to_owned(), vec![], vec![]));
    stored.put_rule(rule, None, None).unwrap();
    let override_ids = ids(&stored, "override");
    assert_eq!(override_ids.get(..2), Some(&[".m.rule.master".to_owned(), "mine".to_owned()][..]));
}

#[test]
fn server_default_rules_are_changed_not_created_or_deleted() {
    let user = user_id!("@a:x");
    let mut stored = StoredRules::default();
    assert!(matches!(
        stored.put_rule(content_rule(".m.rule.x"), None, None),
        Err(PushError::ServerDefaultRuleId)
    ));
    assert!(matches!(stored.put_rule(content_rule("a/b"), None, None), Err(PushError::InvalidRuleId)));
    assert!(matches!(
        stored.put_rule(content_rule("a"), Some(".m.rule.master"), None),
        Err(PushError::RelativeToServerDefault)
    ));
    assert!(matches!(
        stored.delete_rule(user, &RuleKind::Override, ".m.rule.master"),
        Err(PushError::DeleteServerDefault)
    ));
    assert!(matches!(stored.delete_rule(user, &RuleKind::Override, "nope"), Err(PushError::NotFound)));
    stored.set_enabled(user, &RuleKind::Override, ".m.rule.master", true).unwrap();
    stored.set_actions(user, &RuleKind::Underride, ".m.rule.message", vec![]).unwrap();
    assert!(matches!(
        stored.set_enabled(user, &RuleKind::Content, ".m.rule.master", true),
        Err(PushError::NotFound)
    ));
    // The changes survive a round trip through the stored text.
    let stored = StoredRules::parse(Some(&stored.to_text().unwrap())).unwrap();
    let content = client_content(&stored.merged(user));
    let master = find_rule(&content, &RuleKind::Override, ".m.rule.master").unwrap();
    assert_eq!(master["enabled"], true);
    let message = find_rule(&content, &RuleKind::Underride, ".m.rule.message").unwrap();
    assert_eq!(message["actions"], serde_json::json!([]));
}
