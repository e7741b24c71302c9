//! The PostgreSQL adapter: every store trait over one sqlx connection pool.
//!
//! Each trait method is one statement or one transaction, so atomicity never depends on
//! the caller. The schema is ours (see `migrations.rs`); only this module knows sqlx.

mod account_data;
mod accounts;
mod column_values;
#[cfg(test)]
mod concurrency_tests;
#[cfg(test)]
pub mod conformance_fixture;
mod devices;
mod directory;
mod e2ee_keys;
mod filters;
mod key_backup;
mod migrations;
mod moderation;
mod profiles;
mod relations;
mod room_persist;
mod rooms;
#[cfg(test)]
mod rooms_tests;
mod state_groups;
mod streams;
#[cfg(test)]
pub mod test_database;
mod to_device;
mod uia;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Error, StoreLifecycle};

/// The PostgreSQL adapter. Cheap to share behind an `Arc`; the pool does the rest.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` with a pool of at most `max_connections`,
    /// then brings its schema up to date. Refuses a schema newer than this build's.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<PostgresStore>, Error> {
        // The URL parser's errors never echo the URL, so no password can leak from them.
        let options: PgConnectOptions =
            url.parse().map_err(|err| Error::Open(format!("invalid PostgreSQL URL: {err}")))?;
        let location = describe_location(&options);
        let pool =
            PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(options)
                .await
                .map_err(|err| Error::Open(format!("cannot connect to PostgreSQL at {location}: {err}")))?;
        migrations::migrate(&pool).await?;
        Ok(Arc::new(PostgresStore { pool }))
    }

    /// Closes every pooled connection, waiting for the ones in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `host:port/database`, for error messages: never the user or password.
fn describe_location(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("<default database>")
    )
}

/// Turns a failed statement into a storage error naming what we were doing.
/// A value that does not decode means the stored data is not what we wrote.
fn query_failed(doing: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |err| match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            Error::Corrupt(format!("{doing}: {err}"))
        }
        other => Error::Backend(format!("{doing}: {other}")),
    }
}

#[async_trait]
impl StoreLifecycle for PostgresStore {
    async fn flush(&self) -> Result<(), Error> {
        // Every method commits before it returns; there is nothing buffered.
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}

#[cfg(test)]
mod tests {
    use super::PostgresStore;
    use crate::storage::Error;

    #[tokio::test]
    async fn a_malformed_url_is_an_open_error() {
        match PostgresStore::connect("not a url at all", 1).await {
            Err(Error::Open(message)) => assert!(message.contains("invalid PostgreSQL URL"), "{message}"),
            Err(other) => panic!("expected Error::Open, got {other}"),
            Ok(_) => panic!("connected with a malformed URL"),
        }
    }
}
