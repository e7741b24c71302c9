//! Tests of the schema migrations against a real server (skipped without one).

use sqlx::{Connection, PgConnection, Row};

use super::MIGRATIONS;
use crate::storage::postgres::PostgresStore;
use crate::storage::postgres::test_database::{TEST_URL_VARIABLE, fresh_test_database};
use crate::storage::{Error, SCHEMA_VERSION};

async fn recorded_version(url: &str) -> i32 {
    let mut connection = PgConnection::connect(url).await.expect("connect");
    let row = sqlx::query("SELECT version FROM stoa_schema")
        .fetch_one(&mut connection)
        .await
        .expect("read version");
    row.get("version")
}

#[test]
fn migrations_run_from_one_without_gaps_up_to_the_schema_version() {
    let versions: Vec<u32> = MIGRATIONS.iter().map(|migration| migration.version).collect();
    let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(versions, expected);
}

#[tokio::test]
async fn a_fresh_database_is_migrated_to_the_schema_version_once() {
    let Some(database) = fresh_test_database().await else { return };
    let store = PostgresStore::connect(&database.url, 2).await.expect("first connect");
    store.close().await;
    assert_eq!(recorded_version(&database.url).await, i32::try_from(SCHEMA_VERSION).unwrap());
    let again = PostgresStore::connect(&database.url, 2).await.expect("second connect");
    again.close().await;
    assert_eq!(recorded_version(&database.url).await, i32::try_from(SCHEMA_VERSION).unwrap());
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(database) = fresh_test_database().await else { return };
    let store = PostgresStore::connect(&database.url, 2).await.expect("connect");
    store.close().await;
    let mut connection = PgConnection::connect(&database.url).await.expect("connect");
    sqlx::query("UPDATE stoa_schema SET version = 999").execute(&mut connection).await.expect("set version");
    connection.close().await.expect("close");
    match PostgresStore::connect(&database.url, 2).await {
        Err(Error::SchemaTooNew { found: 999, supported }) => assert_eq!(supported, SCHEMA_VERSION),
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("a schema newer than this build was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_to_a_fresh_database_both_succeed() {
    let Some(database) = fresh_test_database().await else { return };
    let (first, second) =
        tokio::join!(PostgresStore::connect(&database.url, 2), PostgresStore::connect(&database.url, 2),);
    first.expect("first connect").close().await;
    second.expect("second connect").close().await;
    assert_eq!(recorded_version(&database.url).await, i32::try_from(SCHEMA_VERSION).unwrap());
}

#[tokio::test]
async fn connection_errors_do_not_reveal_the_password() {
    // Any reachable server refuses a database that does not exist, quickly.
    let Ok(server_url) = std::env::var(TEST_URL_VARIABLE) else {
        eprintln!("skipped: {TEST_URL_VARIABLE} unset");
        return;
    };
    let Some(authority) = server_url.split_once("://").map(|(_, rest)| rest) else {
        panic!("{TEST_URL_VARIABLE} is not a URL");
    };
    let host = authority.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let url = format!("postgres://postgres:hunter2secret@{host}/stoa_no_such_database");
    match PostgresStore::connect(&url, 1).await {
        Err(Error::Open(message)) => {
            assert!(!message.contains("hunter2secret"), "{message}");
            assert!(message.contains("/stoa_no_such_database"), "{message}");
        }
        Err(other) => panic!("expected Error::Open, got {other}"),
        Ok(_) => panic!("connected to a database that does not exist"),
    }
}
