//! Throwaway databases for tests: one fresh database per test on the server named by
//! `STOA_TEST_POSTGRES_URL`, dropped again when the test's guard goes.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The environment variable naming the PostgreSQL server tests may create databases on.
pub const TEST_URL_VARIABLE: &str = "STOA_TEST_POSTGRES_URL";

/// A database created for one test. Dropping it drops the database.
pub struct TestDatabase {
    /// Connects to the fresh database.
    pub url: String,
    name: String,
    server_url: String,
}

/// Creates an empty database `stoa_test_<random hex>` on the server at
/// `STOA_TEST_POSTGRES_URL`, or returns `None` (after saying so) when that is unset.
pub async fn fresh_test_database() -> Option<TestDatabase> {
    let Ok(server_url) = std::env::var(TEST_URL_VARIABLE) else {
        eprintln!("skipped: {TEST_URL_VARIABLE} unset");
        return None;
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).expect("no randomness for a test database name");
    let name: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    let name = format!("stoa_test_{name}");
    let mut connection =
        PgConnection::connect(&server_url).await.expect("cannot connect to STOA_TEST_POSTGRES_URL");
    // The name is ours (fixed prefix, hex digits), so it needs no quoting.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("cannot create a test database");
    connection.close().await.ok();
    Some(TestDatabase { url: with_database(&server_url, &name), name, server_url })
}

/// `url` with its database (the URL path) replaced by `database`, query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
        // its own runtime does the dropping, and we wait for it so the test binary does not
        // exit (and leak the database) first. FORCE ends connections still open to it.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let server_url = self.server_url.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut connection = PgConnection::connect(&server_url).await?;
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut connection).await?;
                connection.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop test database {}: {err}", self.name),
            Err(_) => eprintln!("could not drop test database {}: the thread panicked", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "stoa_test_ab"),
            "postgres://postgres@127.0.0.1:5432/stoa_test_ab"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
    }
}
