//! The only place Matrix error codes are chosen: every failure, from the edge or from
//! a domain module, becomes an [`ApiError`] here and leaves as `{errcode, error}`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::accounts::{AccountsError, StageFailure};
use crate::e2ee::E2eeError;
use crate::rooms::RoomsError;
use crate::storage;
use crate::sync::filter::FilterError;

/// A Matrix error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errcode: &'static str,
    message: String,
    /// Extra top-level fields (`soft_logout`, `retry_after_ms`, UIA flows …).
    extra: Map<String, Value>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, errcode, message: message.into(), extra: Map::new(), retry_after_secs: None }
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn unrecognized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED", "method not allowed on this endpoint")
    }
    pub fn not_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_NOT_JSON", message)
    }
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_BAD_JSON", message)
    }
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_INVALID_PARAM", message)
    }
    pub fn missing_param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_MISSING_PARAM", message)
    }
    pub fn guest_access_forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN", "guest accounts may not do this")
    }
    pub fn missing_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN", "missing access token")
    }
    pub fn unknown_token(soft_logout: bool) -> Self {
        let error = Self::new(StatusCode::UNAUTHORIZED, "M_UNKNOWN_TOKEN", "unknown or expired access token");
        if soft_logout { error.with("soft_logout", Value::Bool(true)) } else { error }
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", format!("request body exceeds {limit} bytes"))
    }
    /// 400 for a token sent both in `Authorization` and as `?access_token=` (Synapse
    /// answers the same: which one was meant is unknowable).
    pub fn mixed_tokens() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_MISSING_TOKEN",
            "an access token was sent both in the Authorization header and the query string",
        )
    }
    /// 408 for a request body that did not arrive in time.
    pub fn body_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "M_UNKNOWN", "the request body did not arrive in time")
    }
    /// 400 for a request body the connection failed to deliver.
    pub fn body_unreadable() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", "the request body could not be read")
    }
    /// 414 for a request line over the listener's limit (the spec's "request too large").
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(StatusCode::URI_TOO_LONG, "M_TOO_LARGE", format!("the request line exceeds {limit} bytes"))
    }
    /// 400 for a request line with bytes no URI may hold (not ASCII, control characters).
    pub fn unreadable_request_line() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_UNRECOGNIZED",
            "the request line holds bytes no URI may contain",
        )
    }
    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "M_LIMIT_EXCEEDED", "too many requests")
            .with("retry_after_ms", json!(retry_after_ms));
        error.retry_after_secs = Some(retry_after_ms.div_ceil(1000).max(1));
        error
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
    }
    pub fn timeout() -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "M_UNKNOWN", "the request took too long")
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN", "internal server error")
    }
    /// 400 for features not built yet; clients treat it like any refused request.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_UNRECOGNIZED", message)
    }
    /// 405 for account-data types the server manages itself.
    pub fn server_managed_account_data(event_type: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "M_BAD_JSON",
            format!("{event_type} cannot be set through the account data API"),
        )
    }
    /// 400 for password-reset tokens: no account has a third-party identifier here.
    pub fn threepid_not_found() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "M_THREEPID_NOT_FOUND",
            "no account on this server has that third-party identifier",
        )
    }
    /// 400 for binding through an identity server: none is trusted.
    pub fn server_not_trusted() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "M_SERVER_NOT_TRUSTED", "this server trusts no identity server")
    }
    /// 403 for 3PID changes, which the server's capabilities say are off.
    pub fn threepid_denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_THREEPID_DENIED", "third-party identifier changes are disabled")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<AccountsError> for ApiError {
    fn from(error: AccountsError) -> Self {
        use AccountsError as E;
        match error {
            E::RegistrationDisabled => ApiError::forbidden("registration is disabled on this server"),
            E::RegistrationTokenUsedUp => ApiError::forbidden("that registration token is used up"),
            E::GuestsDisabled => {
                Self::new(StatusCode::FORBIDDEN, "M_GUEST_ACCESS_FORBIDDEN", "guest access is disabled")
            }
            E::UserInUse => Self::new(StatusCode::BAD_REQUEST, "M_USER_IN_USE", "that user ID is taken"),
            E::InvalidUsername(why) => Self::new(StatusCode::BAD_REQUEST, "M_INVALID_USERNAME", why),
            E::Exclusive => Self::new(
                StatusCode::BAD_REQUEST,
                "M_EXCLUSIVE",
                "that user ID is reserved by an application service",
            ),
            E::WrongCredentials => ApiError::forbidden("invalid username or password"),
            E::UserDeactivated => {
                Self::new(StatusCode::FORBIDDEN, "M_USER_DEACTIVATED", "this account has been deactivated")
            }
            E::UnsupportedLoginType(kind) => {
                Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", format!("unsupported login type {kind}"))
            }
            E::PasswordLoginDisabled => ApiError::forbidden("password login is disabled"),
            E::NotYourUser => ApiError::forbidden("you may only change your own data"),
            E::UnknownUser => ApiError::not_found("no such user"),
            E::UnknownDevice => ApiError::not_found("no such device"),
            E::UnknownRefreshToken => ApiError::unknown_token(false),
            E::InvalidParam(why) => ApiError::invalid_param(why),
            E::ServerManagedAccountData(kind) => ApiError::server_managed_account_data(&kind),
            E::AccountDataNotFound => ApiError::not_found("no account data of that type"),
            E::UnknownUiaSession => Self::new(
                StatusCode::BAD_REQUEST,
                "M_UNKNOWN",
                "unknown or expired user-interactive authentication session",
            ),
            E::AuthRequired(challenge) => {
                let mut error = ApiError::new(StatusCode::UNAUTHORIZED, "", "");
                error.extra = challenge.body;
                if let Some((failure, message)) = challenge.stage_error {
                    error.errcode = match failure {
                        StageFailure::Forbidden => "M_FORBIDDEN",
                        StageFailure::UnsupportedStage => "M_UNRECOGNIZED",
                    };
                    error.message = message;
                }
                error
            }
            E::Storage(error) => {
                tracing::error!(%error, "storage failure");
                ApiError::internal()
            }
            E::Internal(message) => {
                tracing::error!(%message, "internal failure");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::push::PushError> for ApiError {
    fn from(error: crate::push::PushError) -> Self {
        use crate::push::PushError as E;
        match error {
            E::ServerDefaultRuleId
            | E::InvalidRuleId
            | E::RelativeToServerDefault
            | E::DeleteServerDefault
            | E::UnknownKind => ApiError::invalid_param(error.to_string()),
            // The spec's example answer for a `before`/`after` that names no rule.
            E::UnknownRelativeRule(_) => Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", error.to_string()),
            E::NotFound => ApiError::not_found(error.to_string()),
            E::Accounts(inner) => inner.into(),
            E::Corrupt(_) | E::NoStripe => {
                tracing::error!(%error, "push rules failure");
                ApiError::internal()
            }
        }
    }
}

impl From<RoomsError> for ApiError {
    fn from(error: RoomsError) -> Self {
        match error {
            RoomsError::UnknownRoom => ApiError::not_found("unknown room"),
            RoomsError::UnknownEvent => ApiError::not_found("event not found"),
            RoomsError::StillInRoom => {
                Self::new(StatusCode::BAD_REQUEST, "M_UNKNOWN", "leave the room before forgetting it")
            }
            RoomsError::UnknownAlias => ApiError::not_found("room alias not found"),
            RoomsError::RoomAliasTaken => {
                Self::new(StatusCode::BAD_REQUEST, "M_ROOM_IN_USE", "the requested room alias is taken")
            }
            RoomsError::AliasInUse => {
                Self::new(StatusCode::CONFLICT, "M_UNKNOWN", "a room alias with that name already exists")
            }
            RoomsError::BadAlias(alias) => Self::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_ALIAS",
                format!("{alias} does not exist or does not point to this room"),
            ),
            RoomsError::Forbidden(why) => ApiError::forbidden(why),
            RoomsError::UnsupportedRoomVersion(version) => Self::new(
                StatusCode::BAD_REQUEST,
                "M_UNSUPPORTED_ROOM_VERSION",
                format!("room version {version} is not supported"),
            ),
            RoomsError::InvalidParam(why) => ApiError::invalid_param(why),
            RoomsError::BadJson(why) => ApiError::bad_json(why),
            RoomsError::TooLarge(why) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", why),
            RoomsError::Unsupported(what) => ApiError::unsupported(format!("{what} is not supported yet")),
            RoomsError::Storage(error) => error.into(),
            RoomsError::Internal(message) => {
                tracing::error!(%message, "internal failure");
                ApiError::internal()
            }
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        match error {
            FilterError::NotYourUser => ApiError::forbidden("you may only use your own filters"),
            FilterError::NotFound => ApiError::not_found("no such filter"),
            FilterError::Invalid(why) => ApiError::bad_json(why),
            FilterError::TooLarge => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", "filter is too large")
            }
            FilterError::Storage(error) => error.into(),
            FilterError::Serialize(message) => {
                tracing::error!(%message, "filter serialization failed");
                ApiError::internal()
            }
        }
    }
}

impl From<E2eeError> for ApiError {
    fn from(error: E2eeError) -> Self {
        match error {
            E2eeError::InvalidParam(why) => ApiError::invalid_param(why),
            E2eeError::BadJson(why) => ApiError::bad_json(why),
            E2eeError::InvalidSignature(why) => {
                Self::new(StatusCode::BAD_REQUEST, "M_INVALID_SIGNATURE", why)
            }
            E2eeError::Forbidden(why) => ApiError::forbidden(why),
            E2eeError::NotFound(why) => ApiError::not_found(why),
            E2eeError::TooLarge(why) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE", why),
            E2eeError::WrongRoomKeysVersion { current } => {
                let error = Self::new(
                    StatusCode::FORBIDDEN,
                    "M_WRONG_ROOM_KEYS_VERSION",
                    "that is not the current backup version",
                );
                match current {
                    Some(current) => error.with("current_version", Value::String(current)),
                    None => error,
                }
            }
            E2eeError::Storage(error) => error.into(),
            E2eeError::Internal(message) => {
                tracing::error!(%message, "internal failure");
                ApiError::internal()
            }
        }
    }
}

impl ApiError {
    /// The `{errcode, error}` object of an error that is reported inside a successful
    /// response (e.g. per-key `failures` of a signature upload).
    pub fn failure_object(self) -> Value {
        json!({ "errcode": self.errcode, "error": self.message })
    }
}

impl From<storage::Error> for ApiError {
    fn from(error: storage::Error) -> Self {
        tracing::error!(%error, "storage failure");
        ApiError::internal()
    }
}

impl ApiError {
    /// The JSON body, for answers written below the router (the listener's own refusals).
    pub fn body_json(&self) -> String {
        self.clone_body().to_string()
    }

    fn clone_body(&self) -> Value {
        let mut body = self.extra.clone();
        if !self.errcode.is_empty() {
            body.insert("errcode".to_owned(), Value::String(self.errcode.to_owned()));
            body.insert("error".to_owned(), Value::String(self.message.clone()));
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.clone_body())).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
