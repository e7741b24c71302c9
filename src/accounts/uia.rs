//! User-interactive authentication: flows of stages, sessions that remember completed
//! stages between requests, and the 401 challenge clients continue from.

use ruma::UserId;
use ruma::api::client::uiaa::{AuthData, UserIdentifier};
use serde_json::{Map, Value, json};

use super::{Accounts, AccountsError, localpart, now_ms, tokens};
use crate::storage::UiaSession;

/// One authentication stage this server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Dummy,
    Password,
    RegistrationToken,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dummy => "m.login.dummy",
            Stage::Password => "m.login.password",
            Stage::RegistrationToken => "m.login.registration_token",
        }
    }
}

/// Why the stage just attempted failed (the errcode is chosen in the API layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageFailure {
    /// Wrong password, invalid registration token, identity mismatch.
    Forbidden,
    /// The auth dict named a stage that is not in any flow.
    UnsupportedStage,
}

/// The body of a 401 response: flows, params, session, completed stages, and the
/// failure of the stage just attempted, if any.
#[derive(Debug, Clone)]
pub struct UiaChallenge {
    pub body: Map<String, Value>,
    pub stage_error: Option<(StageFailure, String)>,
}

/// What an endpoint demands before it acts.
pub struct UiaRequirement<'a> {
    /// Binds a session to one operation (and user), e.g. `delete_device:@a:hs:DEV`.
    pub purpose: String,
    pub flows: Vec<Vec<Stage>>,
    /// The user whose password the `m.login.password` stage must match.
    pub user: Option<&'a UserId>,
}

/// Results stages leave for the operation (e.g. the registration token used).
#[derive(Debug, Clone, Default)]
pub struct UiaOutcome {
    pub registration_token: Option<String>,
}

impl Accounts {
    /// Runs one step of UIA: returns the outcome once a flow is complete, or the
    /// challenge (as [`AccountsError::AuthRequired`]) for the client to continue.
    pub async fn run_uia(
        &self,
        requirement: &UiaRequirement<'_>,
        auth: Option<&AuthData>,
    ) -> Result<UiaOutcome, AccountsError> {
        let now = now_ms();
        let Some(auth) = auth else {
            let session = self.new_uia_session(requirement, now).await?;
            return Err(challenge(requirement, &session, None));
        };
        let mut session = match auth.session() {
            Some(id) => {
                let session = self.stores().uia.get_uia_session(id, now).await?;
                match session {
                    Some(session) if session.purpose == requirement.purpose => session,
                    _ => return Err(AccountsError::UnknownUiaSession),
                }
            }
            None => self.new_uia_session(requirement, now).await?,
        };
        if let Some(stage_type) = auth.auth_type() {
            let offered = requirement.flows.iter().flatten().find(|s| s.as_str() == stage_type.as_str());
            let Some(&stage) = offered else {
                let failure =
                    (StageFailure::UnsupportedStage, format!("stage {} is not offered", stage_type.as_str()));
                return Err(challenge(requirement, &session, Some(failure)));
            };
            if let Err(failure) = self.check_stage(stage, auth, requirement, &mut session).await? {
                return Err(challenge(requirement, &session, Some(failure)));
            }
            if !session.completed.iter().any(|s| s == stage.as_str()) {
                session.completed.push(stage.as_str().to_owned());
            }
        }
        let done = requirement
            .flows
            .iter()
            .any(|flow| flow.iter().all(|stage| session.completed.iter().any(|c| c == stage.as_str())));
        if !done {
            self.stores().uia.put_uia_session(&session).await?;
            return Err(challenge(requirement, &session, None));
        }
        self.stores().uia.delete_uia_session(&session.session_id).await?;
        let data: Value = serde_json::from_str(&session.data).unwrap_or(Value::Null);
        Ok(UiaOutcome {
            registration_token: data.get("registration_token").and_then(Value::as_str).map(str::to_owned),
        })
    }

    async fn new_uia_session(
        &self,
        requirement: &UiaRequirement<'_>,
        now: u64,
    ) -> Result<UiaSession, AccountsError> {
        let lifetime_ms = self.inner.registration.uia_session_lifetime_secs.saturating_mul(1000);
        let session = UiaSession {
            session_id: tokens::random_b64(18)?,
            purpose: requirement.purpose.clone(),
            completed: Vec::new(),
            data: "{}".to_owned(),
            expires_at_ms: now.saturating_add(lifetime_ms),
        };
        self.stores().uia.put_uia_session(&session).await?;
        Ok(session)
    }

    /// Checks one stage; `Ok(Err(_))` is a failed attempt the client may retry.
    async fn check_stage(
        &self,
        stage: Stage,
        auth: &AuthData,
        requirement: &UiaRequirement<'_>,
        session: &mut UiaSession,
    ) -> Result<Result<(), (StageFailure, String)>, AccountsError> {
        let forbidden = |why: &str| Ok(Err((StageFailure::Forbidden, why.to_owned())));
        match (stage, auth) {
            (Stage::Dummy, AuthData::Dummy(_)) => Ok(Ok(())),
            (Stage::RegistrationToken, AuthData::RegistrationToken(given)) => {
                if !self.registration_token_valid(&given.token).await? {
                    return forbidden("invalid registration token");
                }
                session.data = json!({ "registration_token": given.token }).to_string();
                Ok(Ok(()))
            }
            (Stage::Password, AuthData::Password(given)) => {
                let Some(expected) = requirement.user else {
                    return forbidden("no user to check the password of");
                };
                let named = match &given.identifier {
                    UserIdentifier::Matrix(id) => localpart::user_id_for_login(&id.user, self.server_name()),
                    _ => None,
                };
                if named.as_deref() != Some(expected) {
                    return forbidden("the identifier does not match the authenticated user");
                }
                if !self.password_matches(expected, &given.password).await? {
                    return forbidden("invalid password");
                }
                Ok(Ok(()))
            }
            _ => forbidden("malformed authentication stage"),
        }
    }

    /// Whether `token` is configured, unexpired and not used up.
    pub async fn registration_token_valid(&self, token: &str) -> Result<bool, AccountsError> {
        let Some(configured) = self.inner.registration.tokens.iter().find(|t| t.token == token) else {
            return Ok(false);
        };
        if configured.expires_at_ms != 0 && configured.expires_at_ms <= now_ms() {
            return Ok(false);
        }
        if configured.uses_allowed == 0 {
            return Ok(true);
        }
        let used = self.stores().accounts.registration_token_uses(token).await?;
        Ok(used < configured.uses_allowed)
    }
}

fn challenge(
    requirement: &UiaRequirement<'_>,
    session: &UiaSession,
    stage_error: Option<(StageFailure, String)>,
) -> AccountsError {
    let flows: Vec<Value> = requirement
        .flows
        .iter()
        .map(|flow| json!({ "stages": flow.iter().map(|s| s.as_str()).collect::<Vec<_>>() }))
        .collect();
    let mut body = Map::new();
    body.insert("flows".to_owned(), Value::Array(flows));
    body.insert("params".to_owned(), json!({}));
    body.insert("session".to_owned(), Value::String(session.session_id.clone()));
    if !session.completed.is_empty() {
        body.insert("completed".to_owned(), json!(session.completed));
    }
    AccountsError::AuthRequired(UiaChallenge { body, stage_error })
}
