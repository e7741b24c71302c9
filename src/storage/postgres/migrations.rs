//! Versioned schema migrations: the `stoa_schema` table records the version a database
//! is at; start-up applies the missing migrations in order and refuses a newer schema.
//!
//! Each migration runs in one transaction together with its version bump, under a
//! transaction-scoped advisory lock, so processes starting at once apply it exactly once
//! and a crash mid-migration leaves the previous version intact.

use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::query_failed;
use crate::storage::{Error, SCHEMA_VERSION};

/// One step of the schema, taking a database from `version - 1` to `version`.
struct Migration {
    version: u32,
    sql: &'static str,
}

/// Every migration, in order, without gaps; the last one is [`SCHEMA_VERSION`].
const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, sql: include_str!("migrations/0001_initial.sql") },
    Migration { version: 2, sql: include_str!("migrations/0002_rooms.sql") },
    Migration { version: 3, sql: include_str!("migrations/0003_directory.sql") },
    Migration { version: 4, sql: include_str!("migrations/0004_relations.sql") },
    Migration { version: 5, sql: include_str!("migrations/0005_event_txns.sql") },
    Migration { version: 6, sql: include_str!("migrations/0006_moderation.sql") },
    Migration { version: 7, sql: include_str!("migrations/0007_e2ee.sql") },
];

/// The advisory lock every migrating process takes ("stoamigr" in ASCII); any constant
/// works as long as nothing else on the database uses it.
const MIGRATION_LOCK_KEY: i64 = 0x7374_6f61_6d69_6772;

/// Brings the database up to [`SCHEMA_VERSION`], or refuses if it is already beyond.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let found = prepare_schema_table(pool).await?;
    refuse_if_too_new(found)?;
    for migration in MIGRATIONS.iter().filter(|migration| migration.version > found) {
        apply(pool, migration).await?;
    }
    Ok(())
}

/// Creates `stoa_schema` with version 0 if it does not exist, and reads the version.
async fn prepare_schema_table(pool: &PgPool) -> Result<u32, Error> {
    let doing = "preparing the stoa_schema table";
    let mut tx = pool.begin().await.map_err(query_failed(doing))?;
    take_migration_lock(&mut tx).await?;
    // Under the lock: two processes racing on CREATE TABLE IF NOT EXISTS can otherwise
    // both try to create it, and one fails.
    sqlx::query("CREATE TABLE IF NOT EXISTS stoa_schema (version integer NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
    sqlx::query("INSERT INTO stoa_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM stoa_schema)")
        .execute(&mut *tx)
        .await
        .map_err(query_failed(doing))?;
    let version = recorded_version(&mut tx).await?;
    tx.commit().await.map_err(query_failed(doing))?;
    Ok(version)
}

/// Applies one migration and records its version, unless another process got there first.
async fn apply(pool: &PgPool, migration: &Migration) -> Result<(), Error> {
    let doing = format!("applying schema migration {}", migration.version);
    let mut tx = pool.begin().await.map_err(query_failed(&doing))?;
    take_migration_lock(&mut tx).await?;
    let current = recorded_version(&mut tx).await?;
    refuse_if_too_new(current)?;
    if current >= migration.version {
        return tx.commit().await.map_err(query_failed(&doing));
    }
    if current + 1 != migration.version {
        return Err(Error::Backend(format!(
            "{doing}: the database is at version {current}, expected {}",
            migration.version - 1
        )));
    }
    sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(query_failed(&doing))?;
    sqlx::query("UPDATE stoa_schema SET version = $1")
        .bind(
            i32::try_from(migration.version)
                .map_err(|_| Error::Backend(format!("{doing}: version does not fit in an integer")))?,
        )
        .execute(&mut *tx)
        .await
        .map_err(query_failed(&doing))?;
    tx.commit().await.map_err(query_failed(&doing))?;
    tracing::info!(version = migration.version, "applied PostgreSQL schema migration");
    Ok(())
}

/// Waits for the migration lock; it is released when the transaction ends.
async fn take_migration_lock(connection: &mut PgConnection) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(connection)
        .await
        .map_err(query_failed("taking the schema migration lock"))?;
    Ok(())
}

async fn recorded_version(connection: &mut PgConnection) -> Result<u32, Error> {
    let doing = "reading the schema version";
    let row = sqlx::query("SELECT max(version) AS version FROM stoa_schema")
        .fetch_one(connection)
        .await
        .map_err(query_failed(doing))?;
    let version: Option<i32> = row.try_get("version").map_err(query_failed(doing))?;
    let version = version.unwrap_or(0);
    u32::try_from(version).map_err(|_| Error::Corrupt(format!("stoa_schema.version is negative: {version}")))
}

fn refuse_if_too_new(found: u32) -> Result<(), Error> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
