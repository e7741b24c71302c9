//! A user's push rules as stored — their own rules plus what they changed of the
//! server-default rules — and the merge into the ruleset clients see. Defaults are
//! never stored, so a server with newer defaults serves them to every user at once.

use std::collections::BTreeMap;

use ruma::UserId;
use ruma::push::{
    Action, ConditionalPushRule, NewPushRule, PatternedPushRule, RuleKind, Ruleset, SimplePushRule,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::PushError;

/// The kinds a global ruleset has, in the order clients list them.
pub const KINDS: [&str; 5] = ["override", "content", "room", "sender", "underride"];

/// What is stored per user (as the `m.push_rules` global account data, in this form).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredRules {
    /// The user's own rules, most important first within each kind.
    #[serde(default)]
    user: Ruleset,
    /// What the user changed of server-default rules: kind → rule ID → change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    defaults: BTreeMap<String, BTreeMap<String, DefaultChange>>,
}

/// A user's change to one server-default rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DefaultChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actions: Option<Vec<Action>>,
}

impl StoredRules {
    /// Reads the stored form; `None` (nothing stored) is the server defaults alone.
    pub fn parse(stored: Option<&str>) -> Result<Self, PushError> {
        match stored {
            None => Ok(StoredRules::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| PushError::Corrupt(e.to_string())),
        }
    }

    /// The stored form as text.
    pub fn to_text(&self) -> Result<String, PushError> {
        serde_json::to_string(self).map_err(|e| PushError::Corrupt(e.to_string()))
    }

    /// The whole ruleset: the server defaults with the user's changes, the user's rules
    /// before the defaults of their kind (`.m.rule.master` stays first).
    pub fn merged(&self, user_id: &UserId) -> Ruleset {
        let mut defaults = Ruleset::server_default(user_id);
        for (kind, changes) in &self.defaults {
            for (rule_id, change) in changes {
                let kind = RuleKind::from(kind.as_str());
                // A default that no longer exists keeps its change for nothing.
                if let Some(enabled) = change.enabled {
                    let _ = defaults.set_enabled(kind.clone(), rule_id, enabled);
                }
                if let Some(actions) = &change.actions {
                    let _ = defaults.set_actions(kind, rule_id, actions.clone());
                }
            }
        }
        let mut merged = self.user.clone();
        merged.update_with_server_default(defaults);
        merged
    }

    /// Creates or replaces one of the user's rules, placed by `before` / `after`
    /// (user rules of the same kind). A replaced rule keeps its `enabled` and, unless
    /// placed, its position; a new rule is the most important user rule of its kind.
    pub fn put_rule(
        &mut self,
        rule: NewPushRule,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<(), PushError> {
        let rule_id = rule.rule_id().to_owned();
        if rule_id.starts_with('.') {
            return Err(PushError::ServerDefaultRuleId);
        }
        if rule_id.is_empty() || rule_id.contains(['/', '\\']) {
            return Err(PushError::InvalidRuleId);
        }
        if before.into_iter().chain(after).any(|id| id.starts_with('.')) {
            return Err(PushError::RelativeToServerDefault);
        }
        let place = Placement { before, after };
        match rule {
            NewPushRule::Override(r) => place.apply(&mut self.user.override_, ConditionalPushRule::from(r)),
            NewPushRule::Underride(r) => place.apply(&mut self.user.underride, ConditionalPushRule::from(r)),
            NewPushRule::Content(r) => place.apply(&mut self.user.content, PatternedPushRule::from(r)),
            NewPushRule::Room(r) => place.apply(&mut self.user.room, SimplePushRule::from(r)),
            NewPushRule::Sender(r) => place.apply(&mut self.user.sender, SimplePushRule::from(r)),
            _ => Err(PushError::UnknownKind),
        }
    }

    /// Deletes one of the user's rules; server-default rules cannot be deleted.
    pub fn delete_rule(&mut self, user_id: &UserId, kind: &RuleKind, rule_id: &str) -> Result<(), PushError> {
        let kind = known_kind(kind)?;
        if rule_id.starts_with('.') {
            return match Ruleset::server_default(user_id).get(kind.clone(), rule_id) {
                Some(_) => Err(PushError::DeleteServerDefault),
                None => Err(PushError::NotFound),
            };
        }
        self.user.remove(kind.clone(), rule_id).map_err(|_| PushError::NotFound)
    }

    /// Enables or disables a rule, the user's own or a server default.
    pub fn set_enabled(
        &mut self,
        user_id: &UserId,
        kind: &RuleKind,
        rule_id: &str,
        enabled: bool,
    ) -> Result<(), PushError> {
        let kind = known_kind(kind)?;
        if self.user.set_enabled(kind.clone(), rule_id, enabled).is_ok() {
            return Ok(());
        }
        self.default_change(user_id, kind, rule_id)?.enabled = Some(enabled);
        Ok(())
    }

    /// Replaces a rule's actions, the user's own or a server default's.
    pub fn set_actions(
        &mut self,
        user_id: &UserId,
        kind: &RuleKind,
        rule_id: &str,
        actions: Vec<Action>,
    ) -> Result<(), PushError> {
        let kind = known_kind(kind)?;
        if self.user.set_actions(kind.clone(), rule_id, actions.clone()).is_ok() {
            return Ok(());
        }
        self.default_change(user_id, kind, rule_id)?.actions = Some(actions);
        Ok(())
    }

    /// The change record of a server-default rule that exists.
    fn default_change(
        &mut self,
        user_id: &UserId,
        kind: &RuleKind,
        rule_id: &str,
    ) -> Result<&mut DefaultChange, PushError> {
        if Ruleset::server_default(user_id).get(kind.clone(), rule_id).is_none() {
            return Err(PushError::NotFound);
        }
        Ok(self.defaults.entry(kind.to_string()).or_default().entry(rule_id.to_owned()).or_default())
    }
}

/// The kinds this server keeps; anything else is refused.
pub fn known_kind(kind: &RuleKind) -> Result<&RuleKind, PushError> {
    if KINDS.contains(&kind.as_str()) { Ok(kind) } else { Err(PushError::UnknownKind) }
}

/// The ruleset as clients see it: `{"global": {kind: [rule…]}}`, every kind present
/// (the serialized `Ruleset` leaves empty kinds out; clients expect the arrays).
pub fn client_content(ruleset: &Ruleset) -> Value {
    let mut global = serde_json::to_value(ruleset).unwrap_or_else(|_| json!({}));
    if let Some(map) = global.as_object_mut() {
        for kind in KINDS {
            map.entry(kind).or_insert_with(|| json!([]));
        }
    }
    json!({ "global": global })
}

/// One rule of a client-format ruleset (from [`client_content`]).
pub fn find_rule<'a>(content: &'a Value, kind: &RuleKind, rule_id: &str) -> Option<&'a Value> {
    content
        .get("global")?
        .get(kind.as_str())?
        .as_array()?
        .iter()
        .find(|rule| rule.get("rule_id").and_then(Value::as_str) == Some(rule_id))
}

/// Where a put rule goes among the user's rules of its kind.
struct Placement<'a> {
    before: Option<&'a str>,
    after: Option<&'a str>,
}

/// What placement needs of a rule type.
trait UserRule: Clone {
    fn id(&self) -> &str;
    fn enabled(&self) -> bool;
    fn set_enabled(&mut self, enabled: bool);
}

macro_rules! user_rule {
    ($($ty:ty),*) => {$(
        impl UserRule for $ty {
            fn id(&self) -> &str { self.rule_id.as_ref() }
            fn enabled(&self) -> bool { self.enabled }
            fn set_enabled(&mut self, enabled: bool) { self.enabled = enabled }
        }
    )*};
}
user_rule!(
    ConditionalPushRule,
    PatternedPushRule,
    SimplePushRule<ruma::OwnedRoomId>,
    SimplePushRule<ruma::OwnedUserId>
);

impl Placement<'_> {
    /// Puts `rule` into `set` (an ordered set keyed by rule ID). Nothing changes on error.
    fn apply<T, S>(&self, set: &mut S, mut rule: T) -> Result<(), PushError>
    where
        T: UserRule,
        S: Clone + IntoIterator<Item = T> + FromIterator<T>,
    {
        let mut rules: Vec<T> = set.clone().into_iter().collect();
        let existing = rules.iter().position(|r| r.id() == rule.id());
        if let Some(old) = existing.map(|at| rules.remove(at)) {
            rule.set_enabled(old.enabled());
        }
        let position_of = |id: &str| {
            rules
                .iter()
                .position(|r| r.id() == id)
                .ok_or_else(|| PushError::UnknownRelativeRule(id.to_owned()))
        };
        // With both, `before` decides: the rule becomes the next most important
        // after it (the spec's wording).
        let at = match (self.before, self.after) {
            (Some(before), _) => position_of(before)?,
            (None, Some(after)) => position_of(after)? + 1,
            (None, None) => existing.unwrap_or(0),
        };
        rules.insert(at.min(rules.len()), rule);
        *set = rules.into_iter().collect();
        Ok(())
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
