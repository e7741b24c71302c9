//! The PostgreSQL fixture of the conformance suite: a fresh database per check, reopened
//! as a new pool on the same database.

use sqlx::{Connection, PgConnection};

use super::PostgresStore;
use super::test_database::fresh_test_database;
use crate::storage::conformance::{BoxFuture, Fixture, Restart};
use crate::storage::{Error, Stores};

/// Pool size for checks: enough for the suite's concurrency checks to really overlap.
const TEST_POOL_CONNECTIONS: u32 = 8;

/// Opens the store on a throwaway database, or `None` (after printing why) when
/// `STOA_TEST_POSTGRES_URL` is unset.
pub async fn conformance_fixture() -> Option<Fixture> {
    let database = fresh_test_database().await?;
    let restart = ReopenSameDatabase { url: database.url.clone() };
    let stores = restart.reopen().await.expect("cannot open the PostgreSQL store");
    // The guard drops last and, with it, the database.
    Some(Fixture { stores, restart: Box::new(restart), guard: Box::new(database) })
}

struct ReopenSameDatabase {
    url: String,
}

impl Restart for ReopenSameDatabase {
    fn reopen(&self) -> BoxFuture<'_, Result<Stores, Error>> {
        Box::pin(async move {
            let store = PostgresStore::connect(&self.url, TEST_POOL_CONNECTIONS).await?;
            Ok(Stores::from_adapter(store))
        })
    }

    fn set_schema_version(&self, version: u32) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let version = i32::try_from(version)
                .map_err(|_| Error::Backend(format!("schema version {version} does not fit")))?;
            let failed = |err: sqlx::Error| Error::Backend(format!("setting the schema version: {err}"));
            let mut connection = PgConnection::connect(&self.url).await.map_err(failed)?;
            sqlx::query("UPDATE stoa_schema SET version = $1")
                .bind(version)
                .execute(&mut connection)
                .await
                .map_err(failed)?;
            connection.close().await.map_err(failed)?;
            Ok(())
        })
    }
}
