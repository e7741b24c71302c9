//! Wiring in dependency order: config → stores → streams → domain services → HTTP.
//! `App` owns every task it starts and shuts them down in reverse order.

use std::sync::Arc;
use std::time::Duration;

use ruma::OwnedServerName;
use stoa_federation::{RoomVersion, ServerSigningKey};
use tokio::net::TcpListener;

use crate::accounts::Accounts;
use crate::api::{self, AppServices, AppState, Discovery, Limits};
use crate::config::Config;
use crate::e2ee::E2ee;
use crate::rooms::Rooms;
use crate::storage::{self, Stores, StreamId};
use crate::streams::{Notifier, Watermark};
use crate::sync::engine::SyncEngine;
use crate::sync::filter::Filters;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("signing key: {0}")]
    SigningKey(#[from] stoa_federation::KeyError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    BoundAddressFile { path: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

/// The domain services, built once per process.
pub struct Services {
    pub stores: Stores,
    pub accounts: Accounts,
    pub rooms: Rooms,
    pub e2ee: E2ee,
    pub sync: SyncEngine,
    pub filters: Filters,
    pub server_key: Arc<ServerSigningKey>,
}

impl Services {
    /// Opens the store and builds the services on it.
    pub async fn build(config: &Config) -> Result<Services, AppError> {
        let stores = storage::open(&config.storage).await?;
        let server_name = OwnedServerName::try_from(config.server.server_name.as_str())
            .map_err(|e| AppError::Setup(format!("server.server_name: {e}")))?;
        let server_key = Arc::new(ServerSigningKey::load_or_generate(&config.server.signing_key_path)?);
        // Every stream's watermark wakes through the one notifier, once a write is published.
        let notifier = Notifier::new();
        let watermark = |position| Watermark::new(position, notifier.clone());
        let account_data_stream =
            watermark(stores.streams.max_reserved_position(StreamId::AccountData).await?);
        let events_stream = watermark(stores.streams.max_reserved_position(StreamId::Events).await?);
        let rooms = Rooms::new(
            stores.clone(),
            server_name.clone(),
            server_key.clone(),
            events_stream,
            RoomVersion::DEFAULT,
        );
        let e2ee = E2ee::new(
            stores.clone(),
            rooms.clone(),
            server_name.clone(),
            watermark(stores.streams.max_reserved_position(StreamId::ToDevice).await?),
            watermark(stores.streams.max_reserved_position(StreamId::DeviceLists).await?),
        );
        let accounts = Accounts::new(
            stores.clone(),
            server_name,
            config.registration.clone(),
            config.auth.clone(),
            account_data_stream.clone(),
            Arc::new(e2ee.clone()),
        )
        .map_err(|e| AppError::Setup(e.to_string()))?;
        let sync = SyncEngine::new(rooms.clone(), stores.account_data.clone(), account_data_stream, notifier)
            .with_e2ee(e2ee.clone());
        let filters = Filters::new(stores.filters.clone());
        Ok(Services { stores, accounts, rooms, e2ee, sync, filters, server_key })
    }
}

/// Runs the server until SIGTERM or SIGINT, then drains requests and flushes storage.
pub async fn run(config: Config) -> Result<(), AppError> {
    let services = Services::build(&config).await?;
    let server_key = services.server_key.clone();
    tracing::info!(
        backend = services.stores.lifecycle.backend_name(),
        key_id = server_key.key_id(),
        server_name = %config.server.server_name,
        "starting"
    );
    let state = AppState::new(AppServices {
        accounts: services.accounts.clone(),
        rooms: services.rooms.clone(),
        e2ee: services.e2ee.clone(),
        sync: services.sync.clone(),
        push: crate::push::PushRules::new(services.accounts.clone()),
        filters: services.filters.clone(),
        limits: Arc::new(Limits::new(&config.http, &config.rate_limits)),
        discovery: Arc::new(Discovery::from_config(&config)),
        server_key,
    });
    let router = api::router(state, Duration::from_secs(config.http.request_timeout_secs));

    let addr = &config.http.client_listen;
    let listener =
        TcpListener::bind(addr).await.map_err(|source| AppError::Listen { addr: addr.clone(), source })?;
    let bound = listener.local_addr().map_err(|source| AppError::Listen { addr: addr.clone(), source })?;
    tracing::info!(%bound, "client API listening");
    if !config.http.bound_address_file.is_empty() {
        let path = &config.http.bound_address_file;
        std::fs::write(path, bound.to_string())
            .map_err(|source| AppError::BoundAddressFile { path: path.clone(), source })?;
    }

    let uia_sweeper = tokio::spawn(sweep_uia_sessions(services.stores.clone()));
    api::listener::serve(listener, router, &config.http, shutdown_signal()).await;
    uia_sweeper.abort();
    let _ = uia_sweeper.await;
    services.stores.lifecycle.flush().await?;
    tracing::info!("storage flushed; stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Deletes expired UIA sessions every minute, a bounded batch at a time.
async fn sweep_uia_sessions(stores: Stores) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        match stores.uia.purge_expired_uia_sessions(crate::accounts::now_ms(), 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "expired UIA sessions"),
            Err(error) => tracing::warn!(%error, "purging UIA sessions failed"),
        }
    }
}
