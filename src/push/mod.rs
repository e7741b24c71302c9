//! Push notifications. Today: each user's push rules (`rules.rs`), stored as the
//! user's `m.push_rules` global account data, so every change advances the
//! AccountData stream and reaches `/sync` like any account data. (Evaluating the
//! rules, counts and pushers come later.)

pub mod rules;

use std::sync::Arc;

use ruma::UserId;
use ruma::push::{Action, NewPushRule, RuleKind};
use serde_json::Value;

use crate::accounts::{Accounts, AccountsError, Requester};
use rules::StoredRules;

/// The account-data type the rules are kept (and served) under.
pub const PUSH_RULES_TYPE: &str = "m.push_rules";
/// Changes of different users run in parallel; one user's changes run one at a time
/// (each reads, changes and writes the whole stored form). Striped: bounded memory.
const LOCK_STRIPES: usize = 64;

/// Why a push-rule operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("rule IDs starting with a dot are reserved for server-default rules")]
    ServerDefaultRuleId,
    #[error("rule IDs may not be empty or contain slashes or backslashes")]
    InvalidRuleId,
    #[error("rules cannot be placed relative to server-default rules")]
    RelativeToServerDefault,
    #[error("before/after rule not found: {0}")]
    UnknownRelativeRule(String),
    #[error("server-default rules cannot be deleted")]
    DeleteServerDefault,
    #[error("unknown push rule kind")]
    UnknownKind,
    #[error("the push rule was not found")]
    NotFound,
    #[error("stored push rules are unreadable: {0}")]
    Corrupt(String),
    #[error("no lock stripe for the user")]
    NoStripe,
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

/// The push-rules service: reads merge the stored form with the server defaults;
/// changes are stored through account data (stream position + wake-up).
#[derive(Clone)]
pub struct PushRules {
    accounts: Accounts,
    stripes: Arc<[tokio::sync::Mutex<()>]>,
}

impl PushRules {
    /// The service over the accounts domain, which stores the rules as account data.
    pub fn new(accounts: Accounts) -> Self {
        let stripes = (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        PushRules { accounts, stripes }
    }

    /// The whole ruleset in the client format (`{"global": {…}}`).
    pub async fn ruleset(&self, requester: &Requester) -> Result<Value, PushError> {
        let stored = self.stored(requester).await?;
        Ok(rules::client_content(&stored.merged(&requester.user_id)))
    }

    /// One rule in the client format.
    pub async fn rule(
        &self,
        requester: &Requester,
        kind: &RuleKind,
        rule_id: &str,
    ) -> Result<Value, PushError> {
        rules::known_kind(kind)?;
        let content = self.ruleset(requester).await?;
        rules::find_rule(&content, kind, rule_id).cloned().ok_or(PushError::NotFound)
    }

    /// Creates or replaces one of the requester's rules.
    pub async fn put_rule(
        &self,
        requester: &Requester,
        rule: NewPushRule,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<(), PushError> {
        self.change(requester, |stored, _| stored.put_rule(rule, before, after)).await
    }

    /// Deletes one of the requester's rules.
    pub async fn delete_rule(
        &self,
        requester: &Requester,
        kind: &RuleKind,
        rule_id: &str,
    ) -> Result<(), PushError> {
        self.change(requester, |stored, user| stored.delete_rule(user, kind, rule_id)).await
    }

    /// Enables or disables a rule (server defaults too).
    pub async fn set_enabled(
        &self,
        requester: &Requester,
        kind: &RuleKind,
        rule_id: &str,
        enabled: bool,
    ) -> Result<(), PushError> {
        self.change(requester, |stored, user| stored.set_enabled(user, kind, rule_id, enabled)).await
    }

    /// Replaces a rule's actions (server defaults too).
    pub async fn set_actions(
        &self,
        requester: &Requester,
        kind: &RuleKind,
        rule_id: &str,
        actions: Vec<Action>,
    ) -> Result<(), PushError> {
        self.change(requester, |stored, user| stored.set_actions(user, kind, rule_id, actions)).await
    }

    async fn stored(&self, requester: &Requester) -> Result<StoredRules, PushError> {
        let user = &requester.user_id;
        match self.accounts.account_data(requester, user, None, PUSH_RULES_TYPE).await {
            Ok(text) => StoredRules::parse(Some(&text)),
            Err(AccountsError::AccountDataNotFound) => Ok(StoredRules::default()),
            Err(other) => Err(other.into()),
        }
    }

    /// Reads, changes and writes the requester's stored rules, one change per user
    /// at a time; nothing is written when `apply` refuses.
    async fn change<F>(&self, requester: &Requester, apply: F) -> Result<(), PushError>
    where
        F: FnOnce(&mut StoredRules, &UserId) -> Result<(), PushError>,
    {
        let stripe = self.stripes.get(stripe_of(&requester.user_id)).ok_or(PushError::NoStripe)?;
        let _turn = stripe.lock().await;
        let mut stored = self.stored(requester).await?;
        apply(&mut stored, &requester.user_id)?;
        let Value::Object(content) =
            serde_json::to_value(&stored).map_err(|e| PushError::Corrupt(e.to_string()))?
        else {
            return Err(PushError::Corrupt("stored rules are not an object".to_owned()));
        };
        self.accounts.store_account_data(&requester.user_id, None, PUSH_RULES_TYPE, &content).await?;
        Ok(())
    }
}

/// The lock stripe a user's changes take.
fn stripe_of(user_id: &UserId) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    user_id.hash(&mut hasher);
    usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or(0)
}

/// The `m.push_rules` content clients see, from what is stored for the user (`None`:
/// nothing stored). Unreadable stored rules are logged and served as the defaults.
pub fn client_content(user_id: &UserId, stored: Option<&str>) -> Value {
    let stored = StoredRules::parse(stored).unwrap_or_else(|error| {
        tracing::error!(%user_id, %error, "stored push rules are unreadable; serving the defaults");
        StoredRules::default()
    });
    rules::client_content(&stored.merged(user_id))
}
