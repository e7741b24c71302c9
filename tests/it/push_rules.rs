//! Push rules: the spec's defaults, reading, creating, placing, changing and deleting
//! rules, the errors, and the `m.push_rules` account data in `/sync`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, enc};

fn rule_path(kind: &str, id: &str) -> String {
    format!("{V3}/pushrules/global/{kind}/{}", enc(id))
}

fn ids(ruleset: &Value, kind: &str) -> Vec<String> {
    ruleset[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} array in {ruleset}"))
        .iter()
        .map(|rule| rule["rule_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn user_ids(ruleset: &Value, kind: &str) -> Vec<String> {
    ids(ruleset, kind).into_iter().filter(|id| !id.starts_with('.')).collect()
}

/// The `m.push_rules` global account-data event of a sync answer, if any.
fn push_rules_event(sync: &Value) -> Option<Value> {
    sync["account_data"]["events"]
        .as_array()?
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .map(|event| event["content"].clone())
}

async fn defaults_follow_the_spec(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let all = s.get(&format!("{V3}/pushrules/"), alice.token()).await.ok().clone();
    let global = &all["global"];
    for kind in ["override", "content", "room", "sender", "underride"] {
        assert!(global[kind].is_array(), "{kind} missing: {all}");
    }
    let overrides = ids(global, "override");
    assert_eq!(overrides.first().map(String::as_str), Some(".m.rule.master"), "{all}");
    for id in [
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
        ".m.rule.is_user_mention",
        ".m.rule.is_room_mention",
        ".m.rule.tombstone",
        ".m.rule.reaction",
        ".m.rule.room.server_acl",
        ".m.rule.suppress_edits",
    ] {
        assert!(overrides.contains(&id.to_owned()), "{id} missing: {overrides:?}");
    }
    let underrides = ids(global, "underride");
    for id in [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ] {
        assert!(underrides.contains(&id.to_owned()), "{id} missing: {underrides:?}");
    }
    // Spec v1.17 removed the legacy mention rules (MSC4210).
    assert!(!overrides.contains(&".m.rule.contains_display_name".to_owned()));
    let master = &global["override"][0];
    assert_eq!(master["enabled"], false);
    assert_eq!(master["default"], true);
    // The user's own ID is in the mention and invite rules.
    let mention = s.get(&rule_path("override", ".m.rule.is_user_mention"), alice.token()).await.ok().clone();
    assert_eq!(mention["conditions"][0]["value"], json!(alice.user_id), "{mention}");
    // `/pushrules/global/` is the same ruleset; so is the account data.
    assert_eq!(s.get(&format!("{V3}/pushrules/global/"), alice.token()).await.ok(), global);
    let account_data = format!("{V3}/user/{}/account_data/m.push_rules", enc(&alice.user_id));
    assert_eq!(s.get(&account_data, alice.token()).await.ok(), &all);
}

async fn user_rules_are_created_placed_and_deleted(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let t = alice.token();
    let s = &s;
    let put = |id: &str, query: &str| {
        let path = format!("{}{query}", rule_path("content", id));
        let body = json!({ "pattern": format!("{id}*"), "actions": ["notify"] });
        async move { s.put(&path, t, body).await }
    };
    put("a", "").await.ok();
    put("b", "").await.ok();
    put("c", "?after=a").await.ok();
    put("d", "?before=a").await.ok();
    let global = s.get(&format!("{V3}/pushrules/global/"), t).await.ok().clone();
    assert_eq!(user_ids(&global, "content"), ["b", "d", "a", "c"], "{global}");
    // Moving the first rule to the end does not run off it.
    put("b", "?after=c").await.ok();
    let global = s.get(&format!("{V3}/pushrules/global/"), t).await.ok().clone();
    assert_eq!(user_ids(&global, "content"), ["d", "a", "c", "b"], "{global}");
    let rule = s.get(&rule_path("content", "a"), t).await.ok().clone();
    assert_eq!(
        rule,
        json!({ "rule_id": "a", "pattern": "a*", "actions": ["notify"], "enabled": true, "default": false })
    );
    // Override rules go after `.m.rule.master`, before the other defaults.
    let body =
        json!({ "conditions": [{ "kind": "event_match", "key": "type", "pattern": "m.x" }], "actions": [] });
    s.put(&rule_path("override", "mine"), t, body).await.ok();
    let global = s.get(&format!("{V3}/pushrules/global/"), t).await.ok().clone();
    assert_eq!(
        ids(&global, "override").get(..2),
        Some(&[".m.rule.master".to_owned(), "mine".to_owned()][..])
    );
    // Room and sender rules are keyed by the room or user.
    s.put(&rule_path("room", "!r:localhost"), t, json!({ "actions": [] })).await.ok();
    s.put(&rule_path("sender", "@spam:localhost"), t, json!({ "actions": [] })).await.ok();
    assert_eq!(s.get(&rule_path("room", "!r:localhost"), t).await.ok()["rule_id"], "!r:localhost");
    // Delete.
    assert_eq!(s.delete(&rule_path("content", "a"), t, None).await.ok(), &json!({}));
    s.get(&rule_path("content", "a"), t).await.err(404, "M_NOT_FOUND");
    s.delete(&rule_path("content", "a"), t, None).await.err(404, "M_NOT_FOUND");
    let global = s.get(&format!("{V3}/pushrules/global/"), t).await.ok().clone();
    assert_eq!(user_ids(&global, "content"), ["d", "c", "b"], "{global}");
}

async fn enabled_and_actions_change_user_and_default_rules(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let t = alice.token();
    let master = rule_path("override", ".m.rule.master");
    assert_eq!(s.get(&format!("{master}/enabled"), t).await.ok(), &json!({ "enabled": false }));
    s.put(&format!("{master}/enabled"), t, json!({ "enabled": true })).await.ok();
    assert_eq!(s.get(&format!("{master}/enabled"), t).await.ok(), &json!({ "enabled": true }));
    let message = rule_path("underride", ".m.rule.message");
    s.put(&format!("{message}/actions"), t, json!({ "actions": [] })).await.ok();
    assert_eq!(s.get(&format!("{message}/actions"), t).await.ok(), &json!({ "actions": [] }));
    let rule = s.get(&message, t).await.ok().clone();
    assert_eq!((rule["default"].clone(), rule["actions"].clone()), (json!(true), json!([])), "{rule}");
    // A user rule: disabled, then replaced (it stays disabled), its actions changed.
    let mine = rule_path("content", "cake");
    s.put(&mine, t, json!({ "pattern": "cake", "actions": ["notify"] })).await.ok();
    s.put(&format!("{mine}/enabled"), t, json!({ "enabled": false })).await.ok();
    s.put(&mine, t, json!({ "pattern": "pie", "actions": ["notify"] })).await.ok();
    let rule = s.get(&mine, t).await.ok().clone();
    assert_eq!((rule["enabled"].clone(), rule["pattern"].clone()), (json!(false), json!("pie")));
    let actions = json!(["notify", { "set_tweak": "sound", "value": "default" }]);
    s.put(&format!("{mine}/actions"), t, json!({ "actions": actions })).await.ok();
    assert_eq!(s.get(&format!("{mine}/actions"), t).await.ok(), &json!({ "actions": actions }));
    // Another user's rules are their own.
    let bob = s.register("bob", "pw").await;
    assert_eq!(s.get(&format!("{master}/enabled"), bob.token()).await.ok(), &json!({ "enabled": false }));
    s.get(&mine, bob.token()).await.err(404, "M_NOT_FOUND");
}

async fn bad_requests_get_the_spec_errors(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let t = alice.token();
    let body = json!({ "pattern": "x", "actions": ["notify"] });
    // Server-default rule IDs can be neither created nor deleted.
    s.put(&rule_path("content", ".m.rule.mine"), t, body.clone()).await.err(400, "M_INVALID_PARAM");
    let conditional = json!({ "conditions": [], "actions": [] });
    s.put(&rule_path("override", ".m.rule.master"), t, conditional.clone()).await.err(400, "M_INVALID_PARAM");
    s.delete(&rule_path("override", ".m.rule.master"), t, None).await.err(400, "M_INVALID_PARAM");
    s.delete(&rule_path("override", ".m.rule.nope"), t, None).await.err(404, "M_NOT_FOUND");
    s.put(&rule_path("content", "a\\b"), t, body.clone()).await.err(400, "M_INVALID_PARAM");
    // Placement relative to a default rule, or to a rule that does not exist.
    let path = format!("{}?before=.m.rule.master", rule_path("override", "x"));
    s.put(&path, t, conditional).await.err(400, "M_INVALID_PARAM");
    let path = format!("{}?after=nope", rule_path("content", "x"));
    s.put(&path, t, body.clone()).await.err(400, "M_UNKNOWN");
    s.get(&rule_path("content", "x"), t).await.err(404, "M_NOT_FOUND");
    // Unknown rules.
    for suffix in ["", "/enabled", "/actions"] {
        s.get(&format!("{}{suffix}", rule_path("content", "nope")), t).await.err(404, "M_NOT_FOUND");
        s.get(&format!("{}{suffix}", rule_path("override", ".m.rule.nope")), t).await.err(404, "M_NOT_FOUND");
    }
    s.put(&format!("{}/enabled", rule_path("content", "nope")), t, json!({ "enabled": true }))
        .await
        .err(404, "M_NOT_FOUND");
    s.put(&format!("{}/actions", rule_path("underride", "nope")), t, json!({ "actions": [] }))
        .await
        .err(404, "M_NOT_FOUND");
    // A default rule under the wrong kind does not exist.
    s.get(&rule_path("content", ".m.rule.master"), t).await.err(404, "M_NOT_FOUND");
    // Unknown kinds.
    s.get(&rule_path("cake", "x"), t).await.err(400, "M_INVALID_PARAM");
    s.delete(&rule_path("cake", "x"), t, None).await.err(400, "M_INVALID_PARAM");
    s.put(&format!("{}/enabled", rule_path("cake", "x")), t, json!({ "enabled": true }))
        .await
        .err(400, "M_INVALID_PARAM");
    s.put(&rule_path("cake", "x"), t, body.clone())
        .await
        .err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    // Bodies that do not fit the kind, and bodies that are not JSON.
    s.put(&rule_path("content", "x"), t, json!({ "actions": ["notify"] })).await.err(400, "M_BAD_JSON");
    s.put(&rule_path("content", "x"), t, json!({ "pattern": "x" })).await.err(400, "M_BAD_JSON");
    s.put(&format!("{}/enabled", rule_path("override", ".m.rule.master")), t, json!({ "enabled": "yes" }))
        .await
        .err(400, "M_BAD_JSON");
    s.put(&rule_path("room", "not-a-room"), t, json!({ "actions": [] }))
        .await
        .err_one_of(&[(400, "M_INVALID_PARAM"), (400, "M_BAD_JSON")]);
    s.raw(Method::PUT, &rule_path("content", "x"), t, Some(b"{\"pattern\":".to_vec()))
        .await
        .err(400, "M_NOT_JSON");
    s.get(&rule_path("content", "x"), t).await.err(404, "M_NOT_FOUND");
    // Only the global scope exists; no token, no rules.
    s.get(&format!("{V3}/pushrules/device/x/content/y"), t).await.err(404, "M_UNRECOGNIZED");
    s.get(&format!("{V3}/pushrules/"), None).await.err(401, "M_MISSING_TOKEN");
    s.put(&rule_path("content", "x"), None, body).await.err(401, "M_MISSING_TOKEN");
    s.get(&format!("{V3}/pushrules/"), Some("nope")).await.err(401, "M_UNKNOWN_TOKEN");
    // The account-data API cannot write them either.
    let account_data = format!("{V3}/user/{}/account_data/m.push_rules", enc(&alice.user_id));
    s.put(&account_data, t, json!({ "global": {} })).await.err(405, "M_BAD_JSON");
}

async fn changes_come_down_sync(b: Backend) {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let token = alice.access_token.clone();
    // An initial sync carries the defaults even when nothing was ever changed.
    let first = s.sync(&token, None, "").await;
    let content = push_rules_event(&first).unwrap_or_else(|| panic!("no m.push_rules in {first}"));
    assert_eq!(content["global"]["override"][0]["rule_id"], ".m.rule.master", "{content}");
    let since = first["next_batch"].as_str().unwrap_or_default().to_owned();
    // A waiting long-poll is woken by a change, and carries the merged ruleset.
    let started = Instant::now();
    let enabled = format!("{}/enabled", rule_path("override", ".m.rule.master"));
    let (sync, _) = tokio::join!(s.sync(&token, Some(&since), "timeout=20000"), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.put(&enabled, Some(&token), json!({ "enabled": true })).await.ok().clone()
    });
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "the long-poll was not woken: {elapsed:?}");
    let content = push_rules_event(&sync).unwrap_or_else(|| panic!("no m.push_rules in {sync}"));
    assert_eq!(content["global"]["override"][0]["enabled"], true, "{content}");
    assert!(content["global"]["underride"].as_array().is_some_and(|rules| rules.len() >= 5), "{content}");
    let since = sync["next_batch"].as_str().unwrap_or_default().to_owned();
    // Nothing new: no push rules in the next answer.
    let quiet = s.sync(&token, Some(&since), "timeout=0").await;
    assert!(push_rules_event(&quiet).is_none(), "{quiet}");
    // A new user rule shows up; so does its deletion.
    s.put(&rule_path("content", "cake"), Some(&token), json!({ "pattern": "cake", "actions": [] }))
        .await
        .ok();
    let sync = s.sync(&token, Some(&since), "timeout=0").await;
    let content = push_rules_event(&sync).unwrap_or_else(|| panic!("no m.push_rules in {sync}"));
    assert_eq!(user_ids(&content["global"], "content"), ["cake"]);
    let since = sync["next_batch"].as_str().unwrap_or_default().to_owned();
    s.delete(&rule_path("content", "cake"), Some(&token), None).await.ok();
    let sync = s.sync(&token, Some(&since), "timeout=0").await;
    let content = push_rules_event(&sync).unwrap_or_else(|| panic!("no m.push_rules in {sync}"));
    assert!(user_ids(&content["global"], "content").is_empty(), "{content}");
    // A fresh initial sync sees the current state, master still enabled.
    let again = s.sync(&token, None, "").await;
    let content = push_rules_event(&again).unwrap_or_else(|| panic!("no m.push_rules in {again}"));
    assert_eq!(content["global"]["override"][0]["enabled"], true, "{content}");
    // A filter that leaves account data out leaves the rules out.
    let filtered =
        s.sync(&token, None, "filter=%7B%22account_data%22%3A%7B%22not_types%22%3A%5B%22*%22%5D%7D%7D").await;
    assert!(push_rules_event(&filtered).is_none(), "{filtered}");
}

crate::per_backend!(
    defaults_follow_the_spec,
    user_rules_are_created_placed_and_deleted,
    enabled_and_actions_change_user_and_default_rules,
    bad_requests_get_the_spec_errors,
    changes_come_down_sync,
);
