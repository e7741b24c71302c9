//! The `Ruma<T>` extractor: authenticates the requester as the endpoint's metadata
//! demands, only then reads the body (within the limits of `body.rs`), and parses the
//! request with ruma.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use ruma::api::auth_scheme::{
    AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, AuthScheme, NoAccessToken,
    NoAuthentication,
};
use ruma::api::error::{DeserializationError, FromHttpRequestError};
use ruma::api::{IncomingRequest, IncomingRequestExt, Metadata, OutgoingResponse, OutgoingResponseExt};

use super::error::ApiError;
use super::{AppState, EndpointPaths};
use crate::accounts::Requester;
use crate::accounts::login::TokenRejection;

/// A parsed ruma request with who sent it.
pub struct Ruma<T> {
    pub body: T,
    /// Present when the endpoint authenticates users and a valid token was sent.
    pub requester: Option<Requester>,
    /// The client's IP address, for rate limits and device activity.
    pub ip: String,
    /// The raw body, for endpoints that store what the client sent verbatim.
    pub json: bytes::Bytes,
}

impl<T> Ruma<T> {
    /// The requester of an endpoint that requires authentication.
    pub fn requester(&self) -> Result<&Requester, ApiError> {
        self.requester.as_ref().ok_or_else(ApiError::missing_token)
    }
}

/// How an endpoint's ruma auth scheme treats access tokens.
pub trait TokenPolicy {
    const POLICY: Policy;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No token is read.
    Ignore,
    Required,
    Optional,
    /// Only an application service's `as_token` is meaningful here.
    AppserviceOptional,
}

impl TokenPolicy for NoAuthentication {
    const POLICY: Policy = Policy::Ignore;
}
impl TokenPolicy for NoAccessToken {
    const POLICY: Policy = Policy::Ignore;
}
impl TokenPolicy for AccessToken {
    const POLICY: Policy = Policy::Required;
}
impl TokenPolicy for AccessTokenOptional {
    const POLICY: Policy = Policy::Optional;
}
impl TokenPolicy for AppserviceToken {
    const POLICY: Policy = Policy::Required;
}
impl TokenPolicy for AppserviceTokenOptional {
    const POLICY: Policy = Policy::AppserviceOptional;
}

impl<T> FromRequest<AppState> for Ruma<T>
where
    T: IncomingRequest + Send,
    <T as Metadata>::Authentication: AuthScheme + TokenPolicy,
    <T as Metadata>::PathBuilder: EndpointPaths,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let path_params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::invalid_param("malformed path"))?;
        let mut path_args: Vec<String> = path_params.iter().map(|(_, value)| value.to_owned()).collect();
        // Some paths end in an empty segment (`/state/m.room.topic/` or without the
        // slash): ruma still expects every parameter, so the missing ones are empty.
        let expected = T::PATH_BUILDER.parameter_count();
        while path_args.len() < expected {
            path_args.push(String::new());
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(addr)| addr.ip().to_string());

        // Everything that can refuse the request without its body comes first, so a
        // refused client never makes the server hold (or wait for) a body.
        state.limits.bodies.check_declared(&parts.headers)?;
        let requester = authenticate::<T>(&parts, state, &ip).await?;
        if requester.as_ref().is_some_and(|r| r.is_guest)
            && !super::guest::may_call(&parts.method, &T::PATH_BUILDER.all_paths())
        {
            return Err(ApiError::guest_access_forbidden());
        }
        let bytes = state.limits.bodies.read(&parts.headers, body).await?;
        if !bytes.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            return Err(ApiError::not_json("the request body is not valid JSON"));
        }
        crate::events::nesting::check_body(&bytes).map_err(|e| ApiError::bad_json(e.to_string()))?;
        // Endpoints whose body fields are all optional accept an empty body as `{}`.
        let body: &[u8] =
            if bytes.is_empty() && matches!(parts.method, http::Method::POST | http::Method::PUT) {
                b"{}"
            } else {
                bytes.as_ref()
            };
        let http_request = http::Request::from_parts(parts, body);
        let args: Vec<&str> = path_args.iter().map(String::as_str).collect();
        // ruma indexes into some bodies (e.g. a login without `type`) and panics on odd
        // input; a malformed request is the client's fault, not a server error.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            T::try_from_http_request(http_request, &args)
        }));
        let body = match parsed {
            Ok(result) => result.map_err(parse_error)?,
            Err(_) => return Err(ApiError::bad_json("the request body does not match the endpoint")),
        };
        Ok(Ruma { body, requester, ip, json: bytes })
    }
}

use axum::extract::FromRequestParts;

async fn authenticate<T>(
    parts: &http::request::Parts,
    state: &AppState,
    ip: &str,
) -> Result<Option<Requester>, ApiError>
where
    T: Metadata,
    <T as Metadata>::Authentication: TokenPolicy,
{
    let policy = <T::Authentication as TokenPolicy>::POLICY;
    if policy == Policy::Ignore {
        return Ok(None);
    }
    let token = access_token(parts)?;
    match (policy, token) {
        (Policy::Required, None) => Err(ApiError::missing_token()),
        (_, None) => Ok(None),
        // Application services are not configured yet, so no as_token is valid.
        (Policy::AppserviceOptional, Some(_)) => Err(ApiError::unknown_token(false)),
        (_, Some(token)) => match state.accounts.authenticate(&token, ip).await {
            Ok(requester) => Ok(Some(requester)),
            Err(TokenRejection::Unknown) => Err(ApiError::unknown_token(false)),
            Err(TokenRejection::Expired) => Err(ApiError::unknown_token(true)),
            Err(TokenRejection::Storage(error)) => Err(error.into()),
        },
    }
}

/// The token from `Authorization: Bearer …` or the deprecated `access_token` query
/// parameter; both at once is refused, as Synapse does.
fn access_token(parts: &http::request::Parts) -> Result<Option<String>, ApiError> {
    let from_query = url_query_value(parts.uri.query().unwrap_or(""), "access_token");
    let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
        return Ok(from_query);
    };
    if from_query.is_some() {
        return Err(ApiError::mixed_tokens());
    }
    let value = value.to_str().map_err(|_| ApiError::unknown_token(false))?;
    match value.strip_prefix("Bearer ") {
        Some(token) => Ok(Some(token.trim().to_owned())),
        None => Err(ApiError::unknown_token(false)),
    }
}

fn url_query_value(query: &str, wanted: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find_map(|(key, value)| (key == wanted).then_some(value))
}

fn parse_error(error: FromHttpRequestError) -> ApiError {
    match error {
        FromHttpRequestError::Deserialization(DeserializationError::Json(e)) => {
            ApiError::bad_json(e.to_string())
        }
        FromHttpRequestError::Deserialization(DeserializationError::Ident(e)) => {
            ApiError::invalid_param(format!("invalid identifier: {e}"))
        }
        FromHttpRequestError::Deserialization(DeserializationError::Query(e)) => {
            ApiError::invalid_param(format!("invalid query parameters: {e}"))
        }
        FromHttpRequestError::MethodMismatch { .. } => ApiError::method_not_allowed(),
        other => ApiError::bad_json(other.to_string()),
    }
}

/// A ruma response, serialized as the endpoint defines.
pub struct RumaResponse<T>(pub T);

impl<T: OutgoingResponse> IntoResponse for RumaResponse<T> {
    fn into_response(self) -> Response {
        match self.0.try_into_http_response::<BytesMut>() {
            Ok(response) => response.map(|body| axum::body::Body::from(body.freeze())).into_response(),
            Err(error) => {
                tracing::error!(%error, "serializing a response failed");
                ApiError::internal().into_response()
            }
        }
    }
}
