//! The HTTP edge — the only code that knows axum. Builds the router from ruma
//! endpoint metadata, wraps it in the edge layers, and holds the state handlers see.

pub mod body;
pub mod client;
pub mod edge;
pub mod error;
pub mod extract;
pub mod guest;
pub mod keys;
pub mod listener;
pub mod rate_limit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};
use ruma::api::path_builder::{SinglePath, VersionHistory};
use ruma::api::{IncomingRequest, Metadata};
use tower_http::catch_panic::CatchPanicLayer;

use crate::accounts::Accounts;
use crate::config::{Config, HttpConfig, RateLimitsConfig};
use crate::rooms::Rooms;
use crate::sync::engine::SyncEngine;
use crate::sync::filter::Filters;
use rate_limit::RateLimiter;
use stoa_federation::ServerSigningKey;

/// What handlers can reach: one shared allocation, so the clone every request takes
/// costs one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppServices>);

impl AppState {
    pub fn new(services: AppServices) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppServices;

    fn deref(&self) -> &AppServices {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct AppServices {
    pub accounts: Accounts,
    pub rooms: Rooms,
    pub e2ee: crate::e2ee::E2ee,
    pub sync: SyncEngine,
    pub push: crate::push::PushRules,
    pub filters: Filters,
    pub limits: Arc<Limits>,
    pub discovery: Arc<Discovery>,
    pub server_key: Arc<ServerSigningKey>,
}

/// Request limits and rate limiters.
pub struct Limits {
    pub bodies: body::BodyLimits,
    pub login_per_ip: RateLimiter,
    pub login_per_account: RateLimiter,
    pub failed_login_per_account: RateLimiter,
    pub registration_per_ip: RateLimiter,
}

impl Limits {
    pub fn new(http: &HttpConfig, config: &RateLimitsConfig) -> Self {
        Limits {
            bodies: body::BodyLimits::new(http),
            login_per_ip: RateLimiter::new(config.login_per_ip),
            login_per_account: RateLimiter::new(config.login_per_account),
            failed_login_per_account: RateLimiter::new(config.failed_login_per_account),
            registration_per_ip: RateLimiter::new(config.registration_per_ip),
        }
    }
}

/// What the discovery endpoints advertise.
pub struct Discovery {
    pub server_name: String,
    pub public_baseurl: String,
    pub federation_delegate: String,
    pub key_validity: Duration,
    pub registration_enabled: bool,
    pub guests_enabled: bool,
    pub password_login_enabled: bool,
}

impl Discovery {
    pub fn from_config(config: &Config) -> Self {
        Discovery {
            server_name: config.server.server_name.clone(),
            public_baseurl: config.server.public_baseurl.clone(),
            federation_delegate: config.server.federation_delegate.clone(),
            key_validity: Duration::from_secs(config.server.key_validity_hours.saturating_mul(3600)),
            registration_enabled: config.registration.enabled,
            guests_enabled: config.registration.allow_guests,
            password_login_enabled: config.auth.password_login_enabled,
        }
    }
}

/// The whole client-facing router with its edge layers.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let router = client::routes(Router::new());
    let router = keys::routes(router);
    router
        .fallback(edge::unknown_endpoint)
        .method_not_allowed_fallback(edge::wrong_method)
        .layer(CatchPanicLayer::custom(edge::panic_response))
        .layer(axum::middleware::from_fn(move |request, next| {
            edge::request_span(request_timeout, request, next)
        }))
        .layer(edge::cors())
        .with_state(state)
}

/// Like [`route`], plus extra paths (forms ruma does not list, such as a trailing
/// empty state key).
pub fn route_also<T, H, X>(router: Router<AppState>, handler: H, extra: &[&'static str]) -> Router<AppState>
where
    T: IncomingRequest,
    <T as Metadata>::PathBuilder: EndpointPaths,
    H: Handler<X, AppState> + Clone,
    X: 'static,
{
    let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
        return router;
    };
    let mut router = route::<T, H, X>(router, handler.clone());
    for path in extra {
        router = router.route(path, on(filter, handler.clone()));
    }
    router
}

/// Every path ruma knows for an endpoint (legacy r0, v3, unstable).
pub trait EndpointPaths {
    fn all_paths(&self) -> Vec<&'static str>;
    /// How many parameters each of the paths has (they all have the same).
    fn parameter_count(&self) -> usize;
}

impl EndpointPaths for VersionHistory {
    fn parameter_count(&self) -> usize {
        let any = self
            .stable_paths()
            .map(|(_, path)| path)
            .chain(self.unstable_paths().map(|(_, path)| path))
            .next();
        any.map_or(0, |path| path.matches('{').count())
    }

    fn all_paths(&self) -> Vec<&'static str> {
        let mut paths: Vec<&'static str> = self
            .stable_paths()
            .map(|(_, path)| path)
            .chain(self.unstable_paths().map(|(_, path)| path))
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
    }
}

impl EndpointPaths for SinglePath {
    fn parameter_count(&self) -> usize {
        self.path().matches('{').count()
    }

    fn all_paths(&self) -> Vec<&'static str> {
        vec![self.path()]
    }
}

/// Registers `handler` for every path and the method of ruma endpoint `T`.
pub fn route<T, H, X>(mut router: Router<AppState>, handler: H) -> Router<AppState>
where
    T: IncomingRequest,
    <T as Metadata>::PathBuilder: EndpointPaths,
    H: Handler<X, AppState> + Clone,
    X: 'static,
{
    let Ok(filter) = MethodFilter::try_from(T::METHOD) else {
        tracing::error!(method = %T::METHOD, "endpoint method cannot be routed");
        return router;
    };
    for path in T::PATH_BUILDER.all_paths() {
        router = router.route(path, on(filter, handler.clone()));
    }
    router
}
